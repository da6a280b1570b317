"""The one Celery app. Configuration comes from Django settings (CELERY_* names)."""

import os

from celery import Celery

from . import broker  # noqa: F401 - filesystem:// resolves to the atomic-write transport

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "delivr_admin.settings")

app = Celery("delivr_admin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
