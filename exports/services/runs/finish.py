"""Step 4 of a run: record the export-generated list of what the destination accepted, store the next
snapshot under the run's name, then move the run to its final status: recording the run completed is what
makes its snapshot the export's (a failed run never advances it; a worker stopped right after the update
leaves a finished run whose snapshot is in place). The older snapshots are deleted afterwards.

A run that exported nothing while records failed is `failed`, with the first reasons in words, rather than
`completed_with_errors`: nothing reached the destination, and the user must fix something before rerunning.
"""

from __future__ import annotations

import os

from django.utils import timezone

from delivr_admin import storage
from delivr_admin.templatetags.ui import dt
from exports.models import FailureKind, RunStatus
from exports.services.runs import spool
from exports.services.runs.context import RunContext, finish_update
from exports.services.runs.errors import RunLost
from exports.services.runs.snapshot import ADVANCING, snapshot_prune, snapshot_stage

MAX_REASONS = 3


def run_finish(ctx: RunContext) -> str:
    """Saves the final counts and status; returns the status. RunLost when the run was taken from us."""
    ctx.list_sink.close()
    contact_list = _record_list(ctx, ctx.list_sink)
    next_snapshot = ctx.next_snapshot.finish(ctx.removed_path)  # written as the batches were filed
    try:
        status, failure = _status(ctx)
        staged = (
            snapshot_stage(ctx.export, ctx.run.pk, ctx.attempt, next_snapshot)
            if status in ADVANCING
            else None
        )
        finished = finish_update(
            ctx.run,
            ctx.attempt,
            status,
            details=ctx.details,
            contact_list=contact_list,
            **failure,
            **ctx.progress.fields(),
        )
        if not finished:
            if staged is not None:
                storage.delete(staged)
            raise RunLost(ctx.run_id)
    finally:
        for path in (next_snapshot, ctx.removed_path):
            if path and os.path.exists(path):
                os.unlink(path)
    snapshot_prune(ctx.export)
    spool.spool_clear(ctx.run.pk)
    return status


def _status(ctx: RunContext) -> tuple[str, dict]:
    progress = ctx.progress
    if not progress.failed:
        return RunStatus.COMPLETED, {}
    if progress.exported or progress.unchanged or progress.removed:
        return RunStatus.COMPLETED_WITH_ERRORS, {}
    return RunStatus.FAILED, {"error": _nothing_exported(ctx), "failure_kind": FailureKind.USER}


def _nothing_exported(ctx: RunContext) -> str:
    progress = ctx.progress
    primary = progress.objects.get(progress.object_type)
    reasons: list[str] = []
    for error in primary.errors if primary else []:
        reason = error.message or error.code
        if reason and reason not in reasons:
            reasons.append(reason)
        if len(reasons) == MAX_REASONS:
            break
    label = ctx.destination_cls.label or "The destination"
    first = "; ".join(reasons) or "no reason given"
    return (
        f"Nothing was exported: all {progress.failed:,} records were rejected "
        f"(sent to {label}, or stopped by the field mapping's checks). First reasons: {first}."
    )


def _record_list(ctx: RunContext, sink: spool.ListSink):
    """The export-generated list of the records the destination accepted (identities only), or None."""
    if not sink.rows:
        return None
    from audiences.services.lists import contact_list_record_export

    export = ctx.export
    name = f"{export.effective_list_name or export.name} (export {dt(timezone.now())})"
    return contact_list_record_export(
        project=export.project,
        name=name,
        parquet_path=sink.path,
        row_count=sink.rows,
        created_by=ctx.run.created_by,
    )
