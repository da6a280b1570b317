from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import WorkerHeartbeat

WORKER_STALE_AFTER = timedelta(seconds=90)


@transaction.atomic
def worker_heartbeat_record(*, hostname: str) -> WorkerHeartbeat:
    """Records that the worker `hostname` is alive now."""
    now = timezone.now()
    beat, created = WorkerHeartbeat.objects.get_or_create(
        hostname=hostname, defaults={"last_seen_at": now, "tasks_seen": 1}
    )
    if not created:
        WorkerHeartbeat.objects.filter(pk=beat.pk).update(last_seen_at=now, tasks_seen=F("tasks_seen") + 1)
        beat.refresh_from_db()
    return beat


def worker_status() -> dict:
    """Whether a worker ran the healthcheck recently, and when each worker was last seen."""
    beats = list(WorkerHeartbeat.objects.order_by("-last_seen_at")[:10])
    cutoff = timezone.now() - WORKER_STALE_AFTER
    online = [b for b in beats if b.last_seen_at >= cutoff]
    return {"online": bool(online), "workers": beats, "online_count": len(online)}
