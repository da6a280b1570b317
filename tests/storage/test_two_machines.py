"""Two machines: the web server (live_server, this process) and a real Celery worker process with their own
local folders (MEDIA_ROOT, var), sharing only the database, the broker and the object store (moto's S3 server,
which also holds the dataset). A list upload, a task unload and a file export each cross from one machine to
the other through the bucket, and every download works; neither local folder ends up holding an output."""

import csv
import io
import json
import os
import zipfile

import pyarrow.parquet as pq
import pytest
import requests
from django.test import Client
from django.urls import reverse

from tests.conftest import WorkerProcess, _purge_queue, wait_for
from tests.storage.conftest import BUCKET, point_at

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

LEADS = "email,first_name,person_id\nann@acme.io,Ann,p1\nnot-an-email,Bob,p2\ncy@beta.io,Cy,p3\n"
DATA = f"s3://{BUCKET}/data"


def _upload_tree(server, root) -> None:
    s3 = server.client()
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            with open(path, "rb") as fh:
                s3.put_object(Bucket=BUCKET, Key=f"data/intent/{rel}", Body=fh.read())


def _files_under(folder) -> list[str]:
    return [os.path.join(d, f) for d, _, files in os.walk(folder) for f in files]


@pytest.fixture
def machines(settings, s3_server, store_intent_root, tmp_path):
    """(web settings, worker process): the web's folders under web/, the worker's under worker/."""
    _upload_tree(s3_server, store_intent_root)
    point_at(settings, s3_server)
    settings.MEDIA_ROOT = tmp_path / "web" / "media"
    settings.DELIVR_DATA_ROOTS = [DATA]
    worker_dir = tmp_path / "worker"
    _purge_queue()
    worker = WorkerProcess(
        "machine-b",
        concurrency=1,
        env={
            "DELIVR_VAR_DIR": str(worker_dir / "var"),
            "DELIVR_MEDIA_ROOT": str(worker_dir / "media"),
            "DELIVR_DEMO_DATA": str(worker_dir / "var" / "no-data"),
            "DELIVR_DATA_ROOTS": DATA,
        },
    ).start()
    yield settings, worker
    worker.stop()
    assert _files_under(settings.MEDIA_ROOT) == [] and _files_under(worker_dir / "media") == []


def _api(live_server, tenant):
    session = requests.Session()
    session.headers.update({"X-API-Key": tenant.api_key, "X-API-Secret": tenant.api_secret})

    def call(method: str, path: str, **kw) -> requests.Response:
        url = path if path.startswith("http") else f"{live_server.url}{path}"
        return session.request(method, url, timeout=60, **kw)

    return call


def _browser(live_server, tenant):
    """A signed-in browser session on the web server (its session cookie, as a person's)."""
    client = Client()
    client.force_login(tenant.user)
    session = requests.Session()
    session.cookies.set("sessionid", client.cookies["sessionid"].value)
    return lambda path: session.get(f"{live_server.url}{path}", timeout=60)


def _wait(worker, fetch, done, what: str) -> dict:
    def check():
        body = fetch()
        return body if done(body) else None

    return wait_for(
        check, timeout=240, interval=0.5, message=f"{what}; worker log:\n{worker.output()[-3000:]}"
    )


def test_two_machines_share_only_database_broker_and_object_store(
    machines, live_server, tenant, s3_server, store_intent_root
):
    _, worker = machines
    api, browser = _api(live_server, tenant), _browser(live_server, tenant)
    project = str(tenant.project.id)

    # a list: uploaded through the web, imported by the worker, its report served by the web
    r = api(
        "POST",
        "/api/v1/lists",
        files={"file": ("leads.csv", LEADS, "text/csv")},
        data={"name": "L", "project_id": project},
    )
    assert r.status_code == 202, r.text
    listed = _wait(
        worker,
        lambda: api("GET", f"/api/v1/lists/{r.json()['id']}").json(),
        lambda b: b["status"] in ("ready", "failed"),
        "the list import",
    )
    assert (listed["status"], listed["imported_count"], listed["invalid_count"]) == ("ready", 2, 1), listed
    assert listed["invalid_report_url"].startswith(live_server.url)
    report = list(csv.reader(io.StringIO(api("GET", listed["invalid_report_url"]).text)))
    assert [row[:2] for row in report[1:]] == [["3", "invalid email"]]

    # a file export of an audience on that list: run by the worker, downloaded from the bucket
    r = api(
        "POST",
        "/api/v1/audiences",
        json={"project_id": project, "name": "A", "contact_list_id": listed["id"]},
    )
    assert r.status_code == 201, r.text
    r = api(
        "POST",
        "/api/v1/exports",
        json={
            "project_id": project,
            "audience_id": r.json()["id"],
            "name": "File",
            "destination_type": "file",
            "destination_config": {"format": "csv"},
            "field_mapping": [{"source": "email", "target": "Email", "type": "email", "required": True}],
        },
    )
    assert r.status_code == 201, r.text
    export_id = r.json()["id"]
    run_id = api("POST", f"/api/v1/exports/{export_id}/runs").json()["run_id"]
    run = _wait(
        worker,
        lambda: api("GET", f"/api/v1/exports/{export_id}/runs/{run_id}").json(),
        lambda b: b["status"] not in ("queued", "running"),
        "the export run",
    )
    assert run["status"] == "completed", run
    assert run["files"]["output"].startswith(
        f"{s3_server.endpoint}/{BUCKET}/"
    )  # presigned: the bucket serves it
    with s3_server.unsigned_allowed():
        r = requests.get(run["files"]["output"], timeout=30)
    assert r.status_code == 200, r.text
    assert sorted(row["Email"] for row in csv.DictReader(io.StringIO(r.text))) == [
        "ann@acme.io",
        "cy@beta.io",
    ]

    # a task on the dataset in the bucket: unloaded by the worker, presigned links, the zip from the web
    manifest = json.loads((store_intent_root / "_manifest.json").read_text())["partitions"]
    body = {
        "input_path": f"{DATA}/intent",
        "days": ["2024-05-01"],
        "topic_id_prefixes": ["4eyes_100"],
        "scores": ["high", "low"],
    }
    r = api("POST", "/api/v1/intent_hive_tasks", json=body)
    assert r.status_code == 201, r.text
    task_id = r.json()["task_id"]
    status = _wait(
        worker,
        lambda: api("GET", f"/api/v1/status/{task_id}").json(),
        lambda b: b["status"] in ("completed", "failed"),
        "the task",
    )
    assert status["status"] == "completed", status
    keys = {k for k in manifest if k.startswith("day=2024-05-01/prefix=4eyes_100/") and "medium" not in k}
    assert keys and set(status["outputs"]) == keys and status["counts"] == {k: manifest[k] for k in keys}
    assert all(url.startswith(f"s3://{BUCKET}/") for url in status["outputs"].values())
    with s3_server.unsigned_allowed():
        for key, link in status["output_links"].items():
            r = requests.get(link, timeout=30)
            assert r.status_code == 200 and pq.read_table(io.BytesIO(r.content)).num_rows == manifest[key]
    r = browser(reverse("audiences:task-download-all", args=[task_id]))
    assert r.status_code == 200
    assert len(zipfile.ZipFile(io.BytesIO(r.content)).namelist()) == len(keys)
