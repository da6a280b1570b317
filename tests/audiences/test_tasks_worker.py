"""Tasks through a real Celery worker subprocess on the configured broker (filesystem or Redis)."""

import pytest

from audiences.models import Task, TaskStatus
from tests.conftest import wait_for


@pytest.mark.worker
def test_task_runs_on_real_worker_and_counts_match_manifest(celery_worker_process, tenant_factory, manifest):
    tenant = tenant_factory()
    client = tenant.key()
    r = client.post(
        "/api/v1/intent_hive_tasks",
        {
            "days": ["2024-05-01", "20240502", "2024-05-03"],
            "topic_id_prefixes": ["4eyes_100", "4eyes_102"],
            "scores": ["high", "medium", "low"],
            "perform_unload": True,
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    task_id = r.json()["task_id"]

    def finished():
        task = Task.objects.get(pk=task_id)
        return task if task.status in (TaskStatus.COMPLETED, TaskStatus.FAILED) else None

    task = wait_for(
        finished,
        timeout=120,
        message=f"task completion on a real worker; log:\n{celery_worker_process.output()[-4000:]}",
    )
    assert task.status == TaskStatus.COMPLETED, task.error
    status = client.get(f"/api/v1/status/{task_id}").json()
    keys = {
        f"day=2024-05-0{d}/prefix={p}/score={s}"
        for d in (1, 2, 3)
        for p in ("4eyes_100", "4eyes_102")
        for s in ("high", "medium", "low")
    } & set(manifest["partitions"])
    assert status["counts"] == {k: manifest["partitions"][k] for k in keys}
    assert len(status["output_links"]) == len(keys)
    r = client.get(next(iter(status["output_links"].values())).split("testserver", 1)[1])
    assert r.status_code == 200
