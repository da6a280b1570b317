"""Dry-run request bodies: absent means the defaults; JSON that is not an object is a 400 (found by the
contract fuzzing: `[]`, `0`, `false` and `""` used to be taken as "no body" and answered 200)."""

import pytest

from tests.exports.test_dry_run_and_dsp import make

pytestmark = pytest.mark.django_db


def test_dry_run_when_body_absent_uses_default_limit(tenant, audience):
    export = make(tenant, audience)
    r = tenant.jwt().post(f"/api/v1/exports/{export.id}/dry-run")
    assert r.status_code == 200, r.content
    assert r.json()["limit"] == 10_000


@pytest.mark.parametrize("body", ["[]", "0", "false", '""', "null", "[1]"])
def test_dry_run_when_body_not_an_object_returns_400(tenant, audience, body):
    export = make(tenant, audience)
    r = tenant.jwt().post(f"/api/v1/exports/{export.id}/dry-run", body, content_type="application/json")
    assert r.status_code == 400, r.content
    assert r.json()["error"]["code"] == "invalid_request"
