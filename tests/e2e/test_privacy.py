import csv
import io
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from privacy import services
from tests.e2e.conftest import login, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_browser_support_searches_audit_log_and_downloads_csv(page, tenant_factory, password):
    support = tenant_factory(role="support")
    for i in range(3):
        services.optout_record(
            identifier_type="uid2",
            value=f"uid-browser-{i}",
            source="uid2_webhook",
            opted_out_at=datetime(2026, 3, 1 + i, tzinfo=UTC),
            actor="uid2_operator",
        )
    services.optout_record(
        identifier_type="email",
        value="jane@example.com",
        source="support",
        opted_out_at=datetime(2026, 3, 9, tzinfo=UTC),
        organization=support.org,
        actor="user:agent@example.com",
    )
    login(page, support.user.email, password)
    page.click("nav.mainnav >> text=Privacy")
    page.wait_for_url("**/privacy/")
    assert page.locator("#audit-log tbody tr").count() == 4

    page.fill("#registry-search input[name=q]", "uid-browser-")
    page.select_option("#registry-search select[name=match]", "prefix")
    page.fill("#registry-search input[name=date_from]", timezone.localdate().isoformat())
    page.click("#registry-search-submit")
    page.wait_for_url("**q=uid-browser-**")
    page.wait_for_function("document.querySelectorAll('#audit-log tbody tr').length === 3")
    assert "jane@example.com" not in page.locator("#audit-log").inner_text()
    screenshot(page, "privacy-audit-search")

    with page.expect_download() as info:
        page.click("#audit-export")
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert sorted(r["identifier_value"] for r in rows) == [f"uid-browser-{i}" for i in range(3)]

    page.click("#audit-log >> text=uid-browser-2")
    page.wait_for_url("**/privacy/identifier/**")
    assert page.locator("#identifier-events tbody tr").count() == 1

    page.goto("/privacy/")
    page.select_option("#optout-form select[name=identifier_type]", "email")
    page.fill("#optout-form input[name=value]", "new.person@example.com")
    page.click("#optout-form button")
    page.wait_for_selector("#optout-form [role=status]")
    page.wait_for_function(
        "document.querySelector('#audit-log').innerText.includes('new.person@example.com')"
    )
