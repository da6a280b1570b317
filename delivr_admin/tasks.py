"""Platform tasks. healthcheck is safe to run twice: it only moves a timestamp forward."""

from celery import shared_task

from .services import worker_heartbeat_record


@shared_task(
    name="delivr_admin.tasks.healthcheck", bind=True, acks_late=True, time_limit=30, soft_time_limit=25
)
def healthcheck(self) -> str:
    hostname = self.request.hostname or "eager"
    worker_heartbeat_record(hostname=hostname)
    return hostname
