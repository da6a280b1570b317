"""Campaign sync tasks. Safe to run twice: a sync is claimed with a conditional update (QUEUED -> RUNNING),
so a second delivery of the same sync does nothing, and the sync itself upserts campaigns, daily rows and
lists on their natural keys (running it again leaves the same rows). The reaper only moves stale syncs to
FAILED."""

from celery import shared_task

from . import services


@shared_task(name="campaigns.tasks.campaign_sync_run", acks_late=True, time_limit=1800, soft_time_limit=1740)
def campaign_sync_run(sync_id: str) -> str:
    return services.campaign_sync_run(sync_id=sync_id).status


@shared_task(
    name="campaigns.tasks.campaign_sync_schedule_all", acks_late=True, time_limit=120, soft_time_limit=110
)
def campaign_sync_schedule_all() -> int:
    return len(services.campaign_sync_schedule_all())


@shared_task(name="campaigns.tasks.campaign_sync_reap", acks_late=True, time_limit=60, soft_time_limit=50)
def campaign_sync_reap() -> int:
    return services.campaign_sync_reap()
