import uuid

from django.db import models

from accounts.models import Organization, Project


class Schedule(models.TextChoices):
    MANUAL = "manual"
    DAILY = "daily"
    WEEKLY = "weekly"


class FailMode(models.TextChoices):
    TRUNCATE = "truncate"
    FAIL = "fail"


class ConnectionStatus(models.TextChoices):
    UNCHECKED = "unchecked", "Not checked yet"
    CHECKING = "checking", "Checking"
    CONNECTED = "connected", "Connected"
    NOT_CONNECTED = "not_connected", "Not connected"


class SyncMode(models.TextChoices):
    FULL = "full", "Send every record on each run"
    CHANGES = "changes", "Send only records added or changed since the last successful run"
    MIRROR = "mirror", "Send changes and remove records that left the audience"


class Export(models.Model):
    """An audience sent to a destination: config (plain), credentials (encrypted), field mapping, limits."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="exports")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exports")
    audience = models.ForeignKey(
        "audiences.Audience", null=True, blank=True, on_delete=models.SET_NULL, related_name="exports"
    )
    name = models.CharField(max_length=255)
    destination_type = models.CharField(max_length=40)
    destination_config = models.JSONField(default=dict, blank=True)
    credentials_encrypted = models.TextField(blank=True, default="")
    credential_names = models.JSONField(default=list, blank=True, help_text="Names of the saved credentials.")
    field_mapping = models.JSONField(default=list)
    schedule = models.CharField(max_length=10, choices=Schedule.choices, default=Schedule.MANUAL)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    record_limit_max = models.BigIntegerField(null=True, blank=True)
    record_limit_fail_mode = models.CharField(
        max_length=10, choices=FailMode.choices, default=FailMode.TRUNCATE, blank=True
    )
    list_name = models.CharField(
        max_length=255, blank=True, default="", help_text="DSP list name; empty means the audience name."
    )
    connection_status = models.CharField(
        max_length=20, choices=ConnectionStatus.choices, default=ConnectionStatus.UNCHECKED
    )
    connection_message = models.CharField(max_length=500, blank=True, default="")
    connection_checked_at = models.DateTimeField(null=True, blank=True)
    field_catalog = models.JSONField(
        default=dict, blank=True, help_text="The destination's own fields as last fetched, and when."
    )
    sync_mode = models.CharField(max_length=10, choices=SyncMode.choices, default=SyncMode.CHANGES)
    # opt-outs received up to here were taken back from the destination (export_optouts_propagate)
    optouts_propagated_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="export_org_created")]

    def __str__(self) -> str:
        return self.name

    @property
    def record_limit(self) -> dict | None:
        if self.record_limit_max is None:
            return None
        return {"maxRecords": self.record_limit_max, "failMode": self.record_limit_fail_mode or "truncate"}

    @property
    def effective_list_name(self) -> str:
        if self.list_name:
            return self.list_name
        return self.audience.name if self.audience_id else ""


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class FailureKind(models.TextChoices):
    USER = "user"
    SYSTEM = "system"
    TIMEOUT = "timeout"


class ExportRun(models.Model):
    """One run of an export, with its counts and per-object results, checkpointed after every batch."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    export = models.ForeignKey(Export, on_delete=models.CASCADE, related_name="runs")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="export_runs")
    status = models.CharField(max_length=30, choices=RunStatus.choices, default=RunStatus.QUEUED)
    trigger = models.CharField(max_length=20, default="manual")
    records_total = models.BigIntegerField(default=0)
    records_exported = models.BigIntegerField(default=0)
    records_failed = models.BigIntegerField(default=0)
    records_duplicated = models.BigIntegerField(default=0)
    records_expected = models.BigIntegerField(
        null=True, blank=True, help_text="Records the run will process, counted when it starts."
    )
    suppressed_count = models.BigIntegerField(default=0)
    # what the diff against the export's snapshot found (changes/mirror); a full run counts every record as
    # added or changed too, so the figures read the same whatever the mode
    records_added = models.BigIntegerField(default=0)
    records_changed = models.BigIntegerField(default=0)
    records_removed = models.BigIntegerField(default=0)
    records_unchanged = models.BigIntegerField(default=0)
    object_type_results = models.JSONField(default=dict, blank=True)
    validation_summary = models.JSONField(default=dict, blank=True, help_text="code -> target -> count")
    batches_done = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    failure_kind = models.CharField(max_length=10, choices=FailureKind.choices, blank=True, default="")
    details = models.JSONField(default=dict, blank=True, help_text="What the destination reported at close.")
    contact_list = models.ForeignKey(
        "audiences.ContactList", null=True, blank=True, on_delete=models.SET_NULL, related_name="export_runs"
    )
    created_by = models.CharField(max_length=200, blank=True, default="")
    queued_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-queued_at"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="exportrun_status_heartbeat")]

    def __str__(self) -> str:
        return f"run {self.id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_RUN_STATUSES


class CheckStatus(models.TextChoices):
    PENDING = "pending"
    OK = "ok"
    FAILED = "failed"


class ConnectionCheck(models.Model):
    """One "test connection" of an export's destination, run on a worker; the page and the API poll it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    export = models.ForeignKey(Export, on_delete=models.CASCADE, related_name="connection_checks")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="connection_checks")
    status = models.CharField(max_length=10, choices=CheckStatus.choices, default=CheckStatus.PENDING)
    message = models.TextField(blank=True, default="")
    created_by = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["export", "-created_at"], name="conncheck_export_created")]

    def __str__(self) -> str:
        return f"check {self.id} ({self.status})"


class OptOutRemoval(models.Model):
    """The ledger of an opted-out identity at one export's destination: when it was last sent there and when
    it was taken back (or why it could not be). It holds only the identifier as the registry holds it."""

    class Status(models.TextChoices):
        REMOVED = "removed", "Removed"
        FAILED = "failed", "Could not be removed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="optout_removals")
    export = models.ForeignKey(Export, null=True, on_delete=models.SET_NULL, related_name="optout_removals")
    export_name = models.CharField(max_length=255)
    destination_label = models.CharField(max_length=100)
    list_name = models.CharField(max_length=255, blank=True, default="")
    identifier_type = models.CharField(max_length=20)
    identifier_value = models.CharField(max_length=255)
    sent_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REMOVED)
    message = models.CharField(max_length=500, blank=True, default="")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-recorded_at"]
        indexes = [
            models.Index(fields=["identifier_type", "identifier_value"], name="optoutremoval_identity")
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["export", "identifier_type", "identifier_value"], name="optoutremoval_once_per_export"
            )
        ]

    def __str__(self) -> str:
        return f"{self.identifier_type} at {self.destination_label} ({self.status})"
