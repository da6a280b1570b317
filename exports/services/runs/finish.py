"""Step 4 of a run: record the export-generated list of what was sent and move the run to its final status."""

from __future__ import annotations

from django.utils import timezone

from exports.models import RunStatus
from exports.services.runs import spool
from exports.services.runs.context import RunContext, finish_update
from exports.services.runs.errors import RunLost


def run_finish(ctx: RunContext, sink: spool.ListSink) -> str:
    """Saves the final counts and status; returns the status. RunLost when the run was taken from us."""
    sink.close()
    contact_list = _record_list(ctx, sink)
    progress = ctx.progress
    status = RunStatus.COMPLETED_WITH_ERRORS if progress.failed else RunStatus.COMPLETED
    finished = finish_update(
        ctx.run, ctx.attempt, status, details=ctx.details, contact_list=contact_list, **progress.fields()
    )
    if not finished:
        raise RunLost(ctx.run_id)
    spool.spool_clear(ctx.run.pk)
    return status


def _record_list(ctx: RunContext, sink: spool.ListSink):
    """The export-generated list of the records sent (identities only), or None when nothing was sent."""
    if not sink.rows:
        return None
    from audiences.services.lists import contact_list_record_export

    export = ctx.export
    name = f"{export.effective_list_name or export.name} (export {timezone.now():%Y-%m-%d %H:%M})"
    return contact_list_record_export(
        project=export.project,
        name=name,
        parquet_path=sink.path,
        row_count=sink.rows,
        created_by=ctx.run.created_by,
    )
