"""Browser: the sync mode is picked per destination, and a second run says what changed and what was not sent."""

import pytest

from audiences.engine.generator import GenerateParams
from tests.conftest import wait_for
from tests.e2e.conftest import login, screenshot

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.intent_data(GenerateParams(rows=1500, days=1, prefixes=2, seed=4, start_day="2024-05-01")),
]


def test_browser_mirror_file_export_second_run_sends_nothing_and_says_so(page, tenant, password, intent_data):
    from audiences.models import Audience
    from exports.models import Export, ExportRun

    Audience.objects.create(
        organization=tenant.org, project=tenant.project, name="Sync audience", definition={}
    )
    login(page, tenant.user.email, password)
    page.goto("/exports/new/")
    page.fill("#id_name", "Mirrored file")
    page.select_option("#id_destination_type", "salesforce")
    page.wait_for_selector("#id_cred_access_token")
    modes = page.locator("#id_sync_mode option").evaluate_all("els => els.map(e => e.value)")
    assert modes == ["changes", "full"]  # Salesforce cannot remove records here: no mirror offered
    page.select_option("#id_destination_type", "hubspot")
    page.wait_for_selector("#id_cfg_host")
    modes = page.locator("#id_sync_mode option").evaluate_all("els => els.map(e => e.value)")
    assert "mirror" in modes  # HubSpot takes removed people off the export's list
    page.select_option("#id_destination_type", "file")
    page.wait_for_selector("#id_cfg_format")
    assert "mirror" in page.locator("#id_sync_mode option").evaluate_all("els => els.map(e => e.value)")
    page.select_option("#id_sync_mode", "mirror")
    page.click("#save-export")
    page.wait_for_url("**/exports/*/")
    export = Export.objects.get()
    assert export.sync_mode == "mirror"
    assert "remove records that left the audience" in page.inner_text("#sync-mode")
    finals = ("completed", "completed_with_errors", "failed")
    for done in (1, 2):
        page.click("#run-now")
        wait_for(lambda n=done: ExportRun.objects.filter(status__in=finals).count() == n, 120, message="run")
        page.reload()
    second = ExportRun.objects.order_by("-queued_at").first()
    assert second.status in ("completed", "completed_with_errors"), second.error
    assert second.records_exported == 0 and second.records_unchanged > 0
    assert page.inner_text("#latest-unchanged") == f"{second.records_unchanged:,}"
    assert page.inner_text("#latest-changed") == "0"
    page.set_viewport_size({"width": 1440, "height": 900})
    screenshot(page, "sync-second-run")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "sync-second-run-phone")
