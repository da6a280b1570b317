"""Browser: a HubSpot export's mapping offers the portal's own properties (fetched in the background after the
save), a property is picked (not typed), saved, and dry-run; the page is looked at on a desktop and a phone."""

import pytest

from audiences.engine.generator import GenerateParams, generate
from tests.e2e.conftest import login, screenshot
from tests.exports.standins.hubspot_standin import HubSpotStandIn

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def intent_data(settings, tmp_path_factory, tmp_path):
    root = tmp_path_factory.mktemp("e2e-mapping") / "intent"
    generate(str(root), GenerateParams(rows=1500, days=1, prefixes=1, seed=4, start_day="2024-05-01"))
    settings.DELIVR_DEMO_DATA = root
    settings.DELIVR_DATA_ROOTS = [str(root.parent)]
    settings.MEDIA_ROOT = tmp_path / "media"
    return root


@pytest.fixture
def standin():
    server = HubSpotStandIn().start()
    yield server
    server.stop()


def _target(page, source: str):
    row = page.locator("tr.mapping-row", has=page.locator(f"input[name$=-source][value={source}]"))
    return row.locator("select[name$=-target]")


def test_browser_picks_a_hubspot_property_saves_and_dry_runs(page, tenant, password, intent_data, standin):
    from audiences.models import Audience
    from exports.models import Export

    Audience.objects.create(
        organization=tenant.org, project=tenant.project, name="Mapping audience", definition={}
    )
    login(page, tenant.user.email, password)
    page.goto("/exports/new/")
    page.fill("#id_name", "HubSpot contacts")
    page.select_option("#id_destination_type", "hubspot")
    page.wait_for_selector("#id_cfg_host")
    # labelled settings, not config keys; the name of the HubSpot list the export's contacts go on
    assert "Access token" in page.inner_text("#destination-fields")
    assert page.locator("#id_list_name").count() == 1
    assert "Save the export with its HubSpot credentials" in page.inner_text("#catalog-status")
    page.fill("#id_cfg_host", standin.url)
    page.fill("#id_cred_access_token", standin.token)
    page.wait_for_selector("tr.mapping-row select[name$=-target]")  # the rows' targets became pickers
    # keep one row: the email, picked from HubSpot's standard properties
    rows = page.locator("tr.mapping-row")
    while rows.count() > 1:
        rows.nth(1).locator("button", has_text="Remove").click()
    _target(page, "email").select_option("email")
    page.click("#save-export")
    page.wait_for_url("**/exports/*/")
    export = Export.objects.get()
    assert page.locator("#export-connection .badge").inner_text() == "Connected"
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, f"export-detail-{width}")
    page.goto("/exports/")
    assert page.locator("#export-table .badge", has_text="Connected").count() == 1
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, f"export-list-{width}")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"/exports/{export.id}/")

    # the edit form offers the portal's own properties, custom ones included
    page.click("#edit-export")
    page.wait_for_selector("#catalog-status .badge")
    assert "fields" in page.inner_text("#catalog-status .badge")
    page.click("#add-mapping-row")
    new_row = page.locator("tr.mapping-row").nth(1)
    new_row.locator("input[name$=-source]").fill("job_title")
    options = new_row.locator("select[name$=-target] option").all_inner_texts()
    assert "Delivr intent topics — enumeration" in options and "Job Title — string" in options
    assert not any("Record ID" in o for o in options)  # read-only: not offered
    new_row.locator("select[name$=-target]").select_option("jobtitle")
    new_row.locator("input[name$=-max_length]").fill("12")
    page.set_viewport_size({"width": 1440, "height": 900})
    screenshot(page, "export-mapping-1440")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "export-mapping-390")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.click("#save-export")
    page.wait_for_url(f"**/exports/{export.id}/")
    export.refresh_from_db()
    assert [(f["source"], f["target"]) for f in export.field_mapping] == [
        ("email", "email"),
        ("job_title", "jobtitle"),
    ]

    page.click("#edit-export")
    page.wait_for_selector("#catalog-status .badge")
    assert _target(page, "job_title").input_value() == "jobtitle"
    page.click("#dry-run-button")
    page.wait_for_selector("#dry-run-valid")
    assert int(page.inner_text("#dry-run-valid").replace(",", "")) > 0
    assert "STRING_TOO_LONG" in page.inner_text("#dry-run-result")  # job titles past 12 characters
    assert standin.calls("POST") == []  # neither the form nor the dry run wrote to HubSpot
