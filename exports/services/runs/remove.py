"""Step 3b of a `mirror` run: take back from the destination the records that left the audience.

The records to remove are the snapshot's records the run did not meet (marked during the run); they go to the
destination in batches with idempotency keys `<run_id>:<record_key>:removed`, so a retried run that removes
them again changes nothing. Each answered removal write is committed as a progress part (parts.py): a retried
run removes only what no write had answered. The removals the destination accepted leave the next snapshot.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from exports.destinations.base import BatchResult
from exports.services.runs import context as run_context
from exports.services.runs.context import RunContext
from exports.services.runs.errors import user_error
from exports.services.runs.parts import removed_part_commit, removed_parts_restore
from exports.services.runs.spool import local_temp_path

REMOVE_COLUMNS = ["record_key", "person_id", "email"]


def run_remove_departed(ctx: RunContext) -> None:
    """Removes the departed records; ctx.removed_path names the ones the destination accepted."""
    if not getattr(ctx.destination_cls, "supports_removal", False):
        raise user_error(
            f"{ctx.destination_cls.label} cannot remove records: choose the sync mode "
            '"changes" (send new and changed records only) for this export.'
        )
    departed = ctx.previous.departed()
    progress = ctx.progress
    # the removals are counted from their committed writes: an earlier attempt's are read back, not redone
    progress.removed = 0
    progress.objects = {k: o for k, o in progress.objects.items() if o.operation != "remove"}
    answered, taken, seq = removed_parts_restore(ctx)
    done: list[pa.Array] = [taken]
    if len(answered) and departed.num_rows:
        departed = departed.filter(pc.invert(pc.is_in(departed.column("record_key"), value_set=answered)))
    size = ctx.batch_size
    for offset in range(0, departed.num_rows, size):
        chunk = departed.slice(offset, size).select(REMOVE_COLUMNS).combine_chunks()
        keys = chunk.column("record_key").combine_chunks()
        idempotency = pc.binary_join_element_wise(f"{ctx.run_id}:", keys, ":removed", "").to_pylist()
        result = ctx.destination.remove_batch(
            chunk.to_batches()[0], ctx.batch_context(ctx.batches_done, idempotency)
        )
        accepted = _accepted(ctx, keys, result)
        result = _as_removals(result)
        removed_part_commit(ctx, seq, keys, accepted, result)
        seq += 1
        done.append(keys.filter(accepted.to_arrow()))
        progress.removed += int(accepted.sum())
        progress.merge(result)
        run_context.checkpoint(ctx.run, ctx.attempt, **progress.fields())
    ctx.removed_path = local_temp_path(f"export-removed-{ctx.run_id}-")
    pq.write_table(pa.table({"record_key": pa.concat_arrays(done)}), ctx.removed_path)


def _accepted(ctx: RunContext, keys: pa.Array, result: BatchResult) -> pl.Series:
    """All but the removals the destination named in errors; none when it failed more than it named."""
    failed = sum(obj.records_failed for obj in result.objects.values())
    if not failed:
        return pl.repeat(True, len(keys), eager=True)
    prefix, suffix = f"{ctx.run_id}:", ":removed"
    named = {
        key[len(prefix) : -len(suffix)]
        for obj in result.objects.values()
        for key in obj.failed_keys or [e.key for e in obj.errors]
        if key.startswith(prefix) and key.endswith(suffix)
    }
    if len(named) < failed:
        return pl.repeat(False, len(keys), eager=True)
    return ~pl.from_arrow(pc.is_in(keys, value_set=pa.array(sorted(named), pa.string())))


def _as_removals(result: BatchResult) -> BatchResult:
    """Removal results sit beside the sends' in object_type_results, as "<object type> removals"."""
    renamed = BatchResult()
    for name, obj in result.objects.items():
        obj.operation = "remove"
        renamed.objects[f"{name} removals"] = obj
    return renamed
