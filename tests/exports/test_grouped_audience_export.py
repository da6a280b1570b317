"""An export of an audience whose filters are AND/OR groups sends exactly the people the groups select."""

import csv
import io

import pyarrow.dataset as ds
import pytest
from django.core.files.storage import default_storage

from exports.services.exports import export_create

pytestmark = pytest.mark.django_db

GROUPS = {
    "op": "and",
    "groups": [
        {
            "op": "or",
            "conditions": [
                {"field": "country", "op": "=", "value": "gb"},
                {"field": "country", "op": "=", "value": "de"},
            ],
        },
        {"op": "and", "conditions": [{"field": "company_employee_count", "op": "<=", "value": "51-200"}]},
    ],
}


def test_file_export_when_audience_grouped_sends_only_people_matching_the_groups(tenant, export_intent_root):
    from audiences.models import Audience

    audience = Audience.objects.create(
        organization=tenant.org, project=tenant.project, name="EU small", definition={"filters": GROUPS}
    )
    export = export_create(
        principal=tenant.principal,
        project_id=tenant.project.id,
        audience_id=audience.id,
        name="Grouped file",
        destination_type="file",
        destination_config={"format": "csv"},
        field_mapping=[
            {"source": "email", "target": "Email", "type": "email", "required": True},
            {"source": "country", "target": "Country"},
            {"source": "company_employee_count", "target": "Size"},
        ],
    )
    r = tenant.jwt().post(f"/api/v1/exports/{export.id}/runs")
    assert r.status_code == 202, r.content
    run = tenant.jwt().get(f"/api/v1/exports/{export.id}/runs/{r.json()['run_id']}").json()
    assert run["status"] in ("completed", "completed_with_errors"), run
    table = ds.dataset(
        str(export_intent_root), format="parquet", partitioning="hive", ignore_prefixes=["_", "."]
    ).to_table()
    expected = {
        row["email"].lower()
        for row in table.to_pylist()
        if row["country"] in ("GB", "DE") and row["company_employee_count"] in ("1-10", "11-50", "51-200")
    }
    with default_storage.open(run["details"]["file_name"], "rb") as fh:
        sent = list(csv.DictReader(io.StringIO(fh.read().decode())))
    assert sent and {r["Country"] for r in sent} <= {"GB", "DE"}
    assert {r["Size"] for r in sent} <= {"1-10", "11-50", "51-200"}
    assert {r["Email"].lower() for r in sent} == expected
