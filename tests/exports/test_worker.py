"""A worker killed mid-run (real Celery subprocess): the run ends not `running`, no record created twice."""

import pytest

from exports.models import ExportRun
from exports.services import runs as run_services
from exports.services.exports import export_create
from tests.conftest import WorkerProcess, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_worker_killed_mid_run_resumes_and_creates_no_record_twice(
    tenant, audience, webhook, celery_worker_process
):
    # 500-row batches: the 4th waits at the gate (read batches are committed one write behind: 2 by then)
    gate = webhook.hold(kind="records", after=3)
    export = export_create(
        principal=tenant.principal,
        project_id=tenant.project.id,
        audience_id=audience.id,
        name="Slow webhook",
        destination_type="webhook",
        destination_config={"url": webhook.url},
        credentials={"secret": "whsec-test"},
        field_mapping=[{"source": "email", "target": "Email"}],
        sync_mode="full",  # a write per read batch (changes packs them): slow enough to be killed mid-run
    )
    run = run_services.export_run_start(export=export, actor="test")
    wait_for(
        lambda: gate.waiting and ExportRun.objects.get(pk=run.pk).batches_done >= 2,
        120,
        message="two committed batches, the 4th held",
    )
    celery_worker_process.kill()
    gate.opened.set()  # the held batch is done, its answer lost: the write in flight
    wait_for(
        lambda: sum(1 for b in webhook.batches if b["body"].get("records")) == 4,
        60,
        message="the held batch to be done",
    )
    run.refresh_from_db()
    assert run.status == "running"
    # the reaper finds the silent run and requeues it; a new worker resumes after the last checkpoint
    assert run_services.export_runs_reap(timeout_seconds=0)["requeued"] == 1
    worker = WorkerProcess("testworker2").start()
    try:
        wait_for(lambda: not ExportRun.objects.get(pk=run.pk).is_active, 180, message="the run to finish")
    finally:
        worker.stop()
    run.refresh_from_db()
    assert run.status in ("completed", "completed_with_errors"), (run.status, run.error)
    assert run.attempts == 2
    record_keys = [k.split(":", 1)[1] for k in webhook.created]
    assert len(record_keys) == len(set(record_keys))  # no record created twice
    assert {k.split(":", 1)[0] for k in webhook.created} == {str(run.pk)}
    skipped = run.object_type_results["Record"]["records_skipped"]
    assert run.records_exported + skipped == len(webhook.created)
    assert run.records_total == 4000
