import uuid

from django.db import models

from accounts.models import Organization, Project


class TaskStatus(models.TextChoices):
    IN_PROGRESS = "in_progress"
    COUNTED = "counted"
    UNLOADING = "unloading"
    COMPLETED = "completed"
    FAILED = "failed"


class TaskKind(models.TextChoices):
    INTENT_HIVE = "intent_hive"
    GENERIC_PARQUET = "generic_parquet"


class OutputFormat(models.TextChoices):
    PARQUET = "parquet"
    CSV = "csv"


class Task(models.Model):
    """An audience extraction request (the Audience API's Task): count jobs, then unload jobs, per partition."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="tasks")
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    kind = models.CharField(max_length=20, choices=TaskKind.choices)
    status = models.CharField(max_length=20, choices=TaskStatus.choices, default=TaskStatus.IN_PROGRESS)
    request = models.JSONField(default=dict, help_text="The request as the caller sent it (validated).")
    input_path = models.CharField(max_length=1024)
    days = models.JSONField(default=list)
    topic_id_prefixes = models.JSONField(default=list)
    scores = models.JSONField(default=list)
    where_sql = models.TextField(blank=True, default="", help_text="The allow-listed, rewritten filter.")
    columns = models.JSONField(default=list, help_text="Validated projection; empty means all columns.")
    limit = models.PositiveBigIntegerField(null=True, blank=True)
    perform_unload = models.BooleanField(default=True)
    output_format = models.CharField(
        max_length=10, choices=OutputFormat.choices, default=OutputFormat.PARQUET
    )
    total_jobs = models.PositiveIntegerField(default=0)
    completed_jobs = models.PositiveIntegerField(default=0)
    total_count = models.BigIntegerField(null=True, blank=True)
    suppressed_count = models.BigIntegerField(default=0)
    rows_unloaded = models.BigIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created_by = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    counted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)
    files_purged = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="task_org_created")]

    def __str__(self) -> str:
        return f"task {self.id} ({self.status})"


class JobKind(models.TextChoices):
    COUNT = "count"
    UNLOAD = "unload"


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(models.Model):
    """One partition's Count or Unload of a task; claimed with a conditional update so redelivery is harmless."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=10, choices=JobKind.choices)
    partition = models.CharField(max_length=512)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    count = models.BigIntegerField(null=True, blank=True)
    suppressed = models.BigIntegerField(default=0)
    output_name = models.CharField(max_length=1024, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["task", "kind", "partition"], name="job_unique_partition")
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat")]

    def __str__(self) -> str:
        return f"{self.kind} {self.partition} ({self.status})"
