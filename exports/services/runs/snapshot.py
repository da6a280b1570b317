"""What the destination holds after the export's last successful run: one row per record (identity key, a
hash of the mapped values sent, and the identities a removal needs), kept as Parquet next to the outputs.

Each validated batch is compared with it by fingerprint (a 64-bit hash of the key and the mapped values):
a vectorised binary search of the batch's sorted fingerprints in the snapshot's (kept sorted on disk), so
O(batch log snapshot) per batch, whatever the batch size. Records that differ are sent (in `changes` and
`mirror`). In the same pass each batch's keys are found in the snapshot by their 64-bit hashes (binary
search, then the text keys compared, so a collision cannot misclassify): that splits added from changed and
marks the snapshot rows the run met, so the removals (rows not met) and the next snapshot need no join over
the text keys at the end. The next snapshot is written to a temporary name and swapped in only after the run
is recorded as finished: a failed run never advances it.

The snapshot carries a fingerprint of the mapping, the destination settings and the hashing library's
version: when any of them changed, the old snapshot no longer says what the destination holds in the new
shape, so the run sends everything (and removes nothing) once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from datetime import datetime

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from delivr_admin import storage
from exports.models import Export
from exports.services.runs.spool import local_temp_path

logger = logging.getLogger(__name__)

SNAPSHOT_SCHEMA = pa.schema(
    [
        ("record_key", pa.string()),
        ("fingerprint", pa.uint64()),
        ("person_id", pa.string()),
        ("email", pa.string()),
        ("uid2", pa.string()),
        ("sent_at", pa.timestamp("us", tz="UTC")),  # when the destination last accepted this record
    ]
)
FINGERPRINT_KEY = b"delivr.fingerprint"
HELD_COLUMNS = ["record_key", "fingerprint", "person_id", "email", "uid2"]
KEY_SEED = 7


def snapshot_name(export: Export) -> str:
    """exports/<organization id>/<export id>/sync/snapshot.parquet: in the owner's export folder."""
    return storage.tenant_path("exports", export.organization_id, str(export.pk), "sync", "snapshot.parquet")


def snapshot_fingerprint(export: Export) -> str:
    """Changes whenever the same record would be sent in another shape or to another place."""
    shape = {
        "mapping": export.field_mapping,
        "destination": export.destination_type,
        "config": export.destination_config,
        "list": export.effective_list_name,
        "hash": f"polars-{pl.__version__}/fingerprint-2",
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()


def fingerprints(keys: pa.Array, table: pa.Table) -> pa.Array:
    """A 64-bit hash per record of its key and its mapped (validated, normalized) values: equal fingerprints
    mean the destination already holds this record with these values. The same in every run."""
    if not table.num_rows:
        return pa.array([], pa.uint64())
    values = pl.from_arrow(table).hash_rows(seed=0)
    key_hashes = pl.from_arrow(keys).hash(seed=KEY_SEED)
    out = pl.DataFrame({"k": key_hashes, "v": values}).hash_rows(seed=0).to_arrow()
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def key_hashes(keys: pa.Array) -> pl.Series:
    """A 64-bit hash per record key: what the diff matches first (equal hashes are then checked on the key)."""
    return pl.from_arrow(keys).hash(seed=KEY_SEED)


class Previous:
    """The last successful run's snapshot, in memory, and the run's diff against it, batch by batch.

    Its fingerprints are sorted (the snapshot is written in fingerprint order) for the unchanged lookup; its
    key hashes are sorted once at load so each batch finds its keys by binary search (no join over 1M text
    keys). A key-hash match counts only when the keys are equal (compared in Arrow for every match): a 64-bit
    collision sends the few records concerned through an exact lookup of the text keys instead.
    `met`/`held` mark the snapshot rows the run met / left at the destination: the removals are the rows it
    did not meet, and the next snapshot is written from the run's rows plus the rows it did not hold.
    """

    def __init__(
        self,
        path: str | None,
        table: pa.Table | None,
        hash_keys: Callable[[pa.Array], pl.Series] = key_hashes,
    ):
        self.path = path
        self.table = table
        self.rows = table.num_rows if table is not None else 0
        self.added = self.changed = 0
        self._hash_keys = hash_keys
        if table is None or not self.rows:
            self._fingerprints = pl.Series([], dtype=pl.UInt64)
            return
        found = pl.from_arrow(table.column("fingerprint").combine_chunks())
        self._fingerprints = found.set_sorted() if found.is_sorted() else found.sort()
        self._keys = table.column("record_key").combine_chunks()
        self._key_series = pl.from_arrow(self._keys)  # polars gathers text several times faster than Arrow
        hashes = hash_keys(self._keys)
        self._key_order = hashes.arg_sort()
        self._key_hashes = hashes.gather(self._key_order).set_sorted()
        self.met = pl.repeat(False, self.rows, eager=True)
        self.held = pl.repeat(False, self.rows, eager=True)

    def unchanged(self, fingerprints: pa.Array) -> pl.Series:
        """True for the records the destination holds already with the same values.

        The needles are sorted first: a sorted binary search walks the snapshot's fingerprints in order
        (several times faster than probing in random order), then the answers go back to the batch's order.
        """
        needles = pl.from_arrow(fingerprints)
        n = len(needles)
        if not self.rows or not n:
            return pl.repeat(False, n, eager=True)
        order = needles.arg_sort()
        ordered = needles.gather(order)
        at = self._fingerprints.search_sorted(ordered).clip(0, self.rows - 1)
        found = self._fingerprints.gather(at) == ordered
        return pl.repeat(False, n, eager=True).scatter(order, found)

    def meet(self, spool: pa.Table) -> pa.Array:
        """Takes one batch's spool rows (record_key, fingerprint, held, unchanged) into the diff: counts its
        added and changed records and marks the snapshot rows it met. Returns each row's snapshot row (null
        for keys the snapshot does not have)."""
        keys = spool.column("record_key").combine_chunks()
        differs = pc.and_(pc.is_valid(spool.column("fingerprint")), pc.invert(spool.column("unchanged")))
        n = len(keys)
        if not self.rows or not n:
            self.added += pc.sum(pc.cast(differs, pa.int64())).as_py() or 0
            return pa.nulls(n, pa.int64())
        rows = self._rows_of(keys)
        known = rows.is_not_null()
        differs = pl.from_arrow(differs)
        changed = int((differs & known).sum())
        self.changed += changed
        self.added += int(differs.sum()) - changed
        self.met = self.met.scatter(rows.drop_nulls(), True)
        held = pl.from_arrow(spool.column("held").combine_chunks())
        self.held = self.held.scatter(rows.filter(known & held), True)
        return _arrow(rows)

    def _rows_of(self, keys: pa.Array) -> pl.Series:
        """The snapshot row of each key (null when absent): hash binary search, then the keys compared."""
        needles = self._hash_keys(keys)
        order = needles.arg_sort()
        ordered = needles.gather(order)
        at = self._key_hashes.search_sorted(ordered).clip(0, self.rows - 1)
        hit = self._key_hashes.gather(at) == ordered
        candidates = self._key_order.gather(at).cast(pl.Int64)
        in_order = candidates.zip_with(hit, pl.repeat(None, len(keys), dtype=pl.Int64, eager=True))
        rows = pl.repeat(None, len(keys), dtype=pl.Int64, eager=True).scatter(order, in_order)
        # every hash match is checked on the key itself; a mismatch (a collision) is looked up exactly
        matched = rows.is_not_null().arg_true()
        same = self._key_series.gather(rows.gather(matched)) == pl.from_arrow(keys).gather(matched)
        wrong = matched.filter(~same)
        if len(wrong):  # a key whose hash is not in the snapshot is not in it: only these need the keys
            exact = pc.index_in(keys.take(_arrow(wrong)), value_set=self._keys)
            rows = rows.scatter(wrong, pl.from_arrow(exact).cast(pl.Int64))
        return rows

    def departed(self) -> pa.Table:
        """The snapshot rows the run did not meet (they left the audience)."""
        if not self.rows:
            return SNAPSHOT_SCHEMA.empty_table()
        return self.table.filter(_arrow(~self.met))

    def discard(self) -> None:
        if self.path and os.path.exists(self.path):
            os.unlink(self.path)


def _arrow(series: pl.Series) -> pa.Array:
    out = series.to_arrow()
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def snapshot_load(export: Export) -> Previous:
    """The export's snapshot when it matches the export's current shape, else an empty one."""
    path = local_temp_path(f"export-snapshot-{export.pk}-")
    try:
        storage.read_to(snapshot_name(export), path)
    except FileNotFoundError:
        os.unlink(path)
        return Previous(None, None)
    table = pq.read_table(path)
    fingerprint = (table.schema.metadata or {}).get(FINGERPRINT_KEY, b"").decode()
    if fingerprint != snapshot_fingerprint(export):
        logger.info(
            "export %s: snapshot made for another mapping or destination; sending everything", export.pk
        )
        os.unlink(path)
        return Previous(None, None)
    return Previous(path, table.cast(SNAPSHOT_SCHEMA))


def snapshot_next(
    export: Export, previous: Previous, run_keys_path: str, removed_path: str | None, sent_at: datetime
) -> str:
    """Writes the next snapshot to a local file and returns its path, without a join: the run's rows the
    destination holds (their snapshot row, found during the run, gives the time an unchanged record was sent)
    and the old snapshot's rows the run did not leave there, less the ones the run removed."""
    out = local_temp_path(f"export-snapshot-next-{export.pk}-")
    run = pq.read_table(run_keys_path, columns=[*HELD_COLUMNS, "sent", "held", "prev_row"])
    run = run.filter(run.column("held"))
    now = pa.scalar(sent_at, SNAPSHOT_SCHEMA.field("sent_at").type)
    if previous.rows:
        before = pc.take(previous.table.column("sent_at"), run.column("prev_row"))
        when = pc.if_else(run.column("sent"), now, pc.coalesce(before, now))
    else:
        when = pa.repeat(now, run.num_rows)
    parts = [run.select(HELD_COLUMNS).append_column("sent_at", when)]
    if previous.rows:
        kept = previous.table.filter(_arrow(~previous.held))
        if removed_path is not None:
            removed = pq.read_table(removed_path).column("record_key")
            kept = kept.filter(pc.invert(pc.is_in(kept.column("record_key"), value_set=removed)))
        parts.append(kept.select(SNAPSHOT_SCHEMA.names))
    table = pa.concat_tables([t.cast(SNAPSHOT_SCHEMA) for t in parts])
    table = (
        pl.from_arrow(table).sort("fingerprint").to_arrow().cast(SNAPSHOT_SCHEMA)
    )  # the next run searches it
    metadata = {FINGERPRINT_KEY: snapshot_fingerprint(export).encode()}
    pq.write_table(table.replace_schema_metadata(metadata), out, compression="zstd")
    return out


def snapshot_swap(export: Export, path: str) -> None:
    """Puts the next snapshot in place of the old one (after the run was recorded as finished)."""
    storage.move_file(snapshot_name(export), path)  # a reader sees the old or the new snapshot
