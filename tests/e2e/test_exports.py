"""Browser journey: configure a file export with a record limit, dry-run it, run it, read per-object results."""

import pytest

from audiences.engine.generator import GenerateParams
from tests.e2e.conftest import login, screenshot

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.intent_data(GenerateParams(rows=3000, days=2, prefixes=2, seed=9, start_day="2024-05-01")),
]


def test_browser_configures_file_export_dry_runs_runs_and_reads_results(page, tenant, password, intent_data):
    from audiences.models import Audience
    from exports.models import Export, ExportRun

    Audience.objects.create(
        organization=tenant.org, project=tenant.project, name="Browser audience", definition={}
    )
    login(page, tenant.user.email, password)
    page.click("nav.mainnav >> text=Exports")
    page.wait_for_url("**/exports/")
    page.click("#new-export")
    page.wait_for_url("**/exports/new/")
    page.fill("#id_name", "Browser CSV export")
    # destination fields follow the destination; a list name (prefilled from the audience) only where lists are
    page.select_option("#id_destination_type", "delivr_dsp")
    page.wait_for_selector("#id_list_name")
    assert page.input_value("#id_list_name") == "Browser audience"
    page.select_option("#id_destination_type", "webhook")
    page.wait_for_selector("#id_cfg_url")
    assert page.locator("#id_list_name").count() == 0
    assert page.locator("#id_cred_secret").count() == 1
    page.select_option("#id_destination_type", "file")
    page.wait_for_selector("#id_cfg_format")
    page.select_option("#id_cfg_format", "csv")
    page.fill("#id_record_limit_max", "1000")
    page.select_option("#id_record_limit_fail_mode", "truncate")
    # tighten one mapping row so the dry run finds too-long titles
    title_row = page.locator("tr.mapping-row", has=page.locator("input[value=JobTitle]"))
    title_row.locator("input[name$=-truncate]").uncheck()
    title_row.locator("input[name$=-max_length]").fill("8")
    page.click("#dry-run-button")
    page.wait_for_selector("#dry-run-errors")
    assert "Value too long" in page.inner_text("#dry-run-errors")
    assert "would stop after 1,000 records" in page.inner_text("#dry-run-limit")
    screenshot(page, "exports-dry-run")
    page.click("#save-export")
    page.wait_for_url("**/exports/*/")
    export = Export.objects.get()
    assert export.record_limit == {"maxRecords": 1000, "failMode": "truncate"}
    assert "1,000 records, truncate" in page.inner_text("#record-limit")

    page.click("#test-connection")
    page.wait_for_selector("#connection-result >> text=Connected")
    page.click("#run-now")
    page.wait_for_function(
        "['completed','completed_with_errors','failed'].includes("
        "document.querySelector('#latest-status')?.dataset.status)",
        timeout=30000,
    )
    run = ExportRun.objects.get()
    assert run.status == "completed_with_errors", run.error
    assert page.inner_text("#latest-total") == "1,000"
    results = page.inner_text("#object-results")
    assert "Record" in results and "Value too long" in results
    page.click("#object-results summary")
    assert "JobTitle is longer than 8 characters" in page.inner_text("#object-results .record-errors")
    screenshot(page, "exports-run-results")
