"""The DSP sync history in words: who started it, what went wrong, counts with thousands separators; the
stored error only for admins and support."""

import pytest
from django.test import Client

from campaigns.models import CampaignSync, SyncStatus
from campaigns.wording import NEXT_SYNC, OUR_SIDE, sync_error_words
from tests.campaigns.factories import make_account
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

UNREACHABLE = "DspError: DelivrDSP unreachable on GET /v1/accounts/acc-1/campaigns: connection refused"


@pytest.mark.parametrize(
    ("stored", "words"),
    [
        ("", ""),
        (UNREACHABLE, "DelivrDSP could not be reached. " + NEXT_SYNC),
        (
            "DspError: DelivrDSP answered HTTP 503 (Service Unavailable) on GET /v1/accounts/a/campaigns.",
            "DelivrDSP had a problem on its side (HTTP 503 (Service Unavailable)). " + NEXT_SYNC,
        ),
        (
            "DspError: DelivrDSP answered HTTP 401 (Unauthorized) on GET /v1/accounts/a/campaigns.",
            "DelivrDSP refused the connection's API key (HTTP 401 (Unauthorized)). Contact support.",
        ),
        (
            "DspError: DelivrDSP sent invalid JSON on GET /v1/accounts/a/campaigns",
            "DelivrDSP sent an answer that could not be read. " + NEXT_SYNC,
        ),
        (
            "DspError: DELIVR_DSP_BASE_URL is not set: the http DSP provider needs it.",
            "The DelivrDSP connection is not set up on this server. Contact support.",
        ),
        (
            "Retrying after: DelivrDSP unreachable on GET /v1/x: timeout",
            "Retrying in a moment. DelivrDSP could not be reached.",
        ),
        (
            "Reaped: no worker started it within 2400 s.",
            "No worker started the sync in time (see the worker status on the home page). " + NEXT_SYNC,
        ),
        (
            "Reaped: still running after 600 s (the worker stopped or lost the DSP connection).",
            "The sync stopped before it finished (the worker stopped or lost the connection). " + NEXT_SYNC,
        ),
        ("KeyError: 'impressions'", OUR_SIDE),
    ],
)
def test_sync_error_words_when_stored_error_is_technical_reads_as_words(stored, words):
    assert sync_error_words(stored) == words


@pytest.mark.parametrize("role", ["marketer", "support", "admin"])
def test_sync_history_when_failed_and_large_shows_words_separators_and_the_raw_error_only_to_support(
    tenant, role
):
    account = make_account(tenant.org)
    CampaignSync.objects.create(
        organization=tenant.org,
        account=account,
        status=SyncStatus.SUCCEEDED,
        triggered_by="user:ann@example.com",
        campaigns_count=1250,
        rows=123456,
    )
    CampaignSync.objects.create(
        organization=tenant.org,
        account=account,
        status=SyncStatus.FAILED,
        triggered_by=f"api_client:{tenant.client_id}",
        error=UNREACHABLE,
    )
    member = MembershipFactory(organization=tenant.org, role=role)
    client = Client()
    client.force_login(member.user)
    body = client.get("/campaigns/sync/history/").content.decode()
    assert '<td class="num">1,250</td><td class="num">123,456</td>' in body
    assert ">ann@example.com<" in body and "user:" not in body
    assert ">API client<" in body and tenant.client_id not in body
    assert "DelivrDSP could not be reached." in body
    assert ("DspError" in body) is (role in ("admin", "support"))
