"""A run's files: per-batch key spools (what a retry skips) and the list of the identities sent.

Each committed batch of a resumable run leaves a small Parquet spool with its record keys, whether each was
sent, and the identities (person_id, email); a retried attempt reloads them and skips those records.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.conf import settings

from delivr_admin import storage
from exports.destinations.file import BackgroundWriter

logger = logging.getLogger(__name__)

# sent: sent by this run and accepted by the destination; held: the destination holds the record with this
# fingerprint after this run (accepted now, or unchanged since the snapshot); unchanged: the snapshot had it
SPOOL_SCHEMA = pa.schema(
    [
        ("record_key", pa.string()),
        ("sent", pa.bool_()),
        ("person_id", pa.string()),
        ("email", pa.string()),
        ("uid2", pa.string()),
        ("fingerprint", pa.uint64()),
        ("held", pa.bool_()),
        ("unchanged", pa.bool_()),
    ]
)
# the keys file: the spool's rows and each one's row in the last snapshot (null when it had no such key)
KEYS_SCHEMA = SPOOL_SCHEMA.append(pa.field("prev_row", pa.int64()))
LIST_SCHEMA = pa.schema([("person_id", pa.string()), ("email", pa.string())])


def _spool_name(run_id, index: int) -> str:
    return f"export-runs/{run_id}/batch-{index:06d}.parquet"


def spool_write(run_id, index: int, table: pa.Table) -> None:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    storage.write_bytes(_spool_name(run_id, index), buf.getvalue())


def spool_read(run_id, batches: int) -> list[pa.Table] | None:
    """The committed batches' spools; None when one is missing (another machine's local disk)."""
    tables = []
    for index in range(batches):
        try:
            with storage.open_read(_spool_name(run_id, index)) as fh:
                table = pq.read_table(io.BytesIO(fh.read()))
        except FileNotFoundError:
            return None
        if table.schema.names != SPOOL_SCHEMA.names:  # written by an older version: start again
            return None
        tables.append(table)
    return tables


def spool_clear(run_id, keep: int = 0) -> None:
    """Deletes the run's spools from batch `keep` on (all of them by default)."""
    try:
        names = storage.list_folder(f"export-runs/{run_id}")
    except OSError:
        return
    for name in names:
        base = name.rsplit("/", 1)[-1]
        if base.startswith("batch-") and int(base[6:12]) >= keep:
            storage.delete(name)


def local_temp_path(prefix: str, suffix: str = ".parquet") -> str:
    """A new empty file under VAR_DIR/tmp (the worker's own disk) for a run's intermediate results."""
    tmp_dir = settings.VAR_DIR / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=tmp_dir)
    os.close(fd)
    return path


class _LocalParquetSink:
    """A Parquet file a run writes locally as it goes: closed when the run finishes, removed when it fails."""

    kind = "output"
    path: str
    _writer: Any

    def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()

    def discard(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - only reached when the run failed already
            logger.warning("export %s file %s: close failed", self.kind, self.path, exc_info=True)
        finally:
            if os.path.exists(self.path):
                os.unlink(self.path)


class ListSink(_LocalParquetSink):
    """The identities (person_id, email) of the records sent, streamed into a local Parquet file.

    The export-generated list is this file: written as the batches go, never read back from the spools.
    """

    kind = "list"

    def __init__(self, run_id) -> None:
        self.path = local_temp_path(f"export-list-{run_id}-")
        self.rows = 0
        self._writer: BackgroundWriter | None = None

    def write(self, spool: pa.Table) -> None:
        sent = spool.select(["person_id", "email"])
        if not pc.all(spool.column("sent")).as_py():
            sent = sent.filter(spool.column("sent"))
        if not sent.num_rows:
            return
        if self._writer is None:
            # identities are (nearly) all distinct: dictionary pages would only be built to be dropped
            writer = pq.ParquetWriter(self.path, LIST_SCHEMA, compression="zstd", use_dictionary=False)
            self._writer = BackgroundWriter(writer, name=f"export-list-{self.path}")
        self._writer.write(sent)
        self.rows += sent.num_rows


class KeysSink(_LocalParquetSink):
    """Every record key the run met with what the destination holds for it (the spools' rows), streamed into
    a local Parquet file, with each one's snapshot row: the next snapshot is built from it."""

    kind = "keys"

    def __init__(self, run_id) -> None:
        self.path = local_temp_path(f"export-keys-{run_id}-")
        self._writer = pq.ParquetWriter(self.path, KEYS_SCHEMA, compression="zstd")

    def write(self, spool: pa.Table, prev_rows: pa.Array) -> None:
        self._writer.write_table(spool.append_column("prev_row", prev_rows))
