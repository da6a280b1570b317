"""What the destination holds after the export's last successful run: one row per record (identity key, a
hash of the mapped values sent, and the identities a removal needs), kept as Parquet next to the outputs.

Each validated batch's keys are found in the snapshot by two independent 64-bit hashes (the snapshot stores
both; at load the first is ordered, with a bucket directory over its top bits); the text keys are compared
only for the records found with other values, which are sent as changes. A key's row gives its fingerprint (a 64-bit hash of the key and the mapped
values): records whose fingerprint differs are sent (in `changes` and `mirror`), which splits added from
changed, and the rows met are marked, so the removals (rows not met) and the next snapshot need no join
over the text keys at the end. The next snapshot is written as the run files its batches (`NextSnapshot`),
to a local file.

Each run's snapshot is stored under its own name (`sync/snapshot-<run id>-<attempt>.parquet`), put in
place before the run is recorded as finished; the export's snapshot is the one of its last run recorded as
completed (with or without errors). So a failed run never advances it, and a worker stopped between
recording the run and any later step cannot leave a finished run with the old snapshot (which would make the
next run send its changes and removals again). The older snapshots are deleted once the run is recorded.

The snapshot carries a fingerprint of the mapping, the destination settings (but pacing) and the hashing
library's version, and a fingerprint of the place alone (destination, its account settings, the list). When
only the shape changed (a mapping), the run sends every record again once, and still knows what the
destination holds: it removes who left (mirror) and opt-outs are taken back. When the place changed, the old
snapshot says nothing of the new place: the run sends everything and removes nothing once.
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
from exports.destinations.file import BackgroundWriter
from exports.models import Export, ExportRun, RunStatus
from exports.services.runs.spool import LocalParquetSink, local_temp_path

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
# on disk, the snapshot also carries each key's two hashes, its rows in the order a run filed them (older
# snapshots, without one or both: hashed at load)
SNAPSHOT_FILE_SCHEMA = SNAPSHOT_SCHEMA.append(pa.field("key_hash", pa.uint64())).append(
    pa.field("key_check", pa.uint64())
)
FINGERPRINT_KEY = b"delivr.fingerprint"
PLACEMENT_KEY = b"delivr.placement"
HELD_COLUMNS = ["record_key", "fingerprint", "person_id", "email", "uid2"]
KEY_SEED = 7
CHECK_SEED = 0x5DEECE66D  # another seed: polars' hash of the same key is then an independent 64 bits
MAX_BUCKET_BITS = 23
BUCKET_BITS_PER_ROW = 2


ADVANCING = (RunStatus.COMPLETED, RunStatus.COMPLETED_WITH_ERRORS)
LEGACY_NAME = "snapshot.parquet"  # the one snapshot of an export, before each run stored its own


def snapshot_folder(export: Export) -> str:
    """exports/<organization id>/<export id>/sync: in the owner's export folder."""
    return storage.tenant_path("exports", export.organization_id, str(export.pk), "sync")


def snapshot_run_name(export: Export, run_id: int, attempt: int) -> str:
    """Where an attempt of run `run_id` stores the snapshot it leaves (the export's snapshot once that attempt
    records the run finished). Per attempt: an attempt that lost the run removes its own file, never the
    file of the attempt that finished it."""
    return f"{snapshot_folder(export)}/snapshot-{run_id}-{attempt}.parquet"


def snapshot_name(export: Export) -> str | None:
    """The export's snapshot: the one its last completed run stored (or, for an export whose last completed
    run predates per-run snapshots, the single older file); None when there is none."""
    last = (
        ExportRun.objects.filter(export=export, status__in=ADVANCING)
        .order_by("-finished_at", "-pk")
        .values_list("pk", "attempts")
        .first()
    )
    for name in (
        *([snapshot_run_name(export, *last)] if last is not None else []),
        f"{snapshot_folder(export)}/{LEGACY_NAME}",
    ):
        if storage.exists(name):
            return name
    return None


# config keys that say how fast records go, not what is sent: changing them keeps the snapshot whole
PACING_KEYS = ("rate_limit",)
# config keys that change what a removal does besides taking the record back, not where records are
NOT_PLACEMENT_KEYS = (*PACING_KEYS, "optout_", "timeline_event_template_id")


def _config(export: Export, dropped: tuple[str, ...]) -> dict:
    return {k: v for k, v in (export.destination_config or {}).items() if not k.startswith(dropped)}


def _digest(value: dict) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def snapshot_fingerprint(export: Export) -> str:
    """Changes whenever the same record would be sent in another shape or to another place."""
    return _digest(
        {
            "mapping": export.field_mapping,
            "destination": export.destination_type,
            "config": _config(export, PACING_KEYS),
            "list": export.effective_list_name,
            "hash": f"polars-{pl.__version__}/fingerprint-2",
        }
    )


def snapshot_placement(export: Export) -> str:
    """Changes only when records would go to another place (destination, account, list): while it holds, the
    snapshot's records are still at the destination, whatever shape their values were sent in."""
    return _digest(
        {
            "destination": export.destination_type,
            "config": _config(export, NOT_PLACEMENT_KEYS),
            "list": export.effective_list_name,
        }
    )


def snapshot_holds(export: Export, metadata: dict | None) -> bool:
    """Whether a snapshot with this metadata says what the export's destination holds now (made for the same
    place; older snapshots, without a placement, for the same shape)."""
    metadata = metadata or {}
    if metadata.get(PLACEMENT_KEY, b"").decode() == snapshot_placement(export):
        return True
    return metadata.get(FINGERPRINT_KEY, b"").decode() == snapshot_fingerprint(export)


def snapshot_metadata(export: Export) -> dict[bytes, bytes]:
    return {
        FINGERPRINT_KEY: snapshot_fingerprint(export).encode(),
        PLACEMENT_KEY: snapshot_placement(export).encode(),
    }


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
    """A 64-bit hash per record key: the snapshot's order, and the first half of what the diff matches."""
    return pl.from_arrow(keys).hash(seed=KEY_SEED)


def key_checks(keys: pa.Array) -> pl.Series:
    """A second, independent 64-bit hash per record key: with `key_hashes`, the 128 bits the diff matches."""
    return pl.from_arrow(keys).hash(seed=CHECK_SEED)


def stored_schema(names: list[str]) -> pa.Schema:
    """The schema of a snapshot file with these columns (written before the key hashes were kept: fewer)."""
    extra = [name for name in ("key_hash", "key_check") if name in names]
    return pa.schema([*SNAPSHOT_SCHEMA, *(SNAPSHOT_FILE_SCHEMA.field(name) for name in extra)])


class Previous:
    """The last successful run's snapshot, in memory, and the run's diff against it, batch by batch.

    A key is found by 128 bits: its 64-bit hash and a second, independent 64-bit hash (`key_checks`), both
    stored in the snapshot (an older snapshot without them is hashed at load). The first hashes are ordered
    at load (an argsort of 64-bit ints; a snapshot already in that order is used as it is), and a bucket
    directory over their top bits sends each key straight to its few candidates (no sort of the batch, no
    binary search): `lookup` returns each key's snapshot row. No text key is compared on the way: the chance that two of a billion
    keys share 128 bits is about 1.5e-21 (n^2 / 2^129). The text keys are compared where a wrong match would
    act on a record, the records that differ from their row (sent as changes; a collision there would update
    another person's contact): `diff` checks each of them and looks a mismatch up exactly.
    A record is unchanged when its key's row has its fingerprint. `met`/`held` mark the snapshot rows the run
    met / left at the destination: the removals are the rows it did not meet, and the next snapshot is
    written from the run's rows plus the rows it did not hold.
    """

    def __init__(
        self,
        path: str | None,
        table: pa.Table | None,
        hash_keys: Callable[[pa.Array], pl.Series] = key_hashes,
        check_keys: Callable[[pa.Array], pl.Series] = key_checks,
    ):
        self.path = path
        self.table = table
        self.rows = table.num_rows if table is not None else 0
        self.added = self.changed = 0
        self._hash_keys, self._check_keys = hash_keys, check_keys
        # one slot more than rows: a key not in the snapshot (row -1) marks the last slot, not a row
        self._met = np.zeros(self.rows + 1, dtype=bool)
        self._held = np.zeros(self.rows + 1, dtype=bool)
        self.met, self.held = self._met[: self.rows], self._held[: self.rows]
        if table is None or not self.rows:
            return
        self._fingerprints = _column(table, "fingerprint")
        self._combined: dict[str, pa.Array] = {}
        hashes = self._stored(table, "key_hash", hash_keys, key_hashes)
        checks = self._stored(table, "key_check", check_keys, key_checks)
        # positions in hash order -> snapshot rows; None when the table is in hash order already
        self._key_order: np.ndarray | None = None
        if len(hashes) > 1 and not bool((hashes[:-1] <= hashes[1:]).all()):
            self._key_order = hash_order(hashes)
            hashes, checks = hashes[self._key_order], checks[self._key_order]
        self._key_hashes, self._key_checks = hashes, checks
        # about a quarter of a snapshot row per bucket: most keys are alone in theirs, so one probe finds
        # them (at one row per bucket, 37% of the keys needed a second); at most 2**23 buckets (32 MB)
        self._bits = min(max(1, int(self.rows - 1).bit_length() + BUCKET_BITS_PER_ROW), MAX_BUCKET_BITS)
        top = (hashes >> np.uint64(64 - self._bits)).astype(np.intp)
        counts = np.bincount(top, minlength=1 << self._bits)
        # the first row of each bucket (and of every later one: an empty bucket points at the next row)
        self._buckets = np.zeros(len(counts), dtype=np.int32 if self.rows < 2**31 else np.int64)
        np.cumsum(counts[:-1], out=self._buckets[1:])

    def _stored(self, table: pa.Table, name: str, hashing: Callable, default: Callable) -> np.ndarray:
        """The keys' hashes as stored in the snapshot, or made now (an older snapshot, injected hashing)."""
        if name in table.schema.names and hashing is default:
            return _column(table, name)
        return _numpy(hashing(self.column("record_key")))

    def column(self, name: str) -> pa.Array:
        """One of the snapshot's columns in one piece (made once: a take from chunks joins them each time)."""
        if name not in self._combined:
            column = self.table.column(name)
            self._combined[name] = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
        return self._combined[name]

    def lookup(
        self, keys: pa.Array, hashes: pl.Series | None = None, checks: pl.Series | None = None
    ) -> np.ndarray:
        """The snapshot row of each key (-1 when the snapshot does not have it), matched on both of its
        hashes. `hashes`, `checks`: the keys' `key_hashes` / `key_checks`, when the caller has them."""
        n = len(keys)
        if not self.rows or not n:
            return np.full(n, -1, dtype=np.int64)
        needles = _numpy(
            hashes if hashes is not None and self._hash_keys is key_hashes else self._hash_keys(keys)
        )
        mine = checks if checks is not None and self._check_keys is key_checks else self._check_keys(keys)
        wanted_checks = _numpy(mine)
        last = self.rows - 1
        # most keys are their bucket's first row: one probe over the whole batch, then the few others
        at = np.minimum(self._buckets[needles >> np.uint64(64 - self._bits)], last).astype(np.int64)
        held = self._key_hashes[at]
        hit = (held == needles) & (self._key_checks[at] == wanted_checks)
        rows = np.where(hit, at, -1)
        probing = np.flatnonzero(~hit & (held <= needles) & (at < last))
        at = at[probing] + 1
        while len(probing):  # a linear probe of the sorted hashes, all needles at once
            held, wanted = self._key_hashes[at], needles[probing]
            hit = (held == wanted) & (self._key_checks[at] == wanted_checks[probing])
            rows[probing[hit]] = at[hit]
            more = ~hit & (held <= wanted) & (at < last)
            probing, at = probing[more], at[more] + 1
        if self._key_order is not None:  # row -1 reads the last position: kept -1 below
            rows = np.where(rows >= 0, self._key_order[rows], -1)
        return rows

    def unchanged(self, fingerprints: pa.Array, rows: np.ndarray) -> np.ndarray:
        """True for the records the destination holds already with the same values (`rows`: their keys'
        snapshot rows, from `lookup`)."""
        n = len(fingerprints)
        if not self.rows or not n:
            return np.zeros(n, dtype=bool)
        prints = fingerprints.to_numpy(zero_copy_only=False)
        return (self._fingerprints[rows] == prints) & (rows >= 0)  # row -1 reads the last row: masked

    def diff(
        self, keys: pa.Array, fingerprints: pa.Array, valid: np.ndarray, hashes: pl.Series | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """One batch against the snapshot: each key's row (-1: not in it) and, per valid record (`valid`:
        their positions in `keys`, `fingerprints` theirs), whether the destination holds it already. The
        records found with other values are checked on the text key (`_exact`) before they are sent."""
        rows = self.lookup(keys, hashes)
        if not self.rows:
            return rows, np.zeros(len(valid), dtype=bool)
        valid_rows = rows[valid]
        same = self.unchanged(fingerprints, valid_rows)
        differ = np.flatnonzero(~same & (valid_rows >= 0))
        fixed = self._exact(keys, rows, valid[differ])
        if len(fixed):  # a collision: the record's own row (if any) decides whether it is unchanged
            at = differ[np.isin(valid[differ], fixed)]
            same[at] = self.unchanged(fingerprints.take(pa.array(at)), rows[valid[at]])
        return rows, same

    def _exact(self, keys: pa.Array, rows: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Compares the keys at `positions` with their rows' text keys; a mismatch (two keys sharing both
        hashes) is looked up exactly, in place in `rows`. Returns the positions that were wrong."""
        if not len(positions):
            return positions
        mine = keys.take(pa.array(positions))
        theirs = self.column("record_key").take(pa.array(rows[positions]))
        same = pc.equal(mine, theirs).fill_null(False).to_numpy(zero_copy_only=False)
        wrong = positions[~same]
        if len(wrong):
            exact = pc.index_in(keys.take(pa.array(wrong)), value_set=self.column("record_key"))
            rows[wrong] = pc.fill_null(exact, -1).to_numpy().astype(np.int64)
        return wrong

    def held_emails(self, rows: np.ndarray) -> list[str | None]:
        """The email the snapshot holds for each row (None for -1: not in the snapshot)."""
        if not self.rows:
            return [None] * len(rows)
        known = rows >= 0
        return self.column("email").take(pa.array(rows, mask=~known)).to_pylist()

    def meet(self, spool: pa.Table, rows: np.ndarray | None = None) -> pa.Array:
        """Takes one batch's spool rows (record_key, fingerprint, held, unchanged) into the diff: counts its
        added and changed records and marks the snapshot rows it met. `rows`: the keys' snapshot rows when
        `diff` gave them already (else they are looked up, and the differing records' keys checked).
        Returns each row's snapshot row (null for keys the snapshot does not have)."""
        keys = spool.column("record_key").combine_chunks()
        differs = pc.and_(pc.is_valid(spool.column("fingerprint")), pc.invert(spool.column("unchanged")))
        differs = differs.combine_chunks() if isinstance(differs, pa.ChunkedArray) else differs
        differs = differs.to_numpy(zero_copy_only=False)
        n = len(keys)
        if not self.rows or not n:
            self.added += int(np.count_nonzero(differs))
            return pa.nulls(n, pa.int64())
        if rows is None:
            rows = self.lookup(keys)
            self._exact(keys, rows, np.flatnonzero(differs & (rows >= 0)))
        known = rows >= 0
        changed = int(np.count_nonzero(differs & known))
        self.changed += changed
        self.added += int(np.count_nonzero(differs)) - changed
        self._met[rows] = True  # row -1: the spare slot
        held = spool.column("held").combine_chunks().to_numpy(zero_copy_only=False)
        self._held[np.where(held, rows, -1)] = True
        return pa.array(rows, mask=~known)

    def departed(self) -> pa.Table:
        """The snapshot rows the run did not meet (they left the audience)."""
        if not self.rows:
            return SNAPSHOT_SCHEMA.empty_table()
        return self.table.filter(pa.array(~self.met))  # chunk by chunk (a take would join the chunks)

    def discard(self) -> None:
        if self.path and os.path.exists(self.path):
            os.unlink(self.path)


def hash_order(hashes: np.ndarray) -> np.ndarray:
    """The positions that put `hashes` (uint64) in order, as an argsort would, in a third of its time: each
    position is packed into the low bits of its hash and the packed values sorted (one sort of 64-bit ints);
    the few runs whose high bits are equal (their order came from the positions) are then ordered by the
    whole hash (full-hash order agrees with high-bit order, so they can be sorted all together)."""
    n = len(hashes)
    mask = np.uint64((1 << max(1, int(n - 1).bit_length())) - 1)
    packed = np.sort((hashes & ~mask) | np.arange(n, dtype=np.uint64))
    order = (packed & mask).astype(np.intp)
    tied = np.flatnonzero((packed[1:] ^ packed[:-1]) <= mask)  # the same high bits as the next one
    if len(tied):
        at = np.union1d(tied, tied + 1)
        rows = order[at]
        order[at] = rows[np.argsort(hashes[rows], kind="stable")]
    return order


def _numpy(series: pl.Series) -> np.ndarray:
    return series.to_numpy().astype(np.uint64, copy=False)


def _column(table: pa.Table, name: str) -> np.ndarray:
    column = table.column(name)
    return (column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()).to_numpy(
        zero_copy_only=False
    )


def snapshot_load(export: Export) -> Previous:
    """The export's snapshot when it matches the export's current shape, else an empty one."""
    name = snapshot_name(export)
    if name is None:
        return Previous(None, None)
    try:
        with storage.open_read(name) as fh:
            data = fh.read()  # read once into memory: no local copy to write and read back
    except FileNotFoundError:
        return Previous(None, None)
    table = pq.read_table(pa.BufferReader(data))
    metadata = table.schema.metadata or {}
    if metadata.get(FINGERPRINT_KEY, b"").decode() != snapshot_fingerprint(export):
        if not snapshot_holds(export, metadata):
            logger.info(
                "export %s: snapshot made for another destination or list; sending everything", export.pk
            )
            return Previous(None, None)
        # the same place, values sent in another shape (another mapping): every record is sent again, and the
        # records held stay known, so a mirror run still removes who left and opt-outs are still taken back.
        # A fingerprint of 0 matches no record's (a 64-bit hash: 1 chance in 2**64 per record).
        logger.info("export %s: mapping changed since the snapshot; sending every record again", export.pk)
        at = table.schema.get_field_index("fingerprint")
        table = table.set_column(at, "fingerprint", pa.repeat(pa.scalar(0, pa.uint64()), table.num_rows))
    return Previous(None, table.cast(stored_schema(table.schema.names)))  # older: hashed at load


class NextSnapshot(LocalParquetSink):
    """The next snapshot, written while the run goes, to a local file swapped in only once the run is
    recorded as finished (a failed run never advances the snapshot).

    Each filed batch's rows the destination holds after this run (sent and accepted, or unchanged since the
    snapshot) go in as the batch is filed, with their key hashes and the time they were sent (this run's
    start, or the snapshot's time for an unchanged record), through a writer thread: a rate-limited run
    does this work while it waits for its next request. `finish` adds the old snapshot's rows the run left
    at the destination (not met, or not accepted again), less the ones it removed, and closes the file.
    The rows stay in the order they were filed: the next run's load orders the 64-bit key hashes (an
    argsort), which costs far less than sorting and moving the text columns here, at the end of the run.
    """

    kind = "snapshot"
    # rows per row group at least (filed batches are often smaller); small enough that little is left to
    # encode when the run ends, the writer thread having encoded the rest while the run sent
    ROW_GROUP = 8192

    def __init__(self, export: Export, previous: Previous, sent_at: datetime):
        self.path = local_temp_path(f"export-snapshot-next-{export.pk}-")
        self.previous = previous
        self._now = pa.scalar(sent_at, SNAPSHOT_SCHEMA.field("sent_at").type)
        schema = SNAPSHOT_FILE_SCHEMA.with_metadata(snapshot_metadata(export))
        # lz4: about half zstd's time to write and read for a file that is read once per run
        writer = pq.ParquetWriter(self.path, schema, compression="lz4")
        self._writer: BackgroundWriter | None = BackgroundWriter(writer, name=f"export-snapshot-{export.pk}")
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self.rows = 0

    def write(self, spool: pa.Table, prev_rows: pa.Array) -> None:
        """Adds one filed batch (its spool rows; `prev_rows`: each one's row in the old snapshot, or null)."""
        held = spool.column("held")
        if not pc.all(held).as_py():
            spool, prev_rows = spool.filter(held), prev_rows.filter(held.combine_chunks())
        if not spool.num_rows:
            return
        sent = spool.column("sent")
        if self.previous.rows:
            before = self.previous.column("sent_at").take(prev_rows)
            when = pc.if_else(sent, self._now, pc.coalesce(before, self._now))
        else:
            when = pa.repeat(self._now, spool.num_rows)
        keys = spool.column("record_key").combine_chunks()
        columns = {name: spool.column(name) for name in HELD_COLUMNS}
        columns["sent_at"] = when
        columns["key_hash"] = pa.array(_numpy(key_hashes(keys)))
        columns["key_check"] = pa.array(_numpy(key_checks(keys)))
        self._add(pa.table(columns, schema=SNAPSHOT_FILE_SCHEMA))

    def _add(self, table: pa.Table) -> None:
        self._pending.append(table)
        self._pending_rows += table.num_rows
        if self._pending_rows >= self.ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            table = pa.concat_tables(self._pending)
            self._pending, self._pending_rows = [], 0
            self._writer.write(table)
            self.rows += table.num_rows

    def finish(self, removed_path: str | None) -> str:
        """Adds the old snapshot's rows the run left at the destination, closes the file, returns its path."""
        previous = self.previous
        keep = ~previous.held  # not met (left the audience), or met but not accepted again
        if previous.rows and keep.any():
            kept = previous.table.filter(pa.array(keep))
            if removed_path is not None:  # less the ones the destination removed
                removed = pq.read_table(removed_path).column("record_key")
                kept = kept.filter(pc.invert(pc.is_in(kept.column("record_key"), value_set=removed)))
            if kept.num_rows:
                self._add(_with_key_hashes(kept))
        self._flush()
        self.close()
        return self.path


def _with_key_hashes(table: pa.Table) -> pa.Table:
    """Snapshot rows with both key hashes (made here for rows of a snapshot written without them)."""
    keys = None
    for name, hashing in (("key_hash", key_hashes), ("key_check", key_checks)):
        if name not in table.schema.names:
            keys = table.column("record_key").combine_chunks() if keys is None else keys
            table = table.append_column(name, pa.array(_numpy(hashing(keys))))
    return table.select(SNAPSHOT_FILE_SCHEMA.names).cast(SNAPSHOT_FILE_SCHEMA)


def snapshot_stage(export: Export, run_id: int, attempt: int, path: str) -> str:
    """Stores the attempt's next snapshot (the local file at `path`, moved) under its own name, before the run
    is recorded as finished; returns the name. It becomes the export's snapshot when the run is recorded."""
    return storage.move_file(snapshot_run_name(export, run_id, attempt), path)


def snapshot_replace(name: str, path: str) -> None:
    """Rewrites the snapshot `name` with the local file at `path` (moved): a reader sees the old or new one."""
    storage.move_file(name, path)


def snapshot_prune(export: Export) -> None:
    """Deletes the export's snapshots but its current one (best effort: a file left is deleted next time)."""
    keep = snapshot_name(export)
    for name in storage.list_folder(snapshot_folder(export)):
        base = name.rsplit("/", 1)[-1]
        if name != keep and base.startswith("snapshot") and base.endswith(".parquet"):
            try:
                storage.delete(name)
            except Exception:  # noqa: BLE001 - an old snapshot left is harmless and deleted by the next run
                logger.warning(
                    "export %s: could not delete the old snapshot %s", export.pk, name, exc_info=True
                )
