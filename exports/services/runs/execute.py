"""Runs one attempt of an export run: claim it, then read -> send -> finish, sorting failures into retry
later (transient), failed because of the user (credentials, mapping, limit) or failed because of the system.

A heartbeat thread touches heartbeat_at while a long batch is in flight; the reaper requeues runs whose
heartbeat went stale (their worker died).
"""

from __future__ import annotations

import logging
import threading
import uuid

from django.conf import settings
from django.db import OperationalError, connection
from django.db.models import F
from django.utils import timezone

from exports.destinations.base import DestinationError
from exports.models import ExportRun, FailureKind, RunStatus
from exports.services.runs import spool
from exports.services.runs.context import finish_update
from exports.services.runs.errors import RunFailed, RunLost, RunRetry
from exports.services.runs.finish import run_finish
from exports.services.runs.read import run_read
from exports.services.runs.send import run_send
from exports.services.runs.snapshot import NextSnapshot

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_SECONDS = 10.0


class Heartbeat(threading.Thread):
    """Touches heartbeat_at every interval while the run's attempt is alive (long batches included)."""

    def __init__(self, run_id, attempt: int, interval: float):
        super().__init__(daemon=True, name=f"export-heartbeat-{run_id}")
        self.run_id, self.attempt, self.interval = run_id, attempt, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                try:
                    ExportRun.objects.filter(
                        pk=self.run_id, attempts=self.attempt, status=RunStatus.RUNNING
                    ).update(heartbeat_at=timezone.now())
                except Exception:  # noqa: BLE001 - a missed heartbeat only risks a requeue
                    logger.warning("export run %s: heartbeat failed", self.run_id, exc_info=True)
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()


def export_run_execute(*, run_id: uuid.UUID | str) -> str:
    """Claims and executes a queued run; returns its final status (or "skipped" if it was not queued).

    Raises RunRetry after putting the run back to `queued` on a transient failure (the task retries).
    """
    now = timezone.now()
    claimed = ExportRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, attempts=F("attempts") + 1, heartbeat_at=now, error="", failure_kind=""
    )
    if not claimed:
        return "skipped"
    ExportRun.objects.filter(pk=run_id, started_at__isnull=True).update(started_at=now)
    run = ExportRun.objects.select_related("export", "export__audience", "export__project").get(pk=run_id)
    attempt = run.attempts
    heartbeat = Heartbeat(run.pk, attempt, HEARTBEAT_INTERVAL_SECONDS)
    heartbeat.start()
    try:
        return _steps(run, attempt)
    except RunLost:
        logger.warning("export run %s: attempt %s lost ownership; stopping", run.pk, attempt)
        return "lost"
    except RunFailed as exc:
        finish_update(run, attempt, RunStatus.FAILED, error=exc.message, failure_kind=exc.kind)
        return RunStatus.FAILED
    except (DestinationError, OperationalError) as exc:
        return _destination_or_database_failure(run, attempt, exc)
    except Exception as exc:
        return _unexpected_failure(run, attempt, exc)
    finally:
        heartbeat.stop()


def _steps(run: ExportRun, attempt: int) -> str:
    if attempt > 1:  # a worker that died left its local files behind (on this machine, if it ran here)
        spool.local_leftovers_clear(run.pk, run.export_id)
    ctx = run_read(run, attempt)
    ctx.list_sink = spool.ListSink(run.pk)
    ctx.next_snapshot = NextSnapshot(ctx.export, ctx.previous, run.started_at or timezone.now())
    try:
        run_send(ctx)
        return run_finish(ctx)
    finally:
        ctx.list_sink.discard()
        ctx.next_snapshot.discard()
        ctx.previous.discard()


def _destination_or_database_failure(run: ExportRun, attempt: int, exc: Exception) -> str:
    retryable = isinstance(exc, OperationalError) or exc.retryable
    message = exc.message if isinstance(exc, DestinationError) else f"database unavailable: {exc}"
    if retryable and attempt < settings.DELIVR_EXPORT_MAX_ATTEMPTS:
        ExportRun.objects.filter(pk=run.pk, attempts=attempt, status=RunStatus.RUNNING).update(
            status=RunStatus.QUEUED, error=f"retrying: {message}"
        )
        raise RunRetry(message) from exc
    kind = FailureKind.USER if isinstance(exc, DestinationError) and exc.user_error else FailureKind.SYSTEM
    finish_update(run, attempt, RunStatus.FAILED, error=message, failure_kind=kind)
    return RunStatus.FAILED


def _unexpected_failure(run: ExportRun, attempt: int, exc: Exception) -> str:
    from celery.exceptions import SoftTimeLimitExceeded

    if isinstance(exc, SoftTimeLimitExceeded):
        finish_update(
            run,
            attempt,
            RunStatus.FAILED,
            error="The run took longer than its time limit.",
            failure_kind=FailureKind.TIMEOUT,
        )
        return RunStatus.FAILED
    logger.exception("export run %s failed", run.pk)
    finish_update(
        run,
        attempt,
        RunStatus.FAILED,
        error=f"Internal error: {exc.__class__.__name__}: {exc}"[:2000],
        failure_kind=FailureKind.SYSTEM,
    )
    return RunStatus.FAILED
