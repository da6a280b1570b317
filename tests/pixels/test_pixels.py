import pytest

from accounts.models import Organization
from pixels import services
from pixels.models import Pixel, PixelEvent
from pixels.tasks import pixel_regenerate_pending

pytestmark = pytest.mark.django_db

SEND = "/pixel/core/api/send-event"
FIELDS = [
    {"name": "plan", "type": "string"},
    {"name": "seats", "type": "integer"},
    {"name": "trial", "type": "boolean"},
]


@pytest.fixture
def pixel(tenant):
    return services.pixel_create(organization=tenant.org, name="Website", custom_fields=FIELDS)


def event(pixel, **data):
    return {
        "pixel_id": str(pixel.id),
        "organization_id": str(pixel.organization_id),
        "event_type": "page_view",
        "event_data": data,
    }


def assert_error(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"]["code"] and body["error"]["message"]
    return body["error"]


# --- snippet and cookieless mode -------------------------------------------------------------------


def test_snippet_served_publicly_as_javascript(api, pixel):
    r = api.get(f"/pixel/{pixel.id}.js")
    assert r.status_code == 200 and r["Content-Type"].startswith("application/javascript")
    text = r.content.decode()
    assert str(pixel.id) in text and "document.cookie" not in text  # uses d.cookie
    assert "d.cookie" in text and "/pixel/core/api/send-event" in text
    assert api.get("/pixel/00000000-0000-0000-0000-000000000000.js").status_code == 404
    assert api.get("/pixel/not-a-uuid.js").status_code == 404


def test_cookieless_toggle_regenerates_snippet_on_next_cycle(api, tenant, pixel):
    before = api.get(f"/pixel/{pixel.id}.js").content.decode()
    assert "cookie" in before.lower()

    r = tenant.jwt().put(
        f"/api/v1/organizations/{tenant.org.id}/settings", {"cookies_enabled": False}, format="json"
    )
    assert r.status_code == 200
    assert r.json() == {
        "organization_id": str(tenant.org.id),
        "cookies_enabled": False,
        "pixels_pending_regeneration": 1,
    }
    # Not yet regenerated: the update cycle has not run.
    assert "cookie" in api.get(f"/pixel/{pixel.id}.js").content.decode().lower()
    assert tenant.jwt().get(f"/api/v1/pixels/{pixel.id}").json()["regeneration_pending"] is True

    assert pixel_regenerate_pending.delay().get() == 1
    after = api.get(f"/pixel/{pixel.id}.js").content.decode()
    assert "cookie" not in after.lower()
    assert "localstorage" not in after.lower() and "sessionstorage" not in after.lower()
    assert "visitor_id" not in after
    assert pixel_regenerate_pending.delay().get() == 0  # a second run does nothing
    assert tenant.jwt().get(f"/api/v1/pixels/{pixel.id}").json()["mode"] == "cookieless"

    tenant.jwt().put(
        f"/api/v1/organizations/{tenant.org.id}/settings", {"cookies_enabled": True}, format="json"
    )
    pixel_regenerate_pending.delay()
    assert "d.cookie" in api.get(f"/pixel/{pixel.id}.js").content.decode()


def test_regeneration_heals_mode_mismatch_without_flag(tenant, pixel):
    Organization.objects.filter(pk=tenant.org.pk).update(cookies_enabled=False)  # e.g. a race lost the flag
    assert services.pixel_regenerate_pending() == 1
    assert Pixel.objects.get().mode == "cookieless"


def test_settings_api_roles_types_and_other_org(tenant_factory, tenant, other_tenant):
    url = f"/api/v1/organizations/{tenant.org.id}/settings"
    for role in ("marketer", "support"):
        member = tenant_factory(role=role)
        r = member.jwt().put(
            f"/api/v1/organizations/{member.org.id}/settings", {"cookies_enabled": False}, format="json"
        )
        assert_error(r, 403)
    assert_error(
        tenant.key().put(url, {"cookies_enabled": False}, format="json"), 403
    )  # API clients: not admins
    assert_error(other_tenant.jwt().put(url, {"cookies_enabled": False}, format="json"), 404)
    assert_error(other_tenant.jwt().get(url), 404)
    for bad in ({"cookies_enabled": "false"}, {"cookies_enabled": 0}, {"cookies_enabled": None}, [1]):
        assert_error(tenant.jwt().put(url, bad, format="json"), 400)
    assert_error(tenant.jwt().put("/api/v1/organizations/not-a-uuid/settings", {}, format="json"), 404)
    assert tenant.jwt().get(url).json()["cookies_enabled"] is True  # organizations start with cookies on
    assert tenant.jwt().put(url, {"cookies_enabled": False}, format="json").status_code == 200
    # An empty body must not silently switch a cookieless organization back to cookies.
    assert "cookies_enabled" in assert_error(tenant.jwt().put(url, {}, format="json"), 400)["message"]
    assert tenant.jwt().get(url).json()["cookies_enabled"] is False
    child = Organization.objects.create(name="child", parent=tenant.org)
    r = tenant.jwt().put(
        f"/api/v1/organizations/{child.id}/settings", {"cookies_enabled": False}, format="json"
    )
    assert r.status_code == 200 and r.json()["cookies_enabled"] is False


# --- event ingestion ---------------------------------------------------------------------------------


def test_send_event_single_stores_it_and_record_count_is_int(api, pixel):
    body = event(
        pixel,
        geo={"country": "US", "region": "CA", "city": "SF", "coordinates": [37.7, -122.4]},
        device={"type": "desktop", "os": "Linux", "browser": "Chromium"},
        content={"title": "Pricing", "url": "https://example.com/pricing", "category": "pricing"},
        pricing={"price": 49.5, "currency": "usd"},
        plan="pro",
        seats=5,
        trial=False,
    )
    r = api.post(SEND, body, format="json", HTTP_ORIGIN="https://customer.example")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "record_count": 1}
    assert type(r.json()["record_count"]) is int
    assert r["Access-Control-Allow-Origin"] == "*"
    stored = PixelEvent.objects.get()
    assert stored.event_data["pricing"] == {"price": 49.5, "currency": "USD"}
    assert stored.event_data["geo"]["coordinates"] == {"lat": 37.7, "lon": -122.4}
    assert stored.event_data["seats"] == 5 and stored.organization_id == pixel.organization_id


def test_send_event_batch_and_text_plain_body(api, pixel):
    import json

    batch = {"events": [event(pixel, plan=f"p{i}") for i in range(500)]}
    r = api.generic("POST", SEND, json.dumps(batch), content_type="text/plain")
    assert r.status_code == 200 and r.json()["record_count"] == 500
    assert PixelEvent.objects.count() == 500
    assert_error(api.post(SEND, {"events": [event(pixel)] * 501}, format="json"), 400)
    assert_error(api.post(SEND, {"events": []}, format="json"), 400)


def test_send_event_cors_preflight(api):
    r = api.options(SEND, HTTP_ORIGIN="https://x.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert r.status_code == 204 and r["Access-Control-Allow-Origin"] == "*"
    assert "POST" in r["Access-Control-Allow-Methods"]


@pytest.mark.parametrize(
    "data,field",
    [
        ({"unknown_key": 1}, "event_data.unknown_key"),
        ({"geo": {"country": 5}}, "event_data.geo.country"),
        ({"geo": {"planet": "mars"}}, "event_data.geo.planet"),
        ({"geo": "US"}, "event_data.geo"),
        ({"geo": {"coordinates": [100, 0]}}, "event_data.geo.coordinates"),
        ({"pricing": {"price": "9.99"}}, "event_data.pricing.price"),
        ({"pricing": {"price": True}}, "event_data.pricing.price"),
        ({"pricing": {"currency": "dollars"}}, "event_data.pricing.currency"),
        ({"seats": 2.5}, "event_data.seats"),
        ({"trial": "yes"}, "event_data.trial"),
        ({"plan": 3}, "event_data.plan"),
        ({"plan": "nul\x00"}, "event_data.plan"),
        ({"content": {"title": "a\x00b"}}, "event_data.content.title"),
    ],
)
def test_send_event_invalid_event_data_returns_400_naming_field(api, pixel, data, field):
    error = assert_error(api.post(SEND, event(pixel, **data), format="json"), 400)
    assert error["message"].startswith(field)
    assert not PixelEvent.objects.exists()


@pytest.mark.parametrize(
    "change",
    [
        {"pixel_id": ""},
        {"pixel_id": 5},
        {"organization_id": "nope"},
        {"event_type": ""},
        {"event_type": 7},
        {"event_data": [1]},
        {"extra": 1},
        {"visitor_id": 9},
    ],
)
def test_send_event_invalid_envelope_returns_400(api, pixel, change):
    assert_error(api.post(SEND, {**event(pixel), **change}, format="json"), 400)


def test_send_event_batch_with_one_bad_event_stores_nothing(api, pixel):
    batch = {"events": [event(pixel), event(pixel, geo={"city": 1})]}
    error = assert_error(api.post(SEND, batch, format="json"), 400)
    assert error["message"].startswith("events[1].event_data.geo.city")
    assert not PixelEvent.objects.exists()


def test_send_event_unknown_pixel_or_wrong_org_returns_404(api, pixel, other_tenant):
    assert_error(
        api.post(SEND, {**event(pixel), "organization_id": str(other_tenant.org.id)}, format="json"), 404
    )
    assert_error(
        api.post(SEND, {**event(pixel), "pixel_id": "00000000-0000-0000-0000-000000000000"}, format="json"),
        404,
    )


def test_send_event_malformed_json_returns_400(api):
    r = api.generic("POST", SEND, "{nope", content_type="application/json")
    assert_error(r, 400)


def test_send_event_in_cookieless_org_drops_visitor_id(api, tenant, pixel):
    services.organization_settings_update(organization=tenant.org, cookies_enabled=False)
    api.post(SEND, {**event(pixel), "visitor_id": "abc-123"}, format="json")
    assert PixelEvent.objects.get().visitor_id == ""


def test_send_event_rate_limited_per_source(api, pixel, settings):
    settings.DELIVR_PIXEL_RATE_LIMIT_PER_SECOND = 1
    settings.DELIVR_PIXEL_RATE_LIMIT_BURST = 2
    codes = [api.post(SEND, event(pixel), format="json").status_code for _ in range(3)]
    assert codes[:2] == [200, 200] and codes[2] == 429


# --- pixel sources API and pages ----------------------------------------------------------------------


def test_pixel_api_create_list_and_roles(tenant, tenant_factory, other_tenant):
    r = tenant.jwt().post("/api/v1/pixels", {"name": "Shop", "custom_fields": FIELDS}, format="json")
    assert r.status_code == 201 and r.json()["mode"] == "cookie" and r.json()["snippet_url"].endswith(".js")
    assert tenant.jwt().post("/api/v1/pixels", {"name": "Shop"}, format="json").status_code == 409
    bad = {"name": "X", "custom_fields": [{"name": "geo", "type": "string"}]}
    assert_error(tenant.jwt().post("/api/v1/pixels", bad, format="json"), 400)
    bad = {"name": "X", "custom_fields": [{"name": "ok", "type": "date"}]}
    assert_error(tenant.jwt().post("/api/v1/pixels", bad, format="json"), 400)
    marketer = tenant_factory(role="marketer")
    assert_error(marketer.jwt().post("/api/v1/pixels", {"name": "M"}, format="json"), 403)
    assert [p["name"] for p in tenant.jwt().get("/api/v1/pixels").json()] == ["Shop"]
    assert other_tenant.jwt().get("/api/v1/pixels").json() == []
    assert other_tenant.jwt().get(f"/api/v1/pixels/{r.json()['id']}").status_code == 404


def test_pixel_list_page_shows_counts_and_pending(client, tenant, pixel):
    from privacy.models import OptOut  # noqa: F401 - the nav lists both apps

    services.pixel_events_ingest(payload={"events": [event(pixel)] * 3})
    services.organization_settings_update(organization=tenant.org, cookies_enabled=False)
    client.force_login(tenant.user)
    r = client.get("/pixels/")
    body = r.content.decode()
    assert r.status_code == 200 and "Website" in body and "pending regeneration" in body
    assert 'href="/pixels/"' in body
    assert '<td class="num">3</td>' in body
    r = client.get("/pixels/", HTTP_HX_REQUEST="true")
    assert "<html" not in r.content.decode() and 'id="pixels"' in r.content.decode()


def test_pixel_create_page_htmx_and_settings_toggle(client, tenant, tenant_factory):
    client.force_login(tenant.user)
    r = client.post(
        "/pixels/new/",
        {"name": "Blog", "custom_fields": "author:string\nwords:integer"},
        HTTP_HX_REQUEST="true",
    )
    assert r.status_code == 200 and "pixelSaved" in r["HX-Trigger"] and "<html" not in r.content.decode()
    assert Pixel.objects.get().custom_fields == [
        {"name": "author", "type": "string"},
        {"name": "words", "type": "integer"},
    ]
    r = client.post("/pixels/settings/", {"cookies_enabled": ""}, HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and "1 pixel pending" in r.content.decode()
    tenant.org.refresh_from_db()
    assert tenant.org.cookies_enabled is False
    marketer = tenant_factory(role="marketer")
    client.force_login(marketer.user)
    assert client.post("/pixels/new/", {"name": "Nope"}).status_code == 403
    assert client.post("/pixels/settings/", {"cookies_enabled": "on"}).status_code == 403
    assert client.get("/pixels/settings/").status_code == 200
