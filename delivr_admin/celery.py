"""The one Celery app. Configuration comes from Django settings (CELERY_* names)."""

import os

from celery import Celery
from celery.signals import worker_ready

from . import broker  # noqa: F401 - filesystem:// resolves to the atomic-write transport

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "delivr_admin.settings")

app = Celery("delivr_admin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _healthcheck_when_ready(sender=None, **kwargs) -> None:
    """A worker that just started says so at once: the beat's first healthcheck comes a period later, and
    until a heartbeat lands the dashboard's status line reads "Offline" to someone who just ran `make run`."""
    (sender.app if sender is not None else app).send_task("delivr_admin.tasks.healthcheck")
