import pytest

pytestmark = pytest.mark.django_db

VALID = {
    "email": "x@example.com",
    "password": "s3cret-passw0rd!",
    "first_name": "A",
    "last_name": "B",
    "organization_name": "C",
}


def assert_error(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def test_malformed_json_returns_400(api):
    r = api.generic("POST", "/auth/v1/register", "{not json", content_type="application/json")
    assert assert_error(r, 400)["code"] == "malformed_request"


@pytest.mark.parametrize("missing", sorted(VALID))
def test_missing_field_returns_400_naming_it(api, missing):
    body = {k: v for k, v in VALID.items() if k != missing}
    error = assert_error(api.post("/auth/v1/register", body, format="json"), 400)
    assert missing in error["message"]


@pytest.mark.parametrize(
    "field,value",
    [
        ("email", 5),
        ("password", ["x"]),
        ("first_name", {"a": 1}),
        ("organization_name", None),
        ("last_name", 3.5),
    ],
)
def test_wrong_type_returns_400(api, field, value):
    assert_error(api.post("/auth/v1/register", {**VALID, field: value}, format="json"), 400)


def test_json_array_body_returns_400(api):
    assert_error(api.post("/auth/v1/register", [VALID], format="json"), 400)


def test_empty_uuid_in_body_returns_400(api, tenant, password):
    r = api.post(
        "/auth/v1/login",
        {"email": tenant.user.email, "password": password, "organization_id": ""},
        format="json",
    )
    assert_error(r, 400)


@pytest.mark.parametrize("app_id", ["", "not-a-uuid", "00000000-0000-0000-0000-00000000000g", "%20"])
def test_malformed_uuid_in_path_returns_404_json(tenant, app_id):
    r = tenant.jwt().get(f"/api/app/retrieve/{app_id}")
    assert_error(r, 404)


def test_oversized_body_returns_413(api, settings):
    big = {**VALID, "first_name": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)}
    r = api.post("/auth/v1/register", big, format="json")
    assert_error(r, 413)


def test_wrong_content_type_returns_415(api):
    r = api.generic("POST", "/auth/v1/register", "email=a", content_type="application/x-www-form-urlencoded")
    assert_error(r, 415)


def test_wrong_method_returns_405(api):
    assert_error(api.get("/auth/v1/register"), 405)


def test_unknown_api_path_returns_404_json(api):
    assert_error(api.get("/api/v1/nothing-here"), 404)


def test_unhandled_error_returns_500_without_traceback(tenant, monkeypatch):
    from accounts import selectors

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(selectors, "project_list", boom)
    client = tenant.jwt()
    client.raise_request_exception = False
    r = client.get("/api/v1/projects")
    error = assert_error(r, 500)
    assert "secret internals" not in r.content.decode() and "Traceback" not in r.content.decode()
    assert error["code"] == "internal_error"


def test_rate_limit_returns_429_with_retry_after(tenant, settings):
    settings.DELIVR_RATE_LIMIT_PER_SECOND = 2
    settings.DELIVR_RATE_LIMIT_BURST = 3
    client = tenant.key()
    statuses = [client.get("/api/v1/projects").status_code for _ in range(6)]
    assert statuses[:3] == [200, 200, 200]
    assert 429 in statuses
    r = client.get("/api/v1/projects")
    assert r.status_code == 429
    assert int(r["Retry-After"]) >= 1
    assert r.json()["error"]["code"] == "rate_limited"


def test_rate_limit_is_per_organization(tenant, other_tenant, settings):
    settings.DELIVR_RATE_LIMIT_PER_SECOND = 0.01  # no refill within the test, however slow the machine
    settings.DELIVR_RATE_LIMIT_BURST = 2
    first = tenant.key()
    for _ in range(3):
        first.get("/api/v1/projects")
    assert first.get("/api/v1/projects").status_code == 429
    assert other_tenant.key().get("/api/v1/projects").status_code == 200


def test_openapi_schema_and_docs_are_served(api):
    r = api.get("/api/schema/?format=json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "/auth/v1/register" in paths and "/client/v1" in paths
    assert api.get("/api/docs/").status_code == 200
