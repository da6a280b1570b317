"""Lists inside one object read with a fixed number of queries: a person's page (registry entries, audit events,
suppressions, destinations), an opt-out's destinations in the API, a campaign's lists (match rates), and the
export form's audiences to choose from. Ten times the rows costs no extra query (no N+1) and each stays under
its bound; the other list pages and endpoints have the same check in tests/test_api_list_queries.py and
tests/ux/."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
from campaigns.models import CampaignList
from exports.models import OptOutRemoval
from privacy.models import AuditEvent, SuppressionRecord
from tests.campaigns.factories import make_campaign
from tests.factories import OptOutFactory

pytestmark = pytest.mark.django_db

EMAIL = "person@example.com"


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, (url, response.content[:300])
    return len(ctx.captured_queries)


def _person_rows(member, n: int, start: int) -> None:
    """`n` more audit events, suppressing output runs and destination removals of EMAIL."""
    opted_out_at = timezone.now() - timedelta(days=30)
    for i in range(start, start + n):
        AuditEvent.objects.create(
            actor="support@example.com",
            action="duplicate",
            identifier_type="email",
            identifier_value=EMAIL,
            source="support",
            organization_id=member.org.id,
        )
        SuppressionRecord.objects.create(
            organization=member.org,
            output_kind="export_run",
            output_id=f"run-{i}",
            suppressed_count=i + 1,
            recorded_at=opted_out_at + timedelta(days=1),
        )
        OptOutRemoval.objects.create(
            organization=member.org,
            export_name=f"Export {i}",
            destination_label="HubSpot",
            identifier_type="email",
            identifier_value=f"{EMAIL}",
            list_name=f"List {i}",
            sent_at=opted_out_at - timedelta(days=1),
            removed_at=opted_out_at + timedelta(hours=i),
        )


@pytest.mark.parametrize(
    ("url", "role", "bound"),
    [
        ("/privacy/identifier/?type=email&value=" + EMAIL, Role.SUPPORT, 10),
        ("/api/v1/privacy/optouts/{id}", Role.SUPPORT, 6),
    ],
)
def test_person_lists_when_rows_grow_tenfold_take_no_extra_query(
    client, tenant_factory, django_assert_max_num_queries, url, role, bound
):
    member = tenant_factory(role=role)
    optout = OptOutFactory(
        organization=member.org, value=EMAIL, opted_out_at=timezone.now() - timedelta(days=30)
    )
    url = url.format(id=optout.pk)
    if url.startswith("/api/"):
        client = member.key()
    else:
        client.force_login(member.user)
    _person_rows(member, 2, 0)
    client.get(url)
    few = _queries(client, url)
    _person_rows(member, 18, 2)
    with django_assert_max_num_queries(bound):
        many = _queries(client, url)
    assert many == few, f"{url}: {few} queries with 2 rows of each kind, {many} with 20"
    body = client.get(url).content.decode()
    assert "Export 0" in body and "Export 19" in body  # every destination listed


def test_campaign_match_rates_when_lists_grow_tenfold_take_no_extra_query(
    tenant, django_assert_max_num_queries
):
    campaign = make_campaign(tenant.org, days=3)
    url = f"/api/v1/campaigns/{campaign.pk}/match-rates"

    def add(n: int, start: int) -> None:
        for i in range(start, start + n):
            CampaignList.objects.create(
                campaign=campaign,
                external_id=f"list-{i}",
                list_name=f"List {i}",
                identifiers_count=100,
                matched_count=40 + i,
            )

    client = tenant.key()
    add(2, 0)
    client.get(url)  # the API client's lookup cached once
    few = _queries(client, url)
    add(18, 2)
    with django_assert_max_num_queries(6):
        many = _queries(client, url)
    assert many == few, f"{url}: {few} queries with 2 lists, {many} with 20"
    assert (
        len(client.get(url).json()["lists"]) == CampaignList.objects.filter(campaign=campaign).count() >= 20
    )


def test_export_form_when_its_audiences_grow_tenfold_takes_no_extra_query(
    client, tenant_factory, django_assert_max_num_queries
):
    """The export form offers every audience of the organization to export."""
    from tests.factories import AudienceFactory

    member = tenant_factory(role=Role.ADMIN)
    client.force_login(member.user)

    def add(n: int, start: int) -> None:
        for i in range(start, start + n):
            AudienceFactory(organization=member.org, project=member.project, name=f"Audience {i:02d}")

    add(2, 0)
    client.get("/exports/new/")
    few = _queries(client, "/exports/new/")
    add(18, 2)
    with django_assert_max_num_queries(12):
        many = _queries(client, "/exports/new/")
    assert many == few, f"/exports/new/: {few} queries with 2 audiences, {many} with 20"
    body = client.get("/exports/new/").content.decode()
    assert "Audience 00" in body and "Audience 19" in body
