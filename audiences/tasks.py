"""Celery tasks of the audiences app.

Safe to run twice: a task is planned once (the first delivery to mark it planned creates its units; a later
one finds it planned and does nothing); a job (a work unit of partitions) is claimed with a conditional update (a second delivery
finds it running or done and does nothing), finished with another that writes its per-partition results, and
totals move by F() increments exactly once per job; a re-run unload replaces its files whole.
Warming the value suggestions only stores counts of days not stored yet, so a second run changes nothing.
An audience build only recomputes counts from the data, so running it twice gives the same result.
A list import runs only while its list is `processing` and finishes with a conditional update; a second
delivery of a finished import does nothing, and one that overlaps a running import rewrites the same files
and re-records the same opt-outs (the registry keeps one entry per identifier; the audit log notes the repeat).
"""

from celery import shared_task
from django.db import OperationalError

from audiences.services import audiences as audience_services
from audiences.services import lists as list_services
from audiences.services import tasks as task_services
from audiences.services import values as value_services

# Tasks import services at load; services import these tasks inside the function that queues them.

# Work on audience data: redelivered if the worker dies (acks_late), retried with backoff only when the
# database is briefly unavailable; anything else is the service's to record as a failure.
DATA_WORK = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "max_retries": 5,
}


@shared_task(name="audiences.tasks.task_plan", **DATA_WORK)
def task_plan(task_id: str) -> None:
    task_services.task_plan(task_id=task_id)


@shared_task(name="audiences.tasks.task_jobs_run", **DATA_WORK)
def task_jobs_run(job_ids: list[int]) -> None:
    task_services.task_jobs_run(job_ids=job_ids)


@shared_task(name="audiences.tasks.task_jobs_reap", acks_late=True, time_limit=300, soft_time_limit=280)
def task_jobs_reap() -> dict:
    return task_services.task_jobs_reap()


@shared_task(name="audiences.tasks.task_purge_expired", acks_late=True, time_limit=1800, soft_time_limit=1780)
def task_purge_expired() -> int:
    return task_services.task_purge_expired()


@shared_task(name="audiences.tasks.audience_build", time_limit=1800, soft_time_limit=1780, **DATA_WORK)
def audience_build(audience_id: str) -> None:
    audience_services.audience_build(audience_id=audience_id)


@shared_task(name="audiences.tasks.contact_list_import", time_limit=1800, soft_time_limit=1780, **DATA_WORK)
def contact_list_import(list_id: str) -> None:
    list_services.contact_list_import(list_id=list_id)


@shared_task(name="audiences.tasks.field_values_warm", acks_late=True, time_limit=600, soft_time_limit=580)
def field_values_warm(input_path: str | None = None) -> dict:
    return value_services.field_values_warm(input_path=input_path)
