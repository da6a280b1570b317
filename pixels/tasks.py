"""Pixel tasks. pixel_regenerate_pending is safe to run twice (or concurrently): it rewrites each snippet
from the organization's current mode under a row lock, so a second run regenerates nothing or the same text."""

from celery import shared_task

from . import services


@shared_task(
    name="pixels.tasks.pixel_regenerate_pending", acks_late=True, time_limit=300, soft_time_limit=240
)
def pixel_regenerate_pending() -> int:
    return services.pixel_regenerate_pending()
