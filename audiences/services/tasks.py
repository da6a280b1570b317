"""Audience API tasks: creation, Count and Unload jobs, the phase transitions, unload on request, retention.

Concurrency: jobs are claimed with a conditional UPDATE (queued -> running, or a running job whose heartbeat
went stale), finished with another (running -> done), and the task's totals move with F() increments, so
jobs finishing together never lose a count. Phase changes are conditional updates too: exactly one job wins.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from datetime import date, timedelta

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Project
from accounts.selectors import Principal
from audiences import datasets, engine
from audiences.models import Job, JobKind, JobStatus, OutputFormat, Task, TaskKind, TaskStatus
from delivr_admin.errors import ApplicationError

logger = logging.getLogger(__name__)

JOB_STALE_AFTER = timedelta(seconds=120)
JOB_HEARTBEAT_EVERY = 15.0
JOB_MAX_ATTEMPTS = 3
QUEUED_RESEND_AFTER = timedelta(minutes=5)


def _enqueue(job_ids: list[int]) -> None:
    from audiences.tasks import task_job_run

    def send() -> None:
        for job_id in job_ids:
            task_job_run.delay(job_id)

    transaction.on_commit(send)


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
    """Validates the selection against the dataset, creates the task and one job per partition, queues them."""
    resolved = datasets.input_path_resolve(input_path)
    columns = datasets.dataset_columns(resolved)
    where_sql = datasets.where_validate(where_expr, columns)
    projection = datasets.select_validate(select, columns)
    days = sorted(set(days or []))
    prefixes = sorted(set(topic_id_prefixes or []))
    scores = sorted(set(scores or []))
    sel = datasets.selection(
        input_path=resolved, organization_ids=(), days=days, prefixes=prefixes, scores=scores, suppress=False
    )
    partitions = engine.list_partitions(sel)
    if not partitions and kind == TaskKind.GENERIC_PARQUET:
        partitions = [""]  # a tree without hive folders is read whole, as one job
    skip_count = limit is not None and perform_unload
    now = timezone.now()
    task = Task.objects.create(
        organization=principal.organization,
        project=project,
        kind=kind,
        status=TaskStatus.UNLOADING if skip_count else TaskStatus.IN_PROGRESS,
        request=request_data or {},
        input_path=resolved,
        days=[d.isoformat() for d in days],
        topic_id_prefixes=prefixes,
        scores=scores,
        where_sql=where_sql,
        columns=projection,
        limit=limit,
        perform_unload=perform_unload,
        output_format=output_format,
        created_by=principal.actor,
        expires_at=now + timedelta(days=settings.DELIVR_TASK_RETENTION_DAYS),
    )
    job_kind = JobKind.UNLOAD if skip_count else JobKind.COUNT
    jobs = Job.objects.bulk_create([Job(task=task, kind=job_kind, partition=p) for p in partitions])
    Task.objects.filter(pk=task.pk).update(total_jobs=len(jobs))
    task.total_jobs = len(jobs)
    if jobs:
        _enqueue(list(Job.objects.filter(task=task).values_list("pk", flat=True)))
    else:
        _phase_advance(task.pk)
        task.refresh_from_db()
    return task


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
    partitions = list(
        Job.objects.filter(task_id=task_id, kind=JobKind.COUNT)
        .order_by("id")
        .values_list("partition", flat=True)
    )
    created = Job.objects.bulk_create(
        [Job(task_id=task_id, kind=JobKind.UNLOAD, partition=p) for p in partitions], ignore_conflicts=True
    )
    Task.objects.filter(pk=task_id).update(total_jobs=F("total_jobs") + len(created))
    ids = list(Job.objects.filter(task_id=task_id, kind=JobKind.UNLOAD).values_list("pk", flat=True))
    if ids:
        _enqueue(ids)
    else:
        _phase_advance(task_id)


def _claim(job_id: int) -> Job | None:
    now = timezone.now()
    claimed = (
        Job.objects.filter(pk=job_id)
        .filter(
            Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING, heartbeat_at__lt=now - JOB_STALE_AFTER)
        )
        .exclude(task__status__in=[TaskStatus.FAILED])
        .update(status=JobStatus.RUNNING, attempts=F("attempts") + 1, started_at=now, heartbeat_at=now)
    )
    if not claimed:
        return None
    return Job.objects.select_related("task").get(pk=job_id)


@contextlib.contextmanager
def _heartbeat(job_id: int) -> Iterator[None]:
    """Keeps heartbeat_at fresh while a long job runs, so the reaper only takes jobs whose worker died."""
    stop = threading.Event()

    def beat() -> None:
        from django.db import connection

        try:
            while not stop.wait(JOB_HEARTBEAT_EVERY):
                Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(heartbeat_at=timezone.now())
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"job-{job_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def _selection(task: Task, *, partition_columns: bool = True) -> engine.Selection:
    return datasets.selection(
        input_path=task.input_path,
        organization_ids=[task.organization_id],
        days=[date.fromisoformat(d) for d in task.days],
        prefixes=task.topic_id_prefixes,
        scores=task.scores,
        where_sql=task.where_sql,
        columns=task.columns,
    )


def output_name(task: Task, partition: str) -> str:
    ext = "csv" if task.output_format == OutputFormat.CSV else "parquet"
    part = partition or "all"
    return f"tasks/{task.organization_id}/{task.pk}/{part}/part-0.{ext}"


def task_job_run(*, job_id: int) -> None:
    """Runs one job if it can be claimed; a duplicate delivery of a claimed or finished job does nothing."""
    job = _claim(job_id)
    if job is None:
        return
    try:
        with _heartbeat(job.pk):
            if job.kind == JobKind.COUNT:
                _run_count(job)
            else:
                _run_unload(job)
    except engine.EngineError as exc:
        job_fail(job_id=job.pk, reason=f"{job.kind} of {job.partition or 'dataset'} failed: {exc}")
        return
    _phase_advance(job.task_id)


def _run_count(job: Job) -> None:
    task = job.task
    sel = _selection(task)
    count, suppressed = engine.count_with_suppressed(sel, job.partition or None)
    if task.limit is not None:  # `limit` caps rows per job
        count = min(count, task.limit)
    _job_done(job, count=count, suppressed=suppressed)


def _run_unload(job: Job) -> None:
    task = job.task
    sel = _selection(task)
    name = output_name(task, job.partition)
    fmt = "csv" if task.output_format == OutputFormat.CSV else "parquet"
    fd, tmp_path = tempfile.mkstemp(suffix=f".{fmt}")
    os.close(fd)
    try:
        rows = engine.unload(sel, job.partition or None, fmt, tmp_path, limit=task.limit)
        if default_storage.exists(name):
            default_storage.delete(name)
        with open(tmp_path, "rb") as fh:
            stored = default_storage.save(name, File(fh, name=os.path.basename(name)))
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_path)
    _job_done(job, count=rows, suppressed=0, output_name=stored)


@transaction.atomic
def _job_done(job: Job, *, count: int, suppressed: int, output_name: str = "") -> None:
    finished = Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
        status=JobStatus.DONE,
        count=count,
        suppressed=suppressed,
        output_name=output_name,
        finished_at=timezone.now(),
        error="",
    )
    if not finished:
        return
    changes = {"completed_jobs": F("completed_jobs") + 1}
    if job.kind == JobKind.COUNT:
        changes["total_count"] = Coalesce(F("total_count"), 0) + count
        changes["suppressed_count"] = F("suppressed_count") + suppressed
    else:
        changes["rows_unloaded"] = F("rows_unloaded") + count
    Task.objects.filter(pk=job.task_id).update(**changes)


@transaction.atomic
def job_fail(*, job_id: int, reason: str) -> None:
    """Marks the job failed and the task failed with the reason (no partial task is reported as complete)."""
    now = timezone.now()
    job = Job.objects.select_related("task").get(pk=job_id)
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
    """Requeues jobs whose worker died (stale heartbeat) or whose message was lost; fails them after retries."""
    now = timezone.now()
    requeued = failed = resent = 0
    stale = Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=now - JOB_STALE_AFTER)
    for job in stale.select_related("task"):
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
    lost = Job.objects.filter(
        status=JobStatus.QUEUED,
        queued_at__lt=now - QUEUED_RESEND_AFTER,
        task__status__in=[TaskStatus.IN_PROGRESS, TaskStatus.UNLOADING],
    ).values_list("pk", flat=True)[:1000]
    ids = list(lost)
    if ids:
        with transaction.atomic():
            _enqueue(ids)
        resent = len(ids)
    return {"requeued": requeued, "failed": failed, "resent": resent}


def task_purge_expired(*, now=None) -> int:
    """Deletes expired tasks and their output files; returns how many tasks were removed."""
    now = now or timezone.now()
    removed = 0
    for task in Task.objects.filter(expires_at__lte=now).iterator():
        for name in (
            Job.objects.filter(task=task).exclude(output_name="").values_list("output_name", flat=True)
        ):
            with contextlib.suppress(FileNotFoundError, OSError):
                default_storage.delete(name)
        task.delete()
        removed += 1
    return removed


def task_kind_label(kind: str) -> str:
    return TaskKind(kind).label
