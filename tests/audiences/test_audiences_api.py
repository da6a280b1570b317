import csv
import io
import shutil
from collections import defaultdict
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from accounts.models import Organization, Project, Role
from audiences.models import Audience, BuildStatus

pytestmark = pytest.mark.django_db

DEFINITION = {
    "topic_id_prefixes": ["4eyes_101", "4eyes_102"],
    "scores": ["high", "medium"],
    "lookback_days": 2,
    "filters": [{"field": "Country", "op": "in", "value": ["US", "GB"]}],
}
INSIDE_51_200 = {"201-500", "501-1000", "1001-5000", "5001-10000", "10001+"}


def rows(root, predicate=lambda r: True):
    table = ds.dataset(
        str(root), format="parquet", partitioning="hive", ignore_prefixes=["_", "."]
    ).to_table()
    return [r for r in table.to_pylist() if predicate(r)]


def in_definition(r):
    return (
        r["prefix"] in ("4eyes_101", "4eyes_102")
        and r["score"] in ("high", "medium")
        and str(r["day"]) in ("2024-05-03", "2024-05-04")
        and r["country"] in ("US", "GB")
    )


def create(tenant, definition=DEFINITION, name="Buyers", **extra):
    r = tenant.key().post(
        "/api/v1/audiences",
        {"project_id": str(tenant.project.id), "name": name, "definition": definition, **extra},
        format="json",
    )
    assert r.status_code == 201, r.content
    return r.json()


def csv_rows(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_audience_create_when_valid_builds_counts_equal_to_pyarrow(tenant, intent_root):
    body = create(tenant)
    expected = rows(intent_root, in_definition)
    got = tenant.jwt().get(f"/api/v1/audiences/{body['id']}").json()
    assert got["build_status"] == "ready"
    assert got["record_count"] == len(expected) > 0
    assert got["distinct_profile_count"] == len({r["person_id"] for r in expected})
    assert got["suppressed_count"] == 0
    assert got["definition"]["filters"][0]["field"] == "country"
    assert set(got) >= {"id", "project_id", "name", "type", "status", "definition", "last_built_at"}


@pytest.mark.parametrize(
    "project_id,fragment",
    [(None, "required"), ("", "valid UUID"), ("not-a-uuid", "valid UUID"), (12, "valid UUID")],
)
def test_audience_create_when_project_id_bad_returns_400(tenant, project_id, fragment):
    payload = {"name": "x", "definition": {}}
    if project_id is not None:
        payload["project_id"] = project_id
    r = tenant.key().post("/api/v1/audiences", payload, format="json")
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith("project_id") and fragment in r.json()["error"]["message"]
    assert not Audience.objects.exists()


def test_audience_create_when_project_of_other_org_returns_400(tenant, other_tenant):
    r = tenant.key().post(
        "/api/v1/audiences", {"project_id": str(other_tenant.project.id), "name": "x"}, format="json"
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_project"


def test_audience_create_when_definition_bad_returns_400(tenant):
    r = tenant.key().post(
        "/api/v1/audiences",
        {"project_id": str(tenant.project.id), "name": "x", "definition": {"filters": [{"field": "nope"}]}},
        format="json",
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_definition"


def test_audience_list_when_deep_org_tree_lists_sub_org_projects_and_filters(tenant):
    current = tenant.org
    for depth in range(5):
        current = Organization.objects.create(name=f"d{depth}", parent=current)
    deep_project = Project.objects.create(organization=current, name="deep")
    create(tenant, {}, name="Top")
    r = tenant.jwt().post(
        "/api/v1/audiences",
        {"project_id": str(deep_project.id), "name": "Deep", "definition": {}},
        format="json",
    )
    assert r.status_code == 201
    for client in (tenant.jwt(), tenant.key()):
        page = client.get("/api/v1/audiences").json()
        assert page["total"] == 2 and {a["name"] for a in page["audiences"]} == {"Top", "Deep"}
    page = tenant.jwt().get(f"/api/v1/audiences?project_id={deep_project.id}").json()
    assert [a["name"] for a in page["audiences"]] == ["Deep"]
    assert page["audiences"][0]["distinct_profile_count"] is not None
    page = tenant.jwt().get("/api/v1/audiences?limit=1&offset=1").json()
    assert page["limit"] == 1 and page["offset"] == 1 and len(page["audiences"]) == 1
    for query in ("limit=0", "limit=1001", "offset=-1", "project_id=nope"):
        assert tenant.jwt().get(f"/api/v1/audiences?{query}").status_code == 400, query


def test_audience_update_patch_put_and_delete(tenant):
    audience_id = create(tenant, {})["id"]
    url = f"/api/v1/audiences/{audience_id}"
    r = tenant.key().patch(url, {"name": "Renamed"}, format="json")
    assert r.status_code == 200 and r.json()["name"] == "Renamed"
    r = tenant.key().put(url, {"name": "Only"}, format="json")
    assert r.status_code == 400  # PUT replaces both
    r = tenant.key().put(url, {"name": "Both", "definition": {"scores": ["HIGH"]}}, format="json")
    assert r.status_code == 200 and r.json()["definition"]["scores"] == ["high"]
    assert r.json()["build_status"] == "queued"  # the rebuild runs once the request commits
    assert tenant.key().get(url).json()["build_status"] == "ready"
    assert tenant.key().patch(url, {"name": 5}, format="json").status_code == 400
    assert tenant.key().delete(url).status_code == 204
    assert tenant.key().get(url).status_code == 404


def test_audience_refresh_when_paused_returns_409_with_reason_and_202_after_resume(tenant):
    audience_id = create(tenant, {})["id"]
    assert tenant.key().post(f"/api/v1/audiences/{audience_id}/pause").json()["status"] == "paused"
    r = tenant.key().post(f"/api/v1/audiences/{audience_id}/refresh")
    assert r.status_code == 409
    assert (
        r.json()["error"]["reason"] == "audience_paused" and r.json()["error"]["audience_id"] == audience_id
    )
    assert tenant.key().post(f"/api/v1/audiences/{audience_id}/resume").json()["status"] == "active"
    r = tenant.key().post(f"/api/v1/audiences/{audience_id}/refresh")
    assert r.status_code == 202 and "queued" in r.json()["message"]
    assert Audience.objects.get(pk=audience_id).build_status == BuildStatus.READY  # eager worker ran it


def test_audience_preview_when_limits_returns_rows_with_dataset_columns(tenant, intent_root):
    audience_id = create(tenant)["id"]
    url = f"/api/v1/audiences/{audience_id}/preview"
    body = tenant.key().get(url).json()
    assert body["limit"] == 25 and len(body["rows"]) == 25
    for column in ("person_id", "uid2", "email", "first_name", "company_domain", "topic_id", "score", "day"):
        assert column in body["rows"][0]
    assert all(in_definition({**r, "day": r["day"]}) for r in body["rows"])
    total = len(rows(intent_root, in_definition))
    assert len(tenant.key().get(f"{url}?limit=1000").json()["rows"]) == min(1000, total)
    for bad in ("0", "-1", "1001", "x"):
        r = tenant.key().get(f"{url}?limit={bad}")
        assert r.status_code == 400 and "limit" in r.json()["error"]["message"], bad


def test_audience_sample_aggregates_equal_pyarrow(tenant, intent_root):
    audience_id = create(tenant)["id"]
    body = tenant.key().get(f"/api/v1/audiences/{audience_id}/sample?limit=20").json()
    expected = defaultdict(lambda: [0, 0])
    for r in rows(intent_root, in_definition):
        expected[r["person_id"]][0] += 1
        expected[r["person_id"]][1] += r["impression_count"] or 0
    first = sorted(expected)[:20]
    assert [c["person_id"] for c in body["contacts"]] == first
    for contact in body["contacts"]:
        assert [contact["intent_frequency"], contact["impression_count"]] == expected[contact["person_id"]]
    assert tenant.key().get(f"/api/v1/audiences/{audience_id}/sample?limit=0").status_code == 400


@pytest.mark.parametrize("limit", [0, 1, 7])
def test_audience_download_record_limits(tenant, intent_root, limit):
    body = create(tenant)
    r = tenant.key().get(
        f"/api/v1/audiences/{body['id']}/download?project_id={body['project_id']}&record_limit={limit}&rows=records"
    )
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    assert "attachment" in r["Content-Disposition"]
    got = csv_rows(r)
    total = len(rows(intent_root, in_definition))
    assert len(got) == (total if limit == 0 else limit)
    assert all(row["country"] in ("US", "GB") for row in got)


@pytest.mark.parametrize(
    "query,status",
    [
        ("record_limit=10000001", 400),
        ("record_limit=-1", 400),
        ("record_limit=abc", 400),
        ("", 400),  # project_id is required
        ("project_id=", 400),
        ("project_id=nope", 400),
    ],
)
def test_audience_download_when_params_bad_returns_400(tenant, query, status):
    body = create(tenant, {})
    if "project_id" not in query and query:
        query += f"&project_id={body['project_id']}"
    r = tenant.key().get(f"/api/v1/audiences/{body['id']}/download?{query}")
    assert r.status_code == status and "error" in r.json()


def test_audience_download_when_project_is_another_returns_400_and_max_limit_is_accepted(tenant):
    body = create(tenant, {"lookback_days": 1, "topic_id_prefixes": ["4eyes_100"], "scores": ["high"]})
    other = Project.objects.create(organization=tenant.org, name="Other")
    r = tenant.key().get(f"/api/v1/audiences/{body['id']}/download?project_id={other.id}")
    assert r.status_code == 400 and r.json()["error"]["code"] == "project_mismatch"
    r = tenant.key().get(
        f"/api/v1/audiences/{body['id']}/download?project_id={body['project_id']}&record_limit=10000000",
        HTTP_ACCEPT="text/csv",
    )
    audience = Audience.objects.get(pk=body["id"])
    assert r.status_code == 200 and len(csv_rows(r)) == audience.distinct_profile_count  # one row per person


def test_audience_download_via_dashboard_path_with_session(client, tenant):
    body = create(tenant, {"lookback_days": 1, "topic_id_prefixes": ["4eyes_100"], "scores": ["high"]})
    client.force_login(tenant.user)
    r = client.get(f"/audiences/{body['id']}/download?project_id={body['project_id']}&record_limit=3")
    assert r.status_code == 200 and len(csv_rows(r)) == 3


def test_audience_download_when_newest_day_landed_after_build_still_downloads(
    tenant, intent_root, tmp_path, settings
):
    root = tmp_path / "late"
    for day in ("2024-05-03", "2024-05-04"):
        shutil.copytree(
            intent_root / f"day={day}" / "prefix=4eyes_101", root / f"day={day}" / "prefix=4eyes_101"
        )
    settings.DELIVR_DATA_ROOTS = [*settings.DELIVR_DATA_ROOTS, str(tmp_path)]
    body = create(tenant, {"lookback_days": 1}, input_path=str(root))
    assert body["record_count"] is None or body["build_status"] in ("queued", "ready")
    built = tenant.key().get(f"/api/v1/audiences/{body['id']}").json()
    # a new day arrives after the build: record_count is stale, the download must not refuse
    shutil.copytree(root / "day=2024-05-04", root / "day=2024-05-05")
    r = tenant.key().get(
        f"/api/v1/audiences/{body['id']}/download?project_id={body['project_id']}&rows=records"
    )
    assert r.status_code == 200
    got = csv_rows(r)
    assert len(got) == built["record_count"] and {row["day"] for row in got} == {"2024-05-05"}


def test_audience_bucketed_range_filter_in_api_and_download_matches_pyarrow(tenant, intent_root):
    definition = {
        "filters": [{"field": "COMPANY_EMPLOYEE_COUNT", "op": ">", "value": "51-200"}],
        "lookback_days": 1,
    }
    body = create(tenant, definition)
    expected = rows(
        intent_root, lambda r: r["company_employee_count"] in INSIDE_51_200 and str(r["day"]) == "2024-05-04"
    )
    assert body["id"] and Audience.objects.get(pk=body["id"]).record_count == len(expected)
    r = tenant.key().get(
        f"/api/v1/audiences/{body['id']}/download?project_id={body['project_id']}&rows=records"
    )
    got = csv_rows(r)
    assert len(got) == len(expected) and {row["company_employee_count"] for row in got} <= INSIDE_51_200
    preview = tenant.key().get(f"/api/v1/audiences/{body['id']}/preview?limit=1000").json()["rows"]
    assert {row["company_employee_count"] for row in preview} <= INSIDE_51_200


def test_audience_outputs_never_contain_opted_out_identities(tenant, intent_root):
    from privacy.services import optout_record

    expected = rows(intent_root, in_definition)
    victims = sorted({r["person_id"] for r in expected})[:3]
    victim_rows = [r for r in expected if r["person_id"] in victims]
    email = next(r["email"] for r in victim_rows if r["email"])
    for identifier_type, value in (("person_id", victims[0]), ("person_id", victims[1]), ("email", email)):
        optout_record(
            identifier_type=identifier_type,
            value=value,
            source="support",
            opted_out_at=datetime(2026, 1, 1, tzinfo=UTC),
            organization=tenant.org,
            actor="test",
        )
    removed = [
        r for r in expected if r["person_id"] in victims[:2] or (r["email"] or "").lower() == email.lower()
    ]
    body = create(tenant)
    assert body["id"]
    got = tenant.key().get(f"/api/v1/audiences/{body['id']}").json()
    assert got["suppressed_count"] == len(removed) > 0
    assert got["record_count"] == len(expected) - len(removed)
    banned_ids = {r["person_id"] for r in removed}
    download = csv_rows(
        tenant.key().get(
            f"/api/v1/audiences/{body['id']}/download?project_id={body['project_id']}&rows=records"
        )
    )
    assert len(download) == got["record_count"]
    assert not banned_ids & {row["person_id"] for row in download}
    assert email.lower() not in {row["email"].lower() for row in download}
    preview = tenant.key().get(f"/api/v1/audiences/{body['id']}/preview?limit=1000").json()["rows"]
    assert not banned_ids & {row["person_id"] for row in preview}
    sample = tenant.key().get(f"/api/v1/audiences/{body['id']}/sample?limit=1000").json()["contacts"]
    assert not banned_ids & {c["person_id"] for c in sample}


def test_list_audience_from_export_generated_list_downloads(tenant, tmp_path):
    from audiences.services.lists import contact_list_record_export
    from privacy.services import optout_record

    path = tmp_path / "export.parquet"
    pq.write_table(pa.table({"email": ["a@x.io", "b@x.io", "c@x.io"], "first_name": ["A", "B", "C"]}), path)
    contact_list = contact_list_record_export(
        project=tenant.project, name="Sent to HubSpot", parquet_path=str(path), row_count=3
    )
    # an opt-out kind the list has no column for must not break its download
    for identifier_type, value in (("uid2", "some-uid2"), ("email", "b@x.io")):
        optout_record(
            identifier_type=identifier_type,
            value=value,
            source="support",
            opted_out_at=datetime(2026, 1, 1, tzinfo=UTC),
            organization=tenant.org,
            actor="test",
        )
    r = tenant.key().post(
        "/api/v1/audiences",
        {
            "project_id": str(tenant.project.id),
            "name": "From export",
            "contact_list_id": str(contact_list.id),
        },
        format="json",
    )
    assert r.status_code == 201 and r.json()["type"] == "list"
    got = tenant.key().get(f"/api/v1/audiences/{r.json()['id']}").json()
    assert got["build_status"] == "ready" and got["record_count"] == 2 and got["suppressed_count"] == 1
    r = tenant.key().get(
        f"/api/v1/audiences/{got['id']}/download?project_id={tenant.project.id}&rows=records"
    )
    assert r.status_code == 200 and [row["email"] for row in csv_rows(r)] == ["a@x.io", "c@x.io"]


def test_audience_writes_when_support_role_return_403_but_reads_work(tenant, tenant_factory):
    from accounts.services import jwt_issue
    from tests.factories import MembershipFactory

    body = create(tenant, {})
    support = MembershipFactory(organization=tenant.org, role=Role.SUPPORT)
    client = tenant.jwt()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt_issue(user=support.user, organization=tenant.org)}")
    assert client.get(f"/api/v1/audiences/{body['id']}").status_code == 200
    assert client.post(f"/api/v1/audiences/{body['id']}/pause").status_code == 403
    assert (
        client.post(
            "/api/v1/audiences", {"project_id": str(tenant.project.id), "name": "x"}, format="json"
        ).status_code
        == 403
    )


def test_audience_endpoints_of_other_org_are_404(tenant, other_tenant):
    body = create(tenant, {})
    base = f"/api/v1/audiences/{body['id']}"
    for url in (
        base,
        f"{base}/preview",
        f"{base}/sample",
        f"{base}/download?project_id={body['project_id']}",
    ):
        assert other_tenant.key().get(url).status_code == 404, url
    for url in (f"{base}/pause", f"{base}/resume", f"{base}/refresh"):
        assert other_tenant.key().post(url).status_code == 404, url
    assert other_tenant.key().delete(base).status_code == 404
    assert other_tenant.key().get("/api/v1/audiences").json()["total"] == 0


def test_openapi_schema_documents_audience_and_list_endpoints(tenant):
    r = tenant.jwt().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert r.status_code == 200
    text = r.content.decode()
    for path in (
        "/api/v1/audiences/{audience_id}/download",
        "/api/v1/audiences/{audience_id}/preview",
        "/api/v1/lists/batch",
        "/api/v1/lists/{list_id}/reports/{kind}",
    ):
        assert path in text, path
