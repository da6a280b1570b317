"""Step 3 of a run: stream the audience in batches, skip what committed batches handled, apply the record
limit, dedupe, validate, diff, send to the destination, and commit a checkpoint.

A run writes one request at a time: a destination that splits a write into requests declares how many records
one carries (`records_per_request`, e.g. HubSpot's 100; else a write is its batch size), and every write the
destination answered is committed on its own at once as a progress part (parts.py). The read batches are
committed once every record they hold was answered: a `full` run (and a first sync, where everything is new)
after each read batch; a `changes`/`mirror` run, which sends a few records per read batch, packs them across
read batches into whole requests, carrying the rest to the next write (so a rate-limited destination gets full
requests rather than one part-filled request per read batch, and the first write still goes after the first
read batch), and commits once a batch size of records was sent since the last commit (that write may end in a
part-filled request). Work that follows a write and packs across writes (HubSpot's list adds, associations,
timeline events) is queued by the destination, sent in whole requests as they fill, and the rest before each
commit, each request committed as a part of its own; the lookups a read batch needs (HubSpot's companies) are
made once per read batch (`prepare`). So a retry re-reads the batches since the last commit, files the records
the answered writes took as they were answered, has the destination send the follow-up work still owed, and
resends only the request that was in flight, for the same API budget as writes of whole read batches. A
resumable run commits that way; one that restarts from zero anyway (a file built locally) commits every
CHECKPOINT_SECONDS, without key spools or parts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from audiences import engine
from exports.destinations.base import MAX_RECORD_ERRORS, BatchResult, Destination, ObjectResult
from exports.services.runs import context as run_context
from exports.services.runs import spool
from exports.services.runs.context import RunContext
from exports.services.runs.keys import coalesce, column_or_null, first_occurrences, record_keys
from exports.services.runs.parts import call_part_commit, sent_part_commit, sent_parts_committed
from exports.services.runs.remove import run_remove_departed
from exports.services.runs.snapshot import fingerprints, key_hashes
from exports.validation import validate_batch_full

logger = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 5.0  # how often a run that cannot resume commits its progress (others: every write)
MAX_PACKED_BATCHES = 100  # read batches a write may gather (bounds what a retry re-reads and what is held)


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
    stream = engine.engine_for(ctx.selection.input_path).iter_batches(
        ctx.selection, batch_size=ctx.batch_size, limit=stream_limit
    )
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


def run_send(ctx: RunContext) -> None:
    """Sends every remaining batch, then the removals (mirror), and closes the destination (ctx.details gets
    what it reported)."""
    destination = ctx.destination_cls(dict(ctx.export.destination_config), ctx.credentials)
    ctx.destination = destination
    for table in ctx.spools:  # the committed batches' records come first in the list, as they were sent
        ctx.list_sink.write(table)
        ctx.next_snapshot.write(table, ctx.previous.meet(table))
    ctx.spools = []
    destination.open(ctx.batch_context(ctx.batches_done))
    destination.follow_ups_restore(ctx.follow_ups)
    try:
        _send_all(ctx)
        ctx.progress.added, ctx.progress.changed = ctx.previous.added, ctx.previous.changed
        if ctx.removes_departed:
            run_remove_departed(ctx)
    except BaseException:
        _close_quietly(ctx)
        raise
    closing = ctx.batch_context(ctx.batches_done)
    closing.schema = ctx.mapped_schema
    ctx.details = destination.close(closing, success=True) or {}


def _send_all(ctx: RunContext) -> None:
    last_commit = time.monotonic()
    uncommitted = False
    unit = getattr(ctx.destination_cls, "records_per_request", 0) or ctx.batch_size
    group: list[_Prepared] = []  # read batches not filed yet (some of their records not answered)
    since_commit = batches = 0  # records sent and batches read since the last commit
    for batch, keys in _batches(ctx):
        group.append(_prepare(ctx, batch, keys, ctx.batches_done + len(group)))
        batches += 1
        unsent = sum(p.unsent for p in group)
        drain = (
            ctx.sends_unchanged  # full: every batch alone
            or not unsent
            or since_commit + unsent >= ctx.batch_size
            or batches >= MAX_PACKED_BATCHES
        )
        if not drain:
            if unsent >= unit:  # whole requests now; the rest waits for the next batch's records
                for _ in range(unsent // unit):  # a write per request: each is committed once answered
                    since_commit += _write(ctx, group, unit)
                # the batches answered in full are filed now (committed with the next commit), so the
                # end of the run has only the last ones left to file
                answered = next((i for i, p in enumerate(group) if p.unsent), len(group))
                _file(ctx, group[:answered])
                group = group[answered:]
            continue
        _write_requests(ctx, group, unsent, unit)
        _file(ctx, group)
        group, since_commit, batches = [], 0, 0
        if ctx.resumable or time.monotonic() - last_commit >= CHECKPOINT_SECONDS:
            _commit(ctx)
            last_commit, uncommitted = time.monotonic(), False
        else:
            uncommitted = True
    if group:
        _write_requests(ctx, group, sum(p.unsent for p in group), unit)
        _file(ctx, group)
        uncommitted = True
    if uncommitted or ctx.follow_ups:  # (follow-ups: what an earlier attempt still owed)
        _commit(ctx)


def _write_requests(ctx: RunContext, group: list[_Prepared], count: int, unit: int) -> None:
    """Sends the next `count` unsent records of the group in writes of `unit` records (one request each)."""
    while count > 0:
        sent = _write(ctx, group, min(unit, count))
        if not sent:
            return
        count -= sent


def _file(ctx: RunContext, group: list[_Prepared]) -> None:
    """Files each batch of the group, every record of it answered: results, list, keys, spool."""
    for prepared in group:
        ctx.progress.merge(prepared.result)
        table = prepared.spool_table()
        ctx.list_sink.write(table)
        ctx.next_snapshot.write(table, ctx.previous.meet(table, prepared.rows))
        ctx.batches_done = prepared.index + 1
        if ctx.resumable:
            spool.spool_write(ctx.run.pk, prepared.index, table)


def _commit(ctx: RunContext) -> None:
    """Sends the follow-up work still queued (the destination owes nothing across a commit), then commits."""
    _follow_ups(ctx, whole_only=False)
    ctx.follow_ups = {}
    run_context.checkpoint(ctx.run, ctx.attempt, batches_done=ctx.batches_done, **ctx.progress.fields())
    sent_parts_committed(ctx)


def _close_quietly(ctx: RunContext) -> None:
    try:
        ctx.destination.close(ctx.batch_context(0), success=False)
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


@dataclass
class _Prepared:
    """One read batch deduped, validated and diffed, waiting for its records to be sent."""

    index: int
    result: BatchResult  # the records that failed before sending (no key, invalid)
    unique: pa.RecordBatch  # the batch's first occurrences of each key
    unique_keys: pa.Array
    valid_at: pl.Series  # the valid records' positions in `unique`
    prints: pa.Array  # the valid records' fingerprints
    same: pl.Series  # per valid record: the destination holds it with these values
    send: pl.Series  # per valid record: to send
    answered: pl.Series  # per valid record: taken by a write an earlier attempt had answered (not resent)
    rows: np.ndarray  # per unique record: its row in the snapshot (-1: not in it)
    table: pa.Table | None  # the mapped records to send (None: nothing to send)
    send_keys: pa.Array | None
    send_prints: pa.Array | None
    held_rows: np.ndarray | None  # the records to send's snapshot rows
    cursor: int = 0  # the records to send written so far
    took: list[pl.Series] = field(default_factory=list)  # per write: which of its records were taken

    @property
    def sends(self) -> int:
        return 0 if self.table is None else self.table.num_rows

    @property
    def unsent(self) -> int:
        return self.sends - self.cursor

    def spool_table(self) -> pa.Table:
        """The spool, once every record to send was written: one row per distinct record of the batch;
        invalid records have no fingerprint and are not held."""
        accepted = pl.repeat(False, len(self.valid_at), eager=True)
        if self.took:
            took = pl.concat(self.took) if len(self.took) > 1 else self.took[0]
            accepted = accepted.scatter(self.send.arg_true(), took)
        accepted = accepted | self.answered
        n, valid_at = len(self.unique_keys), self.valid_at
        nothing = pl.repeat(False, n, eager=True)
        found = pl.repeat(None, n, dtype=pl.UInt64, eager=True).scatter(valid_at, pl.from_arrow(self.prints))
        return pa.table(
            {
                "record_key": self.unique_keys,
                "sent": _arrow(nothing.scatter(valid_at, accepted)),
                "person_id": column_or_null(self.unique, "person_id"),
                "email": column_or_null(self.unique, "email"),
                "uid2": column_or_null(self.unique, "uid2"),
                "fingerprint": _arrow(found),
                "held": _arrow(nothing.scatter(valid_at, accepted | (self.same & ~self.send))),
                "unchanged": _arrow(nothing.scatter(valid_at, self.same)),
            },
            schema=spool.SPOOL_SCHEMA,
        )


def _prepare(ctx: RunContext, batch: pa.RecordBatch, keys: pa.Array, index: int) -> _Prepared:
    """Dedupes, validates and diffs one batch, counting what it finds (duplicates, invalid, unchanged)."""
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
    if ctx.mapped_schema is None:
        ctx.mapped_schema = checked.table.schema
    _count_invalid(ctx, checked, unique_keys, primary)
    valid = pl.from_arrow(checked.valid)
    valid_at = valid.arg_true()
    valid_keys = unique_keys.filter(checked.valid)
    hashes = key_hashes(unique_keys)  # hashed once: for the fingerprints and the snapshot lookup
    prints = fingerprints(valid_keys, checked.table, hashes.filter(valid))
    rows, held = ctx.previous.diff(unique_keys, prints, valid_at.to_numpy(), hashes)
    valid_rows = rows[valid_at.to_numpy()]
    same = pl.Series(held)
    progress.unchanged += int(np.count_nonzero(held))
    send = pl.repeat(True, len(valid_at), eager=True) if ctx.sends_unchanged else ~same
    answered = pl.repeat(False, len(valid_at), eager=True)
    if ctx.presend is not None and send.any():
        send, answered = ctx.presend.split(valid_keys, prints, send)
    table = send_keys = send_prints = held_rows = None
    if send.any():
        everything = bool(send.all())
        mask = send.to_arrow()
        table = checked.table if everything else checked.table.filter(mask)
        send_keys = valid_keys if everything else valid_keys.filter(mask)
        send_prints = prints if everything else prints.filter(mask)
        held_rows = valid_rows if everything else valid_rows[send.to_numpy()]
        _destination_prepare(ctx, table, index)
    return _Prepared(
        index=index,
        result=result,
        unique=unique,
        unique_keys=unique_keys,
        valid_at=valid_at,
        prints=prints,
        same=same,
        send=send,
        answered=answered,
        rows=rows,
        table=table,
        send_keys=send_keys,
        send_prints=send_prints,
        held_rows=held_rows,
    )


def _write(ctx: RunContext, group: list[_Prepared], count: int) -> int:
    """Sends the next `count` unsent records of the group's batches in one write; returns `count`."""
    parts: list[tuple[_Prepared, int, int]] = []
    need = count
    for prepared in group:
        take = min(prepared.unsent, need)
        if take > 0:
            parts.append((prepared, prepared.cursor, take))
            need -= take
    if not parts:
        return 0
    table = pa.concat_tables([p.table.slice(at, n) for p, at, n in parts], promote_options="default")
    keys = pa.concat_arrays([p.send_keys.slice(at, n) for p, at, n in parts])
    context = ctx.batch_context(parts[0][0].index, _idempotency_keys(ctx, keys))
    context.defer_follow_ups = True
    context.held_emails = _held_emails(ctx, np.concatenate([p.held_rows[at : at + n] for p, at, n in parts]))
    sent = ctx.destination.write_batch(table.combine_chunks().to_batches()[0], context)
    result = BatchResult(queued=sent.queued, settled=sent.settled)
    for name, obj in sent.objects.items():
        result.object(name, obj.operation).merge(obj)
    ctx.progress.merge(result)
    took = _accepted(ctx, keys, sent.objects.get(ctx.progress.object_type))
    prints = pa.concat_arrays([p.send_prints.slice(at, n) for p, at, n in parts])
    sent_part_commit(ctx, keys, prints, took, result)
    _follow_ups(ctx, whole_only=True)
    offset = 0
    for prepared, at, n in parts:
        prepared.took.append(took.slice(offset, n))
        prepared.cursor = at + n
        offset += n
    return count


def _follow_ups(ctx: RunContext, *, whole_only: bool) -> None:
    """Sends the destination's queued follow-up work a request at a time (with `whole_only`, only full
    requests), each committed once answered."""
    while True:
        result = ctx.destination.follow_up(ctx.batch_context(ctx.batches_done), whole_only=whole_only)
        if result is None:
            return
        ctx.progress.merge(result)
        call_part_commit(ctx, result)


def _destination_prepare(ctx: RunContext, table: pa.Table, index: int) -> None:
    """Lets the destination look up what a read batch's records to send need (once per batch, not per write)."""
    if type(ctx.destination).prepare is Destination.prepare:
        return  # (no copy of a file's 65,536-row batches for nothing)
    result = ctx.destination.prepare(table.combine_chunks().to_batches()[0], ctx.batch_context(index))
    if result is not None and (result.objects or result.queued or result.settled):
        ctx.progress.merge(result)
        call_part_commit(ctx, result)


def _accepted(ctx: RunContext, keys: pa.Array, obj: ObjectResult | None) -> pl.Series:
    """Which of the records sent the destination took: all but those it named as failed. When it failed more
    than it named, which ones is unknown: none counts as accepted (the next run sends them again)."""
    if obj is None or not obj.records_failed:
        return pl.repeat(True, len(keys), eager=True)
    prefix = f"{ctx.run_id}:"
    named = {k[len(prefix) :] for k in obj.failed_keys or [e.key for e in obj.errors] if k.startswith(prefix)}
    if len(named) < obj.records_failed:
        return pl.repeat(False, len(keys), eager=True)
    return ~pl.from_arrow(pc.is_in(keys, value_set=pa.array(sorted(named), pa.string())))


def _arrow(series: pl.Series) -> pa.Array:
    out = series.to_arrow()
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def _held_emails(ctx: RunContext, rows: np.ndarray) -> list[str | None]:
    """Per record sent: the email the destination holds it under since an earlier run (None: not held).
    Only in `changes`/`mirror`: a `full` run resends everything as if new (it repairs a destination)."""
    if ctx.sends_unchanged:
        return []
    return ctx.previous.held_emails(rows)


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
