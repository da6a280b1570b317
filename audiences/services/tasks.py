"""Audience API tasks: creation, Count and Unload jobs, the phase transitions, unload on request, retention.

A job is a work unit: a run of the task's partitions planned by bytes (a small selection is one unit, a
large one a few per worker), counted with one grouped scan and unloaded with one pass that writes a file per
partition. Its per-partition results are written once, on the job row, when it is done.

Concurrency: jobs are claimed with a conditional UPDATE (queued -> running, or a running job whose heartbeat
went stale), finished with another (running -> done), and the task's totals move with F() increments, so
jobs finishing together never lose a count. Phase changes are conditional updates too: exactly one job wins.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import uuid
from collections.abc import Iterator
from datetime import date, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Project
from accounts.selectors import Principal
from audiences import datasets, engine
from audiences.models import Job, JobKind, JobStatus, OutputFormat, Task, TaskKind, TaskStatus
from audiences.selectors.tasks import job_outputs, output_name
from delivr_admin import storage
from delivr_admin.errors import ApplicationError
from privacy.selectors import optouts_apply

__all__ = ["output_name"]  # kept here for callers that name outputs the way the service writes them

logger = logging.getLogger(__name__)

JOB_STALE_AFTER = timedelta(seconds=120)
JOB_HEARTBEAT_EVERY = 15.0
JOB_MAX_ATTEMPTS = 3
QUEUED_RESEND_AFTER = timedelta(minutes=5)


def work_units(sizes: dict[str, int], *, files: dict[str, int] | None = None) -> list[tuple[list[str], int]]:
    """The partitions grouped into runs of roughly equal bytes: (sorted keys, bytes) per unit.

    At most about DELIVR_TASK_UNITS units (a few per worker), none smaller than DELIVR_TASK_UNIT_MIN_BYTES
    unless it is the last (a small selection is one unit), none of more than DELIVR_TASK_UNIT_MAX_PARTITIONS
    partitions. Runs of sorted keys, so the units in order list the task's partitions in order. With
    ``files`` (files per partition) the runs are even in files instead, none under DELIVR_TASK_UNIT_MIN_FILES:
    a count read from the footers costs a footer per file, whatever the bytes.
    """
    most = max(1, settings.DELIVR_TASK_UNIT_MAX_PARTITIONS)
    weights, least = (sizes, settings.DELIVR_TASK_UNIT_MIN_BYTES)
    if files is not None:
        weights, least = (files, settings.DELIVR_TASK_UNIT_MIN_FILES)
    target = max(1, least, math.ceil(sum(weights.values()) / max(1, settings.DELIVR_TASK_UNITS)))
    units: list[tuple[list[str], int]] = []
    keys: list[str] = []
    size = weight = 0
    for key in sorted(sizes):
        keys.append(key)
        size += sizes[key]
        weight += weights[key]
        if weight >= target or len(keys) >= most:
            units.append((keys, size))
            keys, size, weight = [], 0, 0
    if keys:
        units.append((keys, size))
    return units


def _plan(listing: dict[str, list], *, footers: bool = False) -> list[Job]:
    """Unsaved jobs (no task or kind yet) of the listed partitions, each with its files as listed, so the unit
    reads them without listing again; by files when the count reads only footers, else by bytes."""
    sizes = {key: sum(size for _, size in files) for key, files in listing.items()}
    counts = {key: len(files) for key, files in listing.items()} if footers else None
    return [
        Job(
            partition=keys[0] if len(keys) == 1 else f"{keys[0]} (+{len(keys) - 1} more)",
            partitions=keys,
            files=[listing[key] for key in keys],
            partition_count=len(keys),
            size_bytes=size,
        )
        for keys, size in work_units(sizes, files=counts)
    ]


def _create_jobs(task_id, kind: str, jobs: list[Job]) -> list[Job]:
    for job in jobs:
        job.task_id, job.kind = task_id, kind
    return Job.objects.bulk_create(jobs, ignore_conflicts=True)


def _enqueue(job_ids: list[int]) -> None:
    """One Celery message per unit: units are already sized for a worker."""
    from audiences.tasks import task_jobs_run

    for pk in sorted(job_ids):
        task_jobs_run.delay_on_commit([pk])


@transaction.atomic
def task_create(
    *,
    principal: Principal,
    kind: str,
    input_path: str | None,
    days: list[date] | None = None,
    topic_id_prefixes: list[str] | None = None,
    scores: list[str] | None = None,
    limit: int | None = None,
    perform_unload: bool = True,
    select: str | None = None,
    where_expr: str | None = None,
    output_format: str = OutputFormat.PARQUET,
    project: Project | None = None,
    request_data: dict | None = None,
) -> Task:
    """Validates the request against the dataset (its path, the first file's footer, where_expr, select),
    creates the task and queues its planning: a worker lists the data and creates the work units
    (:func:`task_plan`), so the request never waits for a listing of the tree. Until then the task shows its
    first status (in_progress, or unloading when ``limit`` skips the count) with no jobs."""
    resolved = datasets.input_path_resolve(input_path)
    try:
        columns = datasets.dataset_columns(resolved)
    except engine.UnreadableFileError as exc:  # the dataset's fault, not the request's
        raise datasets.unreadable_error(exc) from exc
    except engine.EngineError as exc:  # no Parquet there, or object storage refused (credentials, bucket)
        raise ApplicationError(f"input_path cannot be read: {exc}", code="invalid_input_path") from exc
    skip_count = limit is not None and perform_unload
    task = Task.objects.create(
        organization=principal.organization,
        project=project,
        kind=kind,
        status=TaskStatus.UNLOADING if skip_count else TaskStatus.IN_PROGRESS,
        request=request_data or {},
        input_path=resolved,
        days=[d.isoformat() for d in sorted(set(days or []))],
        topic_id_prefixes=sorted(set(topic_id_prefixes or [])),
        scores=sorted(set(scores or [])),
        where_sql=datasets.where_validate(where_expr, columns),
        columns=datasets.select_validate(select, columns),
        limit=limit,
        perform_unload=perform_unload,
        output_format=output_format,
        created_by=principal.actor,
        expires_at=timezone.now() + timedelta(days=settings.DELIVR_TASK_RETENTION_DAYS),
    )
    _enqueue_plan(task.pk)
    return task


def _enqueue_plan(task_id) -> None:
    from audiences.tasks import task_plan as plan_message

    plan_message.delay_on_commit(str(task_id))


def task_plan(*, task_id) -> None:
    """Plans a task in the worker: lists the selection's files once, groups its partitions into work units
    (by files when the count reads only footers, else by bytes), creates them with their files, queues them
    and runs the first itself. Safe to run twice: the first delivery to mark the task planned creates the units, a later one finds
    it planned and does nothing. Data that cannot be listed fails the task with the reason in words."""
    task = Task.objects.filter(pk=task_id).first()
    if task is None or task.planned_at is not None or task.status == TaskStatus.FAILED:
        return
    sel = datasets.selection(
        input_path=task.input_path,
        organization_ids=(),
        days=[date.fromisoformat(d) for d in task.days],
        prefixes=task.topic_id_prefixes,
        scores=task.scores,
        where_sql=task.where_sql,
        suppress=False,
    )
    reader = engine.engine_for(sel.input_path)
    try:
        listing = reader.partition_files(sel)
    except (engine.EngineError, OSError) as exc:
        _plan_fail(task, exc)
        return
    if task.kind == TaskKind.INTENT_HIVE:
        listing.pop("", None)  # a tree without hive folders has no day/topic/score partition to select
    elif not listing:
        listing = {"": []}  # a tree without hive folders is read whole, as one job
    job_kind = JobKind.UNLOAD if task.status == TaskStatus.UNLOADING else JobKind.COUNT
    footers = (
        job_kind == JobKind.COUNT
        and reader.counts_from_footers(sel)
        and not optouts_apply([task.organization_id])
    )
    ids = _plan_save(task.pk, job_kind, _plan(listing, footers=footers))
    if ids:  # the planner runs the first unit itself (one message hop less; its own message then finds it
        task_jobs_run(job_ids=ids[:1])  # claimed or done, and another worker's claim first is as harmless)


@transaction.atomic
def _plan_save(task_id, job_kind: str, planned: list[Job]) -> list[int]:
    """Marks the task planned, creates its units and queues a message for each, once: a delivery that finds
    it planned (or failed) already writes nothing. The units' ids in order ([] when none or not won)."""
    won = (
        Task.objects.filter(pk=task_id, planned_at__isnull=True)
        .exclude(status=TaskStatus.FAILED)
        .update(planned_at=timezone.now(), total_jobs=len(planned))
    )
    if not won:
        return []
    _create_jobs(task_id, job_kind, planned)
    ids = list(Job.objects.filter(task_id=task_id).order_by("id").values_list("pk", flat=True))
    if ids:
        _enqueue(ids)
    else:
        _phase_advance(task_id)
    return ids


def _plan_fail(task: Task, exc: Exception) -> None:
    """Fails a task whose data could not be listed, saying why in words (the file or folder for admins)."""
    if isinstance(exc, engine.UnreadableFileError):
        reason = datasets.unreadable_error(exc).message
    elif isinstance(exc, engine.EngineError):  # the dataset named in words, not by its server path
        reason = (
            f"The data could not be listed: {str(exc).replace(task.input_path.rstrip('/'), 'the dataset')}"
        )
    else:  # a folder the worker may not read: named by its place in the dataset, never by a server path
        where = str(getattr(exc, "filename", None) or "")
        root = task.input_path.rstrip("/") + "/"
        where = where[len(root) :] if where.startswith(root) else ""
        reason = f"The data could not be listed: {getattr(exc, 'strerror', None) or exc}"
        reason += f" ({where})" if where else ""
    now = timezone.now()
    Task.objects.filter(pk=task.pk, planned_at__isnull=True).exclude(
        status__in=[TaskStatus.COMPLETED, TaskStatus.FAILED]
    ).update(status=TaskStatus.FAILED, error=reason[:2000], completed_at=now, planned_at=now)
    logger.warning("task %s failed while planning: %s (%s)", task.pk, reason, exc)


@transaction.atomic
def task_unload_start(*, task: Task) -> Task:
    """Starts the Unload jobs of a counted task; 409 in any other status (as the reference says)."""
    moved = Task.objects.filter(pk=task.pk, status=TaskStatus.COUNTED).update(status=TaskStatus.UNLOADING)
    if not moved:
        task.refresh_from_db()
        raise ApplicationError(
            f"Cannot unload: the task is {task.status}; unload works only when it is counted.",
            code="cannot_unload",
            status=409,
            extra={"status": task.status},
        )
    _unload_jobs_create(task.pk)
    task.refresh_from_db()
    return task


def _unload_jobs_create(task_id) -> None:
    """The Unload units of a counted task, planned by bytes from the files its Count units were given (a
    count read from footers was planned by files). Count units planned before files were kept on them are
    copied as they are."""
    fields = ("partition", "partitions", "partition_count", "size_bytes", "files")
    units = list(Job.objects.filter(task_id=task_id, kind=JobKind.COUNT).order_by("id").values_list(*fields))
    listing = {}
    for label, keys, _, _, files in units:
        keys = keys or [label]
        if len(files) != len(keys):
            listing = None
            break
        listing.update(zip(keys, files, strict=True))
    if listing is not None:
        planned = _plan(listing)
    else:
        planned = [Job(**dict(zip(fields, unit, strict=True))) for unit in units]
    created = _create_jobs(task_id, JobKind.UNLOAD, planned)
    Task.objects.filter(pk=task_id).update(total_jobs=F("total_jobs") + len(created))
    ids = list(Job.objects.filter(task_id=task_id, kind=JobKind.UNLOAD).values_list("pk", flat=True))
    if ids:
        _enqueue(ids)
    else:
        _phase_advance(task_id)


def _claim(job_ids: list[int]) -> list[Job]:
    """Claims the jobs that are queued (or running with a stale heartbeat: their worker died) for this delivery."""
    now = timezone.now()
    token = uuid.uuid4().hex
    (
        Job.objects.filter(pk__in=job_ids)
        .filter(
            Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING, heartbeat_at__lt=now - JOB_STALE_AFTER)
        )
        .exclude(task__status=TaskStatus.FAILED)
        .update(
            status=JobStatus.RUNNING,
            attempts=F("attempts") + 1,
            started_at=now,
            heartbeat_at=now,
            claim=token,
        )
    )
    return list(
        Job.objects.filter(pk__in=job_ids, claim=token, status=JobStatus.RUNNING).select_related("task")
    )


@contextlib.contextmanager
def _heartbeat(job_ids: list[int]) -> Iterator[None]:
    """Keeps heartbeat_at fresh while long jobs run, so the reaper only takes jobs whose worker died."""
    stop = threading.Event()

    def beat() -> None:
        from django.db import connection

        try:
            while not stop.wait(JOB_HEARTBEAT_EVERY):
                try:
                    Job.objects.filter(pk__in=job_ids, status=JobStatus.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except DatabaseError:  # e.g. SQLite busy past its timeout: the next beat tries again
                    logger.warning("task jobs %s: heartbeat failed", job_ids, exc_info=True)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name="task-jobs-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def _selection(task: Task) -> engine.Selection:
    return datasets.selection(
        input_path=task.input_path,
        organization_ids=[task.organization_id],
        days=[date.fromisoformat(d) for d in task.days],
        prefixes=task.topic_id_prefixes,
        scores=task.scores,
        where_sql=task.where_sql,
        columns=task.columns,
    )


def task_jobs_run(*, job_ids: list[int]) -> None:
    """Runs the units of one message that this delivery can claim; a duplicate delivery claims none."""
    jobs = _claim(job_ids)
    if not jobs:
        return
    with _heartbeat([job.pk for job in jobs]):
        for job in jobs:
            try:
                if job.kind == JobKind.COUNT:
                    _run_count(job)
                else:
                    _run_unload(job)
            except engine.EngineError as exc:
                reason = f"{job.kind} of {job.partition or 'dataset'} failed: {exc}"
                if isinstance(exc, engine.UnreadableFileError):
                    reason = datasets.unreadable_error(exc).message
                job_fail(job_id=job.pk, reason=reason)
                continue
            _phase_advance(job.task_id)


def _keys(job: Job) -> list[str]:
    return list(job.partitions) if job.partitions else [job.partition]


def _listing(job: Job, keys: list[str]) -> dict[str, list] | None:
    """The unit's files as planned ({key: [[path in its folder, bytes]]}), or None when it has none (a unit
    planned before they were kept, or the whole of a tree without hive folders)."""
    if len(job.files) != len(keys) or not all(job.files):
        return None
    return dict(zip(keys, job.files, strict=True))


def _run_count(job: Job) -> None:
    """Counts the unit's partitions with one grouped scan (or their footers when nothing filters rows)."""
    task = job.task
    sel = _selection(task)
    keys = _keys(job)
    reader = engine.engine_for(sel.input_path)
    results = reader.count_partitions(sel, keys, listing=_listing(job, keys))
    counts = [results[key][0] for key in keys]
    if task.limit is not None:  # `limit` caps rows per partition
        counts = [min(count, task.limit) for count in counts]
    _job_done(job, counts, sum(results[key][1] for key in keys))


def _run_unload(job: Job) -> None:
    """Unloads the unit in one pass, a file per partition, each put in the output store as it is finished
    (a rename on a local folder, an upload otherwise): a retried unit replaces its files, and a reader never
    sees half of one."""
    task = job.task
    sel = _selection(task)
    keys = _keys(job)
    fmt = "csv" if task.output_format == OutputFormat.CSV else "parquet"
    reader = engine.engine_for(sel.input_path)
    if settings.DELIVR_ENGINE_WRITES_OUTPUTS and isinstance(reader, engine.WritesOutputs):  # cluster writes
        rows = _unload_by_cluster(reader, task, sel, keys, fmt)
        _job_done(job, [rows[key] for key in keys], 0)
        return
    folder = storage.tenant_path("tasks", task.organization_id, str(task.pk))

    def put(key: str, path: str) -> None:
        storage.move_file(output_name(task, key), path)

    with storage.staging_dir(folder) as staging:
        rows = reader.unload_partitioned(
            sel, keys, fmt, staging, limit=task.limit, on_file=put, listing=_listing(job, keys)
        )
    _job_done(job, [rows[key] for key in keys], 0)


def _unload_by_cluster(
    reader: engine.WritesOutputs, task: Task, sel: engine.Selection, keys: list[str], fmt: str
) -> dict[str, int]:
    """{partition: rows} of the partitions' output files, written by the engine's cluster straight into the
    output store in one job (no row passes through this worker); a partition left without rows gets its
    empty file (header or schema) from ``unload``."""
    found: dict[str, tuple[int, str | None]] = {}

    def produce(folder: str) -> dict[str, str]:
        found.update(reader.unload_partitioned_folder(sel, keys, fmt, folder, limit=task.limit))
        return {output_name(task, key): sub for key, (_, sub) in found.items() if sub is not None}

    storage.place_from_folder(produce)
    for key in [k for k, (_, sub) in found.items() if sub is None]:
        storage.write_with(
            output_name(task, key),
            lambda out, key=key: reader.unload(sel, key or None, fmt, out, limit=task.limit),
        )
    return {key: rows for key, (rows, _) in found.items()}


@transaction.atomic
def _job_done(job: Job, counts: list[int], suppressed: int) -> None:
    """Marks a claimed unit done with its per-partition rows and adds its figures to the task once (a unit
    finished by another delivery is skipped)."""
    total = sum(counts)
    updated = Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, claim=job.claim).update(
        status=JobStatus.DONE,
        counts=counts,
        count=total,
        suppressed=suppressed,
        finished_at=timezone.now(),
        error="",
    )
    if not updated:
        return
    changes = {"completed_jobs": F("completed_jobs") + 1}
    if job.kind == JobKind.COUNT:
        changes["total_count"] = Coalesce(F("total_count"), 0) + total
        changes["suppressed_count"] = F("suppressed_count") + suppressed
    else:
        changes["rows_unloaded"] = F("rows_unloaded") + total
    Task.objects.filter(pk=job.task_id).update(**changes)


@transaction.atomic
def job_fail(*, job_id: int, reason: str) -> None:
    """Marks the job failed and the task failed with the reason (no partial task is reported as complete)."""
    now = timezone.now()
    job = Job.objects.select_related("task").defer("files", "partitions", "counts").get(pk=job_id)
    Job.objects.filter(pk=job_id).exclude(status=JobStatus.DONE).update(
        status=JobStatus.FAILED, error=reason[:2000], finished_at=now
    )
    Task.objects.filter(pk=job.task_id).exclude(status__in=[TaskStatus.COMPLETED, TaskStatus.FAILED]).update(
        status=TaskStatus.FAILED, error=reason[:2000], completed_at=now
    )
    logger.warning("task %s failed: %s", job.task_id, reason)


@transaction.atomic
def _phase_advance(task_id) -> None:
    """Moves the task to its next status when every job of the current phase is done (one caller wins)."""
    task = Task.objects.get(pk=task_id)
    now = timezone.now()
    if task.planned_at is None:  # no unit exists yet: nothing of the phase is done
        return
    if task.status == TaskStatus.IN_PROGRESS:
        if Job.objects.filter(task_id=task_id, kind=JobKind.COUNT).exclude(status=JobStatus.DONE).exists():
            return
        if task.perform_unload:
            won = Task.objects.filter(pk=task_id, status=TaskStatus.IN_PROGRESS).update(
                status=TaskStatus.UNLOADING, counted_at=now, total_count=Coalesce(F("total_count"), 0)
            )
            if won:
                _unload_jobs_create(task_id)
        else:
            Task.objects.filter(pk=task_id, status=TaskStatus.IN_PROGRESS).update(
                status=TaskStatus.COUNTED, counted_at=now, total_count=Coalesce(F("total_count"), 0)
            )
    elif task.status == TaskStatus.UNLOADING:
        if Job.objects.filter(task_id=task_id, kind=JobKind.UNLOAD).exclude(status=JobStatus.DONE).exists():
            return
        updates = {"status": TaskStatus.COMPLETED, "completed_at": now}
        if task.total_count is None:  # counting was skipped (limit): the total is what was written
            rows = (
                Job.objects.filter(task_id=task_id, kind=JobKind.UNLOAD).aggregate(n=Sum("count"))["n"] or 0
            )
            updates["total_count"] = rows
        Task.objects.filter(pk=task_id, status=TaskStatus.UNLOADING).update(**updates)


def task_jobs_reap() -> dict[str, int]:
    """Requeues jobs whose worker died (stale heartbeat) or whose message was lost, fails them after retries,
    and resends the planning of tasks left unplanned (its message lost; a redelivered one plans once)."""
    now = timezone.now()
    requeued = failed = resent = 0
    stale = Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=now - JOB_STALE_AFTER)
    for job in stale.select_related("task").defer("files", "partitions", "counts"):
        if job.task.status == TaskStatus.FAILED:
            continue
        if job.attempts >= JOB_MAX_ATTEMPTS:
            job_fail(
                job_id=job.pk,
                reason=f"worker lost during {job.kind} of {job.partition or 'dataset'} after {job.attempts} attempts",
            )
            failed += 1
            continue
        with transaction.atomic():
            moved = Job.objects.filter(
                pk=job.pk, status=JobStatus.RUNNING, heartbeat_at=job.heartbeat_at
            ).update(status=JobStatus.QUEUED, error="worker lost; requeued")
            if moved:
                _enqueue([job.pk])
                requeued += 1
    for task_id in Task.objects.filter(
        planned_at__isnull=True,
        created_at__lt=now - QUEUED_RESEND_AFTER,
        status__in=[TaskStatus.IN_PROGRESS, TaskStatus.UNLOADING],
    ).values_list("pk", flat=True)[:1000]:
        with transaction.atomic():
            _enqueue_plan(task_id)
        resent += 1
    lost = list(
        Job.objects.filter(
            status=JobStatus.QUEUED,
            queued_at__lt=now - QUEUED_RESEND_AFTER,
            task__status__in=[TaskStatus.IN_PROGRESS, TaskStatus.UNLOADING],
        ).values_list("pk", flat=True)[:1000]
    )
    if lost:
        with transaction.atomic():
            _enqueue(lost)
        resent += len(lost)
    return {"requeued": requeued, "failed": failed, "resent": resent}


def task_purge_expired(*, now=None) -> int:
    """Deletes expired tasks and their output files; returns how many tasks were removed."""
    now = now or timezone.now()
    removed = 0
    for task in Task.objects.filter(expires_at__lte=now).iterator():
        for name in job_outputs(task):
            with contextlib.suppress(OSError):  # as before: a store failing now leaves that file behind
                storage.delete(name)
        task.delete()
        removed += 1
    return removed
