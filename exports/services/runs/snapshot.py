"""What the destination holds after the export's last successful run: one row per record (identity key, a
hash of the mapped values sent, and the identities a removal needs), kept as Parquet next to the outputs.

A run in `changes` or `mirror` mode classifies each validated batch against it (added: key unknown; changed:
key known, hash differs; unchanged: both known) with sorted 64-bit hashes and binary search (vectorised,
O(batch log snapshot) per batch); at the end the engine (DuckDB) anti-joins the snapshot with the keys the run
met to find the removals, and writes the next snapshot. The next snapshot is written to a temporary name and
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
        ("value_hash", pa.uint64()),
        ("person_id", pa.string()),
        ("email", pa.string()),
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
        "hash": f"polars-{pl.__version__}",
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()


def value_hashes(table: pa.Table) -> pa.Array:
    """A 64-bit hash per row of the mapped (validated, normalized) values, the same in every run."""
    if not table.num_rows:
        return pa.array([], pa.uint64())
    return pl.from_arrow(table).hash_rows(seed=0).to_arrow()


def _pair_hashes(key_hashes: pl.Series, hashes: pl.Series) -> pl.Series:
    return pl.DataFrame({"k": key_hashes, "v": hashes}).hash_rows(seed=0)


def _key_hashes(keys: pa.Array) -> pl.Series:
    return pl.from_arrow(keys).hash(seed=7)


def _member(sorted_values: pl.Series, values: pl.Series) -> pl.Series:
    """Binary search of each value in the sorted ones: O(n log m), no hash table over the big side."""
    if not len(sorted_values) or not len(values):
        return pl.repeat(False, len(values), eager=True)
    at = sorted_values.search_sorted(values).clip(0, len(sorted_values) - 1)
    return sorted_values.gather(at) == values


class Previous:
    """The last successful run's snapshot (a local copy for the engine, sorted hashes for lookups)."""

    def __init__(self, path: str | None, table: pa.Table | None):
        self.path = path
        self.rows = table.num_rows if table is not None else 0
        if table is None or not self.rows:
            self._keys = self._pairs = pl.Series([], dtype=pl.UInt64)
            return
        keys = _key_hashes(table.column("record_key").combine_chunks())
        hashes = pl.from_arrow(table.column("value_hash").combine_chunks())
        self._keys = keys.sort()
        self._pairs = _pair_hashes(keys, hashes).sort()

    def classify(self, keys: pa.Array, hashes: pa.Array) -> tuple[pl.Series, pl.Series]:
        """(known key, same values) masks for distinct non-null keys and their value hashes."""
        key_hashes = _key_hashes(keys)
        known = _member(self._keys, key_hashes)
        same = _member(self._pairs, _pair_hashes(key_hashes, pl.from_arrow(hashes)))
        return known, same & known

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
            "SELECT p.record_key, p.value_hash, p.person_id, p.email FROM read_parquet($prev) p "
            "ANTI JOIN read_parquet($run) r ON r.record_key = p.record_key",
            params={"prev": previous.path, "run": run_keys_path},
        ).to_arrow_table()
    finally:
        con.close()
    return table.cast(SNAPSHOT_SCHEMA)


def snapshot_next(export: Export, previous: Previous, run_keys_path: str, removed_path: str | None) -> str:
    """Writes the next snapshot to a local file and returns its path.

    It holds what the run left at the destination (sent and accepted, or unchanged) and, for every other
    record of the old snapshot, what was there before, minus the records the run removed.
    """
    out = local_temp_path(f"export-snapshot-next-{export.pk}-")
    parts = [
        "SELECT record_key, value_hash, person_id, email FROM read_parquet($run) WHERE held",
    ]
    if previous.path is not None:
        removed = "" if removed_path is None else " ANTI JOIN read_parquet($removed) x USING (record_key)"
        parts.append(
            "SELECT p.record_key, p.value_hash, p.person_id, p.email FROM read_parquet($prev) p "
            "ANTI JOIN (SELECT record_key FROM read_parquet($run) WHERE held) h USING (record_key)" + removed
        )
    params = {"run": run_keys_path}
    if previous.path is not None:
        params["prev"] = previous.path
        if removed_path is not None:
            params["removed"] = removed_path
    con = duckdb.connect()
    try:
        table = con.sql(" UNION ALL ".join(parts), params=params).to_arrow_table().cast(SNAPSHOT_SCHEMA)
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
