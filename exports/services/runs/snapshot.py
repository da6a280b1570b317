"""What the destination holds after the export's last successful run: one row per record (identity key, a
hash of the mapped values sent, and the identities a removal needs), kept as Parquet next to the outputs.

Each validated batch's keys are found in the snapshot by their 64-bit hashes (the snapshot is stored sorted
by them, with a bucket directory over their top bits built at load; then the text keys compared, so a
collision cannot misclassify). A key's row gives its fingerprint (a 64-bit hash of the key and the mapped
values): records whose fingerprint differs are sent (in `changes` and `mirror`), which splits added from
changed, and the rows met are marked, so the removals (rows not met) and the next snapshot need no join
over the text keys at the end. The next snapshot is written to a temporary name and swapped in only after
the run is recorded as finished: a failed run never advances it.

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

import numpy as np
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
# on disk, the snapshot also carries each key's hash and is sorted by it (older snapshots: hashed at load)
SNAPSHOT_FILE_SCHEMA = SNAPSHOT_SCHEMA.append(pa.field("key_hash", pa.uint64()))
FINGERPRINT_KEY = b"delivr.fingerprint"
HELD_COLUMNS = ["record_key", "fingerprint", "person_id", "email", "uid2"]
KEY_SEED = 7
MAX_BUCKET_BITS = 23


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


def fingerprints(keys: pa.Array, table: pa.Table, hashes: pl.Series | None = None) -> pa.Array:
    """A 64-bit hash per record of its key and its mapped (validated, normalized) values: equal fingerprints
    mean the destination already holds this record with these values. The same in every run. `hashes`: the
    keys' `key_hashes`, when the caller has them already."""
    if not table.num_rows:
        return pa.array([], pa.uint64())
    values = pl.from_arrow(table).hash_rows(seed=0)
    hashes = key_hashes(keys) if hashes is None else hashes
    out = pl.DataFrame({"k": hashes, "v": values}).hash_rows(seed=0).to_arrow()
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def key_hashes(keys: pa.Array) -> pl.Series:
    """A 64-bit hash per record key: what the diff matches first (equal hashes are then checked on the key)."""
    return pl.from_arrow(keys).hash(seed=KEY_SEED)


class Previous:
    """The last successful run's snapshot, in memory, and the run's diff against it, batch by batch.

    The snapshot is kept on disk in key-hash order with its key hashes, so loading it sorts nothing (an older
    snapshot without them, or test-injected hashes, is hashed and ordered once at load). A bucket directory
    over the top bits of the sorted hashes sends each key straight to its few candidates (no sort of the
    batch, no binary search): `lookup` returns each key's snapshot row. A key-hash match counts only when the
    keys are equal (compared for every match): a 64-bit collision sends the few records concerned through an
    exact lookup of the text keys instead. A record is unchanged when its key's row has its fingerprint.
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
        self.met = np.zeros(self.rows, dtype=bool)
        self.held = np.zeros(self.rows, dtype=bool)
        if table is None or not self.rows:
            return
        self._fingerprints = table.column("fingerprint").combine_chunks().to_numpy(zero_copy_only=False)
        self._keys = table.column("record_key").combine_chunks()
        self._key_series = pl.from_arrow(self._keys)  # polars gathers text several times faster than Arrow
        stored = "key_hash" in table.schema.names and hash_keys is key_hashes
        if stored:
            hashes = table.column("key_hash").combine_chunks().to_numpy(zero_copy_only=False)
        else:
            hashes = _numpy(hash_keys(self._keys))
        # positions in hash order -> snapshot rows; None when the table is in hash order already (on disk)
        self._key_order: np.ndarray | None = None
        if len(hashes) > 1 and not bool((hashes[:-1] <= hashes[1:]).all()):
            self._key_order = np.argsort(hashes, kind="stable")
            hashes = hashes[self._key_order]
        self._key_hashes = hashes
        # about a quarter of a snapshot row per bucket: most keys are alone in theirs, so one probe finds
        # them (at one row per bucket, 37% of the keys needed a second); at most 2**23 buckets (32 MB)
        self._bits = min(max(1, int(self.rows - 1).bit_length() + 2), MAX_BUCKET_BITS)
        shift = np.uint64(64 - self._bits)
        counts = np.bincount((hashes >> shift).astype(np.int64), minlength=1 << self._bits)
        self._buckets = np.zeros(len(counts) + 1, dtype=np.int32 if self.rows < 2**31 else np.int64)
        np.cumsum(counts, out=self._buckets[1:])

    def lookup(self, keys: pa.Array, hashes: pl.Series | None = None) -> np.ndarray:
        """The snapshot row of each key (-1 when the snapshot does not have it). `hashes`: the keys'
        `key_hashes`, when the caller has them already."""
        n = len(keys)
        if not self.rows or not n:
            return np.full(n, -1, dtype=np.int64)
        mine = hashes is not None and self._hash_keys is key_hashes
        needles = _numpy(hashes if mine else self._hash_keys(keys))
        bucket = (needles >> np.uint64(64 - self._bits)).astype(np.intp)
        at, end = self._buckets[bucket], self._buckets[bucket + 1]
        # most keys are their bucket's first row: one probe over the whole batch, then the few others
        held = self._key_hashes[np.minimum(at, self.rows - 1)]
        hit = (held == needles) & (at < end)
        rows = np.where(hit, at, -1).astype(np.int64)
        probing = np.flatnonzero(~hit & (held < needles) & (at + 1 < end))
        at = at[probing] + 1
        while len(probing):  # a linear probe of each sorted bucket, all needles at once
            held = self._key_hashes[at]
            wanted = needles[probing]
            hit = held == wanted
            rows[probing[hit]] = at[hit]
            more = (held < wanted) & (at + 1 < end[probing])
            probing, at = probing[more], at[more] + 1
        found = np.flatnonzero(rows >= 0)
        if self._key_order is not None:
            rows[found] = self._key_order[rows[found]]
        # every hash match is checked on the key itself; a mismatch (a collision) is looked up exactly
        mine = pl.from_arrow(keys)
        mine = mine if len(found) == n else mine.gather(found)
        same = (self._key_series.gather(rows[found]) == mine).fill_null(False)
        same = same.to_numpy()
        wrong = found[~same]
        if len(wrong):  # a key whose hash is not in the snapshot is not in it: only these need the keys
            exact = pc.index_in(keys.take(pa.array(wrong)), value_set=self._keys)
            rows[wrong] = pc.fill_null(exact, -1).to_numpy().astype(np.int64)
        return rows

    def unchanged(self, fingerprints: pa.Array, rows: np.ndarray) -> pl.Series:
        """True for the records the destination holds already with the same values (`rows`: their keys'
        snapshot rows, from `lookup`)."""
        n = len(fingerprints)
        if not self.rows or not n:
            return pl.repeat(False, n, eager=True)
        prints = fingerprints.to_numpy(zero_copy_only=False)
        known = rows >= 0
        same = np.zeros(n, dtype=bool)
        same[known] = self._fingerprints[rows[known]] == prints[known]
        return pl.Series(same)

    def held_emails(self, rows: np.ndarray) -> list[str | None]:
        """The email the snapshot holds for each row (None for -1: not in the snapshot)."""
        if not self.rows:
            return [None] * len(rows)
        known = rows >= 0
        return self.table.column("email").take(pa.array(rows, mask=~known)).to_pylist()

    def meet(self, spool: pa.Table, rows: np.ndarray | None = None) -> pa.Array:
        """Takes one batch's spool rows (record_key, fingerprint, held, unchanged) into the diff: counts its
        added and changed records and marks the snapshot rows it met. `rows`: the keys' snapshot rows when
        `lookup` gave them already. Returns each row's snapshot row (null for keys the snapshot does not
        have)."""
        keys = spool.column("record_key").combine_chunks()
        differs = pc.and_(pc.is_valid(spool.column("fingerprint")), pc.invert(spool.column("unchanged")))
        n = len(keys)
        if not self.rows or not n:
            self.added += pc.sum(pc.cast(differs, pa.int64())).as_py() or 0
            return pa.nulls(n, pa.int64())
        rows = self.lookup(keys) if rows is None else rows
        known = rows >= 0
        differs = differs.combine_chunks() if isinstance(differs, pa.ChunkedArray) else differs
        differs = differs.to_numpy(zero_copy_only=False)
        changed = int(np.count_nonzero(differs & known))
        self.changed += changed
        self.added += int(np.count_nonzero(differs)) - changed
        self.met[rows[known]] = True
        held = spool.column("held").combine_chunks().to_numpy(zero_copy_only=False)
        self.held[rows[known & held]] = True
        return pa.array(rows, mask=~known)

    def departed(self) -> pa.Table:
        """The snapshot rows the run did not meet (they left the audience)."""
        if not self.rows:
            return SNAPSHOT_SCHEMA.empty_table()
        return self.table.take(pa.array(np.flatnonzero(~self.met)))

    def discard(self) -> None:
        if self.path and os.path.exists(self.path):
            os.unlink(self.path)


def _numpy(series: pl.Series) -> np.ndarray:
    return series.to_numpy().astype(np.uint64, copy=False)


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
    stored = "key_hash" in table.schema.names  # written before the key hashes were kept: hashed at load
    return Previous(path, table.cast(SNAPSHOT_FILE_SCHEMA if stored else SNAPSHOT_SCHEMA))


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
        kept = previous.table.take(pa.array(np.flatnonzero(~previous.held)))
        if removed_path is not None:
            removed = pq.read_table(removed_path).column("record_key")
            kept = kept.filter(pc.invert(pc.is_in(kept.column("record_key"), value_set=removed)))
        parts.append(kept.select(SNAPSHOT_SCHEMA.names))
    table = pa.concat_tables([t.cast(SNAPSHOT_SCHEMA) for t in parts])
    hashes = _numpy(key_hashes(table.column("record_key").combine_chunks()))
    order = np.argsort(hashes)  # the next run finds its keys in this order without sorting anything
    table = table.take(pa.array(order)).append_column("key_hash", pa.array(hashes[order]))
    metadata = {FINGERPRINT_KEY: snapshot_fingerprint(export).encode()}
    # lz4: about half zstd's time to write and read for a file that is read once per run
    pq.write_table(table.replace_schema_metadata(metadata), out, compression="lz4")
    return out


def snapshot_swap(export: Export, path: str) -> None:
    """Puts the next snapshot in place of the old one (after the run was recorded as finished)."""
    storage.move_file(snapshot_name(export), path)  # a reader sees the old or the new snapshot
