"""Reads of tasks, always scoped to the caller's organization; expired tasks look like missing ones."""

from __future__ import annotations

import uuid
from typing import NamedTuple

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from accounts.selectors import Principal
from audiences.models import Job, JobKind, JobStatus, Task
from delivr_admin import storage

_SIGNER_SALT = "audiences.task-output"
NOT_FOUND = "Task not found or expired."


def task_list(principal: Principal) -> QuerySet[Task]:
    return Task.objects.filter(organization_id__in=principal.organization_ids, expires_at__gt=timezone.now())


def task_get(principal: Principal, task_id: uuid.UUID | str) -> Task:
    # By primary key first, then the org check: a task of the caller's own organization (the usual case)
    # needs no walk of the organization tree (one query fewer on the busiest endpoint).
    try:
        task = Task.objects.get(pk=task_id, expires_at__gt=timezone.now())
    except (Task.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise Http404(NOT_FOUND) from exc
    if task.organization_id != principal.organization.id and task.organization_id not in set(
        principal.organization_ids
    ):
        raise Http404(NOT_FOUND)
    return task


class JobRow(NamedTuple):
    """What reads of a task need of each job (no model instances: the status endpoint is the busiest one)."""

    id: int
    kind: str
    partition: str
    status: str
    count: int | None
    output_name: str
    error: str


def task_jobs(task: Task) -> list[JobRow]:
    fields = ("id", "kind", "partition", "status", "count", "output_name", "error")
    return [
        JobRow(*row)
        for row in Job.objects.filter(task=task).order_by("kind", "partition").values_list(*fields)
    ]


def task_jobs_by_task(tasks: list[Task]) -> dict[uuid.UUID, list[JobRow]]:
    """{task id: its jobs} for a page of tasks, in one query (a list must not read the jobs task by task)."""
    fields = ("task_id", "id", "kind", "partition", "status", "count", "output_name", "error")
    by_task: dict[uuid.UUID, list[JobRow]] = {task.pk: [] for task in tasks}
    rows = Job.objects.filter(task__in=[task.pk for task in tasks]).order_by("task_id", "kind", "partition")
    for task_id, *row in rows.values_list(*fields):
        by_task[task_id].append(JobRow(*row))
    return by_task


def output_token(task: Task) -> str:
    """One token per task and organization: it opens the task's outputs, for the owning org, for 15 minutes."""
    return signing.TimestampSigner(salt=_SIGNER_SALT).sign(f"{task.pk}:{task.organization_id}")


def output_file_name(partition: str, name: str) -> str:
    """The file name a download of an output gets: "day-2024-05-01_prefix-4eyes_103_score-high.parquet"."""
    stem = partition.replace("/", "_").replace("=", "-") or "all"
    return f"{stem}.{name.rsplit('.', 1)[-1]}"


def output_links(task: Task, jobs: list[JobRow], *, base_url: str = "") -> dict[int, str]:
    """{job id: download link} for the given output jobs, valid DELIVR_SIGNED_LINK_TTL_SECONDS (15 minutes by
    default): a presigned URL of the object store where it signs one (S3, GCS), else the product's own signed
    link (a local folder: only the web server can read it)."""
    if not jobs:
        return {}
    names = [(job.output_name, output_file_name(job.partition, job.output_name)) for job in jobs]
    presigned = storage.presign_many(names)
    if presigned is not None:
        return {job.id: link for job, link in zip(jobs, presigned, strict=True)}
    token = output_token(task)
    prefix = reverse("task-output", kwargs={"task_id": task.pk, "job_id": 0})[:-1]
    return {job.id: f"{base_url}{prefix}{job.id}?token={token}" for job in jobs}


def output_resolve(principal: Principal, task_id: uuid.UUID, job_id: int, token: str) -> Job:
    """The output job a signed link points at, if the link is intact, fresh and the caller owns the task."""
    try:
        value = signing.TimestampSigner(salt=_SIGNER_SALT).unsign(
            token or "", max_age=settings.DELIVR_SIGNED_LINK_TTL_SECONDS
        )
    except signing.SignatureExpired as exc:
        raise Http404("This download link has expired; fetch the task status for a fresh one.") from exc
    except signing.BadSignature as exc:
        raise Http404("Invalid download link.") from exc
    signed_task, _, signed_org = value.partition(":")
    if signed_task != str(task_id):
        raise Http404("Invalid download link.")
    task = task_get(principal, task_id)
    if str(task.organization_id) != signed_org:
        raise Http404(NOT_FOUND)
    try:
        return Job.objects.get(pk=job_id, task=task, kind=JobKind.UNLOAD, status=JobStatus.DONE)
    except Job.DoesNotExist as exc:
        raise Http404("Output not found.") from exc


def task_status(task: Task, *, base_url: str = "", jobs: list[JobRow] | None = None) -> dict:
    """The task as the Audience API shows it: counts, outputs (the files' storage URLs: s3://, gs:// or
    file://) and output links keyed by partition."""
    jobs = task_jobs(task) if jobs is None else jobs
    counts: dict[str, int] = {}
    outputs: dict[str, str] = {}
    links: dict[str, str] = {}
    counted = any(job.kind == JobKind.COUNT for job in jobs)
    done_outputs = [job for job in jobs if job.kind == JobKind.UNLOAD and job.status == JobStatus.DONE]
    signed = output_links(task, done_outputs, base_url=base_url)
    for job in jobs:
        key = job.partition or "all"
        if job.kind == JobKind.COUNT and job.status == JobStatus.DONE:
            counts[key] = job.count or 0
        elif job.kind == JobKind.UNLOAD and job.status == JobStatus.DONE:
            if not counted:  # counting was skipped (limit): counts are the rows written
                counts[key] = job.count or 0
            outputs[key] = storage.uri(job.output_name)
            links[key] = signed[job.id]
    body = {
        "task_id": str(task.pk),
        "status": task.status,
        "total_jobs": task.total_jobs,
        "completed_jobs": task.completed_jobs,
        "total_count": task.total_count,
        "suppressed_count": task.suppressed_count,
        "counts": counts,
        "outputs": outputs,
        "output_links": links,
        "created_at": task.created_at,
        "completed_at": task.completed_at,
        "expires_at": task.expires_at,
    }
    if task.error:
        body["error"] = task.error
    return body


def task_output_files(task: Task) -> list[tuple[str, str]]:
    """(file name in an archive, storage name) of each finished output of the task, by partition; the caller
    already scoped the task to the principal."""
    jobs = Job.objects.filter(task=task, kind=JobKind.UNLOAD, status=JobStatus.DONE).exclude(output_name="")
    return [
        (output_file_name(partition, name), name)
        for partition, name in jobs.order_by("partition").values_list("partition", "output_name")
    ]


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
