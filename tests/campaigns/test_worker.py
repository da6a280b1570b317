import pytest

from campaigns.models import Campaign, CampaignSync, SyncStatus
from tests.campaigns.factories import make_account
from tests.conftest import wait_for


@pytest.mark.worker
def test_sync_now_is_run_by_a_real_celery_worker_not_the_request(client, tenant, celery_worker_process):
    make_account(tenant.org, "acc-worker")  # served by the simulator provider (the default)
    client.force_login(tenant.user)
    r = client.post("/campaigns/sync/", HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    sync = CampaignSync.objects.get()
    assert sync.status == SyncStatus.QUEUED  # the request only queued it

    def finished():
        sync.refresh_from_db()
        return sync.status in (SyncStatus.SUCCEEDED, SyncStatus.FAILED)

    wait_for(finished, timeout=90, message="the worker to run the sync")
    assert sync.status == SyncStatus.SUCCEEDED, (sync.error, celery_worker_process.output()[-2000:])
    assert Campaign.objects.filter(account__external_id="acc-worker").count() == 6 and sync.rows > 0
