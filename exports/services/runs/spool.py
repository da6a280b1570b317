"""A run's files: per-batch key spools (what a retry skips), per-write progress parts, and the list of the
identities sent.

Each committed batch of a resumable run leaves a small Parquet spool with its record keys, whether each was
sent, and the identities (person_id, email); a retried attempt reloads them and skips those records.

Between two commits (a run writes one request at a time and commits its read batches when they are answered),
every write the destination answered leaves a progress part: its record keys, their fingerprints, whether each
was accepted, the write's results, and the follow-up work it queued or settled (HubSpot's list adds,
associations, timeline events, sent later in whole requests, each such request leaving a part of no records). A retried attempt reloads the parts written since the last commit and does not send
their records again (it files them as that write's answer said), so a retry resends at most the write that was
in flight. Parts are named after the commit they follow (`sent-<batches_done>-<n>-<attempt>`): once the run commits
again, they are stale and never read. A `mirror` run's removals leave parts the same way (`removed-<n>-<attempt>`).
"""

from __future__ import annotations

import io
import json
import logging
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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
LIST_SCHEMA = pa.schema([("person_id", pa.string()), ("email", pa.string())])
# one write the destination answered: its records and whether each was accepted
PART_SCHEMA = pa.schema([("record_key", pa.string()), ("fingerprint", pa.uint64()), ("accepted", pa.bool_())])
PART_RESULTS_KEY = b"delivr.results"
PART_FOLLOW_UPS_KEY = b"delivr.follow_ups"  # {"queued": {kind: [items]}, "settled": {kind: n}}


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


def spool_clear(run_id, keep: int | None = None) -> None:
    """Deletes the run's spools from batch `keep` on and the progress parts that do not follow the commit of
    `keep` batches (an attempt resuming there); every file of the run when `keep` is None (it finished)."""
    try:
        names = storage.list_folder(f"export-runs/{run_id}")
    except OSError:
        return
    stale = []
    for name in names:
        base = name.rsplit("/", 1)[-1]
        if keep is None:
            stale.append(name)
        elif base.startswith("batch-"):
            if int(base[6:12]) >= keep:
                stale.append(name)
        elif base.startswith("sent-") and int(base[5:11]) != keep:
            stale.append(name)  # (removals answered are valid whatever the sends' commit)
    if len(stale) <= 1:
        for name in stale:
            storage.delete(name)
        return
    # a finished run has a part per write: one by one, each delete waited its turn (0.5-1.3 s for 110 parts
    # on a loaded machine, after the run was finished; a request each on S3)
    with ThreadPoolExecutor(max_workers=min(16, len(stale)), thread_name_prefix="spool-clear") as pool:
        list(pool.map(storage.delete, stale))


@dataclass
class Part:
    """One answered write (or removal) read back from its progress part."""

    keys: pa.Array
    fingerprints: pa.Array
    accepted: pa.Array
    results: dict
    follow_ups: dict = field(default_factory=dict)  # the follow-up work the call queued and settled


def _part_prefix(kind: str, base: int | None) -> str:
    return f"{kind}-{base:06d}-" if base is not None else f"{kind}-"


def part_write(run_id, kind: str, base: int | None, seq: int, part: Part, *, attempt: int) -> None:
    """Commits one answered write: `kind` is "sent" (after the commit of `base` batches) or "removed". The
    attempt is in the name: an attempt the reaper took the run from (slow, not dead) never overwrites one of
    the next attempt's parts."""
    table = pa.table(
        {"record_key": part.keys, "fingerprint": part.fingerprints, "accepted": part.accepted},
        schema=PART_SCHEMA,
    ).replace_schema_metadata(
        {
            PART_RESULTS_KEY: json.dumps(part.results).encode(),
            PART_FOLLOW_UPS_KEY: json.dumps(part.follow_ups).encode(),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    name = f"export-runs/{run_id}/{_part_prefix(kind, base)}{seq:06d}-{attempt:02d}.parquet"
    storage.write_bytes(name, buf.getvalue())


def parts_read(run_id, kind: str, base: int | None = None) -> tuple[list[Part], int]:
    """The run's progress parts of `kind` (after the commit of `base` batches), in the order written, and the
    number the next one takes. A part that cannot be read (its writer died while writing it) is the write in
    flight: it is not counted."""
    prefix = _part_prefix(kind, base)
    try:
        names = storage.list_folder(f"export-runs/{run_id}")
    except OSError:
        return [], 0
    parts, following = [], 0
    for name in names:
        base_name = name.rsplit("/", 1)[-1]
        if not base_name.startswith(prefix):
            continue
        following = max(following, int(base_name[len(prefix) : len(prefix) + 6]) + 1)
        try:
            with storage.open_read(name) as fh:
                table = pq.read_table(io.BytesIO(fh.read()))
            metadata = table.schema.metadata or {}
            results = json.loads(metadata[PART_RESULTS_KEY])
            follow_ups = json.loads(metadata.get(PART_FOLLOW_UPS_KEY, b"{}"))
        except (OSError, KeyError, ValueError, pa.ArrowException):
            logger.warning("export run %s: progress part %s unreadable; its write is resent", run_id, name)
            continue
        table = table.cast(PART_SCHEMA)
        parts.append(
            Part(
                table.column("record_key").combine_chunks(),
                table.column("fingerprint").combine_chunks(),
                table.column("accepted").combine_chunks(),
                results,
                follow_ups,
            )
        )
    return parts, following


def local_temp_path(prefix: str, suffix: str = ".parquet") -> str:
    """A new empty file under VAR_DIR/tmp (the worker's own disk) for a run's intermediate results."""
    tmp_dir = settings.VAR_DIR / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=tmp_dir)
    os.close(fd)
    return path


def local_leftovers_clear(run_id, export_id) -> int:
    """Deletes what an earlier attempt of the run left on this machine's disk when its worker died (files
    named after the run, and the export's snapshot copies: one run of an export at a time); returns how many."""
    tmp_dir = settings.VAR_DIR / "tmp"
    patterns = (f"*-{run_id}-*", f"export-snapshot-{export_id}-*", f"export-snapshot-next-{export_id}-*")
    removed = 0
    for pattern in patterns:
        for path in tmp_dir.glob(pattern):
            try:
                path.unlink()
                removed += 1
            except OSError:  # gone already, or not ours to delete: nothing to clean
                pass
    return removed


class LocalParquetSink:
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


class ListSink(LocalParquetSink):
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
