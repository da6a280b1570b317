"""Campaign sync tasks. Safe to run twice: a sync is claimed with a conditional update (QUEUED -> RUNNING),
so a second delivery of the same sync does nothing, and the sync itself upserts campaigns, daily rows and
lists on their natural keys (running it again leaves the same rows). The reaper only moves stale syncs to
FAILED."""

from celery import shared_task

from . import services
from .dsp import DspError


@shared_task(
    bind=True,
    name="campaigns.tasks.campaign_sync_run",
    acks_late=True,
    time_limit=1800,
    soft_time_limit=1740,
    # Raised only when the DSP flagged the error retryable and the sync went back to QUEUED.
    autoretry_for=(DspError,),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=3,
)
def campaign_sync_run(self, sync_id: str) -> str:
    retry_allowed = self.request.retries < self.max_retries  # the last attempt records the failure
    return services.campaign_sync_run(sync_id=sync_id, retry_allowed=retry_allowed).status


@shared_task(
    name="campaigns.tasks.campaign_sync_schedule_all", acks_late=True, time_limit=120, soft_time_limit=110
)
def campaign_sync_schedule_all() -> int:
    return len(services.campaign_sync_schedule_all())


@shared_task(name="campaigns.tasks.campaign_sync_reap", acks_late=True, time_limit=60, soft_time_limit=50)
def campaign_sync_reap() -> int:
    return services.campaign_sync_reap()
