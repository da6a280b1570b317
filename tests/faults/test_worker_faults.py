"""A Celery worker killed in the middle of a count, and Redis restarted under a running task."""

import pytest
from django.utils import timezone

from audiences.models import Job, JobStatus, Task, TaskStatus
from delivr_admin.celery import app as celery_app
from tests.conftest import WorkerProcess, _purge_queue, wait_for

from .conftest import count_task_create, reap_as_if_stale

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def assert_counts_match_manifest(task_id: str, manifest: dict) -> Task:
    task = Task.objects.get(pk=task_id)
    assert task.status == TaskStatus.COUNTED, (task.status, task.error)
    counts = {job.partition: job.count for job in Job.objects.filter(task=task)}
    assert counts == manifest["partitions"]  # every partition once, none twice, none lost
    assert task.total_count == sum(manifest["partitions"].values())
    assert task.completed_jobs == task.total_jobs == len(manifest["partitions"])
    assert not Job.objects.filter(task=task).exclude(status=JobStatus.DONE).exists()  # nothing stays running
    return task


def wait_counted(task_id: str, worker: WorkerProcess, timeout: float = 120):
    return wait_for(
        lambda: Task.objects.filter(pk=task_id, status__in=[TaskStatus.COUNTED, TaskStatus.FAILED]).first(),
        timeout=timeout,
        interval=0.1,
        message=f"task {task_id} to finish; worker log:\n{worker.output()[-3000:]}",
    )


def test_count_when_worker_killed_mid_run_completes_on_second_worker_with_exact_counts(
    fault_settings, fault_manifest, tenant
):
    _purge_queue()
    first = WorkerProcess("fault-a", concurrency=1).start()
    second = None
    try:
        task_id = count_task_create(tenant)
        total = Task.objects.get(pk=task_id).total_jobs
        wait_for(
            lambda: Task.objects.get(pk=task_id).completed_jobs >= 2,
            timeout=90,
            interval=0.05,
            message=f"first jobs done; log:\n{first.output()[-3000:]}",
        )
        first.kill()  # SIGKILL of the worker's process group, mid-count
        done_at_kill = Task.objects.get(pk=task_id).completed_jobs
        assert done_at_kill < total, "the count finished before the kill: make FAULT_PARAMS bigger"

        second = WorkerProcess("fault-b", concurrency=2).start()
        reaped = reap_as_if_stale()
        assert reaped["requeued"] + reaped["resent"] >= 1, reaped
        wait_counted(task_id, second)
        assert_counts_match_manifest(task_id, fault_manifest)
        assert Job.objects.filter(task_id=task_id, attempts__gt=1).exists() or reaped["resent"]
    finally:
        first.kill()
        if second:
            second.stop()
        _purge_queue()  # the resent duplicates of finished jobs: no later worker test should see them


def test_count_when_redis_restarted_mid_run_worker_reconnects_and_finishes(
    fault_settings, fault_manifest, tenant, own_redis, settings, monkeypatch
):
    # Read before CELERY_BROKER_URL is set below: Celery's conf prefers the variable to the setting, so
    # reading it afterwards would "restore" this test's own Redis for every later test.
    previous = celery_app.conf.broker_url, celery_app.conf.broker_transport_options
    settings.CELERY_BROKER_URL = own_redis.url  # the worker's environment (worker_env) reads it
    monkeypatch.setenv("CELERY_BROKER_URL", own_redis.url)
    celery_app.conf.broker_url = own_redis.url
    celery_app.conf.broker_transport_options = {"visibility_timeout": 3600}
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    worker = WorkerProcess("fault-redis", concurrency=1).start()
    try:
        task_id = count_task_create(tenant)
        total = Task.objects.get(pk=task_id).total_jobs
        wait_for(
            lambda: Task.objects.get(pk=task_id).completed_jobs >= 1,
            timeout=90,
            interval=0.02,
            message=f"first jobs done; log:\n{worker.output()[-3000:]}",
        )
        own_redis.stop()  # the broker goes away mid-run (its queue with it: no persistence)
        assert Task.objects.get(pk=task_id).completed_jobs < total
        wait_for(  # the worker has seen its broker go before the broker comes back
            lambda: "Connection to broker lost" in worker.output(),
            timeout=120,
            interval=0.05,
            message=f"the worker to notice the broker is gone; log:\n{worker.output()[-3000:]}",
        )
        own_redis.start()  # same port
        restarted_at = timezone.now()
        # The queued messages died with Redis: the reaper resends them once they count as lost.
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
        wait_for(
            lambda: not Job.objects.filter(task_id=task_id, status=JobStatus.RUNNING).exists(), timeout=120
        )
        reap_as_if_stale()
        wait_counted(task_id, worker)
        assert worker.proc.poll() is None, "the worker died instead of reconnecting"
        # The same worker process took work from the restarted broker.
        assert Job.objects.filter(task_id=task_id, finished_at__gt=restarted_at).exists()
        assert_counts_match_manifest(task_id, fault_manifest)
    finally:
        worker.stop()
        celery_app.conf.broker_url, celery_app.conf.broker_transport_options = previous
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
