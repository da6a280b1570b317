"""Authorization matrix, generated from the URL resolver: role x API endpoint x method x own / other org.

Other org: no object of the first org is readable or writable, the answer is the one a missing object gets
(404, or the same 4xx refusal), and the first org's id never appears in it. Own org: the roles the views' permission classes exclude get 403.
"""

import pytest
from rest_framework.permissions import SAFE_METHODS

from accounts.models import Role

from .conftest import api_routes, fill

pytestmark = pytest.mark.django_db
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ROLES = (Role.ADMIN, Role.MARKETER, Role.SUPPORT, "integrator")


def refused_roles(view_class, method: str) -> set[str]:
    """The roles the view's permission classes refuse for `method` (the app's declared rules)."""
    view = view_class()
    view.request = type("R", (), {"method": method})()
    view.args, view.kwargs = (), {}
    names = {type(p).__name__ for p in view.get_permissions()}
    refused: set[str] = set()
    write = method not in SAFE_METHODS
    if "IsOrgAdmin" in names or ("AdminForWrites" in names and write):
        refused |= {Role.MARKETER, Role.SUPPORT, "integrator"}
    if "IsSignedInUser" in names:
        refused.add("integrator")
    if "CanWrite" in names and write:
        refused.add(Role.SUPPORT)
    if "CanManageOptOuts" in names and write:
        refused.add(Role.MARKETER)
    return refused


def methods_of(view_class) -> list[str]:
    return [m for m in METHODS if hasattr(view_class, m.lower())]


def call(client, method: str, url: str):
    return getattr(client, method.lower())(url, {}, format="json") if method != "GET" else client.get(url)


def test_other_org_when_addressing_first_orgs_objects_is_refused_on_every_method(
    tenant, other_tenant, first_org_ids
):
    first_values = {str(v) for k, v in first_org_ids.items() if k.endswith("_id") and k != "job_id"}
    checked, leaks = 0, {}
    for route, pattern in api_routes():
        if "<" not in route:
            continue
        url = fill(route, first_org_ids)
        if not any(v in url for v in first_values):
            continue  # no object of the first org in this URL (an unseeded kind): nothing to isolate
        view = pattern.callback.view_class
        for method in methods_of(view):
            for who, client in (("admin", other_tenant.jwt()), ("integrator", other_tenant.key())):
                r = call(client, method, url)
                checked += 1
                body = r.content.decode(errors="replace")
                if r.status_code < 400 or r.status_code >= 500 or str(tenant.org.id) in body:
                    leaks[f"{who} {method} {url}"] = r.status_code
                    continue
                # Indistinguishable from an object that does not exist: the same answer for fresh ids.
                missing = call(client, method, fill(route, {"job_id": first_org_ids.get("job_id", 1)}))
                if r.status_code != missing.status_code:
                    leaks[f"{who} {method} {url}"] = f"{r.status_code}, {missing.status_code} when missing"
    assert checked >= 20
    assert not leaks, leaks


def test_own_org_roles_when_view_refuses_them_get_403_and_allowed_roles_no_5xx(
    tenant, role_jwt, first_org_ids
):
    clients = {role: role_jwt(role) for role in (Role.ADMIN, Role.MARKETER, Role.SUPPORT)}
    clients["integrator"] = tenant.key()
    matrix, wrong = 0, {}
    for route, pattern in sorted(
        api_routes(), key=lambda rp: "DELETE" in methods_of(rp[1].callback.view_class)
    ):
        view = pattern.callback.view_class
        if not view.permission_classes and not view.authentication_classes:
            continue  # public endpoints (webhook, pixel ingestion, register, login)
        url = fill(route, first_org_ids)
        for method in methods_of(view):
            if method == "DELETE":
                continue  # deletes run in their own test below, so the objects stay for the others
            refused = refused_roles(view, method)
            for role in ROLES:
                r = call(clients[role], method, url)
                matrix += 1
                if role in refused and r.status_code != 403:
                    wrong[f"{role} {method} {url}"] = f"{r.status_code}, expected 403"
                elif r.status_code >= 500:
                    wrong[f"{role} {method} {url}"] = r.status_code
    assert matrix >= 100
    assert not wrong, wrong


def test_deletes_when_role_may_not_write_answer_403(tenant, role_jwt, first_org_ids):
    support = role_jwt(Role.SUPPORT)
    for route, pattern in api_routes():
        view = pattern.callback.view_class
        if not hasattr(view, "delete"):
            continue
        url = fill(route, first_org_ids)
        if Role.SUPPORT in refused_roles(view, "DELETE"):
            assert support.delete(url).status_code == 403, url
