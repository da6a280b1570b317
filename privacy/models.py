"""The opt-out registry, its append-only audit log, and per-output suppression records."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone


class IdentifierType(models.TextChoices):
    UID2 = "uid2", "UID2"
    EMAIL = "email", "Email"
    HASHED_EMAIL = "hashed_email", "Hashed email (SHA-256)"
    PERSON_ID = "person_id", "Person ID"


class OptOutSource(models.TextChoices):
    UID2_WEBHOOK = "uid2_webhook", "UID2 webhook"
    SUPPORT = "support", "Support"
    LIST_UPLOAD = "list_upload", "Suppression list upload"


class OptOut(models.Model):
    """One opted-out identifier: global (organization null, e.g. UID2) or for one organization.

    opted_out_at is the earliest opt-out time reported for it; first/last_received_at when we heard of it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="optouts"
    )
    identifier_type = models.CharField(max_length=20, choices=IdentifierType.choices)
    value = models.CharField(max_length=255)
    source = models.CharField(max_length=20, choices=OptOutSource.choices)
    opted_out_at = models.DateTimeField()
    first_received_at = models.DateTimeField(default=timezone.now)
    last_received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-opted_out_at"]
        # NULL is distinct from NULL in a plain unique index, so global entries get their own partial one.
        constraints = [
            models.UniqueConstraint(
                fields=["identifier_type", "value", "organization"],
                condition=Q(organization__isnull=False),
                name="optout_unique_per_org",
            ),
            models.UniqueConstraint(
                fields=["identifier_type", "value"],
                condition=Q(organization__isnull=True),
                name="optout_unique_global",
            ),
        ]
        indexes = [
            models.Index(fields=["value"], name="optout_value_idx"),
            models.Index(fields=["opted_out_at"], name="optout_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.identifier_type}:{self.value}"

    @property
    def is_global(self) -> bool:
        return self.organization_id is None


class AppendOnlyError(Exception):
    """Raised when code tries to change or remove an audit event."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("The audit log is append-only: events cannot be updated.")

    def delete(self):
        raise AppendOnlyError("The audit log is append-only: events cannot be deleted.")

    update.queryset_only = True
    delete.queryset_only = True


class AuditEvent(models.Model):
    """An append-only record of something done to the registry (on PostgreSQL a trigger enforces it too).

    No foreign keys: the log outlives the registry rows and organizations it mentions.
    """

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=200)
    action = models.CharField(max_length=40)
    identifier_type = models.CharField(max_length=20, choices=IdentifierType.choices)
    identifier_value = models.CharField(max_length=255, db_index=True)
    source = models.CharField(max_length=20, choices=OptOutSource.choices)
    organization_id = models.UUIDField(null=True, blank=True, db_index=True)
    optout_id = models.UUIDField(null=True, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True, default="")
    request_id = models.CharField(max_length=100, blank=True, default="")

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        when = f"{self.occurred_at:%Y-%m-%d %H:%M:%S}"
        return f"{when} {self.action} {self.identifier_type}:{self.identifier_value}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("The audit log is append-only: events cannot be updated.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("The audit log is append-only: events cannot be deleted.")


class SuppressionRecord(models.Model):
    """How many opted-out records one output run (an export run, a download, an unload) left out."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="suppression_records"
    )
    output_kind = models.CharField(max_length=40)
    output_id = models.CharField(max_length=64)
    suppressed_count = models.PositiveBigIntegerField(default=0)
    recorded_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-recorded_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "output_kind", "output_id"], name="suppression_unique_output"
            )
        ]

    def __str__(self) -> str:
        return f"{self.output_kind} {self.output_id}: {self.suppressed_count} suppressed"
