"""Progress per answered write: what makes a retry resend at most the write that was in flight.

A resumable run commits its read batches (spools and counts, see send.py) only once every record they hold
was answered, which in `changes`/`mirror` may take many writes. So each write the destination answered is
committed on its own, at once, as a small progress part (spool.part_write): its record keys, their
fingerprints, which of them the destination took, and the write's results. A retried attempt reads the parts
that follow the last commit (`sent_parts_restore`): their results join the run's counts, and their records,
met again in the re-read batches with the same values, are filed as that write's answer said instead of being
sent again (`Presend.split`). Follow-up work a write queued (HubSpot's list adds, associations and timeline
events, packed into whole requests across writes) is kept in the write's part, and each follow-up request
answered leaves a part of no records saying what it settled: a retry hands the destination what is still owed
(`follow_ups_pending`). The removals of a `mirror` run are committed per answered removal write the
same way (`removed_parts_restore`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from exports.destinations.base import BatchResult
from exports.services.runs import spool
from exports.services.runs.context import objects_from_json, objects_json

if TYPE_CHECKING:
    from exports.services.runs.context import RunContext


class Presend:
    """The records of the writes an earlier attempt had answered since the last commit, newest first."""

    def __init__(self, parts: list[spool.Part]):
        newest_first = parts[::-1]  # a record sent twice (its values changed in between): its last write
        self.keys = pa.concat_arrays([p.keys for p in newest_first])
        self.prints = pa.concat_arrays([p.fingerprints for p in newest_first]).to_numpy(zero_copy_only=False)
        self.accepted = pa.concat_arrays([p.accepted for p in newest_first]).to_numpy(zero_copy_only=False)

    def __len__(self) -> int:
        return len(self.keys)

    def split(self, keys: pa.Array, prints: pa.Array, send: pl.Series) -> tuple[pl.Series, pl.Series]:
        """For the records to send (`send`, over `keys`/`prints`): (still to send, taken by an earlier write).
        A record counts as answered only when that write sent it with the values it has now."""
        at = pc.index_in(keys, value_set=self.keys)
        found = pc.is_valid(at).to_numpy(zero_copy_only=False)
        rows = pc.fill_null(at, 0).to_numpy(zero_copy_only=False)
        mine = prints.to_numpy(zero_copy_only=False)
        answered = found & (self.prints[rows] == mine) & send.to_numpy()
        if not answered.any():
            return send, pl.repeat(False, len(keys), eager=True)
        return send & pl.Series(~answered), pl.Series(answered & self.accepted[rows])


def sent_parts_restore(ctx: RunContext) -> None:
    """Takes in the writes answered since the last commit (call once ctx.progress is loaded), and the
    follow-up work they queued that no answered request settled (ctx.follow_ups)."""
    ctx.committed = ctx.batches_done
    if not ctx.resumable:
        return
    parts, ctx.parts = spool.parts_read(ctx.run.pk, "sent", ctx.batches_done)
    for part in parts:
        ctx.progress.merge(_result(part))
    if parts:
        ctx.presend = Presend(parts)
    ctx.follow_ups = follow_ups_pending(parts)


def follow_ups_pending(parts: list[spool.Part]) -> dict[str, list]:
    """What the parts' calls queued and no part settled, per kind, oldest first (a destination settles the
    oldest items of a kind first, and everything before each commit)."""
    queued: dict[str, list] = {}
    settled: dict[str, int] = {}
    for part in parts:
        for kind, items in (part.follow_ups.get("queued") or {}).items():
            queued.setdefault(kind, []).extend(items)
        for kind, count in (part.follow_ups.get("settled") or {}).items():
            settled[kind] = settled.get(kind, 0) + int(count)
    owed = {kind: items[settled.get(kind, 0) :] for kind, items in queued.items()}
    return {kind: items for kind, items in owed.items() if items}


def sent_part_commit(
    ctx: RunContext, keys: pa.Array, prints: pa.Array, accepted: pl.Series, result: BatchResult
) -> None:
    """Commits one answered write (its records in the order sent, `accepted` per record), or with no records
    one answered call that sent none (a follow-up request, a batch's lookups)."""
    if not ctx.resumable:
        return
    follow_ups = (
        {"queued": result.queued, "settled": result.settled} if result.queued or result.settled else {}
    )
    part = spool.Part(keys, prints, _arrow(accepted), _results_json(result), follow_ups)
    spool.part_write(ctx.run.pk, "sent", ctx.committed, ctx.parts, part, attempt=ctx.attempt)
    ctx.parts += 1


def call_part_commit(ctx: RunContext, result: BatchResult) -> None:
    """Commits an answered call that sent no records (its results and the follow-up work it settled)."""
    nothing = pl.Series([], dtype=pl.Boolean)
    sent_part_commit(ctx, pa.array([], pa.string()), pa.array([], pa.uint64()), nothing, result)


def sent_parts_committed(ctx: RunContext) -> None:
    """The run committed its batches: the parts written so far are stale (never read again)."""
    ctx.committed, ctx.parts = ctx.batches_done, 0


def removed_parts_restore(ctx: RunContext) -> tuple[pa.Array, pa.Array, int]:
    """The removal writes an earlier attempt had answered: (every record key they named, the keys the
    destination took, the next part's number); their results join the run's."""
    parts, following = spool.parts_read(ctx.run.pk, "removed") if ctx.resumable else ([], 0)
    for part in parts:
        ctx.progress.merge(_result(part))
        ctx.progress.removed += int(np.count_nonzero(part.accepted.to_numpy(zero_copy_only=False)))
    answered = pa.concat_arrays([p.keys for p in parts]) if parts else pa.array([], pa.string())
    taken = [p.keys.filter(p.accepted) for p in parts]
    return answered, pa.concat_arrays(taken) if taken else pa.array([], pa.string()), following


def removed_part_commit(
    ctx: RunContext, seq: int, keys: pa.Array, accepted: pl.Series, result: BatchResult
) -> None:
    if not ctx.resumable:
        return
    prints = pa.nulls(len(keys), pa.uint64())
    part = spool.Part(keys, prints, _arrow(accepted), _results_json(result))
    spool.part_write(ctx.run.pk, "removed", None, seq, part, attempt=ctx.attempt)


def _results_json(result: BatchResult) -> dict:
    return objects_json(result.objects)


def _result(part: spool.Part) -> BatchResult:
    return BatchResult(objects=objects_from_json(part.results))


def _arrow(series: pl.Series) -> pa.Array:
    out = series.to_arrow()
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out
