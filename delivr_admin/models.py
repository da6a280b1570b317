from django.db import models


class WorkerHeartbeat(models.Model):
    """Last time a Celery worker ran the healthcheck task, one row per worker hostname."""

    hostname = models.CharField(max_length=255, unique=True)
    last_seen_at = models.DateTimeField()
    tasks_seen = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return self.hostname
