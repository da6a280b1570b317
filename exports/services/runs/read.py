"""Step 2 of a run: load what it needs (destination, credentials, mapping, the audience's selection), apply the
record limit's failMode, record the suppression, and restore the committed batches of an earlier attempt and
the writes it had answered since its last commit (parts.py).
"""

from __future__ import annotations

from audiences import engine
from audiences.selectors.audiences import audience_selection
from delivr_admin.errors import ApplicationError
from exports.crypto import CredentialError, credentials_decrypt
from exports.destinations.base import DestinationError, get_destination
from exports.models import ExportRun, FailMode
from exports.services.runs import spool
from exports.services.runs.context import Progress, RunContext, checkpoint
from exports.services.runs.errors import user_error
from exports.services.runs.keys import KEY_COLUMNS
from exports.services.runs.parts import sent_parts_restore
from exports.services.runs.snapshot import snapshot_load
from exports.validation import MappingError, mapping_parse, mapping_sources

_RESET_FIELDS = {
    "batches_done": 0,
    "records_total": 0,
    "records_exported": 0,
    "records_failed": 0,
    "records_duplicated": 0,
    "object_type_results": {},
    "validation_summary": {},
    "records_added": 0,
    "records_changed": 0,
    "records_unchanged": 0,
    "records_removed": 0,
}


def run_read(run: ExportRun, attempt: int) -> RunContext:
    """The run's context, ready to send; raises RunFailed (in words) when the export cannot run."""
    export = run.export
    audience = export.audience
    if audience is None:
        raise user_error("The export's audience was deleted.")
    try:
        cls = get_destination(export.destination_type)
        credentials = credentials_decrypt(export.credentials_encrypted)
        mapping = mapping_parse(export.field_mapping)
    except (DestinationError, CredentialError, MappingError) as exc:
        raise user_error(str(exc)) from exc
    try:
        sel = audience_selection(audience, columns=())
        columns = engine.engine_for(sel.input_path).dataset_columns(sel.input_path)
    except (engine.EngineError, ApplicationError) as exc:
        raise user_error(f"The audience's data cannot be read: {exc}") from exc
    # the identities an opt-out can name (uid2 too), kept in the snapshot to take a record back later
    key_columns = [c for c in (*KEY_COLUMNS, "uid2") if c in columns]
    wanted = list(dict.fromkeys(mapping_sources(mapping) + key_columns))
    ctx = RunContext(
        run=run,
        attempt=attempt,
        export=export,
        destination_cls=cls,
        credentials=credentials,
        mapping=mapping,
        selection=audience_selection(audience, columns=tuple(wanted)),
        resumable=getattr(cls, "resumable", True),
        limit=export.record_limit_max,
    )
    _restore(ctx)
    _limit_and_suppression(ctx)
    ctx.progress = Progress(run, cls.object_types[0] if cls.object_types else "Record")
    sent_parts_restore(ctx)
    for table in ctx.spools:
        ctx.seen.add(table.column("record_key").combine_chunks().drop_null())
    _optouts_first(export)
    ctx.previous = snapshot_load(export)
    return ctx


def _optouts_first(export) -> None:
    """Takes back the opt-outs received since the export's last propagation before the snapshot is read, as the
    scheduled cycle would: each is removed as an opt-out (the ledger says so, and the destination's opt-out
    actions apply) rather than as a record that left the audience, which a mirror run would remove without
    either. A destination that refuses is tried again by the cycle; the run goes on."""
    from django.utils import timezone

    from exports.services.optouts import export_optouts_propagate_one

    export_optouts_propagate_one(export=export, until=timezone.now())


def _restore(ctx: RunContext) -> None:
    """Reloads the committed batches' spools, or resets the run to its first record when it cannot resume."""
    done = ctx.run.batches_done
    if done:
        loaded = spool.spool_read(ctx.run.pk, done) if ctx.resumable else None
        if loaded is None:  # restart from the first record (idempotency keys keep the destination clean)
            checkpoint(ctx.run, ctx.attempt, **_RESET_FIELDS)
            ctx.run.refresh_from_db()
            done = 0
        else:
            ctx.spools = loaded
    ctx.batches_done = done
    spool.spool_clear(ctx.run.pk, keep=done)


def _limit_and_suppression(ctx: RunContext) -> None:
    from privacy.services import suppression_record

    export, limit = ctx.export, ctx.limit
    fail_on_limit = limit is not None and export.record_limit_fail_mode == FailMode.FAIL
    # Counted up front (one engine count) so the run's page shows records processed of expected and a time left.
    kept, suppressed = engine.engine_for(ctx.selection.input_path).count_with_suppressed(ctx.selection)
    if fail_on_limit and kept > limit:
        raise user_error(
            f"The audience has {kept:,} records, more than the record limit of {limit:,} "
            f'(failMode "fail"): nothing was sent.'
        )
    suppression_record(
        organization=export.organization,
        output_kind="export_run",
        output_id=str(ctx.run.pk),
        suppressed_count=suppressed,
    )
    expected = kept if limit is None else min(kept, limit)
    checkpoint(ctx.run, ctx.attempt, suppressed_count=suppressed, records_expected=expected)
