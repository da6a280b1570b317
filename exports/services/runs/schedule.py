"""The periodic side of runs: the reaper (no run stays `running` after its worker died) and the scheduler."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from delivr_admin.errors import ApplicationError
from exports.models import Export, ExportRun, FailureKind, RunStatus
from exports.services.exports import schedule_next_run
from exports.services.runs.start import export_run_start, run_enqueue

logger = logging.getLogger(__name__)


def export_runs_reap(*, timeout_seconds: int | None = None) -> dict:
    """Requeues runs whose worker went silent (or fails them after the last attempt); re-sends lost queued runs.

    Returns {"requeued": n, "failed": n, "resent": n}.
    """
    timeout = (
        timeout_seconds if timeout_seconds is not None else settings.DELIVR_EXPORT_HEARTBEAT_TIMEOUT_SECONDS
    )
    cutoff = timezone.now() - timedelta(seconds=timeout)
    out = {"requeued": 0, "failed": 0, "resent": 0}
    stale = ExportRun.objects.filter(status=RunStatus.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)
    )
    for run in stale:
        base = ExportRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING, attempts=run.attempts)
        if run.attempts < settings.DELIVR_EXPORT_MAX_ATTEMPTS:
            with transaction.atomic():
                if base.update(
                    status=RunStatus.QUEUED,
                    error=f"The worker stopped responding (no heartbeat for {timeout} s); resuming.",
                ):
                    out["requeued"] += 1
                    run_enqueue(run.pk)
        elif base.update(
            status=RunStatus.FAILED,
            finished_at=timezone.now(),
            failure_kind=FailureKind.SYSTEM,
            error=(
                f"The worker stopped responding (no heartbeat for {timeout} s) on attempt {run.attempts} of "
                f"{settings.DELIVR_EXPORT_MAX_ATTEMPTS}: the run was stopped."
            ),
        ):
            out["failed"] += 1
    # A queued run whose message was lost (a broker without redelivery) is sent again; the claim makes a
    # duplicate message harmless.
    for run_id in ExportRun.objects.filter(status=RunStatus.QUEUED, queued_at__lt=cutoff).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            run_enqueue(run_id)
        out["resent"] += 1
    return out


def export_schedule_due(*, now=None) -> int:
    """Starts a run of every scheduled export whose next_run_at has passed; returns how many started."""
    now = now or timezone.now()
    started = 0
    for export in Export.objects.filter(next_run_at__lte=now).exclude(schedule="manual"):
        following = schedule_next_run(export.schedule, export.next_run_at)
        while following is not None and following <= now:  # skip missed slots: one run, not a backlog
            following = schedule_next_run(export.schedule, following)
        moved = Export.objects.filter(pk=export.pk, next_run_at=export.next_run_at).update(
            next_run_at=following
        )
        if not moved:
            continue  # another scheduler took it
        try:
            export_run_start(export=export, trigger="schedule", actor="schedule")
            started += 1
        except ApplicationError as exc:
            logger.info("scheduled export %s not started: %s", export.pk, exc.message)
    return started
