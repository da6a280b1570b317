"""Task unloads written to the output store: on S3 and on GCS's S3 API (moto's real server) the status shows
each file's s3:// or gs:// URL and a presigned 15-minute link that downloads it; the zip of every output and
the purge of expired tasks work on the bucket too."""

import io
import json
import zipfile
from datetime import timedelta

import pyarrow.parquet as pq
import pytest
import requests
from django.urls import reverse
from django.utils import timezone

from audiences.models import Task
from audiences.services import tasks as task_services
from delivr_admin import storage
from tests.storage.conftest import BUCKET, point_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def manifest(store_intent_root):
    return json.loads((store_intent_root / "_manifest.json").read_text())["partitions"]


def _create(client, **body) -> dict:
    payload = {"days": ["2024-05-01"], "topic_id_prefixes": ["4eyes_100", "4eyes_101"], "scores": ["high"]}
    r = client.post("/api/v1/intent_hive_tasks", payload | body, format="json")
    assert r.status_code == 201, r.content
    status = client.get(f"/api/v1/status/{r.json()['task_id']}").json()
    assert status["status"] == "completed", status
    return status


def _object_rows(server, url: str) -> int:
    key = url.split(f"://{BUCKET}/", 1)[1]
    body = server.client().get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return pq.read_table(io.BytesIO(body)).num_rows


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_task_outputs_when_object_store_are_bucket_urls_with_presigned_links(
    tenant, settings, s3_server, manifest, scheme
):
    url = point_at(settings, s3_server, scheme)
    status = _create(tenant.key())
    task_id = status["task_id"]
    assert status["counts"] and set(status["outputs"]) == set(status["counts"]) == set(status["output_links"])
    for key, out in status["outputs"].items():
        assert out.startswith(f"{url}/tasks/{tenant.org.id}/{task_id}/{key}/part-0.parquet")
        assert _object_rows(s3_server, out) == manifest[key] == status["counts"][key]
    key, link = next(iter(status["output_links"].items()))
    assert link.startswith(f"{s3_server.endpoint}/{BUCKET}/") and "X-Amz-Expires=900" in link
    with s3_server.unsigned_allowed():
        r = requests.get(link, timeout=30)
    assert r.status_code == 200 and pq.read_table(io.BytesIO(r.content)).num_rows == manifest[key]
    stem = key.replace("/", "_").replace("=", "-")
    assert r.headers["Content-Disposition"] == f'attachment; filename="{stem}.parquet"'


def test_task_download_all_when_s3_zips_every_output(tenant, client, settings, s3_server, manifest):
    point_at(settings, s3_server)
    status = _create(tenant.key(), format="csv")
    client.force_login(tenant.user)
    r = client.get(reverse("audiences:task-download-all", args=[status["task_id"]]))
    assert r.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(r.streaming_content)))
    by_name = {
        name.removesuffix(".csv"): archive.read(name).decode().count("\n") - 1 for name in archive.namelist()
    }
    assert by_name == {k.replace("/", "_").replace("=", "-"): manifest[k] for k in status["outputs"]}


def test_task_purge_when_s3_deletes_the_objects(tenant, settings, s3_server):
    point_at(settings, s3_server)
    status = _create(tenant.key())
    names = [storage.name_of(out) for out in status["outputs"].values()]
    assert names and all(storage.exists(n) for n in names)
    Task.objects.filter(pk=status["task_id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert task_services.task_purge_expired() == 1
    assert not any(storage.exists(n) for n in names)
