"""Session cookie flags and secure headers on pages and API answers."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db


def test_session_cookie_after_login_is_httponly_and_samesite_lax(client, tenant, password):
    r = client.post("/login/", {"username": tenant.user.email, "password": password})
    assert r.status_code == 302
    cookie = r.cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert not cookie["secure"]  # local http default; production sets DJANGO_SECURE_COOKIES=true
    assert r.cookies["csrftoken"]["samesite"] == "Lax"


def test_session_cookie_when_secure_setting_on_is_secure(client, tenant, password, settings):
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    r = client.post("/login/", {"username": tenant.user.email, "password": password})
    assert r.cookies["sessionid"]["secure"] is True
    assert r.cookies["csrftoken"]["secure"] is True


def test_secure_cookies_env_when_true_sets_both_cookie_flags():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY)"
    )
    env = dict(os.environ, DJANGO_SECURE_COOKIES="true", DJANGO_SETTINGS_MODULE="delivr_admin.settings")
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["True", "True", "True"]


@pytest.mark.parametrize("path", ["/login/", "/", "/api/v1/projects", "/healthz", "/api/v1/uid2/optout"])
def test_responses_when_any_page_or_api_carry_secure_headers(client, tenant, path):
    client.force_login(tenant.user)
    r = client.get(path)
    assert r["X-Content-Type-Options"] == "nosniff"
    assert r["X-Frame-Options"] == "DENY"
    assert r["Referrer-Policy"] == "same-origin"


def test_error_answers_when_api_fails_have_no_traceback(api):
    r = api.post("/auth/v1/login", data="{not json", content_type="application/json")
    assert r.status_code == 400
    body = r.content.decode()
    assert "Traceback" not in body and 'File "' not in body
    assert r.json()["error"]["code"] == "malformed_request"
