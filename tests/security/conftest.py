"""Helpers for the security tests: every URL pattern of the project, filled with real or placeholder ids."""

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RoutePattern

from accounts.models import Role
from accounts.services import jwt_issue
from delivr_admin.errors import is_api_path
from tests.factories import MembershipFactory

_PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")


def routes(patterns=None, prefix: str = ""):
    """(route, URLPattern) for every path() pattern, includes flattened; regex patterns are skipped."""
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            if isinstance(p.pattern, RoutePattern):
                yield from routes(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern) and isinstance(p.pattern, RoutePattern):
            yield prefix + str(p.pattern), p


def fill(route: str, ids: dict | None = None) -> str:
    """The route as a URL: parameters from `ids` by name, else a placeholder of the converter's type."""
    ids = ids or {}

    def value(match: re.Match) -> str:
        name, conv = match["name"], match["conv"] or "str"
        if name in ids:
            return str(ids[name])
        return {"uuid": str(uuid.uuid4()), "int": "1", "path": "x"}.get(conv, "x")

    return "/" + _PARAM.sub(value, route)


def api_routes():
    return [(r, p) for r, p in routes() if is_api_path("/" + r) and hasattr(p.callback, "view_class")]


def ids_from_urls(urls: list[str]) -> dict:
    """Path parameter values (by name) found by resolving the given URLs."""
    ids: dict = {}
    for url in urls:
        ids.update(resolve(url.split("?")[0]).kwargs)
    return ids


@pytest.fixture
def first_org_ids(tenant) -> dict:
    """One object of every kind the isolation builders know, in `tenant`'s org, by path parameter name."""
    from tests.test_isolation import ENDPOINTS_FOR

    return ids_from_urls([url for build in ENDPOINTS_FOR for url in build(tenant)])


@pytest.fixture
def role_jwt(tenant):
    """An APIClient signed in (JWT) as a member of tenant's org with the given role."""
    from tests.conftest import CommitAPIClient

    def make(role: str):
        if role == Role.ADMIN:
            return tenant.jwt()
        membership = MembershipFactory(organization=tenant.org, role=role)
        client = CommitAPIClient()
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {jwt_issue(user=membership.user, organization=tenant.org)}"
        )
        return client

    return make


@pytest.fixture(autouse=True)
def _no_rate_limit(settings):
    """The walks make hundreds of requests as one org: the limiter is tested elsewhere (and by the load test)."""
    settings.DELIVR_RATE_LIMIT_PER_SECOND = 100_000
    settings.DELIVR_RATE_LIMIT_BURST = 100_000
