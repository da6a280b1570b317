"""A HubSpot run counts each record once, by its contact: the companies and timeline events it also writes show
in the per-object results, not in records exported/failed (a run showed 156 exported of 150 processed)."""

import pytest

from exports.models import ExportRun
from exports.services.exports import export_create

pytestmark = pytest.mark.django_db

MAPPING = [
    {"source": "email", "target": "email", "type": "email", "required": True},
    {"source": "first_name", "target": "firstname"},
    {"source": "company_domain", "target": "company_domain"},
]


def test_hubspot_run_when_companies_created_counts_records_by_contact(tenant, audience, hubspot_standin):
    export = export_create(
        principal=tenant.principal,
        project_id=tenant.project.id,
        audience_id=audience.id,
        name="HubSpot",
        destination_type="hubspot",
        destination_config={"host": hubspot_standin.url},
        credentials=hubspot_standin.credentials(),
        field_mapping=MAPPING,
        record_limit={"maxRecords": 120, "failMode": "truncate"},
    )
    r = tenant.jwt().post(f"/api/v1/exports/{export.id}/runs")  # the run executes on commit (eager Celery)
    assert r.status_code == 202, r.content
    run = ExportRun.objects.get(export=export)
    contact, company = run.object_type_results["Contact"], run.object_type_results["Company"]

    assert run.status in ("completed", "completed_with_errors"), run.error
    assert len(hubspot_standin.companies) == company["records_created"] > 0
    assert len(hubspot_standin.contacts) == contact["records_created"] == run.records_exported
    assert run.records_failed == contact["records_failed"]
    assert run.records_exported + run.records_failed + run.records_duplicated == run.records_total == 120
