"""Hostile input answers 4xx in the error format, never a 500: each request below is one an attacker sent
(issue 12) and got a 500 for."""

import uuid

import pytest

from delivr_admin.parsers import MAX_JSON_DEPTH
from tests.contract.test_schema import _concrete, _operations

pytestmark = pytest.mark.django_db

DEEP = "[" * 5000 + "]" * 5000  # past Python's recursion limit: RecursionError in the JSON decoder
JUST_TOO_DEEP = '{"a":' * (MAX_JSON_DEPTH + 1) + "1" + "}" * (MAX_JSON_DEPTH + 1)


def assert_error(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:300])
    error = response.json()["error"]
    assert error["code"] and error["message"]
    return error


@pytest.mark.parametrize("body", [DEEP, JUST_TOO_DEEP], ids=["5000-levels", "limit+1"])
@pytest.mark.parametrize(
    "path",
    ["/auth/v1/login", "/auth/v1/register", "/pixel/core/api/send-event", "/api/v1/uid2/optout"],
)
def test_public_json_endpoint_when_body_nested_too_deep_answers_400(api, path, body):
    error = assert_error(api.post(path, body, content_type="application/json"), 400)
    assert "nested too deeply" in error["message"]


def test_pixel_ingestion_when_text_plain_body_nested_too_deep_answers_400(api):
    response = api.post("/pixel/core/api/send-event", DEEP, content_type="text/plain")
    assert "nested too deeply" in assert_error(response, 400)["message"]


def test_every_json_operation_when_body_nested_too_deep_answers_4xx_not_500(client, tenant):
    """Every operation of the schema that takes a JSON body, authenticated, with a 5000-level body."""
    checked = []
    for method, path, operation in _operations(client):
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        url = _concrete(path, operation)
        response = client.generic(
            method, url, DEEP, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {tenant.token}"
        )
        assert 400 <= response.status_code < 500, (method, path, response.status_code)
        assert response.json()["error"]["message"], (method, path)
        checked.append(f"{method} {path}")
    assert len(checked) >= 15, checked  # the schema's JSON operations were found


def test_json_body_at_the_nesting_limit_is_still_parsed(tenant):
    from delivr_admin.parsers import json_depth_exceeds

    nested: object = 1
    for _ in range(MAX_JSON_DEPTH):
        nested = {"a": nested}
    assert not json_depth_exceeds(nested)
    assert json_depth_exceeds({"b": nested})


@pytest.mark.parametrize("offset", [str(2**63), str(2**64 + 7), "-1", "1e3"])
@pytest.mark.parametrize("path", ["/api/v1/lists", "/api/v1/audiences", "/api/v1/exports", "/api/v1/status"])
def test_list_when_offset_out_of_range_answers_400(tenant, path, offset):
    error = assert_error(tenant.key().get(path, {"offset": offset}), 400)
    assert "offset" in error["message"]


def test_list_when_limit_is_huge_answers_400(tenant):
    assert_error(tenant.key().get("/api/v1/audiences", {"limit": str(2**63)}), 400)


@pytest.fixture
def intent_data(settings, tmp_path):
    from audiences.engine.generator import GenerateParams, generate

    root = tmp_path / "intent"
    generate(str(root), GenerateParams(rows=50, days=1, prefixes=1, seed=1))
    settings.DELIVR_DATA_ROOTS = [str(tmp_path)]
    settings.DELIVR_DEMO_DATA = root
    return root


TASK = {"days": ["2024-05-01"], "topic_id_prefixes": ["4"], "scores": ["high"]}


def test_task_when_where_expr_nested_45_deep_answers_400(tenant, intent_data):
    where = "(" * 45 + "intent_frequency > 1" + ")" * 45
    response = tenant.key().post(
        "/api/v1/intent_hive_tasks", {**TASK, "where_expr": where, "perform_unload": False}, format="json"
    )
    error = assert_error(response, 400)
    assert "nested too deeply" in error["message"]
    assert "sqlglot" not in error["message"] and "Recursion" not in error["message"]


def test_task_when_where_expr_is_hundreds_of_nots_answers_400(tenant, intent_data):
    where = "NOT " * 900 + "intent_frequency > 1"
    response = tenant.key().post("/api/v1/intent_hive_tasks", {**TASK, "where_expr": where}, format="json")
    assert "nested too deeply" in assert_error(response, 400)["message"]


@pytest.mark.parametrize(
    "optouttime",
    [
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:59:59-05:00",
        "0001-01-01T00:00:00-14:00",
        "1969-12-31T23:59:59Z",
        "-62135596800",
        "253402300800000000",
        "1e308",
    ],
)
def test_uid2_webhook_when_time_at_date_limits_answers_400(api, optouttime):
    response = api.get("/api/v1/uid2/optout", {"user": "u1", "optouttime": optouttime})
    assert_error(response, 400)


def test_uid2_webhook_when_time_at_upper_limit_in_utc_is_recorded(api):
    from privacy.models import OptOut

    response = api.get("/api/v1/uid2/optout", {"user": "u9", "optouttime": "9999-12-31T18:59:59+05:00"})
    assert response.status_code == 204
    assert OptOut.objects.get(value="u9").opted_out_at.year == 9999


@pytest.mark.parametrize("org_id", ["not-a-uuid", "1' OR '1'='1", "%00", "1" * 200])
def test_organization_switch_when_id_malformed_answers_styled_400(client, tenant, org_id):
    client.force_login(tenant.user)
    response = client.post("/organization/switch/", {"organization_id": org_id})
    assert response.status_code == 400
    assert b"<html" in response.content.lower() and b"Traceback" not in response.content


def test_organization_switch_when_org_unknown_keeps_current_org(client, tenant):
    client.force_login(tenant.user)
    response = client.post("/organization/switch/", {"organization_id": str(uuid.uuid4())})
    assert response.status_code in (302, 404)
    assert client.session.get("org_id") in (None, str(tenant.org.id))


@pytest.mark.parametrize(
    "field,value",
    [
        ("audience_id", "not-a-uuid"),
        ("audience_id", "1" * 300),
        ("record_limit_max", "9" * 30),
        ("map-1-max_length", "9" * 30),
        ("cfg_timeout_seconds", "9" * 30),
    ],
)
def test_export_form_when_field_malformed_answers_400_page(client, tenant, field, value):
    client.force_login(tenant.user)
    data = {
        "name": "x",
        "destination_type": "file",
        "cfg_format": "csv",
        "map_row": "1",
        "map-1-source": "email",
        "map-1-target": "Email",
        "audience_id": "",
        field: value,
    }
    response = client.post("/exports/new/", data)
    assert response.status_code == 400 and b"<form" in response.content
    # the dry run is a fragment that shows the problem in words (200, as for any form mistake)
    response = client.post("/exports/form/dry-run/", data, HTTP_HX_REQUEST="true")
    assert response.status_code < 500 and b"Traceback" not in response.content


@pytest.mark.parametrize("audience_id", ["not-a-uuid", "1" * 300])
def test_export_form_list_name_when_audience_malformed_answers_200_empty(client, tenant, audience_id):
    client.force_login(tenant.user)
    response = client.get("/exports/form/list-name/", {"audience_id": audience_id})
    assert response.status_code == 200


@pytest.mark.parametrize("value", [2**63, 2**64 + 1, -(2**63) - 1, -1, 0])
def test_body_integers_outside_their_range_answer_400(tenant, intent_data, value):
    """A task's `limit` and an export's record limit, as integers no column can hold."""
    response = tenant.key().post("/api/v1/intent_hive_tasks", {**TASK, "limit": value}, format="json")
    assert "limit" in assert_error(response, 400)["message"]
    response = tenant.jwt().post(
        "/api/v1/exports",
        {
            "project_id": str(tenant.project.id),
            "audience_id": str(uuid.uuid4()),
            "name": "x",
            "destination_type": "file",
            "destination_config": {"format": "csv"},
            "field_mapping": [{"source": "email", "target": "Email", "max_length": value}],
            "record_limit": {"maxRecords": value, "failMode": "truncate"},
        },
        format="json",
    )
    assert_error(response, 400)


@pytest.mark.parametrize("record_limit", [str(2**63), "-1", "99999999999999999999999"])
def test_audience_download_when_record_limit_out_of_range_answers_400(tenant, record_limit):
    url = f"/api/v1/audiences/{uuid.uuid4()}/download?project_id={tenant.project.id}&record_limit={record_limit}"
    response = tenant.key().get(url)
    assert response.status_code in (400, 404) and response.json()["error"]["message"]
