"""What the destination holds after the export's last successful run: one row per record (identity key, a
hash of the mapped values sent, and the identities a removal needs), kept as Parquet next to the outputs.

Each validated batch is compared with it by fingerprint (a 64-bit hash of the key and the mapped values):
a vectorised binary search of the batch's sorted fingerprints in the snapshot's (kept sorted on disk), so
O(batch log snapshot) per batch, whatever the batch size. Records that differ are sent (in `changes` and
`mirror`); at the end the engine (DuckDB) splits them into added and changed (a join of the few that differ),
anti-joins the snapshot with the keys the run met to find the removals, and writes the next snapshot. The next snapshot is written to a temporary name and
swapped in only after the run is recorded as finished: a failed run never advances it.

The snapshot carries a fingerprint of the mapping, the destination settings and the hashing library's
version: when any of them changed, the old snapshot no longer says what the destination holds in the new
shape, so the run sends everything (and removes nothing) once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from datetime import datetime

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from django.core.files import File
from django.core.files.storage import default_storage

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
    key_hashes = pl.from_arrow(keys).hash(seed=7)
    out = pl.DataFrame({"k": key_hashes, "v": values}).hash_rows(seed=0).to_arrow()
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


class Previous:
    """The last successful run's snapshot: a local copy for the engine, and its fingerprints, sorted (the
    snapshot is written in fingerprint order), for binary search."""

    def __init__(self, path: str | None, table: pa.Table | None):
        self.path = path
        self.rows = table.num_rows if table is not None else 0
        if table is None or not self.rows:
            self._fingerprints = pl.Series([], dtype=pl.UInt64)
            return
        found = pl.from_arrow(table.column("fingerprint").combine_chunks())
        self._fingerprints = found.set_sorted() if found.is_sorted() else found.sort()

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

    def discard(self) -> None:
        if self.path and os.path.exists(self.path):
            os.unlink(self.path)


def snapshot_load(export: Export) -> Previous:
    """The export's snapshot when it matches the export's current shape, else an empty one."""
    name = snapshot_name(export)
    if not default_storage.exists(name):
        return Previous(None, None)
    path = local_temp_path(f"export-snapshot-{export.pk}-")
    with default_storage.open(name, "rb") as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    table = pq.read_table(path)
    fingerprint = (table.schema.metadata or {}).get(FINGERPRINT_KEY, b"").decode()
    if fingerprint != snapshot_fingerprint(export):
        logger.info(
            "export %s: snapshot made for another mapping or destination; sending everything", export.pk
        )
        os.unlink(path)
        return Previous(None, None)
    return Previous(path, table.cast(SNAPSHOT_SCHEMA))


def snapshot_removals(previous: Previous, run_keys_path: str) -> pa.Table:
    """The snapshot's records the run did not meet (they left the audience): an anti-join in the engine."""
    if previous.path is None:
        return SNAPSHOT_SCHEMA.empty_table()
    con = duckdb.connect()
    try:
        table = con.sql(
            "SELECT p.* FROM read_parquet($prev) p "
            "ANTI JOIN read_parquet($run) r ON r.record_key = p.record_key",
            params={"prev": previous.path, "run": run_keys_path},
        ).to_arrow_table()
    finally:
        con.close()
    return table.cast(SNAPSHOT_SCHEMA)


def snapshot_counts(previous: Previous, run_keys_path: str) -> tuple[int, int]:
    """(added, changed): the run's valid records that differ from the snapshot, split by whether the
    snapshot knew their key (one engine join over the few that differ)."""
    con = duckdb.connect()
    try:
        if previous.path is None:
            query = (
                "SELECT count(*), 0 FROM read_parquet($run) WHERE fingerprint IS NOT NULL AND NOT unchanged"
            )
            params = {"run": run_keys_path}
        else:
            query = (
                "SELECT count(*) FILTER (WHERE p.record_key IS NULL), count(p.record_key) "
                "FROM (SELECT record_key FROM read_parquet($run) WHERE fingerprint IS NOT NULL AND NOT unchanged) r "
                "LEFT JOIN (SELECT record_key FROM read_parquet($prev)) p USING (record_key)"
            )
            params = {"run": run_keys_path, "prev": previous.path}
        ((added, changed),) = con.sql(query, params=params).fetchall()
    finally:
        con.close()
    return int(added), int(changed)


def snapshot_next(
    export: Export, previous: Previous, run_keys_path: str, removed_path: str | None, sent_at: datetime
) -> str:
    """Writes the next snapshot to a local file and returns its path.

    It holds what the run left at the destination (sent and accepted, or unchanged) and, for every other
    record of the old snapshot, what was there before, minus the records the run removed.
    """
    out = local_temp_path(f"export-snapshot-next-{export.pk}-")
    held = "SELECT record_key, fingerprint, person_id, email, uid2, sent FROM read_parquet($run) WHERE held"
    parts = [
        "SELECT r.record_key, r.fingerprint, r.person_id, r.email, r.uid2, "
        + ("CASE WHEN r.sent THEN $now ELSE p.sent_at END" if previous.path else "$now")
        + f" AS sent_at FROM ({held}) r"
        + (" LEFT JOIN read_parquet($prev) p USING (record_key)" if previous.path else "")
    ]
    if previous.path is not None:
        removed = "" if removed_path is None else " ANTI JOIN read_parquet($removed) x USING (record_key)"
        parts.append(
            "SELECT p.record_key, p.fingerprint, p.person_id, p.email, p.uid2, p.sent_at "
            "FROM read_parquet($prev) p ANTI JOIN (SELECT record_key FROM read_parquet($run) WHERE held) h USING (record_key)"
            + removed
        )
    params = {"run": run_keys_path, "now": sent_at}
    if previous.path is not None:
        params["prev"] = previous.path
        if removed_path is not None:
            params["removed"] = removed_path
    con = duckdb.connect()
    try:
        query = " UNION ALL ".join(parts) + " ORDER BY fingerprint"  # sorted: the next run searches it
        table = con.sql(query, params=params).to_arrow_table().cast(SNAPSHOT_SCHEMA)
    finally:
        con.close()
    metadata = {FINGERPRINT_KEY: snapshot_fingerprint(export).encode()}
    pq.write_table(table.replace_schema_metadata(metadata), out, compression="zstd")
    return out


def snapshot_swap(export: Export, path: str) -> None:
    """Puts the next snapshot in place of the old one (after the run was recorded as finished)."""
    name = snapshot_name(export)
    try:
        target = default_storage.path(name)
    except NotImplementedError:  # remote storage: upload, then replace
        if default_storage.exists(name):
            default_storage.delete(name)
        with open(path, "rb") as fh:
            default_storage.save(name, File(fh))
        os.unlink(path)
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.replace(path, target)  # atomic on one filesystem: a reader sees the old or the new snapshot
