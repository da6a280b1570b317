"""Work planned and written by partition: the bytes of each partition of a selection (to plan work units of
even size), and unloads that write one output file per partition from a single pass over many partitions.

The generic forms (:func:`unload_each`) are written in terms of the engine contract's per-partition
operations, for backends that have no grouped writer of their own.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from audiences.engine import reads
from audiences.engine import sql as q
from audiences.engine.connection import connect, operation
from audiences.engine.errors import EngineError
from audiences.engine.plan import file_hashes, output_names, plan_for, select_query
from audiences.engine.selection import KEY_RE, Listing, Selection, as_date, list_files

OnFile = Callable[[str, str], None]
# An engine's per-partition unload: (sel, partition or None, fmt, path, limit) -> rows written.
UnloadOne = Callable[[Selection, str | None, Literal["parquet", "csv"], str, int | None], int]
# Hidden columns carrying each row's partition through the single pass (never written to an output).
_KEYS = ("__delivr_day", "__delivr_prefix", "__delivr_score")
_FILE = "__delivr_file"  # or, over local files, the hash of the row's file path (plan.file_hashes)


def partition_file(dest_dir: str, partition: str, fmt: str) -> str:
    """Where an unload into ``dest_dir`` writes a partition's file: ``<dest_dir>/<key>.<fmt>``, the key's
    slashes escaped (``day=D%2Fprefix=P%2Fscore=S.parquet``; ``_all`` for the whole of a tree without hive
    folders). One flat folder: a unit's 225 partitions cost no folder of their own to make and remove."""
    ext = "csv" if fmt == "csv" else "parquet"
    return os.path.join(dest_dir, f"{quote(partition, safe='=') if partition else '_all'}.{ext}")


@operation
def partition_files(sel: Selection) -> dict[str, list[tuple[str, int]]]:
    """The selection's :data:`Listing` from one listing (no file is opened): {partition key: [(file path
    relative to its folder, bytes)]}; a tree without hive folders gives key ``""``, an empty selection ``{}``.
    A planner hands each work unit its part, so the unit reads its files without listing again."""
    return list_files(sel)


def partition_sizes(sel: Selection) -> dict[str, int]:
    """{partition key: bytes of its Parquet files} of the selection (see :func:`partition_files`)."""
    return {key: sum(size for _, size in files) for key, files in partition_files(sel).items()}


def unload_each(
    unload: UnloadOne,
    sel: Selection,
    partitions: Sequence[str],
    fmt: Literal["parquet", "csv"],
    dest_dir: str,
    limit: int | None = None,
    *,
    on_file: OnFile | None = None,
) -> dict[str, int]:
    """``Engine.unload_partitioned`` as one ``unload`` per partition (the generic form, for any backend)."""
    rows = {}
    os.makedirs(dest_dir, exist_ok=True)
    for key in sorted(set(partitions)):
        path = partition_file(dest_dir, key, fmt)
        rows[key] = unload(sel, key or None, fmt, path, limit)
        if on_file is not None:
            on_file(key, path)
    return rows


class _Writers:
    """Writes consecutive runs of rows to their partition's file, one file open at a time."""

    def __init__(self, dest_dir: str, fmt: str, schema: pa.Schema, on_file: OnFile | None):
        self.dest_dir, self.fmt, self.schema, self.on_file = dest_dir, fmt, schema, on_file
        self.rows: dict[str, int] = {}
        self.again: set[str] = set()  # partitions whose rows came in two runs: written again on their own
        self._key: str | None = None
        self._writer: Any = None

    def _open(self, key: str) -> None:
        path = partition_file(self.dest_dir, key, self.fmt)
        if self.fmt == "parquet":
            self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        else:
            self._writer = pacsv.CSVWriter(path, self.schema)
        self._key = key
        self.rows[key] = 0

    def empty(self, key: str) -> None:
        """A file with no rows (Parquet schema, or the CSV header) for a partition nothing was left of."""
        self.close()
        self._open(key)
        self.close()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            if self.on_file is not None and self._key not in self.again:
                self.on_file(self._key, partition_file(self.dest_dir, self._key, self.fmt))
        self._key, self._writer = None, None

    def write(self, key: str, batch: pa.RecordBatch) -> None:
        if key != self._key:
            self.close()
            if key in self.rows:  # the engine did not keep a partition's rows together
                self.again.add(key)
                return
            self._open(key)
        if key in self.again:
            return
        self._writer.write_batch(batch)
        self.rows[key] += batch.num_rows


def read_ahead(reader: pa.RecordBatchReader, depth: int = 4) -> Iterator[pa.RecordBatch]:
    """The reader's batches, fetched by a thread of their own up to ``depth`` batches ahead: the engine scans
    the next batches while the caller writes this one (both release the GIL), instead of taking turns.
    An error of the reader is raised here; leaving early stops the thread."""
    ahead: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def hand(item: object) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        try:
            for batch in reader:
                if not hand(batch):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            hand(exc)
            return
        hand(end)

    thread = threading.Thread(target=pump, name="unload-read-ahead", daemon=True)
    thread.start()
    try:
        while (item := ahead.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _runs(batch: pa.RecordBatch, columns: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) of the runs of rows with the same values of ``columns`` in ``batch``."""
    n = batch.num_rows
    if n <= 1:
        return [(0, n)] if n else []
    change = None
    for name in columns:
        col = batch.column(name)
        differs = pc.not_equal(col.slice(1), col.slice(0, n - 1))
        change = differs if change is None else pc.or_(change, differs)
    # a null (a null value next to another) counts as a change; or_kleene, not fill_null(change, True): a
    # Python value converted to Arrow imports pandas where it is installed (~45 MB more in each worker)
    starts = [0] + [i + 1 for i in pc.indices_nonzero(pc.or_kleene(change, pc.is_null(change))).to_pylist()]
    return list(zip(starts, starts[1:] + [n], strict=True))


def _partition_of(
    by_file: dict[int, str] | None, partitions: Sequence[str]
) -> Callable[[pa.RecordBatch], str]:
    """How a run of rows names its partition: by its file's hash (one integer column), else by its hive
    columns."""
    if by_file is not None:
        return lambda part: by_file[part.column(_FILE)[0].as_py()]
    lookup = _key_lookup(partitions)

    def by_columns(part: pa.RecordBatch) -> str:
        day, prefix, score = (part.column(k)[0].as_py() for k in _KEYS)
        return lookup[(as_date(day), prefix, str(score).lower())]

    return by_columns


def _key_lookup(partitions: Sequence[str]) -> dict[tuple, str]:
    """(day as a date, prefix, score lower-cased) -> the partition key as the tree spells it."""
    out = {}
    for key in partitions:
        m = KEY_RE.fullmatch(key)
        if not m:
            raise EngineError(f"partition {key!r} is not a day/prefix/score partition")
        out[(as_date(m.group("day")), m.group("prefix"), m.group("score").lower())] = key
    return out


@operation
def unload_partitioned(
    sel: Selection,
    partitions: Sequence[str],
    fmt: Literal["parquet", "csv"],
    dest_dir: str,
    limit: int | None = None,
    *,
    on_file: OnFile | None = None,
    batch_size: int = 65536,
    listing: Listing | None = None,
) -> dict[str, int]:
    """Write each partition of ``partitions`` to its own file under ``dest_dir`` (see :func:`partition_file`)
    from ONE scan of all of them; {partition: rows written}. Every partition gets a file (an empty one when
    no row is left). ``limit`` caps rows per partition (then each partition is read on its own, stopping
    early). ``on_file(partition, path)`` is called as each file is complete (it may move the file away).
    ``listing``: the partitions' files as planned (:data:`Listing`), read without listing them again.
    """
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"unsupported format {fmt!r}")
    partitions = sorted(set(partitions))
    if not partitions:
        return {}
    if limit is not None or partitions == [""]:
        return unload_each(reads.unload, sel, partitions, fmt, dest_dir, limit, on_file=on_file)
    plan = plan_for(sel, partitions=partitions, listing=listing)
    os.makedirs(dest_dir, exist_ok=True)
    names = output_names(sel, plan)
    cols = ", ".join(q.quote(n) for n in names)
    con = connect()
    try:
        by_file = file_hashes(con, sel, plan)
        if by_file is not None and not set(by_file.values()) <= set(partitions):
            by_file = None  # a folder spelled otherwise than the partitions asked for: name rows by columns
        if by_file is not None:  # one integer per row tells its partition (the hive columns cost 15% more)
            inner = select_query(con, sel, plan, project=False, file_hash=_FILE)
            sql, marks = f"SELECT {cols}, {_FILE} FROM ({inner})", (_FILE,)
        else:
            inner = select_query(con, sel, plan, project=False)
            hive = f"day AS {_KEYS[0]}, prefix AS {_KEYS[1]}, score AS {_KEYS[2]}"
            sql, marks = f"SELECT {cols}, {hive} FROM ({inner})", _KEYS
        sql = q.csv_safe(sql, names, plan.columns) if fmt == "csv" else sql
        reader = con.sql(sql, params=plan.params or None).to_arrow_reader(batch_size)
        schema = pa.schema([f for f in reader.schema if f.name not in marks])
        partition_of = _partition_of(by_file, partitions)
        writers = _Writers(dest_dir, fmt, schema, on_file)
        try:
            for batch in read_ahead(reader):
                for start, end in _runs(batch, marks):
                    part = batch.slice(start, end - start)
                    writers.write(partition_of(part), part.select(names))
        finally:
            writers.close()
    finally:
        con.close()
    rows = writers.rows
    for key in partitions:  # partitions with no row left: a valid empty file (schema or header)
        if key not in rows:
            writers.empty(key)
    if writers.again:
        rows.update(unload_each(reads.unload, sel, sorted(writers.again), fmt, dest_dir, on_file=on_file))
    return {key: rows[key] for key in partitions}
