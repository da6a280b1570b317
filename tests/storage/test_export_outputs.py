"""File exports written to the output store: on S3 the run's file links are presigned URLs of the bucket
(15 minutes) that download the file the run wrote; on the local default they stay Delivr's signed links."""

import csv
import io

import pytest
import requests

from audiences.models import Audience
from tests.storage.conftest import BUCKET, point_at

pytestmark = pytest.mark.django_db

MAPPING = [{"source": "email", "target": "Email", "type": "email", "required": True}]


def _run_file_export(tenant) -> dict:
    audience = Audience.objects.create(
        organization=tenant.org, project=tenant.project, name="A", definition={}
    )
    client = tenant.jwt()
    body = {
        "project_id": str(tenant.project.id),
        "audience_id": str(audience.id),
        "name": "File",
        "destination_type": "file",
        "destination_config": {"format": "csv"},
        "field_mapping": MAPPING,
    }
    r = client.post("/api/v1/exports", body, format="json")
    assert r.status_code == 201, r.content
    export_id = r.json()["id"]
    run_id = client.post(f"/api/v1/exports/{export_id}/runs").json()["run_id"]
    run = client.get(f"/api/v1/exports/{export_id}/runs/{run_id}").json()
    assert run["status"] in ("completed", "completed_with_errors"), run
    return run


def test_file_export_when_s3_links_are_presigned_and_download_the_file(tenant, settings, s3_server):
    point_at(settings, s3_server)
    run = _run_file_export(tenant)
    link = run["files"]["output"]
    assert link.startswith(f"{s3_server.endpoint}/{BUCKET}/") and "X-Amz-Expires=900" in link
    with s3_server.unsigned_allowed():
        r = requests.get(link, timeout=30)
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == run["records_exported"] > 0 and all("@" in row["Email"] for row in rows)


def test_file_export_when_local_links_are_delivr_signed(tenant):
    run = _run_file_export(tenant)
    link = run["files"]["output"]
    assert "/exports/" in link and "token=" in link and "X-Amz" not in link
