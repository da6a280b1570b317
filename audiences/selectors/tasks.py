"""Reads of tasks, always scoped to the caller's organization; expired tasks look like missing ones."""

from __future__ import annotations

import uuid
from typing import NamedTuple

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from accounts.selectors import Principal
from audiences.models import Job, JobKind, JobStatus, OutputFormat, Task
from delivr_admin import storage
from delivr_admin.selectors import one_or_404
from delivr_admin.signed_links import INVALID, signed_link_read, signed_link_token

_SIGNER_SALT = "audiences.task-output"
NOT_FOUND = "Task not found or expired."


def task_list(principal: Principal) -> QuerySet[Task]:
    return Task.objects.filter(organization_id__in=principal.organization_ids, expires_at__gt=timezone.now())


def task_get(principal: Principal, task_id: uuid.UUID | str) -> Task:
    # By primary key first, then the org check: a task of the caller's own organization (the usual case)
    # needs no walk of the organization tree (one query fewer on the busiest endpoint).
    task = one_or_404(Task.objects.filter(expires_at__gt=timezone.now()), NOT_FOUND, pk=task_id)
    if task.organization_id != principal.organization.id and task.organization_id not in set(
        principal.organization_ids
    ):
        raise Http404(NOT_FOUND)
    return task


def output_name(task: Task, partition: str) -> str:
    """The store name of a partition's output file (the same for every attempt of its unit)."""
    ext = "csv" if task.output_format == OutputFormat.CSV else "parquet"
    part = partition or "all"
    # a partition is a folder name read from the data: joined under the organization's folder, never above it
    return storage.tenant_path("tasks", task.organization_id, str(task.pk), part, f"part-0.{ext}")


class JobRow(NamedTuple):
    """What reads of a task need of each job (no model instances: the status endpoint is the busiest one).
    ``partitions``/``counts`` are None until :func:`partition_rows` loads them for the jobs a page needs."""

    id: int
    kind: str
    partition: str
    partition_count: int
    status: str
    count: int | None
    output_name: str
    error: str
    partitions: list[str] | None = None
    counts: list[int] | None = None


_JOB_FIELDS = ("id", "kind", "partition", "partition_count", "status", "count", "output_name", "error")


def task_jobs(task: Task) -> list[JobRow]:
    """The task's jobs, count units first, each phase in the order of its partitions (keys not loaded)."""
    rows = Job.objects.filter(task=task).order_by("kind", "id").values_list(*_JOB_FIELDS)
    return [JobRow(*row) for row in rows]


def task_jobs_by_task(tasks: list[Task]) -> dict[uuid.UUID, list[JobRow]]:
    """{task id: its jobs, keys and counts loaded} for a page of tasks, in one query (a list must not read the
    jobs task by task)."""
    by_task: dict[uuid.UUID, list[JobRow]] = {task.pk: [] for task in tasks}
    rows = Job.objects.filter(task__in=[task.pk for task in tasks]).order_by("task_id", "kind", "id")
    for task_id, *row in rows.values_list("task_id", *_JOB_FIELDS, "partitions", "counts"):
        by_task[task_id].append(JobRow(*row))
    return by_task


class PartitionRow(NamedTuple):
    """One partition of a job: its key as the API shows it ("all" for a tree without hive folders), the job,
    its place in the job, the job's status, its rows once done and its output's store name (unloads)."""

    partition: str
    job_id: int
    index: int
    status: str
    count: int | None
    name: str


def partition_total(jobs: list[JobRow], kind: str) -> int:
    return sum(job.partition_count for job in jobs if job.kind == kind)


def _overlapping(jobs: list[JobRow], kind: str, start: int, stop: int | None) -> list[tuple[JobRow, int]]:
    """(job, position of its first partition) of the ``kind`` jobs that hold a partition of the page, with
    their keys and counts loaded (one query for those not loaded yet)."""
    found, pos = [], 0
    for job in jobs:
        if job.kind != kind:
            continue
        if pos + job.partition_count > start and (stop is None or pos < stop):
            found.append((job, pos))
        pos += job.partition_count
    missing = [job.id for job, _ in found if job.partitions is None]
    if missing:
        loaded = {
            pk: (keys, counts)
            for pk, keys, counts in Job.objects.filter(pk__in=missing).values_list(
                "id", "partitions", "counts"
            )
        }
        found = [
            (
                job._replace(partitions=loaded[job.id][0], counts=loaded[job.id][1])
                if job.id in loaded
                else job,
                p,
            )
            for job, p in found
        ]
    return found


def partition_rows(task: Task, jobs: list[JobRow], kind: str, start: int = 0, stop: int | None = None):
    """The partitions of the task's ``kind`` jobs in order, positions ``start`` to ``stop`` (a page): only
    the jobs that overlap the page are unpacked."""
    out: list[PartitionRow] = []
    for job, pos in _overlapping(jobs, kind, start, stop):
        keys = job.partitions or [job.partition]  # a job of one partition from before work units
        counts = (job.counts or []) if job.partitions else [job.count]
        done = job.status == JobStatus.DONE
        for i in range(max(0, start - pos), len(keys) if stop is None else min(len(keys), stop - pos)):
            name = ""
            if kind == JobKind.UNLOAD and done:
                name = output_name(task, keys[i]) if job.partitions else job.output_name
            count = counts[i] if done and i < len(counts) else None
            out.append(PartitionRow(keys[i] or "all", job.id, i, job.status, count, name))
    return out


def job_outputs(task: Task) -> list[str]:
    """The store names of every output the task's unload jobs may have written (finished or not)."""
    names = []
    for job, _ in _overlapping(task_jobs(task), JobKind.UNLOAD, 0, None):
        if job.partitions:
            names.extend(output_name(task, key) for key in job.partitions)
        elif job.output_name:
            names.append(job.output_name)
    return names


def output_token(task: Task) -> str:
    """One token per task and organization: it opens the task's outputs, for the owning org, for 15 minutes."""
    return signed_link_token(salt=_SIGNER_SALT, object_id=task.pk, organization_id=task.organization_id)


def output_file_name(partition: str, name: str) -> str:
    """The file name a download of an output gets: "day-2024-05-01_prefix-4eyes_103_score-high.parquet"."""
    stem = partition.replace("/", "_").replace("=", "-") or "all"
    return f"{stem}.{name.rsplit('.', 1)[-1]}"


def output_links(task: Task, rows: list[PartitionRow], *, base_url: str = "") -> list[str]:
    """Download links of the given finished outputs, in their order, valid DELIVR_SIGNED_LINK_TTL_SECONDS
    (15 minutes by default): a presigned URL of the object store where it signs one (S3, GCS), else the
    product's own signed link (a local folder: only the web server can read it)."""
    if not rows:
        return []
    presigned = storage.presign_many([(row.name, output_file_name(row.partition, row.name)) for row in rows])
    if presigned is not None:
        return presigned
    token = output_token(task)
    prefix = reverse("task-output", kwargs={"task_id": task.pk, "job_id": 0})[:-1]
    return [f"{base_url}{prefix}{row.job_id}?part={row.index}&token={token}" for row in rows]


class Output(NamedTuple):
    partition: str
    name: str


def output_resolve(
    principal: Principal, task_id: uuid.UUID, job_id: int, token: str, part: int = 0
) -> Output:
    """The output a signed link points at (partition ``part`` of job ``job_id``), if the link is intact,
    fresh and the caller owns the task."""
    signed_task, signed_org = signed_link_read(
        token,
        salt=_SIGNER_SALT,
        expired="This download link has expired; fetch the task status for a fresh one.",
    )
    if signed_task != str(task_id):
        raise Http404(INVALID)
    task = task_get(principal, task_id)
    if str(task.organization_id) != signed_org:
        raise Http404(NOT_FOUND)
    found = Job.objects.filter(pk=job_id, task=task, kind=JobKind.UNLOAD, status=JobStatus.DONE)
    job = next((JobRow(*row) for row in found.values_list(*_JOB_FIELDS)), None)
    rows = partition_rows(task, [job], JobKind.UNLOAD, part, part + 1) if job and part >= 0 else []
    if not rows or not rows[0].name:
        raise Http404("Output not found.")
    return Output(rows[0].partition, rows[0].name)


class Page(NamedTuple):
    offset: int
    limit: int | None


def status_page(total: int, offset: int | None, limit: int | None) -> Page | None:
    """The page of partitions a status shows: None (all of them, the reference's shape) for an ordinary task
    asked without paging; else from ``offset`` (0) at most ``limit`` (DELIVR_TASK_STATUS_PARTITIONS)."""
    if offset is None and limit is None and total <= settings.DELIVR_TASK_STATUS_PARTITIONS:
        return None
    return Page(offset or 0, limit or settings.DELIVR_TASK_STATUS_PARTITIONS)


def task_status(
    task: Task,
    *,
    base_url: str = "",
    jobs: list[JobRow] | None = None,
    offset: int | None = None,
    limit: int | None = None,
) -> dict:
    """The task as the Audience API shows it: counts, outputs (the files' storage URLs: s3://, gs:// or
    file://) and output links keyed by partition. A task of more than DELIVR_TASK_STATUS_PARTITIONS
    partitions, or one asked with ``offset``/``limit``, shows one page of them, with the page's place
    (``partitions_total``, ``counts_offset``, ``counts_limit``)."""
    jobs = task_jobs(task) if jobs is None else jobs
    counted = any(job.kind == JobKind.COUNT for job in jobs)
    phase = JobKind.COUNT if counted else JobKind.UNLOAD
    total = partition_total(jobs, phase)
    page = status_page(total, offset, limit)
    start, stop = (0, None) if page is None else (page.offset, page.offset + page.limit)
    counts = {
        row.partition: row.count or 0
        for row in partition_rows(task, jobs, phase, start, stop)
        if row.status == JobStatus.DONE
    }  # counting skipped (limit): counts are the rows written
    done = [row for row in partition_rows(task, jobs, JobKind.UNLOAD, start, stop) if row.name]
    links = output_links(task, done, base_url=base_url)
    body = {
        "task_id": str(task.pk),
        "status": task.status,
        "total_jobs": task.total_jobs,
        "completed_jobs": task.completed_jobs,
        "total_count": task.total_count,
        "suppressed_count": task.suppressed_count,
        "counts": counts,
        "outputs": {row.partition: storage.uri(row.name) for row in done},
        "output_links": {row.partition: link for row, link in zip(done, links, strict=True)},
        "created_at": task.created_at,
        "completed_at": task.completed_at,
        "expires_at": task.expires_at,
    }
    if page is not None:
        body.update(partitions_total=total, counts_offset=page.offset, counts_limit=page.limit)
    if task.error:
        body["error"] = task.error
    return body


def task_output_files(task: Task) -> list[tuple[str, str]]:
    """(file name in an archive, storage name) of each finished output of the task, by partition; the caller
    already scoped the task to the principal."""
    rows = [row for row in partition_rows(task, task_jobs(task), JobKind.UNLOAD) if row.name]
    return sorted((output_file_name(row.partition, row.name), row.name) for row in rows)


SCORE_WORDS = {"high": "High intent", "medium": "Medium intent", "low": "Low intent"}


def partition_words(partition: str, catalogue: dict) -> str:
    """A task partition in words: "day=2024-05-01/prefix=4eyes_101/score=high" -> "1 May 2024 · CRM Software
    · High intent". Topic names come from the catalogue (an unknown code stays as it is); a part of another
    kind shows as "name value"; the whole dataset (no partition) reads "All data"."""
    from datetime import date

    from django.utils.dateformat import format as date_format

    if not partition or partition == "all":
        return "All data"
    words = []
    for part in partition.strip("/").split("/"):
        key, _, value = part.partition("=")
        if key == "day":
            try:
                words.append(date_format(date.fromisoformat(value), "j M Y"))
            except ValueError:
                words.append(value)
        elif key == "prefix":
            topic = catalogue.get(value)
            words.append(topic.name if topic is not None else value)
        elif key == "score":
            words.append(SCORE_WORDS.get(value, f"{value.capitalize()} intent"))
        else:
            words.append(f"{key.replace('_', ' ')} {value}".strip())
    return " · ".join(words)
