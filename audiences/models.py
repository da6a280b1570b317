import uuid

from django.db import models

from accounts.models import Organization, Project

# The most records one output may hold: a task's or download's limit, an export's record limit.
RECORD_LIMIT_MAX = 10_000_000


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
    """An audience extraction request (the Audience API's Task): count jobs, then unload jobs (work units of
    several partitions each; counts and outputs stay per partition)."""

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
    planned_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a worker listed the data and created the jobs; empty while the task is being planned.",
    )
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
    """A work unit of a task: the Count or Unload of a run of its partitions (planned by bytes), claimed with a
    conditional update so redelivery is harmless. Its per-partition results sit in `counts`, in the order of
    `partitions`, written once when it is done (no row per partition)."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=10, choices=JobKind.choices)
    partition = models.CharField(
        max_length=512, help_text="The unit's label: its first partition (and how many more it has)."
    )
    partitions = models.JSONField(
        default=list, blank=True, help_text="Partition keys of the unit, sorted; empty on one-partition jobs."
    )
    counts = models.JSONField(
        default=list, blank=True, help_text="Rows per partition (order of `partitions`) once done."
    )
    files = models.JSONField(
        default=list,
        blank=True,
        help_text="The files of each partition (order of `partitions`) as planned: [[path in its folder, bytes]].",
    )
    partition_count = models.PositiveIntegerField(default=1, help_text="How many partitions the unit has.")
    size_bytes = models.BigIntegerField(default=0, help_text="Bytes of the unit's input files when planned.")
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    count = models.BigIntegerField(null=True, blank=True)
    suppressed = models.BigIntegerField(default=0)
    output_name = models.CharField(max_length=1024, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    claim = models.CharField(
        max_length=32, blank=True, default="", help_text="Token of the delivery running it."
    )
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


class AudienceType(models.TextChoices):
    INTENT = "intent"
    PERSONA = "persona"
    LIST = "list"


class AudienceStatus(models.TextChoices):
    ACTIVE = "active"
    PAUSED = "paused"


class BuildStatus(models.TextChoices):
    NEVER = "never"
    QUEUED = "queued"
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"


class ListType(models.TextChoices):
    CONTACTS = "contacts"
    SUPPRESSION = "suppression"


class ListSource(models.TextChoices):
    UPLOAD = "upload"
    API = "api"
    EXPORT = "export"


class ListStatus(models.TextChoices):
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class ContactList(models.Model):
    """A list upload (contacts or suppression) or a list an export run generated; rows live in a Parquet file."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="contact_lists")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="contact_lists")
    name = models.CharField(max_length=255)
    type = models.CharField(max_length=20, choices=ListType.choices, default=ListType.CONTACTS)
    source = models.CharField(max_length=20, choices=ListSource.choices, default=ListSource.UPLOAD)
    status = models.CharField(max_length=20, choices=ListStatus.choices, default=ListStatus.PROCESSING)
    file_name = models.CharField(
        max_length=1024, blank=True, default="", help_text="Parquet of the list's rows."
    )
    upload_name = models.CharField(
        max_length=1024, blank=True, default="", help_text="The uploaded CSV as received."
    )
    row_count = models.BigIntegerField(default=0)
    imported_count = models.BigIntegerField(default=0)
    invalid_count = models.BigIntegerField(default=0)
    duplicate_count = models.BigIntegerField(default=0)
    invalid_report_name = models.CharField(max_length=1024, blank=True, default="")
    duplicate_report_name = models.CharField(max_length=1024, blank=True, default="")
    error = models.TextField(blank=True, default="")
    created_by = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "type", "source"], name="list_org_type_source")]

    def __str__(self) -> str:
        return self.name


class Audience(models.Model):
    """A saved audience definition in a project, with the counts of its last build.

    definition (intent/persona): {"topic_id_prefixes": [...], "scores": [...], "lookback_days": 30 | null,
    "date_from": "YYYY-MM-DD" | null, "date_to": ... , "filters": [{"field", "op", "value"}, ...]}.
    A list audience reads its ContactList's rows instead (definition filters still apply).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="audiences")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="audiences")
    name = models.CharField(max_length=255)
    type = models.CharField(max_length=20, choices=AudienceType.choices, default=AudienceType.INTENT)
    status = models.CharField(max_length=20, choices=AudienceStatus.choices, default=AudienceStatus.ACTIVE)
    definition = models.JSONField(default=dict)
    input_path = models.CharField(
        max_length=1024, blank=True, default="", help_text="Empty: the default dataset."
    )
    contact_list = models.ForeignKey(
        ContactList, null=True, blank=True, on_delete=models.PROTECT, related_name="audiences"
    )
    record_count = models.BigIntegerField(null=True, blank=True)
    distinct_profile_count = models.BigIntegerField(null=True, blank=True)
    suppressed_count = models.BigIntegerField(null=True, blank=True)
    build_status = models.CharField(max_length=20, choices=BuildStatus.choices, default=BuildStatus.NEVER)
    build_error = models.TextField(blank=True, default="", help_text="Why the last build failed, in words.")
    build_error_detail = models.TextField(
        blank=True,
        default="",
        help_text="The engine's own message of that failure (admins and support only).",
    )
    build_requested_at = models.DateTimeField(null=True, blank=True)
    last_built_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["organization", "project"], name="audience_org_project")]

    def __str__(self) -> str:
        return self.name


class Topic(models.Model):
    """A topic of the intent data: its human name, category and description, keyed by its topic prefix.

    Rows without an organization form the global catalogue; a row with one overrides that code for the
    organization (and its sub-organizations see the global entry unless they have their own).
    """

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="topics"
    )
    code = models.CharField(max_length=200, help_text="The topic prefix as it appears in the data.")
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=200, blank=True, default="")
    description = models.CharField(max_length=500, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(
        max_length=200, blank=True, default="", help_text="Who last changed it (user:<email>, or empty)."
    )

    class Meta:
        ordering = ("code",)
        constraints = [
            models.UniqueConstraint(
                fields=["code"], condition=models.Q(organization__isnull=True), name="topic_global_code"
            ),
            models.UniqueConstraint(
                fields=["organization", "code"],
                condition=models.Q(organization__isnull=False),
                name="topic_org_code",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class AudienceBuild(models.Model):
    """The counts of one finished build of an audience: its size over time (the detail page's chart)."""

    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="builds")
    built_at = models.DateTimeField()
    record_count = models.BigIntegerField()
    distinct_profile_count = models.BigIntegerField(null=True, blank=True)
    suppressed_count = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["built_at", "id"]
        indexes = [models.Index(fields=["audience", "-built_at"], name="audience_build_recent")]

    def __str__(self) -> str:
        return f"{self.audience_id} @ {self.built_at:%Y-%m-%d %H:%M}: {self.record_count}"


class FieldValueCounts(models.Model):
    """One day's value counts of one suggested field of a dataset (the builder's value suggestions).

    Counted when data is generated and by the scheduled warm-up, so a suggestion is a read of at most a
    window's rows even in a process whose cache is empty. ``counts`` is zlib-compressed JSON
    ({value: rows}, the day's most frequent values); ``day`` is an ISO date, or "*" for a dataset without
    day partitions. A landed day is assumed not to change; regenerating a tree recounts it.
    """

    root_digest = models.CharField(max_length=40, help_text="sha1 of the dataset root.")
    root = models.CharField(max_length=1000)
    field = models.CharField(max_length=200)
    day = models.CharField(max_length=10)
    counts = models.BinaryField()
    values = models.IntegerField(default=0)
    counted_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["root_digest", "field", "day"], name="field_value_counts_day")
        ]

    def __str__(self) -> str:
        return f"{self.field} @ {self.day}: {self.values} values"
