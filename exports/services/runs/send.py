"""Step 3 of a run: stream the audience in batches, skip what committed batches handled, apply the record
limit, dedupe, validate, send each batch to the destination, and commit a checkpoint.

A resumable run commits every batch (a retry resends at most the batch in flight); one that restarts from zero
anyway (a file built locally) commits its progress every CHECKPOINT_SECONDS, without key spools.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from audiences import engine
from exports.destinations.base import MAX_RECORD_ERRORS, BatchContext, BatchResult, ObjectResult
from exports.services.runs import context as run_context
from exports.services.runs import spool
from exports.services.runs.context import RunContext
from exports.services.runs.keys import coalesce, column_or_null, first_occurrences, record_keys
from exports.validation import validate_batch_full

logger = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 5.0  # how often a run that cannot resume commits its progress (others: every batch)


class _Resume:
    """Drops the rows whose key a committed batch holds: those batches' own rows and later duplicates of
    their keys (counted as duplicates, as a run without interruption would have counted them)."""

    def __init__(self, ctx: RunContext):
        progress = ctx.progress
        self.committed = ctx.seen.array() if len(ctx.seen) else None
        missing = progress.summary.get("REQUIRED_FIELD_MISSING", {}).get("person_id", 0)
        self.keyed_committed = progress.total - missing
        self.known_rows = self.extra = 0

    def skip(self, ctx: RunContext, batch: pa.RecordBatch, keys: pa.Array) -> tuple[pa.RecordBatch, pa.Array]:
        if self.committed is None:
            return batch, keys
        known = pc.is_in(keys, value_set=self.committed).fill_null(False)
        self.known_rows += known.true_count
        late = max(0, self.known_rows - self.keyed_committed) - self.extra
        if late:
            self.extra += late
            ctx.progress.total += late
            ctx.progress.duplicated += late
        fresh = pc.invert(known)
        return batch.filter(fresh), keys.filter(fresh)


def _batches(ctx: RunContext) -> Iterator[tuple[pa.RecordBatch, pa.Array]]:
    """The audience's batches still to handle, with their record keys, cut at the record limit."""
    progress = ctx.progress
    resume = _Resume(ctx)
    # The engine's LIMIT is only right on a fresh start; a resumed run counts against what it has done.
    fresh_start = resume.committed is None and progress.total == 0
    stream_limit = ctx.limit if fresh_start else None
    stream = engine.iter_batches(ctx.selection, batch_size=ctx.batch_size, limit=stream_limit)
    for batch in coalesce(stream, ctx.batch_size):
        keys = record_keys(batch)
        batch, keys = resume.skip(ctx, batch, keys)
        if ctx.limit is not None:
            room = ctx.limit - progress.total
            if room <= 0:
                return
            if batch.num_rows > room:
                batch, keys = batch.slice(0, room), keys.slice(0, room)
        if batch.num_rows:
            yield batch, keys


def run_send(ctx: RunContext, sink: spool.ListSink) -> None:
    """Sends every remaining batch and closes the destination (ctx.details gets what it reported)."""
    destination = ctx.destination_cls(dict(ctx.export.destination_config), ctx.credentials)
    ctx.destination = destination
    for table in ctx.spools:  # the committed batches' records come first in the list, as they were sent
        sink.write(table)
    ctx.spools = []
    destination.open(_batch_context(ctx, ctx.batches_done))
    try:
        _send_all(ctx, sink)
    except BaseException:
        _close_quietly(ctx)
        raise
    ctx.details = destination.close(_batch_context(ctx, ctx.batches_done), success=True) or {}


def _send_all(ctx: RunContext, sink: spool.ListSink) -> None:
    last_commit = time.monotonic()
    uncommitted = False
    for batch, keys in _batches(ctx):
        index = ctx.batches_done
        table = _send_batch(ctx, batch, keys, index)
        sink.write(table)
        ctx.batches_done = index + 1
        if ctx.resumable:
            spool.spool_write(ctx.run.pk, index, table)
        if ctx.resumable or time.monotonic() - last_commit >= CHECKPOINT_SECONDS:
            _commit(ctx)
            last_commit, uncommitted = time.monotonic(), False
        else:
            uncommitted = True
    if uncommitted:
        _commit(ctx)


def _commit(ctx: RunContext) -> None:
    run_context.checkpoint(ctx.run, ctx.attempt, batches_done=ctx.batches_done, **ctx.progress.fields())


def _batch_context(ctx: RunContext, index: int, idempotency_keys: list[str] | None = None) -> BatchContext:
    return BatchContext(
        run_id=ctx.run_id,
        export_id=str(ctx.export.pk),
        batch_index=index,
        list_name=ctx.list_name,
        idempotency_keys=idempotency_keys or [],
        organization_id=str(ctx.export.organization_id),
    )


def _close_quietly(ctx: RunContext) -> None:
    try:
        ctx.destination.close(_batch_context(ctx, 0), success=False)
    except Exception:  # noqa: BLE001 - the original failure is the one to report
        logger.warning("export run %s: destination close failed", ctx.run_id, exc_info=True)


def add_errors(obj: ObjectResult, examples: list[tuple[str, str, str]], count: int) -> None:
    """What `count` calls of obj.add_error do, the first ones with these (key, code, message) examples.

    Only the first MAX_RECORD_ERRORS are kept, so the rest are counted, and the last one's message kept,
    without building their keys; `examples` ends with the last error when it is shorter than `count`.
    """
    room = max(0, MAX_RECORD_ERRORS - len(obj.errors))
    for key, code, message in examples[:room]:
        obj.add_error(key, code, message)
    rest = count - min(room, len(examples))
    if rest > 0:
        _, code, message = examples[-1]
        obj.records_failed += rest
        obj.error_message = f"{code}: {message}" if code else message


def _send_batch(ctx: RunContext, batch: pa.RecordBatch, keys: pa.Array, index: int) -> pa.Table:
    """Dedupes, validates and sends one batch; returns its spool (record keys, sent, identities)."""
    progress = ctx.progress
    progress.total += batch.num_rows
    first = first_occurrences(keys, ctx.seen)
    n_missing = keys.null_count
    progress.duplicated += batch.num_rows - n_missing - first.true_count
    result = BatchResult()
    primary = result.object(progress.object_type)
    if n_missing:
        missing = ("", "REQUIRED_FIELD_MISSING", "person_id or email is required to identify a record")
        add_errors(primary, [missing] * min(n_missing, MAX_RECORD_ERRORS), n_missing)
        summary = progress.summary.setdefault("REQUIRED_FIELD_MISSING", {})
        summary["person_id"] = summary.get("person_id", 0) + n_missing
    if first.true_count == batch.num_rows:  # nothing to drop: no copy
        unique, unique_keys = batch, keys
    else:
        unique, unique_keys = batch.filter(first), keys.filter(first)
    checked = validate_batch_full(unique, ctx.mapping)
    _count_invalid(ctx, checked, unique_keys, primary)
    if checked.table.num_rows:
        sent = ctx.destination.write_batch(
            checked.table.combine_chunks().to_batches()[0],
            _batch_context(ctx, index, _idempotency_keys(ctx, unique_keys.filter(checked.valid))),
        )
        for name, obj in sent.objects.items():
            result.object(name, obj.operation).merge(obj)
            result.objects[name].operation = obj.operation
    progress.merge(result)
    return pa.table(
        {
            "record_key": unique_keys,
            "sent": checked.valid,
            "person_id": column_or_null(unique, "person_id"),
            "email": column_or_null(unique, "email"),
        },
        schema=spool.SPOOL_SCHEMA,
    )


def _idempotency_keys(ctx: RunContext, keys: pa.Array) -> list[str]:
    if not getattr(ctx.destination, "uses_idempotency_keys", True):
        return []
    return pc.binary_join_element_wise(f"{ctx.run_id}:", keys, "").to_pylist()


def _count_invalid(ctx: RunContext, checked, unique_keys: pa.Array, primary: ObjectResult) -> None:
    """Adds the batch's validation failures (a record fails once, with its first error) to the results."""
    failed_rows, shown = checked.failing(MAX_RECORD_ERRORS)
    if not failed_rows:
        return
    shown_keys = unique_keys.take(pa.array([row for row, _, _ in shown], pa.int64())).to_pylist()
    examples = [
        (f"{ctx.run_id}:{key}", code, message)
        for key, (_, code, message) in zip(shown_keys, shown, strict=True)
    ]
    add_errors(primary, examples, failed_rows)
    for (code, target), count in checked.error_counts.items():
        summary = ctx.progress.summary.setdefault(code, {})
        summary[target] = summary.get(target, 0) + count
