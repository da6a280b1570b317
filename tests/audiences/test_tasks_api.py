import io
import time
from concurrent.futures import ThreadPoolExecutor

import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from rest_framework.test import APIClient

from audiences.models import Job, JobStatus, Task, TaskStatus
from audiences.services import tasks as task_services
from delivr_admin import storage

pytestmark = pytest.mark.django_db

DAYS = ["2024-05-01", "20240502"]
PREFIXES = ["4eyes_101", "4eyes_103"]
SCORES = ["high", "medium"]


def selected_keys(days=("2024-05-01", "2024-05-02"), prefixes=PREFIXES, scores=SCORES):
    return {f"day={d}/prefix={p}/score={s}" for d in days for p in prefixes for s in scores}


def create(client, **body):
    payload = {"days": DAYS, "topic_id_prefixes": PREFIXES, "scores": SCORES, **body}
    return client.post("/api/v1/intent_hive_tasks", payload, format="json")


def status_of(client, task_id):
    r = client.get(f"/api/v1/status/{task_id}")
    assert r.status_code == 200, r.content
    return r.json()


def open_output(url: str):
    """An output as the status shows it (its storage URL), opened from the output store."""
    return storage.open_read(storage.name_of(url))


def pyarrow_rows(intent_root, keys, filter_expr=None) -> int:
    dataset = ds.dataset(
        str(intent_root),
        format="parquet",
        partitioning="hive",
        exclude_invalid_files=True,
        ignore_prefixes=["_", "."],
    )
    total = 0
    for key in keys:
        parts = dict(item.split("=") for item in key.split("/"))
        cond = (
            (ds.field("prefix") == parts["prefix"])
            & (ds.field("score") == parts["score"])
            & (ds.field("day").cast("string") == parts["day"])
        )
        if filter_expr is not None:
            cond = cond & filter_expr
        total += dataset.count_rows(filter=cond)
    return total


def test_intent_task_when_created_counts_equal_manifest_and_outputs_are_written(tenant, manifest, settings):
    client = tenant.key()
    r = create(client)
    assert r.status_code == 201, r.content
    body = r.json()
    assert set(body) == {"task_id", "status", "total_jobs", "completed_jobs"}
    status = status_of(client, body["task_id"])
    keys = selected_keys() & set(manifest["partitions"])
    assert status["status"] == "completed"
    assert set(status["counts"]) == keys
    assert status["counts"] == {k: manifest["partitions"][k] for k in keys}
    assert status["total_count"] == sum(manifest["partitions"][k] for k in keys)
    # a small selection is one work unit per phase: one count job, one unload job, per-partition results
    assert status["completed_jobs"] == status["total_jobs"] == 2
    assert set(status["outputs"]) == keys == set(status["output_links"])
    assert status["completed_at"] and status["created_at"]
    media = settings.MEDIA_ROOT.resolve().as_uri()
    assert all(url.startswith(f"{media}/tasks/{tenant.org.id}/") for url in status["outputs"].values())
    for key, name in status["outputs"].items():
        with open_output(name) as fh:
            table = pq.read_table(fh)
        assert table.num_rows == manifest["partitions"][key]
        metadata = pq.ParquetFile(open_output(name)).metadata
        assert metadata.row_group(0).column(0).compression == "ZSTD"


def test_intent_task_when_perform_unload_false_is_counted_then_unloads_on_request(tenant, manifest):
    client = tenant.key()
    task_id = create(client, perform_unload=False).json()["task_id"]
    status = status_of(client, task_id)
    assert status["status"] == "counted"
    assert status["outputs"] == {} and status["output_links"] == {}
    r = client.post(f"/api/v1/tasks/{task_id}/unload")
    assert r.status_code == 202, r.content
    status = status_of(client, task_id)
    assert status["status"] == "completed"
    assert len(status["outputs"]) == len(status["counts"])
    r = client.post(f"/api/v1/tasks/{task_id}/unload")
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "cannot_unload"


def test_unload_when_in_progress_returns_409(tenant):
    client = tenant.key()
    task_id = create(client, perform_unload=False).json()["task_id"]
    Task.objects.filter(pk=task_id).update(status=TaskStatus.IN_PROGRESS)
    r = client.post(f"/api/v1/tasks/{task_id}/unload")
    assert r.status_code == 409
    assert "in_progress" in r.json()["error"]["message"]


def test_where_expr_counts_equal_pyarrow(tenant, intent_root):
    client = tenant.key()
    task_id = create(
        client,
        perform_unload=False,
        where_expr="country = 'US' AND (score >= 'medium' OR intent_frequency > 3)",
    ).json()["task_id"]
    status = status_of(client, task_id)
    keys = selected_keys()
    expected = pyarrow_rows(intent_root, keys, ds.field("country") == "US")
    assert status["total_count"] == expected > 0


def test_where_expr_employee_range_counts_only_buckets_inside(tenant, intent_root):
    client = tenant.key()
    task_id = create(client, perform_unload=False, where_expr="company_employee_count > '51-200'").json()[
        "task_id"
    ]
    inside = ["201-500", "501-1000", "1001-5000", "5001-10000", "10001+"]
    expected = pyarrow_rows(intent_root, selected_keys(), ds.field("company_employee_count").isin(inside))
    assert status_of(client, task_id)["total_count"] == expected > 0


@pytest.mark.parametrize(
    "where_expr,offending",
    [
        ("read_parquet('/etc/passwd') IS NOT NULL", "read_parquet"),
        ("country = 'US'; DROP TABLE x", ";"),
        ("country = 'US' -- comment", "--"),
        ("country = 'US' /* c */", "/*"),
        ("person_id IN (SELECT 1)", "SELECT"),
        ("nope = 1", "nope"),
        ("length(email) > 3", "length"),
    ],
)
def test_where_expr_when_unsafe_returns_400_naming_part(tenant, where_expr, offending):
    r = create(tenant.key(), where_expr=where_expr)
    assert r.status_code == 400, r.content
    error = r.json()["error"]
    assert error["code"] == "invalid_where_expr"
    assert offending.lower() in (error["message"] + " " + error.get("offending", "")).lower()
    assert not Task.objects.exists()


def test_select_limits_output_columns_and_bad_select_is_400(tenant):
    client = tenant.key()
    task_id = create(client, select="person_id, EMAIL, score").json()["task_id"]
    name = next(iter(status_of(client, task_id)["outputs"].values()))
    table = pq.read_table(open_output(name))
    assert table.column_names == ["person_id", "email", "score"]
    r = create(client, select="person_id, secret_column")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_select"


def test_limit_skips_counting_and_caps_rows_per_job(tenant, manifest):
    client = tenant.key()
    task_id = create(client, limit=5).json()["task_id"]
    assert not Job.objects.filter(task_id=task_id, kind="count").exists()
    status = status_of(client, task_id)
    assert status["status"] == "completed"
    keys = selected_keys() & set(manifest["partitions"])
    assert status["counts"] == {k: min(5, manifest["partitions"][k]) for k in keys}
    for name in status["outputs"].values():
        assert pq.read_table(open_output(name)).num_rows <= 5


def test_csv_format_writes_csv(tenant, manifest):
    client = tenant.key()
    task_id = create(client, format="csv", select="person_id,email").json()["task_id"]
    status = status_of(client, task_id)
    key, name = next(iter(status["outputs"].items()))
    assert name.endswith(".csv")
    table = pacsv.read_csv(io.BytesIO(open_output(name).read()))
    assert table.num_rows == manifest["partitions"][key]


def test_days_without_data_complete_with_zero(tenant):
    client = tenant.key()
    r = create(client, days=["2030-01-01"])
    status = status_of(client, r.json()["task_id"])
    assert status["status"] == "completed" and status["total_count"] == 0 and status["counts"] == {}


@pytest.mark.parametrize(
    "body",
    [
        {"days": []},
        {"days": ["2024-13-01"]},
        {"days": "2024-05-01"},
        {"days": [20240501]},
        {"scores": ["huge"]},
        {"scores": []},
        {"topic_id_prefixes": ["../etc"]},
        {"topic_id_prefixes": [""]},
        {"limit": 0},
        {"limit": "10"},
        {"limit": 10_000_001},
        {"perform_unload": "yes"},
        {"input_path": "/etc"},
        {"input_path": "../../etc"},
        {"where_expr": 5},
        {"format": "xlsx"},
    ],
)
def test_intent_task_when_bad_input_returns_400(tenant, body):
    r = create(tenant.key(), **body)
    assert r.status_code == 400, (body, r.content)
    assert r.json()["error"]["code"]


def test_intent_task_when_required_missing_returns_400(tenant):
    r = tenant.key().post("/api/v1/intent_hive_tasks", {"days": DAYS}, format="json")
    assert r.status_code == 400 and "topic_id_prefixes" in r.json()["error"]["message"]


def test_input_path_symlink_escape_returns_400(tenant, intent_root, tmp_path):
    link = intent_root.parent / "escape"
    if not link.exists():
        link.symlink_to("/etc")
    r = tenant.key().post("/api/v1/generic_parquet_tasks", {"input_path": str(link)}, format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input_path"


def test_generic_parquet_task_counts_whole_tree(tenant, manifest, intent_root):
    client = tenant.key()
    r = client.post(
        "/api/v1/generic_parquet_tasks",
        {"input_path": str(intent_root), "perform_unload": False, "where_expr": "score = 'high'"},
        format="json",
    )
    assert r.status_code == 201, r.content
    status = status_of(client, r.json()["task_id"])
    expected = {k: v for k, v in manifest["partitions"].items() if k.endswith("score=high")}
    assert {k: v for k, v in status["counts"].items() if v} == expected
    assert set(status["counts"]) == set(manifest["partitions"])  # a count per partition of the tree
    assert status["total_count"] == sum(expected.values())


def test_generic_parquet_task_requires_input_path(tenant):
    r = tenant.key().post("/api/v1/generic_parquet_tasks", {}, format="json")
    assert r.status_code == 400 and "input_path" in r.json()["error"]["message"]


def test_status_list_shows_only_own_tasks(tenant, other_tenant):
    own = create(tenant.key()).json()["task_id"]
    theirs = create(other_tenant.key()).json()["task_id"]
    body = tenant.key().get("/api/v1/status").json()
    ids = [t["task_id"] for t in body["tasks"]]
    assert own in ids and theirs not in ids and body["total"] == 1
    assert tenant.key().get("/api/v1/status?limit=0").status_code == 400


def test_task_of_other_org_or_unknown_returns_404(tenant, other_tenant):
    task_id = create(tenant.key()).json()["task_id"]
    for url in (
        f"/api/v1/status/{task_id}",
        "/api/v1/status/00000000-0000-0000-0000-000000000000",
        "/api/v1/status/not-a-uuid",
        "/api/v1/status/",
    ):
        r = other_tenant.key().get(url)
        assert r.status_code == 404, url
    r = other_tenant.key().post(f"/api/v1/tasks/{task_id}/unload")
    assert r.status_code == 404


def test_output_link_downloads_for_owner_refuses_other_org_and_expires(
    tenant, other_tenant, settings, monkeypatch
):
    client = tenant.key()
    task_id = create(client).json()["task_id"]
    status = status_of(client, task_id)
    key, link = next(iter(status["output_links"].items()))
    path = link.split("testserver", 1)[1]
    r = client.get(path)
    assert r.status_code == 200
    data = b"".join(r.streaming_content)
    assert pq.read_table(io.BytesIO(data)).num_rows == status["counts"][key]
    assert other_tenant.key().get(path).status_code == 404
    assert APIClient().get(path).status_code == 401
    tampered = path[:-3] + ("abc" if not path.endswith("abc") else "xyz")
    assert client.get(tampered).status_code == 404
    real_time = time.time
    monkeypatch.setattr("django.core.signing.time.time", lambda: real_time() + 15 * 60 + 5)
    r = client.get(path)
    assert r.status_code == 404 and "expired" in r.json()["error"]["message"]


def test_output_link_when_token_missing_or_blank_answers_400_naming_it(tenant):
    client = tenant.key()
    task_id = create(client).json()["task_id"]
    for suffix in ("", "?token=", "?token=%20"):
        r = client.get(f"/api/v1/tasks/{task_id}/outputs/1{suffix}")
        assert r.status_code == 400, suffix
        assert r.json()["error"] == {
            "code": "invalid_request",
            "message": "token: Required.",
            "fields": {"token": ["Required."]},
        }


def test_expired_task_answers_404_and_purge_deletes_files(tenant):
    from datetime import timedelta

    from django.utils import timezone

    client = tenant.key()
    task_id = create(client).json()["task_id"]
    names = list(status_of(client, task_id)["outputs"].values())
    assert all(storage.exists(storage.name_of(n)) for n in names)
    Task.objects.filter(pk=task_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    r = client.get(f"/api/v1/status/{task_id}")
    assert r.status_code == 404 and "expired" in r.json()["error"]["message"]
    assert task_services.task_purge_expired() == 1
    assert not any(storage.exists(storage.name_of(n)) for n in names)
    assert not Task.objects.filter(pk=task_id).exists()


def test_concurrent_job_completion_never_loses_a_count(tenant, manifest, transactional_db, settings):
    from delivr_admin.celery import app as celery_app

    settings.DELIVR_TASK_UNITS, settings.DELIVR_TASK_UNIT_MIN_BYTES = 1000, 1  # a unit per partition
    settings.DELIVR_TASK_UNIT_MIN_FILES = 1  # (a count from footers is planned by files)

    celery_app.conf.task_always_eager = False
    try:
        # Jobs are queued on the broker, not run: the test runs them itself, all at once, each twice.
        from celery.app.task import Task as CeleryTask  # noqa: F401

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("audiences.tasks.task_plan.delay", lambda *a, **k: None)
            mp.setattr("audiences.tasks.task_jobs_run.delay", lambda *a, **k: None)
            task_id = create(tenant.key(), perform_unload=False).json()["task_id"]
            assert not Job.objects.filter(task_id=task_id).exists()  # planned by a worker, not the request
            # The planning delivered three times at once: one delivery creates the units.
            with ThreadPoolExecutor(max_workers=3) as pool:
                list(pool.map(lambda _: task_services.task_plan(task_id=task_id), range(3)))
        # Every job twice, as single-job messages and as one overlapping multi-job message.
        job_ids = list(Job.objects.filter(task_id=task_id).values_list("pk", flat=True))
        messages = [[j] for j in job_ids] * 2 + [job_ids[::2], job_ids[1::3]]
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda ids: task_services.task_jobs_run(job_ids=ids), messages))
    finally:
        celery_app.conf.task_always_eager = True
    task = Task.objects.get(pk=task_id)
    keys = selected_keys() & set(manifest["partitions"])
    assert task.status == TaskStatus.COUNTED
    assert task.completed_jobs == task.total_jobs == len(keys)
    assert task.total_count == sum(manifest["partitions"][k] for k in keys)


def test_reaper_requeues_job_of_dead_worker_then_fails_after_retries(tenant, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    sent = []
    monkeypatch.setattr("audiences.tasks.task_jobs_run.delay", lambda job_ids: sent.extend(job_ids))
    task_id = create(tenant.key(), perform_unload=False).json()["task_id"]
    job = Job.objects.filter(task_id=task_id).first()
    long_ago = timezone.now() - timedelta(minutes=10)
    # A worker claimed the job and died: running, heartbeat stale.
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, heartbeat_at=long_ago, attempts=1)
    result = task_services.task_jobs_reap()
    assert result["requeued"] == 1
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, heartbeat_at=long_ago, attempts=task_services.JOB_MAX_ATTEMPTS
    )
    assert task_services.task_jobs_reap()["failed"] == 1
    task = Task.objects.get(pk=task_id)
    assert task.status == TaskStatus.FAILED and "worker lost" in task.error
    status = status_of(tenant.key(), task_id)
    assert status["status"] == "failed" and "worker lost" in status["error"]


def test_job_run_twice_is_idempotent(tenant, manifest, monkeypatch):
    monkeypatch.setattr("audiences.tasks.task_jobs_run.delay", lambda job_ids: None)
    task_id = create(tenant.key(), perform_unload=False).json()["task_id"]
    job_ids = list(Job.objects.filter(task_id=task_id).values_list("pk", flat=True))
    task_services.task_jobs_run(job_ids=job_ids)
    task_services.task_jobs_run(job_ids=job_ids)
    task = Task.objects.get(pk=task_id)
    assert task.completed_jobs == task.total_jobs
    keys = selected_keys() & set(manifest["partitions"])
    assert task.total_count == sum(manifest["partitions"][k] for k in keys)


def test_opted_out_identities_never_leave_in_unloads_and_counts_say_how_many(tenant, intent_root):
    from django.utils import timezone

    from privacy.services import optout_record

    key = "day=2024-05-01/prefix=4eyes_101/score=high"
    rows = pq.read_table(intent_root / key / "part-0.parquet").to_pylist()
    person, by_uid2, by_email = rows[0], rows[1], rows[2]
    for identifier_type, value in (
        ("person_id", person["person_id"]),
        ("uid2", by_uid2["uid2"]),
        ("email", by_email["email"].upper()),
    ):
        optout_record(
            identifier_type=identifier_type,
            value=value,
            source="support",
            opted_out_at=timezone.now(),
            actor="test",
        )
    removed_people = {person["person_id"], by_uid2["person_id"], by_email["person_id"]}
    dataset = ds.dataset(str(intent_root), format="parquet", partitioning="hive", ignore_prefixes=["_", "."])
    keys = selected_keys()
    table = dataset.to_table(
        filter=ds.field("prefix").isin(PREFIXES)
        & ds.field("score").isin(SCORES)
        & ds.field("day").cast("string").isin(["2024-05-01", "2024-05-02"])
    )
    removed_rows = sum(
        1
        for r in table.to_pylist()
        if r["person_id"] in removed_people
        or r["uid2"] == by_uid2["uid2"]
        or (r["email"] or "").lower() == by_email["email"].lower()
    )
    assert removed_rows >= 3

    client = tenant.key()
    status = status_of(client, create(client).json()["task_id"])
    assert status["suppressed_count"] == removed_rows
    assert status["total_count"] == pyarrow_rows(intent_root, keys) - removed_rows
    written = []
    for name in status["outputs"].values():
        written.extend(pq.read_table(open_output(name)).to_pylist())
    assert len(written) == status["total_count"]
    assert not any(r["person_id"] in removed_people for r in written)
    assert not any(r["uid2"] == by_uid2["uid2"] for r in written)
