import pytest

from delivr_admin.models import WorkerHeartbeat
from delivr_admin.tasks import healthcheck
from tests.conftest import wait_for


@pytest.mark.worker
def test_real_worker_runs_healthcheck_through_configured_broker(celery_worker_process, settings):
    healthcheck.delay()
    beat = wait_for(
        lambda: WorkerHeartbeat.objects.filter(hostname__startswith="testworker@").first(),
        timeout=90,
        message=f"healthcheck on a real worker; log:\n{celery_worker_process.output()[-3000:]}",
    )
    assert beat.tasks_seen >= 1


@pytest.mark.worker
def test_real_worker_when_ready_records_its_heartbeat_without_waiting_for_beat(celery_worker_process):
    # no task sent and no beat in this worker: the heartbeat comes from the worker's own start
    beat = wait_for(
        lambda: WorkerHeartbeat.objects.filter(hostname__startswith="testworker@").first(),
        timeout=90,
        message=f"a heartbeat at the worker's start; log:\n{celery_worker_process.output()[-3000:]}",
    )
    assert beat.tasks_seen >= 1


@pytest.mark.django_db
def test_healthcheck_twice_is_idempotent_and_dashboard_shows_status(client, tenant):
    healthcheck.delay()
    healthcheck.delay()
    beat = WorkerHeartbeat.objects.get()
    assert beat.tasks_seen == 2
    client.force_login(tenant.user)
    r = client.get("/")
    assert r.status_code == 200
    assert b"Online" in r.content
    r = client.get("/dashboard/worker-status/", HTTP_HX_REQUEST="true")
    assert b"<html" not in r.content and b"Online" in r.content
