"""Destination-aware mapping and connection status: the destination's own fields (HubSpot properties, a
Salesforce describe, the DSP's identifiers) fetched in the background after a save and offered as targets;
credentials checked after every save; runs refused without them. Against the stand-ins, no mocks."""

import pytest
from django.test import Client

from exports.destinations.base import get_destination
from exports.models import ConnectionStatus, Export, ExportRun
from exports.services.connection_checks import connection_check_start

pytestmark = pytest.mark.django_db

URL = "/api/v1/exports"
HX = {"HTTP_HX_REQUEST": "true"}
HUBSPOT_MAPPING = [{"source": "email", "target": "email", "type": "email", "required": True}]


@pytest.fixture
def browser(tenant):
    client = Client()
    client.force_login(tenant.user)
    return client


def _hubspot(tenant, audience, standin, credentials=None):
    body = {
        "project_id": str(tenant.project.id),
        "audience_id": str(audience.id),
        "name": "HubSpot contacts",
        "destination_type": "hubspot",
        "destination_config": {"host": standin.url},
        "field_mapping": HUBSPOT_MAPPING,
    }
    if credentials is not None:
        body["credentials"] = credentials
    r = tenant.jwt().post(URL, body, format="json")
    assert r.status_code == 201, r.content
    return r.json()


def test_hubspot_target_fields_when_fetched_are_writable_properties_then_special_targets(hubspot_standin):
    fields = get_destination("hubspot")(
        hubspot_standin.config(), hubspot_standin.credentials()
    ).target_fields()
    names = [f.name for f in fields]
    assert names[0] == "email" and fields[0].mapping_type == "email" and fields[0].required
    # read-only, calculated and hidden properties cannot be written: not offered
    assert not {"hs_object_id", "hs_analytics_num_visits", "hs_legacy_hidden"} & set(names)
    by_name = {f.name: f for f in fields}
    assert by_name["numemployees"].mapping_type == "number"
    assert by_name["lifecyclestage"].picklist == ("subscriber", "lead")
    topics = by_name["delivr_intent_topics"]  # a portal's own custom property, checkboxes
    assert topics.label == "Delivr intent topics" and topics.multi_value
    assert names[-6:] == [
        "company_domain",
        "company_name",
        "topic_id",
        "intent_frequency",
        "impression_count",
        "seen_at",
    ]
    assert hubspot_standin.calls("GET", "/crm/v3/properties/contacts")


@pytest.mark.parametrize("object_type", ["Contact", "Lead"])
def test_salesforce_target_fields_when_described_follow_the_describe(salesforce_standin, object_type):
    cls = get_destination("salesforce")
    fields = cls(
        salesforce_standin.config(object_type=object_type), salesforce_standin.credentials()
    ).target_fields()
    by_name = {f.name: f for f in fields}
    (call,) = salesforce_standin.calls("GET", f"/sobjects/{object_type}/describe")
    assert "Id" not in by_name  # not createable
    assert by_name["Email"].mapping_type == "email" and by_name["Email"].max_length == 80
    assert by_name["LastName"].required and by_name["LastName"].label == "Last Name"
    assert by_name["LeadSource"].picklist == ("Web", "Phone Inquiry", "Partner Referral", "Other")
    assert ("Company" in by_name) == (object_type == "Lead")
    if object_type == "Lead":
        assert by_name["Company"].required and by_name["NumberOfEmployees"].mapping_type == "number"


def test_dsp_target_fields_are_its_identifiers():
    fields = get_destination("delivr_dsp")({}, {}).target_fields()
    identifiers = [f.name for f in fields if f.group == "Identifiers"]
    assert identifiers == ["email", "uid2", "person_id", "company_domain"]


def test_hubspot_export_when_saved_with_token_is_checked_connected_and_keeps_its_properties(
    tenant, audience, hubspot_standin
):
    out = _hubspot(tenant, audience, hubspot_standin, hubspot_standin.credentials())
    assert out["connection"]["status"] == "checking"  # the save never waits on HubSpot
    export = Export.objects.get(pk=out["id"])
    assert export.connection_status == ConnectionStatus.CONNECTED
    assert export.connection_message == "Connected to HubSpot."
    names = [f["name"] for f in export.field_catalog["fields"]]
    assert "delivr_intent_topics" in names and "hs_object_id" not in names
    got = tenant.jwt().get(f"{URL}/{out['id']}").json()
    assert got["connection"]["status"] == "connected" and got["connection"]["checked_at"]


def test_hubspot_export_when_saved_without_token_is_a_draft_not_connected_and_cannot_run(
    tenant, audience, hubspot_standin
):
    out = _hubspot(tenant, audience, hubspot_standin)
    assert out["connection"] == {
        "status": "not_connected",
        "message": "Not connected: add an access token",
        "checked_at": out["connection"]["checked_at"],
    }
    assert hubspot_standin.requests == []  # nothing to check without a token
    r = tenant.jwt().post(f"{URL}/{out['id']}/runs")
    assert r.status_code == 409, r.content
    assert r.json()["error"] == {
        "code": "not_connected",
        "message": "The export is not connected: add an access token before running it.",
    }
    assert not ExportRun.objects.filter(export_id=out["id"]).exists()


def test_hubspot_export_when_token_rejected_says_so_in_words(tenant, audience, hubspot_standin):
    out = _hubspot(tenant, audience, hubspot_standin, {"access_token": "wrong"})
    export = Export.objects.get(pk=out["id"])
    assert export.connection_status == ConnectionStatus.NOT_CONNECTED
    assert export.connection_message == "Not connected: HubSpot rejected the access token"
    assert export.field_catalog == {}


def test_detail_page_when_no_token_disables_run_with_the_reason(browser, tenant, audience, hubspot_standin):
    out = _hubspot(tenant, audience, hubspot_standin)
    body = browser.get(f"/exports/{out['id']}/").content.decode()
    assert 'id="run-now" disabled' in body
    assert "Not connected: add an access token" in body and 'class="badge bad">Not connected<' in body
    listing = browser.get("/exports/").content.decode()
    assert 'class="badge bad">Not connected<' in listing and ">HubSpot<" in listing


def test_connection_badge_when_checking_polls_and_stops_when_done(
    browser, tenant, audience, hubspot_standin, django_capture_on_commit_callbacks
):
    out = _hubspot(tenant, audience, hubspot_standin, hubspot_standin.credentials())
    Export.objects.filter(pk=out["id"]).update(connection_status=ConnectionStatus.CHECKING)
    r = browser.get(f"/exports/{out['id']}/connection/", **HX)
    assert r.status_code == 200 and 'hx-trigger="every 2s"' in r.content.decode()

    with django_capture_on_commit_callbacks(execute=True):  # the check the Test connection button queues
        connection_check_start(export=Export.objects.get(pk=out["id"]), actor="test")
    r = browser.get(f"/exports/{out['id']}/connection/?words=1", **HX)
    assert r.status_code == 286 and "Connected to HubSpot" in r.content.decode()


def test_edit_form_when_connected_offers_the_portals_properties_as_picked_targets(
    browser, tenant, audience, hubspot_standin
):
    out = _hubspot(tenant, audience, hubspot_standin, hubspot_standin.credentials())
    body = browser.get(f"/exports/{out['id']}/edit/").content.decode()
    assert 'class="target-select"' in body and 'name="cfg_host"' in body
    assert '<option value="delivr_intent_topics"' in body and "Delivr intent topics — enumeration" in body
    assert '<option value="email" data-type="email"' in body and " selected>Email — string" in body
    # human labels, not config keys; no list name for a destination without lists
    # HubSpot keeps the export's contacts on a list of that name (removals leave it)
    assert "Access token" in body and "Requests per 10 seconds" in body and 'name="list_name"' in body
    assert "timeline_event_template_id" not in body


def test_new_form_for_hubspot_offers_standard_properties_and_says_how_to_get_the_portals(browser, audience):
    r = browser.get("/exports/form/destination/", {"destination_type": "hubspot"}, **HX)
    body = r.content.decode()
    assert 'id="target-options"' in body and 'hx-swap-oob="true"' in body
    assert '<option value="firstname"' in body and "Save the export with its HubSpot credentials" in body
    r = browser.get("/exports/form/destination/", {"destination_type": "delivr_dsp"}, **HX)
    assert 'name="list_name"' in r.content.decode() and "UID2 token" in r.content.decode()
    r = browser.get("/exports/form/destination/", {"destination_type": "webhook"}, **HX)
    assert 'data-state="free"' in r.content.decode()  # a webhook has no field list: targets are typed


def test_targets_fragment_when_loading_polls_then_sends_the_fields(
    browser, tenant, audience, hubspot_standin
):
    out = _hubspot(tenant, audience, hubspot_standin, hubspot_standin.credentials())
    fields = Export.objects.get(pk=out["id"]).field_catalog
    Export.objects.filter(pk=out["id"]).update(connection_status=ConnectionStatus.CHECKING, field_catalog={})
    params = {"destination_type": "hubspot", "export_id": out["id"], "n": "0"}
    r = browser.get("/exports/form/targets/", params, **HX)
    body = r.content.decode()
    assert "Loading your HubSpot fields" in body and "n=1" in body and "target-options" not in body
    Export.objects.filter(pk=out["id"]).update(
        connection_status=ConnectionStatus.CONNECTED, field_catalog=fields
    )
    body = browser.get("/exports/form/targets/", params | {"n": "3"}, **HX).content.decode()
    assert 'id="target-options"' in body and "delivr_intent_topics" in body and "hx-trigger" not in body


def test_targets_fragment_when_destination_too_slow_stops_and_says_so(
    browser, tenant, audience, hubspot_standin
):
    out = _hubspot(tenant, audience, hubspot_standin, hubspot_standin.credentials())
    Export.objects.filter(pk=out["id"]).update(connection_status=ConnectionStatus.CHECKING, field_catalog={})
    params = {"destination_type": "hubspot", "export_id": out["id"], "n": "11"}
    body = browser.get("/exports/form/targets/", params, **HX).content.decode()
    assert "HubSpot has not answered yet" in body and "hx-trigger" not in body
    assert '<option value="firstname"' in body  # the standard properties to pick from meanwhile


@pytest.mark.parametrize("n", ["x", "", "-5", "1.5"])
def test_targets_fragment_when_poll_count_not_a_whole_number_from_zero_counts_again_from_zero(
    browser, tenant, audience, hubspot_standin, n
):
    out = _hubspot(tenant, audience, hubspot_standin, hubspot_standin.credentials())
    Export.objects.filter(pk=out["id"]).update(connection_status=ConnectionStatus.CHECKING, field_catalog={})
    params = {"destination_type": "hubspot", "export_id": out["id"], "n": n}
    r = browser.get("/exports/form/targets/", params, **HX)
    body = r.content.decode()
    assert r.status_code == 200 and "Loading your HubSpot fields" in body and "n=1" in body
