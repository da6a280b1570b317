import pytest

from campaigns.models import Campaign, CampaignSync, SyncStatus
from tests.campaigns.factories import make_account
from tests.conftest import WorkerProcess, _purge_queue, wait_for


@pytest.mark.worker
def test_sync_now_is_run_by_a_real_celery_worker_not_the_request(client, tenant, transactional_db):
    make_account(tenant.org, "acc-worker")  # served by the simulator provider (the default)
    client.force_login(tenant.user)
    _purge_queue()
    r = client.post("/campaigns/sync/", HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    sync = CampaignSync.objects.get()
    # The request only queued it: no worker runs yet (one started before the request could already have taken
    # the sync by now, and this would read a race, not the request's doing).
    assert sync.status == SyncStatus.QUEUED
    worker = WorkerProcess("testworker").start()

    def finished():
        sync.refresh_from_db()
        return sync.status in (SyncStatus.SUCCEEDED, SyncStatus.FAILED)

    try:
        wait_for(finished, timeout=120, message="the worker to run the sync")
    finally:
        worker.stop()
    assert sync.status == SyncStatus.SUCCEEDED, (sync.error, worker.output()[-2000:])
    assert Campaign.objects.filter(account__external_id="acc-worker").count() == 6 and sync.rows > 0
