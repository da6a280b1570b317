"""The API's audience definition: the old flat filter list and the new AND/OR groups, and 400s in words."""

import csv
import io

import pyarrow.dataset as ds
import pytest

from tests.audiences.truth import rows_where

pytestmark = pytest.mark.django_db

GROUPED = {
    "topic_id_prefixes": ["4eyes_101", "4eyes_102"],
    "scores": ["high", "medium"],
    "lookback_days": 2,
    "filters": {
        "op": "and",
        "groups": [
            {
                "op": "or",
                "conditions": [
                    {"field": "country", "op": "=", "value": "us"},
                    {"field": "country", "op": "=", "value": "gb"},
                ],
            },
            {
                "op": "and",
                "conditions": [{"field": "company_employee_count", "op": ">=", "value": "201-500"}],
            },
        ],
    },
}


def expected_rows(root):
    return rows_where(root, countries=("US", "GB"))


def post(tenant, definition):
    return tenant.key().post(
        "/api/v1/audiences",
        {"project_id": str(tenant.project.id), "name": "Grouped", "definition": definition},
        format="json",
    )


def test_audience_create_when_filters_grouped_counts_samples_and_downloads_the_groups(tenant, intent_root):
    r = post(tenant, GROUPED)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["definition"]["filters"]["groups"][0]["op"] == "or"
    expected = expected_rows(intent_root)
    got = tenant.jwt().get(f"/api/v1/audiences/{body['id']}").json()
    assert got["record_count"] == len(expected) > 0
    assert got["distinct_profile_count"] == len({r["person_id"] for r in expected})
    sample = tenant.key().get(f"/api/v1/audiences/{body['id']}/sample?limit=1000").json()["contacts"]
    assert {c["person_id"] for c in sample} <= {r["person_id"] for r in expected}
    download = tenant.key().get(
        f"/api/v1/audiences/{body['id']}/download?project_id={tenant.project.id}&rows=records"
    )
    lines = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert len(lines) == len(expected)
    assert {line["country"] for line in lines} == {"US", "GB"}


def test_audience_create_when_filters_flat_list_keeps_the_list_shape(tenant):
    flat = [{"field": "Country", "op": "=", "value": "us"}]
    r = post(tenant, {"lookback_days": 2, "filters": flat})
    assert r.status_code == 201, r.content
    assert r.json()["definition"]["filters"] == [{"field": "country", "op": "=", "value": "us"}]


@pytest.mark.parametrize(
    "filters,words",
    [
        ([{"field": "country", "op": "="}], "Filter 1 (Country): needs a value."),
        ({"op": "and", "groups": [{"op": "maybe", "conditions": [{"field": "country", "value": "US"}]}]},
         "Group 1: combine conditions with “and” or “or”"),
        ({"groups": [{"op": "or", "conditions": [{"field": "company_employee_count", "op": ">", "value": "huge"}]}]},
         "Group 1, condition 1 (Company size (employees)): “huge” is not a company size"),
        ({"groups": [{"op": "or", "conditions": [{"field": "intent_frequency", "op": ">", "value": "many"}]}]},
         "Group 1, condition 1 (Intent frequency): “many” is not a number."),
        ("country = US", "Filters: give a list of conditions or {op, groups}."),
    ],
)  # fmt: skip
def test_audience_create_when_filters_invalid_returns_400_in_words(tenant, filters, words):
    r = post(tenant, {"filters": filters})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "invalid_definition" and words in error["message"]
    assert "filters[" not in error["message"] and "sqlglot" not in error["message"].lower()


def test_openapi_schema_documents_filter_groups_and_download_rows(api):
    schema = api.get("/api/schema/?format=json").json()
    text = str(schema["components"]["schemas"])
    assert "conditions" in text and "groups" in text and "'and', 'or'" in text
    download = schema["paths"]["/api/v1/audiences/{audience_id}/download"]["get"]["parameters"]
    rows = next(p for p in download if p["name"] == "rows")
    assert rows["schema"]["enum"] == ["people", "records"] and "one row per person" in rows["description"]


def test_field_values_api_lists_values_with_records_in_bucket_order_and_400s_in_words(tenant, intent_root):
    table = ds.dataset(
        str(intent_root), format="parquet", partitioning="hive", ignore_prefixes=["_", "."]
    ).to_table()
    us = sum(1 for r in table.to_pylist() if r["country"] == "US" and str(r["day"]) >= "2024-05-03")
    r = tenant.key().get("/api/v1/audiences/fields/Country/values?lookback_days=2")
    assert r.status_code == 200, r.content
    values = {v["value"]: v["records"] for v in r.json()["values"]}
    assert values["US"] == us
    sizes = tenant.key().get("/api/v1/audiences/fields/company_employee_count/values").json()["values"]
    order = ["1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000", "5001-10000", "10001+"]
    assert [v["value"] for v in sizes] == [b for b in order if b in {v["value"] for v in sizes}]
    assert tenant.key().get("/api/v1/audiences/fields/email/values").json()["values"] == []
    q = tenant.key().get("/api/v1/audiences/fields/country/values?q=g").json()["values"]
    assert [v["value"] for v in q] == ["GB"]
    bad = tenant.key().get("/api/v1/audiences/fields/nope/values")
    assert bad.status_code == 400 and "no field called “nope”" in bad.json()["error"]["message"]
    bad = tenant.key().get("/api/v1/audiences/fields/country/values?date_from=2024-05-04&date_to=2024-05-01")
    assert bad.status_code == 400 and "before the start date" in bad.json()["error"]["message"]
