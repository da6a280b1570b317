from datetime import UTC, datetime

import pytest

from privacy.models import AuditEvent, OptOut

pytestmark = pytest.mark.django_db

URL = "/api/v1/uid2/optout"
WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def assert_error(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"]["code"] and body["error"]["message"]
    return body["error"]


def test_webhook_get_with_iso_time_records_global_uid2_entry(api):
    r = api.get(URL, {"user": "AbC+/uid2==", "optouttime": "2026-03-04T05:06:07Z"})
    assert r.status_code == 204 and r.content == b""
    entry = OptOut.objects.get()
    assert (entry.identifier_type, entry.value, entry.organization_id) == ("uid2", "AbC+/uid2==", None)
    assert entry.opted_out_at == WHEN and entry.source == "uid2_webhook"
    event = AuditEvent.objects.get()
    assert event.action == "optout.created" and event.actor == "uid2_operator"
    assert event.ip == "127.0.0.1" and event.request_id


@pytest.mark.parametrize(
    "optouttime",
    ["2026-03-04T05:06:07+00:00", "2026-03-04T05:06:07", "1772600767", "1772600767000", "1772600767.0"],
)
def test_webhook_when_time_is_iso_epoch_seconds_or_ms_parses_same_instant(api, optouttime):
    assert api.get(URL, {"user": "u1", "optouttime": optouttime}).status_code == 204
    assert OptOut.objects.get().opted_out_at == WHEN


def test_webhook_post_query_form_and_json_all_accepted(api):
    assert api.post(f"{URL}?user=q1&optouttime=1772600767").status_code == 204
    assert api.post(URL, {"user": "f1", "optouttime": "1772600767"}).status_code == 204  # multipart form
    r = api.post(URL, "user=f2&optouttime=1772600767", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 204
    assert api.post(URL, {"user": "j1", "optouttime": 1772600767000}, format="json").status_code == 204
    assert set(OptOut.objects.values_list("value", flat=True)) == {"q1", "f1", "f2", "j1"}


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"user": "u"},
        {"optouttime": "1772600767"},
        {"user": "", "optouttime": "1772600767"},
        {"user": "u", "optouttime": ""},
        {"user": "u", "optouttime": "yesterday"},
        {"user": "u", "optouttime": "-5"},
        {"user": "u", "optouttime": "nan"},
        {"user": "u", "optouttime": "99999999999999999999999"},
        {"user": "has space", "optouttime": "1772600767"},
        {"user": "x" * 256, "optouttime": "1772600767"},
        {"user": "nul\x00byte", "optouttime": "1772600767"},
        {"user": "bell\x07", "optouttime": "1772600767"},
    ],
)
def test_webhook_when_params_missing_or_malformed_returns_400(api, params):
    assert_error(api.get(URL, params), 400)
    assert not OptOut.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    "body", [{"user": 5, "optouttime": "1772600767"}, {"user": "u", "optouttime": True}, [1]]
)
def test_webhook_post_when_json_types_wrong_returns_400(api, body):
    assert_error(api.post(URL, body, format="json"), 400)


def test_webhook_when_repeated_keeps_one_entry_and_audits_every_delivery(api):
    for optouttime in ("1772600767", "1772600767", "1772600000"):
        assert api.get(URL, {"user": "same", "optouttime": optouttime}).status_code == 204
    assert OptOut.objects.count() == 1
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["optout.created", "optout.repeated", "optout.updated"]
    assert OptOut.objects.get().opted_out_at == datetime.fromtimestamp(1772600000, tz=UTC)


def test_webhook_needs_no_auth_but_is_rate_limited_per_source(api, settings):
    settings.DELIVR_UID2_RATE_LIMIT_PER_SECOND = 1
    settings.DELIVR_UID2_RATE_LIMIT_BURST = 3
    codes = [api.get(URL, {"user": f"u{i}", "optouttime": "1772600767"}).status_code for i in range(3)]
    assert codes == [204, 204, 204]
    r = api.get(URL, {"user": "u9", "optouttime": "1772600767"})
    assert_error(r, 429)
    assert int(r["Retry-After"]) >= 1
    other_source = api.get(URL, {"user": "u10", "optouttime": "1772600767"}, REMOTE_ADDR="10.1.2.3")
    assert other_source.status_code == 204
    assert OptOut.objects.count() == 4


def test_webhook_ignores_jwt_of_others(api, tenant):
    r = tenant.jwt().get(URL, {"user": "u", "optouttime": "1772600767"})
    assert r.status_code == 204
    assert OptOut.objects.get().organization_id is None


def test_webhook_shared_secret_required_when_configured(api, settings):
    settings.DELIVR_UID2_SHARED_SECRET = "s3cret-value"
    params = {"user": "u", "optouttime": "1772600767"}
    assert_error(api.get(URL, params), 401)
    assert_error(api.get(URL, params, HTTP_X_UID2_SIGNATURE="wrong"), 401)
    assert api.get(URL, params, HTTP_X_UID2_SIGNATURE="s3cret-value").status_code == 204
    assert api.get(URL, params, HTTP_AUTHORIZATION="Bearer s3cret-value").status_code == 204
    assert AuditEvent.objects.count() == 2


def test_webhook_allow_list_refuses_others_and_skips_rate_limit(api, settings):
    settings.DELIVR_UID2_ALLOWED_IPS = ["10.0.0.0/8", "2001:db8::/32"]
    settings.DELIVR_UID2_RATE_LIMIT_PER_SECOND = 1
    settings.DELIVR_UID2_RATE_LIMIT_BURST = 1
    params = {"user": "u", "optouttime": "1772600767"}
    assert_error(api.get(URL, params), 403)  # 127.0.0.1
    codes = {api.get(URL, params, REMOTE_ADDR="10.9.8.7").status_code for _ in range(5)}
    assert codes == {204}
    assert api.get(URL, params, REMOTE_ADDR="2001:db8::1").status_code == 204


def test_webhook_is_in_openapi_schema_without_auth(api):
    r = api.get("/api/schema/?format=json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/uid2/optout"])
    assert "204" in paths["/api/v1/uid2/optout"]["get"]["responses"]
