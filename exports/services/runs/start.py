"""Step 1 of a run: queue it (one active run per export) and hand it to a worker once the row is committed."""

from __future__ import annotations

from django.db import transaction

from delivr_admin.errors import ApplicationError
from exports.models import ACTIVE_RUN_STATUSES, Export, ExportRun


def run_enqueue(run_id) -> None:
    """Sends the run to a worker when the current transaction commits (a duplicate message is harmless)."""
    from exports.tasks import export_run_execute

    export_run_execute.delay_on_commit(str(run_id))


@transaction.atomic
def export_run_start(*, export: Export, trigger: str = "manual", actor: str = "") -> ExportRun:
    """Queues a run (409 when one is already queued or running, 400 when the audience is gone)."""
    export = Export.objects.select_for_update().get(pk=export.pk)
    if export.audience_id is None:
        raise ApplicationError(
            "The export's audience was deleted: choose another audience first.", code="invalid_audience"
        )
    if export.runs.filter(status__in=ACTIVE_RUN_STATUSES).exists():
        raise ApplicationError(
            "A run of this export is already in progress.", code="run_in_progress", status=409
        )
    from exports.services.connection import missing_credentials

    missing = missing_credentials(export)
    if missing:
        raise ApplicationError(
            f"The export is not connected: {missing} before running it.", code="not_connected", status=409
        )
    run = ExportRun.objects.create(
        export=export, organization=export.organization, trigger=trigger, created_by=actor
    )
    run_enqueue(run.pk)
    return run
