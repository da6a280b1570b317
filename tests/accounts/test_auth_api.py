import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import ApiClient

pytestmark = pytest.mark.django_db


def register(api: APIClient, email="ann@example.com", password="s3cret-passw0rd!", org="Ann Co"):
    return api.post(
        "/auth/v1/register",
        {
            "email": email,
            "password": password,
            "first_name": "Ann",
            "last_name": "Lee",
            "organization_name": org,
        },
        format="json",
    )


def test_register_login_client_then_api_key_call_when_key_and_secret_given_returns_200(api):
    r = register(api)
    assert r.status_code == 201, r.content
    assert set(r.json()) >= {"user_id", "organization_id"}

    r = api.post(
        "/auth/v1/login", {"email": "ann@example.com", "password": "s3cret-passw0rd!"}, format="json"
    )
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"user_id", "organization_id", "token"}
    token = body["token"]

    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    r = api.post("/client/v1", {"name": "Audiences API Client"}, format="json")
    assert r.status_code == 201, r.content
    created = r.json()
    assert set(created) == {"client_id", "api_key", "api_secret", "created_at"}
    assert created["api_key"].startswith("dlvr_")
    secret = created["api_secret"]

    keyed = APIClient()
    keyed.credentials(HTTP_X_API_KEY=created["api_key"], HTTP_X_API_SECRET=secret)
    r = keyed.get("/api/v1/projects")
    assert r.status_code == 200
    assert [p["name"] for p in r.json()] == ["Default"]

    # The secret is never returned again, and never stored in clear.
    r = api.get("/api/app/get")
    assert r.status_code == 200
    assert secret not in r.content.decode() and created["api_key"] not in r.content.decode()
    r = api.get(f"/api/app/retrieve/{created['client_id']}")
    assert r.status_code == 200
    assert secret not in r.content.decode()
    assert "api_secret" not in r.json()
    with connection.cursor() as cursor:
        cursor.execute("SELECT key_hash, secret_hash, key_prefix, name FROM accounts_apiclient")
        rows = cursor.fetchall()
    assert all(secret not in str(row) and created["api_key"] not in str(row) for row in rows)


def test_api_key_when_secret_missing_or_wrong_on_enforcing_client_returns_401(tenant):
    for headers in (
        {"HTTP_X_API_KEY": tenant.api_key},
        {"HTTP_X_API_KEY": tenant.api_key, "HTTP_X_API_SECRET": "wrong"},
        {"HTTP_X_API_KEY": "dlvr_nope", "HTTP_X_API_SECRET": tenant.api_secret},
    ):
        r = APIClient().get("/api/v1/projects", **headers)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"
    r = APIClient().get("/api/v1/projects", HTTP_X_API_KEY=tenant.api_key)
    assert "X-Api-Secret" in r.json()["error"]["message"]


def test_api_key_when_client_does_not_enforce_secret_accepts_key_alone(tenant):
    from accounts.services import api_client_create

    _, key, secret = api_client_create(principal=tenant.principal, name="legacy", enforce_secret=False)
    assert APIClient().get("/api/v1/projects", HTTP_X_API_KEY=key).status_code == 200
    # A wrong secret is still refused.
    assert APIClient().get("/api/v1/projects", HTTP_X_API_KEY=key, HTTP_X_API_SECRET="bad").status_code == 401


def test_api_key_headers_are_case_insensitive(tenant, live_server):
    import requests

    r = requests.get(
        f"{live_server.url}/api/v1/projects",
        headers={"x-api-key": tenant.api_key, "X-API-SECRET": tenant.api_secret},
        timeout=30,
    )
    assert r.status_code == 200


def test_revoked_client_is_refused(tenant):
    from accounts.services import api_client_revoke

    api_client_revoke(client=ApiClient.objects.get(id=tenant.client_id))
    assert tenant.key().get("/api/v1/projects").status_code == 401


def test_login_when_password_wrong_returns_401(api, tenant):
    r = api.post("/auth/v1/login", {"email": tenant.user.email, "password": "nope-nope"}, format="json")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_credentials"


def test_register_when_email_taken_returns_409(api):
    assert register(api).status_code == 201
    r = register(api)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "email_taken"


def test_client_create_when_not_admin_returns_403(tenant_factory):
    marketer = tenant_factory(role="marketer")
    r = marketer.jwt().post("/client/v1", {"name": "x"}, format="json")
    assert r.status_code == 403


def test_client_create_with_api_key_refused(tenant):
    r = tenant.key().post("/client/v1", {"name": "x"}, format="json")
    assert r.status_code == 403


def test_jwt_when_tampered_or_expired_returns_401(tenant, settings):
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant.token}x")
    assert bad.get("/api/v1/projects").status_code == 401
    from accounts.services import jwt_issue

    settings.JWT_TTL_SECONDS = -10
    expired = APIClient()
    expired.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt_issue(user=tenant.user, organization=tenant.org)}")
    assert expired.get("/api/v1/projects").status_code == 401


def test_no_credentials_returns_401_error_format(api):
    r = api.get("/api/v1/projects")
    assert r.status_code == 401
    assert set(r.json()["error"]) >= {"code", "message"}
