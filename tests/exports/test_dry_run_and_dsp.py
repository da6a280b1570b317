"""Dry run shape and counts; the DelivrDSP list destination against a stand-in DSP."""

import pytest

from exports.services.exports import export_create
from tests.exports.conftest import MAPPING, connection_check

pytestmark = pytest.mark.django_db


def make(tenant, audience, **extra):
    args = {
        "principal": tenant.principal,
        "project_id": tenant.project.id,
        "audience_id": audience.id,
        "name": "e",
        "destination_type": "file",
        "destination_config": {"format": "csv"},
        "field_mapping": MAPPING,
    }
    args.update(extra)
    return export_create(**args)


def test_dry_run_reports_counts_per_code_and_field_with_five_examples(tenant, audience):
    mapping = [
        {"source": "email", "target": "Email", "type": "email", "required": True},
        {"source": "job_title", "target": "Title", "max_length": 5},
    ]
    export = make(
        tenant, audience, field_mapping=mapping, record_limit={"maxRecords": 10, "failMode": "fail"}
    )
    r = tenant.jwt().post(f"/api/v1/exports/{export.id}/dry-run", {"limit": 1000}, format="json")
    assert r.status_code == 200, r.content
    out = r.json()
    assert out["limit"] == 1000 and out["records_checked"] == 1000
    assert out["records_valid"] + out["records_invalid"] + out["records_duplicated"] == 1000
    codes = {e["code"]: e for e in out["errors"]}
    assert "STRING_TOO_LONG" in codes
    too_long = codes["STRING_TOO_LONG"]
    assert too_long["fields"] == {"Title": too_long["count"]}
    assert 1 <= len(too_long["examples"]) <= 5
    assert set(too_long["examples"][0]) == {"record_key", "field", "value", "message"}
    assert len(too_long["examples"][0]["value"]) > 5
    assert out["record_limit"]["exceeded"] is True and "fail" in out["record_limit"]["effect"]
    from exports.models import ExportRun

    assert not ExportRun.objects.exists()


def test_dry_run_default_limit_is_ten_thousand_and_bad_limit_400(tenant, audience):
    export = make(tenant, audience)
    r = tenant.jwt().post(f"/api/v1/exports/{export.id}/dry-run")
    assert r.status_code == 200 and r.json()["limit"] == 10_000
    assert r.json()["records_checked"] == r.json()["audience_records"] == 4000
    assert (
        tenant.jwt().post(f"/api/v1/exports/{export.id}/dry-run", {"limit": "5"}, format="json").status_code
        == 400
    )
    assert (
        tenant.jwt().post(f"/api/v1/exports/{export.id}/dry-run", {"limit": 0}, format="json").status_code
        == 400
    )


@pytest.fixture
def dsp(dsp_standin):
    return dsp_standin


@pytest.mark.parametrize("list_name", [None, "Q3 ABM"])
def test_dsp_run_uploads_list_named_after_audience_or_override(tenant, audience, dsp, list_name):
    export = make(
        tenant,
        audience,
        destination_type="delivr_dsp",
        destination_config={"base_url": dsp.url},
        credentials={"api_key": "dsp-key"},
        list_name=list_name,
        field_mapping=[{"source": "email", "target": "email", "type": "email", "required": True}],
    )
    assert connection_check(tenant.jwt(), export.id)["status"] == "ok"
    r = tenant.jwt().post(f"/api/v1/exports/{export.id}/runs")
    run = tenant.jwt().get(f"/api/v1/exports/{export.id}/runs/{r.json()['run_id']}").json()
    assert run["status"] in ("completed", "completed_with_errors"), run
    (lst,) = dsp.lists.values()
    assert lst["list_name"] == (list_name or "Decision makers")
    assert (
        len(lst["members"])
        == run["records_exported"]
        == run["object_type_results"]["Contact"]["records_created"]
    )
    assert run["details"]["list_id"] == lst["list_id"]


def test_dsp_test_connection_when_key_wrong_says_so(tenant, audience, dsp):
    export = make(
        tenant,
        audience,
        destination_type="delivr_dsp",
        destination_config={"base_url": dsp.url},
        credentials={"api_key": "nope"},
    )
    out = connection_check(tenant.jwt(), export.id)
    assert out["status"] == "failed" and "401" in out["message"]
