"""CSRF: every dashboard URL refuses a POST without a token; API views refuse session POSTs without one."""

import pytest
from django.test import Client
from rest_framework.authentication import SessionAuthentication

from delivr_admin.errors import is_api_path

from .conftest import api_routes, fill, routes

pytestmark = pytest.mark.django_db
SKIP = ("static/", "api/schema/", "api/docs/", "api/redoc/")


def dashboard_urls(ids: dict) -> list[str]:
    urls = []
    for route, _ in routes():
        url = fill(route, ids)
        if not is_api_path(url) and not route.startswith(SKIP):
            urls.append(url)
    return urls


def test_every_dashboard_url_when_posted_without_token_answers_403(tenant, first_org_ids):
    urls = dashboard_urls(first_org_ids)
    assert len(urls) >= 20, urls  # the resolver walk found the app pages, not just a handful
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(tenant.user)
    accepted = {}
    for url in urls:
        r = browser.post(url, {"name": "x", "email": "x@example.com", "role": "admin"})
        if r.status_code != 403:
            accepted[url] = r.status_code
    assert not accepted, f"POST without CSRF token not refused: {accepted}"


def test_login_form_when_posted_without_token_answers_403(tenant, password):
    r = Client(enforce_csrf_checks=True).post(
        "/login/", {"username": tenant.user.email, "password": password}
    )
    assert r.status_code == 403


def test_login_form_when_token_sent_logs_in(tenant, password):
    browser = Client(enforce_csrf_checks=True)
    token = browser.get("/login/").cookies["csrftoken"].value
    r = browser.post(
        "/login/", {"username": tenant.user.email, "password": password, "csrfmiddlewaretoken": token}
    )
    assert r.status_code == 302


def test_api_views_with_session_auth_when_posted_by_session_without_token_answer_403(tenant, first_org_ids):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(tenant.user)
    checked, accepted = 0, {}
    for route, pattern in api_routes():
        view = pattern.callback.view_class
        if not any(issubclass(a, SessionAuthentication) for a in view.authentication_classes):
            continue  # public endpoints (register, login, webhook, pixel ingestion) read no session
        url = fill(route, first_org_ids)
        for method in ("post", "put", "patch", "delete"):
            r = getattr(browser, method)(url, {}, content_type="application/json")
            checked += 1
            if r.status_code != 403:
                accepted[f"{method.upper()} {url}"] = r.status_code
    assert checked > 20
    assert not accepted, f"session write without CSRF token not refused: {accepted}"
