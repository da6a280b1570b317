"""Every destination and the DSP client go through the outbound guard: an internal URL is refused when an
export is saved (400, the field named, the reason in words) and again at run time, the HubSpot SDK's own
urllib3 pools are guarded and pinned, and no remote reply body reaches a tenant."""

import pyarrow as pa
import pytest
from django.test import Client

from campaigns.dsp import DspError
from campaigns.dsp.http import HttpDspClient
from delivr_admin import outbound
from exports.destinations.base import BatchContext, DestinationError, get_destination
from tests.exports.conftest import MAPPING
from tests.security.outbound_standins import ScriptedServer

INTERNAL = "is an internal address; outbound requests to internal addresses are not allowed."


@pytest.fixture
def no_allow_list(settings):
    settings.DELIVR_OUTBOUND_ALLOWED_HOSTS = []


@pytest.fixture
def server():
    s = ScriptedServer()
    yield s
    s.stop()


def _export_body(audience, destination_type, config, credentials):
    return {
        "project_id": str(audience.project_id),
        "audience_id": str(audience.id),
        "name": "To an internal host",
        "destination_type": destination_type,
        "destination_config": config,
        "credentials": credentials,
        "field_mapping": MAPPING,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "config", "credentials", "field", "message"),
    [
        (
            "webhook",
            {"url": "http://169.254.169.254/latest/meta-data/"},
            {"secret": "s"},
            "url",
            "The webhook URL is not allowed: 169.254.169.254 is a cloud metadata address",
        ),
        (
            "webhook",
            {"url": "http://127.0.0.1:8000/api/v1/uid2/optout"},
            {"secret": "s"},
            "url",
            f"The webhook URL is not allowed: 127.0.0.1 {INTERNAL}",
        ),
        ("delivr_dsp", {"base_url": "http://[::1]:6379/"}, {}, "base_url", f"::1 {INTERNAL}"),
        (
            "hubspot",
            {"host": "http://localhost:5432"},
            {"access_token": "t"},
            "host",
            "localhost resolves to",
        ),
        (
            "salesforce",
            {},
            {"instance_url": "https://10.0.0.8", "access_token": "t"},
            "instance_url",
            f"The Salesforce instance URL is not allowed: 10.0.0.8 {INTERNAL}",
        ),
    ],
)
def test_export_create_when_destination_url_internal_answers_400_naming_the_field(
    tenant, audience, no_allow_list, kind, config, credentials, field, message
):
    r = tenant.jwt().post("/api/v1/exports", _export_body(audience, kind, config, credentials), format="json")
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "invalid_destination" and error["field"] == field
    assert message in error["message"]


@pytest.mark.django_db
def test_export_form_when_webhook_url_internal_shows_the_reason_next_to_the_field(
    tenant, audience, no_allow_list
):
    browser = Client()
    browser.force_login(tenant.user)
    r = browser.post(
        "/exports/new/",
        {
            "name": "Internal",
            "audience_id": str(audience.id),
            "destination_type": "webhook",
            "cfg_url": "http://127.0.0.1:6379/",
            "cred_secret": "s",
            "schedule": "manual",
            "map_row": ["a"],
            "map-a-source": "email",
            "map-a-target": "Email",
            "map-a-type": "email",
        },
    )
    body = r.content.decode()
    assert r.status_code == 400
    assert 'aria-describedby="error-url"' in body
    assert (
        f'<span class="error small field-error" id="error-url">The webhook URL is not allowed: 127.0.0.1 {INTERNAL}'
        in body
    )


def _context(n: int) -> BatchContext:
    return BatchContext(
        run_id="run1", export_id="exp1", batch_index=0, idempotency_keys=[f"run1:p{i}" for i in range(n)]
    )


def test_webhook_when_url_becomes_internal_at_run_time_stops_the_run_as_user_error(no_allow_list, server):
    destination = get_destination("webhook")({"url": server.url("/hook")}, {"secret": "s"})
    with pytest.raises(DestinationError) as caught:
        destination.write_batch(pa.RecordBatch.from_pylist([{"Email": "a@b.co"}]), _context(1))
    assert caught.value.user_error and caught.value.message == f"127.0.0.1 {INTERNAL}"
    assert server.hits == []


def test_webhook_when_receiver_refuses_shows_status_never_its_body(server):
    server.default = (400, {}, b"redis_version:7.2.4 internal secret")
    destination = get_destination("webhook")({"url": server.url("/hook")}, {"secret": "s"})
    result = destination.write_batch(pa.RecordBatch.from_pylist([{"Email": "a@b.co"}]), _context(1))
    record = result.objects["Record"]
    assert record.records_failed == 1
    assert "HTTP 400 (Bad Request)" in record.errors[0].message
    assert "secret" not in record.errors[0].message and "redis" not in record.error_message


@pytest.mark.django_db  # HubSpot requests book a slot of the portal's shared budget (exports/pacing.py)
def test_hubspot_sdk_when_host_internal_is_refused_by_its_guarded_pool(no_allow_list, hubspot_standin):
    destination = get_destination("hubspot")(hubspot_standin.config(), hubspot_standin.credentials())
    with pytest.raises(DestinationError) as caught:
        destination.test_connection()
    assert caught.value.user_error and caught.value.message == f"127.0.0.1 {INTERNAL}"
    assert hubspot_standin.requests == []


@pytest.mark.django_db  # HubSpot requests book a slot of the portal's shared budget (exports/pacing.py)
def test_hubspot_sdk_when_name_allowed_connects_to_the_address_the_guard_resolved(settings, hubspot_standin):
    """`hubspot.test` exists only in the outbound resolver: the SDK reaching the stand-in proves its pools
    resolve through the guard and connect to the checked address, keeping the name in the Host header."""
    settings.DELIVR_OUTBOUND_ALLOWED_HOSTS = ["hubspot.test"]
    port = hubspot_standin.url.rsplit(":", 1)[1]
    config = hubspot_standin.config(host=f"http://hubspot.test:{port}")
    asked: list[str] = []
    with outbound.resolver(lambda host, p: asked.append(host) or ["127.0.0.1"]):
        get_destination("hubspot")(config, hubspot_standin.credentials()).test_connection()
    assert asked == ["hubspot.test"]
    assert hubspot_standin.requests[0].headers["host"] == f"hubspot.test:{port}"


def test_salesforce_when_instance_internal_at_run_time_is_refused(no_allow_list, salesforce_standin):
    destination = get_destination("salesforce")(salesforce_standin.config(), salesforce_standin.credentials())
    with pytest.raises(DestinationError) as caught:
        destination.write_batch(pa.RecordBatch.from_pylist([{"Email": "a@b.co"}]), _context(1))
    assert caught.value.user_error and f"127.0.0.1 {INTERNAL}" in caught.value.message
    assert salesforce_standin.requests == []


def test_dsp_client_when_base_url_internal_is_refused_in_words(no_allow_list, server):
    client = HttpDspClient(base_url=server.url(), api_key="k", timeout=2)
    with pytest.raises(DspError) as caught:
        client.campaigns("acc_1")
    assert f"127.0.0.1 {INTERNAL}" in str(caught.value) and not caught.value.retryable
    assert server.hits == []


def test_dsp_client_when_dsp_errors_shows_status_not_body(server):
    server.default = (404, {}, b"<html>nginx internal page</html>")
    client = HttpDspClient(base_url=server.url(), api_key="k", timeout=2)
    with pytest.raises(DspError) as caught:
        client.campaigns("acc_1")
    assert "HTTP 404 (Not Found)" in str(caught.value) and "nginx" not in str(caught.value)
