"""Audience downloads: one row per person (default) or one row per intent record, and email-only lists."""

import csv
import io
from collections import defaultdict

import pyarrow.dataset as ds
import pytest

from tests.audiences.test_lists import upload

pytestmark = pytest.mark.django_db

DEFINITION = {
    "topic_id_prefixes": ["4eyes_101"],
    "scores": ["high", "medium"],
    "lookback_days": 2,
    "filters": [{"field": "country", "op": "=", "value": "us"}],
}


def csv_of(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def expected(root) -> list[dict]:
    table = ds.dataset(
        str(root), format="parquet", partitioning="hive", ignore_prefixes=["_", "."]
    ).to_table()
    return [
        r
        for r in table.to_pylist()
        if r["prefix"] == "4eyes_101"
        and r["score"] in ("high", "medium")
        and str(r["day"]) in ("2024-05-03", "2024-05-04")
        and r["country"] == "US"
    ]


def create(tenant, **payload):
    r = tenant.key().post(
        "/api/v1/audiences",
        {"project_id": str(tenant.project.id), "name": "People", **payload},
        format="json",
    )
    assert r.status_code == 201, r.content
    return r.json()


def test_download_when_rows_default_gives_one_row_per_person_with_newest_record(tenant, intent_root):
    body = create(tenant, definition=DEFINITION)
    r = tenant.key().get(f"/api/v1/audiences/{body['id']}/download?project_id={tenant.project.id}")
    assert r.status_code == 200 and r["X-Delivr-Rows"] == "people"
    assert "-people-" in r["Content-Disposition"]
    got = {row["person_id"]: row for row in csv_of(r)}
    by_person = defaultdict(list)
    for rec in expected(intent_root):
        by_person[rec["person_id"]].append(rec)
    audience = tenant.jwt().get(f"/api/v1/audiences/{body['id']}").json()
    assert len(got) == len(by_person) == audience["distinct_profile_count"] > 0
    for person, recs in list(by_person.items())[:50]:
        newest = max(recs, key=lambda rec: rec["seen_at"])
        row = got[person]
        assert int(row["intent_frequency"]) == len(recs)
        assert int(row["impression_count"]) == sum(rec["impression_count"] or 0 for rec in recs)
        assert row["topic_id"] == newest["topic_id"] and row["email"] == newest["email"]


def test_download_when_rows_records_gives_one_row_per_record_and_limit_counts_people(tenant, intent_root):
    body = create(tenant, definition=DEFINITION)
    base = f"/api/v1/audiences/{body['id']}/download?project_id={tenant.project.id}"
    records = tenant.key().get(base + "&rows=records")
    assert records["X-Delivr-Rows"] == "records" and "-records-" in records["Content-Disposition"]
    assert len(csv_of(records)) == len(expected(intent_root))
    assert len(csv_of(tenant.key().get(base + "&record_limit=3"))) == 3
    bad = tenant.key().get(base + "&rows=everything")
    assert bad.status_code == 400 and "one row per person" in bad.json()["error"]["message"]


def test_list_audience_when_upload_has_only_emails_agrees_on_records_profiles_sample_download(tenant):
    content = "Email\nann@acme.io\nbob@beta.io\nANN@acme.io \ncy@gamma.io\n"
    listing = upload(tenant, content).json()
    body = create(tenant, contact_list_id=listing["id"])
    got = tenant.jwt().get(f"/api/v1/audiences/{body['id']}").json()
    assert got["build_status"] == "ready", got
    people = csv_of(
        tenant.key().get(f"/api/v1/audiences/{body['id']}/download?project_id={tenant.project.id}")
    )
    records = csv_of(
        tenant.key().get(
            f"/api/v1/audiences/{body['id']}/download?project_id={tenant.project.id}&rows=records"
        )
    )
    sample = tenant.key().get(f"/api/v1/audiences/{body['id']}/sample?limit=100").json()["contacts"]
    assert got["record_count"] == len(records)
    assert got["distinct_profile_count"] == len(people) == len(sample) > 0
    assert {c["email"].lower() for c in sample} == {row["email"].lower() for row in people}
    assert sum(c["intent_frequency"] for c in sample) == got["record_count"]
