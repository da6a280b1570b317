"""Browser: a HubSpot export's mapping offers the portal's own properties (fetched in the background after the
save), a property is picked (not typed), saved, and dry-run; each row's Source is picked from the audience's
columns in words and follows the audience when it changes, a source the audience lacks is refused next to its
row; the pages are looked at on a desktop and a phone (the mapping stacks one card per row at 390 px)."""

import pytest
from playwright.sync_api import expect

from audiences.engine.generator import GenerateParams
from tests.e2e.conftest import login, screenshot
from tests.e2e.journey_support import row_with_source
from tests.exports.standins.hubspot_standin import HubSpotStandIn

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.intent_data(GenerateParams(rows=1500, days=1, prefixes=1, seed=4, start_day="2024-05-01")),
]


@pytest.fixture
def standin():
    server = HubSpotStandIn().start()
    yield server
    server.stop()


def _target(page, source: str):
    return row_with_source(page.locator("tr.mapping-row"), source).locator("select[name$=-target]")


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
    new_row.locator("select[name$=-source]").select_option(label="Job title")  # the column in words
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


def _small_dataset(root) -> str:
    """A second dataset beside the intent data with only a few columns (an audience of other data)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = root.parent / "contacts"
    folder.mkdir()
    table = pa.table(
        {
            "email": ["ann@example.com", "bob@example.com"],
            "first_name": ["Ann", "Bob"],
            "country": ["US", "DE"],
        }
    )
    pq.write_table(table, folder / "part-0.parquet")
    return str(folder)


def _sources(row) -> list[str]:
    return row.locator("select[name$=-source] option").all_inner_texts()


def test_browser_source_is_picked_from_the_audiences_columns_and_follows_the_audience(
    page, tenant, password, intent_data
):
    from audiences.models import Audience
    from exports.models import Export

    Audience.objects.create(
        organization=tenant.org, project=tenant.project, name="A intent audience", definition={}
    )
    Audience.objects.create(
        organization=tenant.org,
        project=tenant.project,
        name="B contacts audience",
        definition={},
        input_path=_small_dataset(intent_data),
    )
    login(page, tenant.user.email, password)
    page.goto("/exports/new/")
    page.select_option("#id_audience", label="A intent audience (Default)")
    page.fill("#id_name", "Contacts file")
    rows = page.locator("tr.mapping-row")
    # the default rows' sources are picked from the audience's columns, named in words
    first = rows.nth(0)
    assert first.locator("select[name$=-source]").input_value() == "email"
    assert "Company size (employees)" in _sources(first) and "company_employee_count" not in _sources(first)
    before = rows.count()
    page.click("#add-mapping-row")
    expect(rows).to_have_count(before + 1)
    added = rows.nth(before)
    assert added.locator("select[name$=-source]").input_value() == ""  # "Choose a column…"
    added.locator("select[name$=-source]").select_option(label="Job title")
    added.locator("input[name$=-target]").fill("Title")

    # another audience: every Source now offers its columns; a column it lacks stays, marked
    page.select_option("#id_audience", label="B contacts audience (Default)")
    kept = added.locator("select[name$=-source] option", has_text="job_title (not in this audience)")
    expect(kept).to_have_count(1)
    assert "Company size (employees)" not in _sources(added) and "Country" in _sources(added)
    assert added.locator("select[name$=-source]").input_value() == "job_title"
    assert first.locator("select[name$=-source]").input_value() == "email"
    page.click("#add-mapping-row")  # a row added now offers the new audience's columns
    expect(rows).to_have_count(before + 2)
    assert _sources(rows.nth(before + 1)) == ["Choose a column…", "Email", "First name", "Country"]

    # saving refuses each source the audience lacks, next to its row, in words
    page.click("#save-export")
    page.wait_for_selector("#form-error")
    assert "Field mapping, row 3, Source: the audience has no column 'last_name'." in page.inner_text(
        "#form-error"
    )
    errors = page.locator("tr.mapping-row td[data-label=Source] .field-error")
    assert errors.count() == 4  # last_name, company_name and both job_title rows (email, first_name exist)
    assert errors.first.inner_text() == "The audience has no column 'last_name'."
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, f"export-mapping-sources-{width}")
        assert page.evaluate("document.scrollingElement.scrollWidth") <= width
    # on a phone each mapping row is a stacked card: the Source's label beside its select, the error below
    cell = page.locator("tr.mapping-row td[data-label=Source]").first
    assert cell.evaluate("td => getComputedStyle(td).display") == "grid"
    assert page.locator("#mapping thead").is_hidden()
    page.set_viewport_size({"width": 1440, "height": 900})

    # the rows in error are the ones to fix: pick columns it has, leave the rest out
    bad = page.locator("tr.mapping-row", has=page.locator(".field-error"))
    while bad.count() > 1:
        bad.nth(1).locator("button", has_text="Remove").click()
    bad.first.locator("select[name$=-source]").select_option(label="Country")
    page.click("#save-export")
    page.wait_for_url("**/exports/*/")
    export = Export.objects.get()
    assert [f["source"] for f in export.field_mapping] == ["email", "first_name", "country"]
    assert export.audience.name == "B contacts audience"
