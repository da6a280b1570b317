"""Exports dashboard: pages render, HTMX fragments come back alone, the form saves, runs poll until done."""

import pytest
from django.test import Client

from exports.models import ConnectionCheck, Export, ExportRun
from exports.services.connection_checks import connection_check_run
from exports.services.exports import export_create
from tests.exports.conftest import MAPPING

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def browser(tenant):
    client = Client()
    client.force_login(tenant.user)
    return client


def form_data(audience, **extra):
    data = {
        "name": "Form export",
        "audience_id": str(audience.id),
        "destination_type": "file",
        "cfg_format": "csv",
        "schedule": "manual",
        "record_limit_max": "100",
        "record_limit_fail_mode": "truncate",
        "list_name": "",
        "map_row": ["a", "b"],
        "map-a-source": "email",
        "map-a-target": "Email",
        "map-a-type": "email",
        "map-a-required": "on",
        "map-b-source": "job_title",
        "map-b-target": "Title",
        "map-b-type": "string",
        "map-b-max_length": "5",
    }
    data.update(extra)
    return data


def test_list_and_new_pages_render_and_nav_shows_exports(browser, audience):
    r = browser.get("/exports/")
    assert r.status_code == 200 and b'href="/exports/"' in r.content
    r = browser.get("/exports/new/")
    assert r.status_code == 200 and b"Decision makers" in r.content and b'id="mapping-rows"' in r.content


def test_new_page_offers_the_audiences_columns_in_words_as_the_mapping_source(browser, audience):
    body = browser.get("/exports/new/").content.decode()
    assert 'class="source-select" aria-label="Source column"' in body
    assert '<option value="company_employee_count">Company size (employees)</option>' in body
    assert '<option value="email" selected>Email</option>' in body  # the default row's source, picked
    assert "<datalist" not in body and 'class="source-input"' not in body


def test_mapping_row_fragment_offers_the_chosen_audiences_columns(browser, audience):
    r = browser.get(
        "/exports/form/mapping-row/", {"destination_type": "file", "audience_id": str(audience.id)}, **HX
    )
    body = r.content.decode()
    assert r.status_code == 200 and body.lstrip().startswith('<tr class="mapping-row">')
    assert (
        '<option value="">Choose a column…</option>' in body
        and '<option value="job_title">Job title</option>' in body
    )
    assert " selected" not in body.split('class="source-select"')[1].split("</select>")[0]
    # without an audience (or one whose data cannot be read) the source is typed
    r = browser.get("/exports/form/mapping-row/", {"destination_type": "file"}, **HX)
    assert 'class="source-input"' in r.content.decode() and "source-select" not in r.content.decode()


def test_audience_change_sends_its_columns_out_of_band_for_every_source(browser, audience):
    r = browser.get(
        "/exports/form/list-name/", {"audience_id": str(audience.id), "destination_type": "file"}, **HX
    )
    body = r.content.decode()
    assert '<div id="source-options-slot" hidden hx-swap-oob="true">' in body
    assert '<template id="source-options" data-state="columns">' in body
    assert '<option value="company_name">Company name</option>' in body
    r = browser.get("/exports/form/list-name/", {"audience_id": "not-an-id"}, **HX)
    assert r.status_code == 200 and '<template id="source-options" data-state="free">' in r.content.decode()


def test_destination_fragment_returns_only_its_fields(browser):
    r = browser.get("/exports/form/destination/", {"destination_type": "webhook"}, **HX)
    body = r.content.decode()
    assert r.status_code == 200 and body.lstrip().startswith('<div id="destination-fields"')
    assert 'name="cfg_url"' in body and 'name="cred_secret"' in body and "<html" not in body


def test_list_name_fragment_prefills_audience_name(browser, audience):
    r = browser.get(
        "/exports/form/list-name/", {"audience_id": str(audience.id), "destination_type": "delivr_dsp"}, **HX
    )
    assert (
        r.status_code == 200 and 'value="Decision makers"' in r.content.decode() and b"<html" not in r.content
    )


def test_list_name_fragment_when_destination_has_no_lists_is_empty(browser, audience):
    r = browser.get(
        "/exports/form/list-name/", {"audience_id": str(audience.id), "destination_type": "salesforce"}, **HX
    )
    assert r.status_code == 200 and 'id="list-name"' in r.content.decode() and b"list_name" not in r.content


def test_form_dry_run_fragment_shows_counts_without_saving(browser, audience):
    r = browser.post("/exports/form/dry-run/", form_data(audience), **HX)
    body = r.content.decode()
    assert r.status_code == 200 and "<html" not in body
    assert "Value too long" in body and 'id="dry-run-invalid"' in body
    assert not Export.objects.exists()


def test_form_saves_export_and_redirects_to_detail(browser, audience):
    r = browser.post("/exports/new/", form_data(audience))
    assert r.status_code == 302, r.content.decode()[:2000]
    export = Export.objects.get()
    assert export.record_limit == {"maxRecords": 100, "failMode": "truncate"}
    assert [f["target"] for f in export.field_mapping] == ["Email", "Title"]
    r = browser.get(r["Location"])
    assert r.status_code == 200 and b"100 records, truncate" in r.content
    # the mapping's types in the form's words ("text", not the API's "string")
    assert "<td>Title</td><td>text</td>" in r.content.decode() and "<td>string</td>" not in r.content.decode()


def test_form_with_bad_mapping_shows_error_next_to_the_source_and_keeps_values(browser, audience):
    r = browser.post("/exports/new/", form_data(audience, **{"map-a-source": "nope"}))
    body = r.content.decode()
    assert r.status_code == 400 and "Form export" in body and not Export.objects.exists()
    assert "Field mapping, row 1, Source: the audience has no column &#x27;nope&#x27;." in body
    assert "field_mapping[" not in body  # the API's path is not shown on the page
    row = body.split('<tr class="mapping-row">')[1].split("</tr>")[0]
    assert 'aria-invalid="true"' in row and "The audience has no column &#x27;nope&#x27;." in row
    assert '<option value="nope" selected>nope (not in this audience)</option>' in row
    assert '<option value="job_title">Job title</option>' in row  # still a choice of the audience's columns


def test_form_takes_a_source_in_any_case_and_stores_the_columns_spelling(browser, audience):
    r = browser.post("/exports/new/", form_data(audience, **{"map-b-source": "JOB_TITLE"}))
    assert r.status_code == 302, r.content.decode()[:2000]
    assert [f["source"] for f in Export.objects.get().field_mapping] == ["email", "job_title"]


def test_run_now_then_history_polls_until_done_with_286(browser, tenant, audience):
    export = export_create(
        principal=tenant.principal,
        project_id=tenant.project.id,
        audience_id=audience.id,
        name="e",
        destination_type="file",
        destination_config={"format": "csv"},
        field_mapping=MAPPING,
    )
    ExportRun.objects.create(export=export, organization=tenant.org, status="running")
    r = browser.get(f"/exports/{export.id}/", **HX)
    assert r.status_code == 200 and 'hx-trigger="every 2s"' in r.content.decode()
    ExportRun.objects.update(status="completed")
    r = browser.get(f"/exports/{export.id}/", **HX)
    assert r.status_code == 286 and b"<html" not in r.content


def test_test_connection_fragment_reports_result(browser, tenant, audience):
    export = export_create(
        principal=tenant.principal,
        project_id=tenant.project.id,
        audience_id=audience.id,
        name="e",
        destination_type="file",
        destination_config={"format": "csv"},
        field_mapping=MAPPING,
    )
    r = browser.post(f"/exports/{export.id}/test-connection/", **HX)
    body = r.content.decode()
    assert (
        r.status_code == 200
        and body.lstrip().startswith('<div id="connection-result"')
        and "<html" not in body
    )
    assert "Checking…" in body and 'hx-trigger="every 1s"' in body
    check = ConnectionCheck.objects.get(export=export)
    assert f"/exports/{export.id}/test-connection/{check.id}/" in body
    r = browser.get(f"/exports/{export.id}/test-connection/{check.id}/", **HX)
    assert r.status_code == 200 and "Checking…" in r.content.decode()  # still pending: polling goes on
    connection_check_run(check_id=str(check.id))  # what the worker does
    r = browser.get(f"/exports/{export.id}/test-connection/{check.id}/", **HX)
    assert r.status_code == 286 and b"Connected to" in r.content and b"hx-trigger" not in r.content
    assert b'id="export-connection" hx-swap-oob="true"' in r.content  # the export's badge says the same
    page = browser.get(f"/exports/{export.id}/").content.decode()
    assert "Connected to File" in page and "Checking…" not in page


def test_support_cannot_post_forms(tenant, audience):
    from accounts.models import Membership, Role
    from tests.factories import UserFactory

    user = UserFactory()
    Membership.objects.create(user=user, organization=tenant.org, role=Role.SUPPORT)
    client = Client()
    client.force_login(user)
    assert client.get("/exports/").status_code == 200
    assert client.post("/exports/new/", form_data(audience)).status_code == 403


@pytest.mark.parametrize(
    ("row", "entry"),
    [
        ({"map-b-max_length": "0"}, {"source": "job_title", "target": "Title", "max_length": 0}),
        ({"map-b-type": "date"}, {"source": "job_title", "target": "Title", "type": "date"}),
        ({"map-b-target": "email"}, {"source": "job_title", "target": "email"}),
        ({"map-b-source": "Nope"}, {"source": "Nope", "target": "Title"}),
    ],
)
def test_form_and_api_refuse_a_bad_mapping_row_with_the_same_words(browser, tenant, audience, row, entry):
    column = {"max_length": "Max length", "type": "Type", "target": "Target", "source": "Source"}[
        next(iter(row)).split("-")[-1]
    ]
    page = browser.post("/exports/new/", form_data(audience, **row))
    api = tenant.jwt().post(
        "/api/v1/exports",
        {
            "project_id": str(tenant.project.id),
            "audience_id": str(audience.id),
            "name": "API export",
            "destination_type": "file",
            "destination_config": {"format": "csv"},
            "field_mapping": [
                {"source": "email", "target": "Email", "type": "email", "required": True},
                entry,
            ],
        },
        format="json",
    )
    message = api.json()["error"]["message"]
    assert api.status_code == 400 and message.startswith("field_mapping[1].")
    words = message.split(": ", 1)[1].replace("'", "&#x27;")  # the API's message after its path
    assert page.status_code == 400 and f"Field mapping, row 2, {column}: {words}" in page.content.decode()
    assert not Export.objects.exists()


def test_form_mapping_rows_in_page_order_blank_rows_left_out_and_kept_on_error(browser, audience):
    data = form_data(audience, map_row=["z", "a", "blank", "b"], **{"map-z-source": "first_name"})
    data |= {
        "map-z-target": "First",
        "map-z-picklist": " Ann, ,Bob ",
        "map-z-default": "Ann",
        "map-blank-type": "",
    }
    r = browser.post("/exports/new/", data)
    assert r.status_code == 302, r.content.decode()[:2000]
    mapping = Export.objects.get().field_mapping
    assert [(f["source"], f["target"]) for f in mapping] == [
        ("first_name", "First"),
        ("email", "Email"),
        ("job_title", "Title"),
    ]
    assert mapping[0]["picklist"] == ["Ann", "Bob"] and mapping[2]["max_length"] == 5
    r = browser.post("/exports/new/", form_data(audience, **{"map-b-max_length": "five"}))
    body = r.content.decode()
    assert (
        r.status_code == 400
        and "Field mapping, row 2, Max length: Must be an integer from 1 to 1,000,000." in body
    )
    assert 'value="five"' in body and '<option value="job_title" selected>' in body  # the row as typed
    assert 'id="error-' in body.split('value="five"')[1].split("</td>")[0]  # the message next to the field


def test_form_record_limit_refused_with_the_service_words(browser, audience):
    for bad in ("many", "0"):
        r = browser.post("/exports/new/", form_data(audience, record_limit_max=bad))
        assert (
            r.status_code == 400
            and b"Record limit (max records) must be an integer from 1 to 10,000,000." in r.content
        )


def test_form_record_limit_input_takes_its_max_from_the_one_constant(browser, audience, monkeypatch):
    from audiences.models import RECORD_LIMIT_MAX

    body = browser.get("/exports/new/").content.decode()
    assert f'min="1" max="{RECORD_LIMIT_MAX}" name="record_limit_max"' in body
    monkeypatch.setattr("exports.views.RECORD_LIMIT_MAX", 500)
    assert 'max="500" name="record_limit_max"' in browser.get("/exports/new/").content.decode()


def test_form_when_audience_id_padded_checks_the_sources_against_that_audiences_columns(browser, audience):
    data = form_data(audience, audience_id=f" {audience.id} ", **{"map-b-source": "no_such_column"})
    r = browser.post("/exports/new/", data)
    body = r.content.decode()
    assert r.status_code == 400 and "the audience has no column &#x27;no_such_column&#x27;." in body
    assert not Export.objects.exists()


def test_destination_fragment_without_a_destination_shows_the_files_fields(browser):
    r = browser.get("/exports/form/destination/", **HX)
    assert r.status_code == 200 and 'name="cfg_format"' in r.content.decode()
