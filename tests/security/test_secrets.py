"""No API-client secret, key hash or password hash in any API response or log line."""

import logging

import pytest

from accounts.models import ApiClient

from .conftest import api_routes, fill

pytestmark = pytest.mark.django_db


def secrets_of(tenant, extra: list[str]) -> list[str]:
    values = [tenant.api_secret, tenant.api_key, tenant.user.password, *extra]
    for client in ApiClient.objects.all():
        values += [client.key_hash, client.secret_hash]
    return [v for v in values if v]


def test_no_response_when_walking_every_get_endpoint_holds_a_secret_or_hash(tenant, first_org_ids):
    created = tenant.jwt().post("/client/v1", {"name": "walker"}, format="json").json()
    tenant.user.refresh_from_db()
    assert tenant.user.password.startswith("argon2")
    secret_values = secrets_of(tenant, [created["api_secret"], created["api_key"]])
    walked = 0
    for route, pattern in api_routes():
        if "get" not in pattern.callback.view_class.http_method_names:
            continue
        url = fill(route, first_org_ids)
        for client in (tenant.jwt(), tenant.key()):
            r = client.get(url)
            assert r.status_code < 500, (url, r.status_code)
            body = r.content.decode(errors="replace")
            leaked = [v[:12] for v in secret_values if v in body]
            assert not leaked, (url, leaked)
            walked += 1
    assert walked > 20
    listed = tenant.jwt().get("/api/app/get").json()
    assert {c["api_key_prefix"] for c in listed} >= {created["api_key"][:12]}


def test_no_log_line_when_registering_logging_in_and_creating_clients_holds_a_secret(
    api, client, tenant, password, caplog
):
    caplog.set_level(logging.DEBUG)
    r = api.post(
        "/auth/v1/register",
        {
            "email": "new@example.com",
            "password": "Sup3r-secret-pw!",
            "first_name": "N",
            "last_name": "U",
            "organization_name": "New Co",
        },
        format="json",
    )
    assert r.status_code == 201
    api.post("/auth/v1/login", {"email": "new@example.com", "password": "wrong-password"}, format="json")
    login = api.post(
        "/auth/v1/login", {"email": "new@example.com", "password": "Sup3r-secret-pw!"}, format="json"
    )
    token = login.json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    made = api.post("/client/v1", {"name": "logged"}, format="json").json()
    client.post("/login/", {"username": tenant.user.email, "password": password})
    page = client.post("/settings/clients/", {"name": "from form", "enforce_secret": "on"})
    assert page.status_code == 200
    tenant.key().get("/api/v1/projects")
    api.credentials(HTTP_X_API_KEY=made["api_key"], HTTP_X_API_SECRET="wrong-secret")
    assert api.get("/api/v1/projects").status_code == 401

    from accounts.models import User

    values = secrets_of(tenant, [made["api_secret"], made["api_key"], token, password, "Sup3r-secret-pw!"])
    values.append(User.objects.get(email="new@example.com").password)
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    leaked = [v[:12] for v in values if v in text]
    assert not leaked, leaked
