"""Celery tasks of the exports app.

Safe to run twice: a run is claimed with a conditional update (queued -> running), so a second delivery
finds it running or finished and does nothing; a retried attempt resumes from the last committed batch, and
every record carries the idempotency key `<run_id>:<record_key>`, so a batch sent twice creates nothing twice.
The reaper and the scheduler move rows with conditional updates too (a second pass finds nothing to move).
Opt-out propagation moves a per-export watermark after its removals and ledger rows are written; removed
records leave the snapshot, so a second pass removes nothing twice.
A connection check is claimed the same way (pending and not started -> started), so it runs once.
"""

from celery import shared_task
from django.conf import settings

from exports.services import connection_checks, optouts, runs

# Tasks import services at load; services import these tasks inside the function that queues them.


@shared_task(
    name="exports.tasks.export_run_execute",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(runs.RunRetry,),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=5,
    time_limit=6 * 3600,
    soft_time_limit=6 * 3600 - 60,
)
def export_run_execute(run_id: str) -> str:
    return runs.export_run_execute(run_id=run_id)


@shared_task(name="exports.tasks.export_runs_reap", acks_late=True, time_limit=300, soft_time_limit=280)
def export_runs_reap() -> dict:
    return runs.export_runs_reap()


@shared_task(name="exports.tasks.export_schedule_due", acks_late=True, time_limit=300, soft_time_limit=280)
def export_schedule_due() -> int:
    return runs.export_schedule_due()


@shared_task(
    name="exports.tasks.connection_check_run",
    acks_late=True,
    # The service keeps the deadline; these limits only catch a destination that ignores its timeouts.
    soft_time_limit=settings.DELIVR_TEST_CONNECTION_DEADLINE_SECONDS + 5,
    time_limit=settings.DELIVR_TEST_CONNECTION_DEADLINE_SECONDS + 10,
)
def connection_check_run(check_id: str) -> str:
    return connection_checks.connection_check_run(check_id=check_id)


@shared_task(
    name="exports.tasks.export_optouts_propagate", acks_late=True, time_limit=1800, soft_time_limit=1780
)
def export_optouts_propagate() -> dict:
    return optouts.export_optouts_propagate()
