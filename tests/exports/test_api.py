"""Exports API: create/update/list/delete, record limits, list names, credentials, roles, project errors."""

import uuid

import pytest

from exports.models import Export
from tests.exports.conftest import MAPPING, connection_check

pytestmark = pytest.mark.django_db

URL = "/api/v1/exports"


def body(tenant, audience, **extra):
    data = {
        "project_id": str(tenant.project.id),
        "audience_id": str(audience.id),
        "name": "Weekly CRM sync",
        "destination_type": "file",
        "destination_config": {"format": "csv"},
        "field_mapping": MAPPING,
    }
    data.update(extra)
    return data


def create(tenant, audience, **extra):
    r = tenant.jwt().post(URL, body(tenant, audience, **extra), format="json")
    assert r.status_code == 201, r.content
    return r.json()


def error(r, status):
    assert r.status_code == status, r.content
    return r.json()["error"]


def test_create_with_record_limit_returns_it_in_camel_case(tenant, audience):
    out = create(tenant, audience, record_limit={"maxRecords": 50000, "failMode": "truncate"})
    assert out["record_limit"] == {"maxRecords": 50000, "failMode": "truncate"}
    assert out["destination_type"] == "file" and out["schedule"] == "manual"
    assert out["field_mapping"][0]["source"] == "email" and out["field_mapping"][0]["type"] == "email"
    got = tenant.key().get(f"{URL}/{out['id']}").json()
    # checked in the background after the save: Checking in the answer, Connected once the check ran
    assert out.pop("connection")["status"] == "checking"
    assert got.pop("connection")["status"] == "connected"
    assert got == out


def test_update_when_record_limit_null_clears_it_and_omitted_keeps_it(tenant, audience):
    out = create(tenant, audience, record_limit={"maxRecords": 10, "failMode": "fail"})
    r = tenant.jwt().put(f"{URL}/{out['id']}", {"name": "Renamed"}, format="json")
    assert r.status_code == 200 and r.json()["record_limit"] == {"maxRecords": 10, "failMode": "fail"}
    assert r.json()["name"] == "Renamed" and r.json()["field_mapping"] == out["field_mapping"]
    r = tenant.jwt().put(f"{URL}/{out['id']}", {"record_limit": None}, format="json")
    assert r.status_code == 200 and r.json()["record_limit"] is None
    assert Export.objects.get().record_limit_max is None


@pytest.mark.parametrize(
    "limit",
    [
        {"maxRecords": 0},
        {"maxRecords": 10_000_001},
        {"maxRecords": "5"},
        {"maxRecords": 5, "failMode": "drop"},
        {},
        7,
    ],
)
def test_create_when_record_limit_invalid_is_400(tenant, audience, limit):
    r = tenant.jwt().post(URL, body(tenant, audience, record_limit=limit), format="json")
    assert error(r, 400)["code"] == "invalid_request"


def test_record_limit_bounds_one_and_ten_million_accepted(tenant, audience):
    assert create(tenant, audience, record_limit={"maxRecords": 1})["record_limit"]["failMode"] == "truncate"
    assert (
        create(tenant, audience, record_limit={"maxRecords": 10_000_000})["record_limit"]["maxRecords"]
        == 10_000_000
    )


def test_list_name_defaults_to_audience_name_and_override_sticks(tenant, audience):
    out = create(
        tenant, audience, destination_type="delivr_dsp", destination_config={"base_url": "http://127.0.0.1:9"}
    )
    assert out["list_name"] == "Decision makers" and out["list_name_is_default"] is True
    out = create(
        tenant, audience, destination_type="delivr_dsp", destination_config={}, list_name="Q3 ABM list"
    )
    assert out["list_name"] == "Q3 ABM list" and out["list_name_is_default"] is False
    r = tenant.jwt().put(f"{URL}/{out['id']}", {"list_name": None}, format="json")
    assert r.json()["list_name"] == "Decision makers"


@pytest.mark.parametrize("project_id", ["missing", "", "not-a-uuid", "other-org", "unknown", None, 12])
def test_create_when_workspace_unresolvable_is_400_with_descriptive_error(
    tenant, other_tenant, audience, project_id
):
    data = body(tenant, audience)
    if project_id == "missing":
        del data["project_id"]
    elif project_id == "other-org":
        data["project_id"] = str(other_tenant.project.id)
    elif project_id == "unknown":
        data["project_id"] = str(uuid.uuid4())
    else:
        data["project_id"] = project_id
    err = error(tenant.jwt().post(URL, data, format="json"), 400)
    assert "project_id" in err["message"]
    assert not Export.objects.exists()


def test_credentials_never_returned_and_decrypt_after_db_round_trip(tenant, audience, webhook):
    out = create(
        tenant,
        audience,
        destination_type="webhook",
        destination_config={"url": webhook.url},
        credentials={"secret": "whsec-test"},
    )
    assert out["credentials_saved"] == ["secret"]
    for r in (
        tenant.jwt().get(f"{URL}/{out['id']}"),
        tenant.jwt().get(URL),
        tenant.jwt().put(f"{URL}/{out['id']}", {"name": "x"}, format="json"),
    ):
        assert "whsec-test" not in r.content.decode()
    stored = Export.objects.get(pk=out["id"])
    assert "whsec-test" not in stored.credentials_encrypted
    check = connection_check(tenant.jwt(), out["id"])
    assert check["status"] == "ok", check
    assert webhook.bad_signatures == 0 and webhook.requests == 2  # the check after the save, then this one
    # omitted credentials are kept on update; a wrong secret fails the test with a reason, not a 500
    tenant.jwt().put(f"{URL}/{out['id']}", {"credentials": {"secret": "wrong"}}, format="json")
    check = connection_check(tenant.jwt(), out["id"])
    assert check["status"] == "failed" and "signature" in check["message"]


def test_test_connection_when_encryption_key_changed_says_reenter(tenant, audience, settings):
    out = create(
        tenant,
        audience,
        destination_type="webhook",
        destination_config={"url": "http://127.0.0.1:9/x"},
        credentials={"secret": "s"},
    )
    settings.DELIVR_FIELD_ENCRYPTION_KEY = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI="
    check = connection_check(tenant.jwt(), out["id"])
    assert check["status"] == "failed" and "enter them again" in check["message"]


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"destination_type": "ftp"}, "invalid_destination"),
        ({"destination_config": {"format": "xlsx"}}, "invalid_destination"),
        ({"destination_config": {"bucket": "x"}}, "invalid_destination"),
        ({"field_mapping": [{"source": "nope", "target": "X"}]}, "invalid_field_mapping"),
        ({"field_mapping": []}, "invalid_request"),
        ({"field_mapping": "email"}, "invalid_request"),
        ({"destination_type": "webhook", "destination_config": {"url": "ftp://x"}}, "invalid_destination"),
        ({"audience_id": ""}, "invalid_request"),
        ({"name": 5}, "invalid_request"),
    ],
)
def test_create_when_invalid_is_400_with_code(tenant, audience, extra, code):
    assert error(tenant.jwt().post(URL, body(tenant, audience, **extra), format="json"), 400)["code"] == code


@pytest.mark.parametrize(
    ("mapping", "code", "message"),
    [
        ([{"source": "email", "target": "E", "type": "date"}], "invalid_request",
         "field_mapping[0].type: Must be one of string, email, number."),
        ([{"source": "email", "target": "E"}, {"source": "job_title", "target": "e"}], "invalid_request",
         "field_mapping[1].target: 'e' is mapped twice."),
        ([{"source": "email", "target": "E", "bogus": 1}], "invalid_request",
         "field_mapping[0]: unknown key(s) bogus."),
        ([{"source": "Nope", "target": "E"}], "invalid_field_mapping",
         "field_mapping[0].source: the audience has no column 'Nope'."),
    ],
)  # fmt: skip
def test_create_when_mapping_invalid_names_the_entry_and_field(tenant, audience, mapping, code, message):
    """Shape errors come from the nested serializer, column errors from the service: one message format."""
    got = error(tenant.jwt().post(URL, body(tenant, audience, field_mapping=mapping), format="json"), 400)
    assert (got["code"], got["message"]) == (code, message)


def test_support_role_reads_but_cannot_create_change_run_or_delete(tenant, audience, tenant_factory):
    from accounts.models import Membership, Role
    from accounts.services import jwt_issue
    from tests.factories import UserFactory

    out = create(tenant, audience)
    support = UserFactory()
    Membership.objects.create(user=support, organization=tenant.org, role=Role.SUPPORT)
    client = tenant.jwt()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt_issue(user=support, organization=tenant.org)}")
    assert client.get(f"{URL}/{out['id']}").status_code == 200
    assert client.get(URL).status_code == 200
    assert error(client.post(URL, body(tenant, audience), format="json"), 403)["code"] == "forbidden"
    assert client.put(f"{URL}/{out['id']}", {"name": "x"}, format="json").status_code == 403
    assert client.post(f"{URL}/{out['id']}/runs").status_code == 403
    assert client.post(f"{URL}/{out['id']}/dry-run").status_code == 403
    assert client.delete(f"{URL}/{out['id']}").status_code == 403
    assert client.get(f"{URL}/{out['id']}/runs").status_code == 200


def test_list_pages_with_limit_offset_and_delete(tenant, audience):
    ids = [create(tenant, audience, name=f"e{i}")["id"] for i in range(3)]
    r = tenant.jwt().get(URL, {"limit": 2, "offset": 1})
    assert r.status_code == 200 and r.json()["total"] == 3 and len(r.json()["exports"]) == 2
    assert error(tenant.jwt().get(URL, {"limit": 0}), 400)["code"] == "invalid_request"
    assert tenant.jwt().delete(f"{URL}/{ids[0]}").status_code == 204
    assert tenant.jwt().get(f"{URL}/{ids[0]}").status_code == 404


def test_other_org_gets_404_and_malformed_id_404(tenant, other_tenant, audience):
    out = create(tenant, audience)
    for path in ("", "/runs", "/dry-run", "/test-connection"):
        method = "get" if path in ("", "/runs") else "post"
        assert getattr(other_tenant.jwt(), method)(f"{URL}/{out['id']}{path}").status_code == 404
    assert tenant.jwt().get(f"{URL}/not-a-uuid").status_code == 404
    assert str(tenant.org.id) not in other_tenant.jwt().get(URL).content.decode()
