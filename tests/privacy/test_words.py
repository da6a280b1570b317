"""Privacy pages in words: the audit log's actions and changes, and every time in the one date-time format
(never ISO)."""

import re
from datetime import UTC, datetime

import pytest

from privacy import services

pytestmark = pytest.mark.django_db

ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def test_privacy_pages_when_opt_out_moved_show_changes_in_words_and_no_iso_times(client, tenant_factory):
    support = tenant_factory(role="support")
    for day in (5, 2, 3):
        services.optout_record(
            identifier_type="email",
            value="ann@example.com",
            source="support",
            opted_out_at=datetime(2026, 3, day, 9, 30, tzinfo=UTC),
            organization=support.org,
            actor="user:agent@example.com",
        )
    client.force_login(support.user)
    for url in ("/privacy/", "/privacy/identifier/?type=email&value=ann@example.com"):
        r = client.get(url)
        assert r.status_code == 200, url
        body = r.content.decode()
        assert not ISO.search(body), (url, ISO.search(body).group(0))
        assert "Opted out: — → 5 Mar 2026, 09:30:00 UTC" in body
        assert "Opted out: 5 Mar 2026, 09:30:00 UTC → 2 Mar 2026, 09:30:00 UTC" in body
        assert "Reported opt-out time: 3 Mar 2026, 09:30:00 UTC" in body  # a repeat changes nothing
        assert ">Opted out</span>" in body and ">Received again</span>" in body
        assert "agent@example.com" in body and "user:agent@" not in body
