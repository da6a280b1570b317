"""Content-Security-Policy on pages and API answers; HSTS when secure cookies are on."""

import os
import re
import subprocess
import sys

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

PAGES = ["/", "/settings/", "/audiences/", "/exports/new/", "/campaigns/", "/api/docs/"]
API = ["/api/v1/projects", "/api/v1/audiences", "/api/v1/uid2/optout", "/api/schema/?format=json"]


def _nonce(policy: str) -> str:
    match = re.search(r"script-src 'self' 'nonce-([A-Za-z0-9_-]{16,})'", policy)
    assert match, policy
    return match.group(1)


@pytest.mark.parametrize("path", PAGES)
def test_pages_carry_a_script_policy_without_inline_or_eval(client, tenant, path):
    client.force_login(tenant.user)
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    policy = response["Content-Security-Policy"]
    assert (
        "default-src 'self'" in policy
        and "object-src 'none'" in policy
        and "frame-ancestors 'none'" in policy
    )
    script = next(d for d in policy.split("; ") if d.startswith("script-src"))
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script
    assert _nonce(policy) != _nonce(client.get(path)["Content-Security-Policy"])  # one nonce per request
    assert b" onclick=" not in response.content and b" onsubmit=" not in response.content


@pytest.mark.parametrize("path", API)
def test_api_answers_carry_a_policy_that_allows_nothing(tenant, path):
    response = tenant.key().get(path)
    assert response["Content-Security-Policy"].startswith("default-src 'none'")


def test_error_answers_carry_the_policy_too(client, api):
    assert api.post("/auth/v1/login", "{", content_type="application/json")["Content-Security-Policy"]
    assert "default-src 'self'" in client.get("/no-such-page/")["Content-Security-Policy"]


def test_hsts_when_secure_cookies_on_is_sent_on_https(client, settings):
    settings.SECURE_HSTS_SECONDS = 31_536_000
    response = client.get("/login/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get("/login/")  # browsers ignore it over http anyway


def test_hsts_when_secure_cookies_off_is_not_sent(client):
    assert settings.SECURE_HSTS_SECONDS == 0  # the local default: DJANGO_SECURE_COOKIES unset
    assert "Strict-Transport-Security" not in client.get("/login/", secure=True)


@pytest.mark.parametrize("secure,expected", [("true", "31536000"), ("false", "0")])
def test_secure_cookies_env_turns_hsts_on(secure, expected):
    code = (
        "import django; django.setup(); from django.conf import settings as s; print(s.SECURE_HSTS_SECONDS)"
    )
    env = dict(os.environ, DJANGO_SECURE_COOKIES=secure, DJANGO_SETTINGS_MODULE="delivr_admin.settings")
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == expected
