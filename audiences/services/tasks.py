"""Audience API tasks: creation, Count and Unload jobs, the phase transitions, unload on request, retention.

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
from django.db import transaction
from django.db.models import F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Project
from accounts.selectors import Principal
from audiences import datasets, engine
from audiences.models import Job, JobKind, JobStatus, OutputFormat, Task, TaskKind, TaskStatus
from delivr_admin import storage
from delivr_admin.errors import ApplicationError

logger = logging.getLogger(__name__)

JOB_STALE_AFTER = timedelta(seconds=120)
JOB_HEARTBEAT_EVERY = 15.0
JOB_MAX_ATTEMPTS = 3
QUEUED_RESEND_AFTER = timedelta(minutes=5)


def _chunks(job_ids: list[int], kind: str) -> list[list[int]]:
    """Splits a phase's jobs into Celery messages: a few per task so workers share them, bounded in size.

    Jobs stay one per partition (their rows, counts and outputs); a message runs several of them so the
    per-message overhead (broker round trip, claim, opt-out lookup, DuckDB connection) is paid once.
    """
    if kind == JobKind.COUNT:
        messages, cap = settings.DELIVR_TASK_COUNT_MESSAGES, settings.DELIVR_TASK_COUNT_PARTITIONS_PER_MESSAGE
    else:
        messages, cap = (
            settings.DELIVR_TASK_UNLOAD_MESSAGES,
            settings.DELIVR_TASK_UNLOAD_PARTITIONS_PER_MESSAGE,
        )
    size = max(1, min(cap, math.ceil(len(job_ids) / max(1, messages))))
    return [job_ids[i : i + size] for i in range(0, len(job_ids), size)]


def _enqueue(job_ids: list[int], kind: str) -> None:
    from audiences.tasks import task_jobs_run

    for chunk in _chunks(sorted(job_ids), kind):
        task_jobs_run.delay_on_commit(chunk)


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
    try:
        columns = datasets.dataset_columns(resolved)
    except engine.UnreadableFileError as exc:  # the dataset's fault, not the request's
        raise datasets.unreadable_error(exc) from exc
    except engine.EngineError as exc:  # no Parquet there, or object storage refused (credentials, bucket)
        raise ApplicationError(f"input_path cannot be read: {exc}", code="invalid_input_path") from exc
    where_sql = datasets.where_validate(where_expr, columns)
    projection = datasets.select_validate(select, columns)
    days = sorted(set(days or []))
    prefixes = sorted(set(topic_id_prefixes or []))
    scores = sorted(set(scores or []))
    sel = datasets.selection(
        input_path=resolved, organization_ids=(), days=days, prefixes=prefixes, scores=scores, suppress=False
    )
    partitions = engine.engine_for(sel.input_path).list_partitions(sel)
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
        _enqueue(list(Job.objects.filter(task=task).values_list("pk", flat=True)), job_kind)
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
        _enqueue(ids, JobKind.UNLOAD)
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
                Job.objects.filter(pk__in=job_ids, status=JobStatus.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
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


def output_name(task: Task, partition: str) -> str:
    ext = "csv" if task.output_format == OutputFormat.CSV else "parquet"
    part = partition or "all"
    # a partition is a folder name read from the data: joined under the organization's folder, never above it
    return storage.tenant_path("tasks", task.organization_id, str(task.pk), part, f"part-0.{ext}")


def task_jobs_run(*, job_ids: list[int]) -> None:
    """Runs the jobs of one message that this delivery can claim; a duplicate delivery claims none."""
    jobs = _claim(job_ids)
    if not jobs:
        return
    by_task: dict = {}
    for job in jobs:
        by_task.setdefault((job.task_id, job.kind), []).append(job)
    with _heartbeat([job.pk for job in jobs]):
        for (task_id, kind), group in by_task.items():
            try:
                if kind == JobKind.COUNT:
                    _run_counts(group)
                else:
                    sel = _selection(group[0].task)  # one opt-out lookup for the whole message
                    for job in group:
                        _run_unload(job, sel)
            except engine.EngineError as exc:
                failed = next(
                    (j for j in group if not Job.objects.filter(pk=j.pk, status=JobStatus.DONE).exists()),
                    group[0],
                )
                reason = f"{kind} of {failed.partition or 'dataset'} failed: {exc}"
                if isinstance(exc, engine.UnreadableFileError):
                    reason = datasets.unreadable_error(exc).message
                job_fail(job_id=failed.pk, reason=reason)
                continue
            _phase_advance(task_id)


def _run_counts(jobs: list[Job]) -> None:
    task = jobs[0].task
    sel = _selection(task)
    results = engine.engine_for(sel.input_path).count_partitions(sel, [job.partition for job in jobs])
    done = []
    for job in jobs:
        count, suppressed = results[job.partition]
        if task.limit is not None:  # `limit` caps rows per job
            count = min(count, task.limit)
        done.append((job, count, suppressed, ""))
    _jobs_done(done)


def _run_unload(job: Job, sel: engine.Selection) -> None:
    """Unloads one partition into the output store (a local file, then a rename or an upload: a retried job
    replaces its file, and a reader never sees half of one)."""
    task = job.task
    name = output_name(task, job.partition)
    fmt = "csv" if task.output_format == OutputFormat.CSV else "parquet"
    reader, part = engine.engine_for(sel.input_path), job.partition or None
    if settings.DELIVR_ENGINE_WRITES_OUTPUTS and isinstance(reader, engine.WritesOutputs):  # cluster writes
        rows = _unload_by_cluster(reader, task, sel, [job.partition], fmt)[job.partition]
    else:
        rows = storage.write_with(name, lambda out: reader.unload(sel, part, fmt, out, limit=task.limit))
    _jobs_done([(job, rows, 0, name)])


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
def _jobs_done(done: list[tuple[Job, int, int, str]]) -> None:
    """Marks claimed jobs done and adds their figures to the task once (a job finished elsewhere is skipped)."""
    now = timezone.now()
    finished = counted = suppressed_total = 0
    kind = done[0][0].kind
    for job, count, suppressed, output in done:
        updated = Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, claim=job.claim).update(
            status=JobStatus.DONE,
            count=count,
            suppressed=suppressed,
            output_name=output,
            finished_at=now,
            error="",
        )
        if updated:
            finished += 1
            counted += count
            suppressed_total += suppressed
    if not finished:
        return
    changes = {"completed_jobs": F("completed_jobs") + finished}
    if kind == JobKind.COUNT:
        changes["total_count"] = Coalesce(F("total_count"), 0) + counted
        changes["suppressed_count"] = F("suppressed_count") + suppressed_total
    else:
        changes["rows_unloaded"] = F("rows_unloaded") + counted
    Task.objects.filter(pk=done[0][0].task_id).update(**changes)


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
                _enqueue([job.pk], job.kind)
                requeued += 1
    lost = list(
        Job.objects.filter(
            status=JobStatus.QUEUED,
            queued_at__lt=now - QUEUED_RESEND_AFTER,
            task__status__in=[TaskStatus.IN_PROGRESS, TaskStatus.UNLOADING],
        ).values_list("pk", "kind")[:1000]
    )
    for kind in (JobKind.COUNT, JobKind.UNLOAD):
        ids = [pk for pk, job_kind in lost if job_kind == kind]
        if ids:
            with transaction.atomic():
                _enqueue(ids, kind)
            resent += len(ids)
    return {"requeued": requeued, "failed": failed, "resent": resent}


def task_purge_expired(*, now=None) -> int:
    """Deletes expired tasks and their output files; returns how many tasks were removed."""
    now = now or timezone.now()
    removed = 0
    for task in Task.objects.filter(expires_at__lte=now).iterator():
        for name in (
            Job.objects.filter(task=task).exclude(output_name="").values_list("output_name", flat=True)
        ):
            with contextlib.suppress(OSError):  # as before: a store failing now leaves that file behind
                storage.delete(name)
        task.delete()
        removed += 1
    return removed
