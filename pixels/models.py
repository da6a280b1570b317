"""Pixel sources (with their generated snippet) and the events they collect."""

import uuid

from django.db import models
from django.utils import timezone


class PixelMode(models.TextChoices):
    COOKIE = "cookie", "Cookie"
    COOKIELESS = "cookieless", "Cookieless"


class Pixel(models.Model):
    """A pixel source of an organization. `snippet` is the JavaScript served for it, generated for `mode`.

    custom_fields: [{"name": ..., "type": "string" | "number" | "integer" | "boolean"}], accepted in events.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="pixels")
    name = models.CharField(max_length=200)
    custom_fields = models.JSONField(default=list, blank=True)
    mode = models.CharField(max_length=20, choices=PixelMode.choices, default=PixelMode.COOKIE)
    snippet = models.TextField(blank=True, default="")
    generated_at = models.DateTimeField(null=True, blank=True)
    regeneration_pending = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="pixel_unique_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def custom_field_types(self) -> dict[str, str]:
        return {field["name"]: field["type"] for field in self.custom_fields or []}


class PixelEvent(models.Model):
    """One event a pixel sent; event_data is validated against the standard groups and custom fields."""

    id = models.BigAutoField(primary_key=True)
    pixel = models.ForeignKey(Pixel, on_delete=models.CASCADE, related_name="events")
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="pixel_events"
    )
    event_type = models.CharField(max_length=100)
    event_data = models.JSONField(default=dict, blank=True)
    visitor_id = models.CharField(max_length=64, blank=True, default="")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["pixel", "received_at"], name="pixelevent_pixel_time_idx")]

    def __str__(self) -> str:
        return f"{self.event_type} on {self.pixel_id}"
