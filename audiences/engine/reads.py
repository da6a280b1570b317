"""The DuckDB engine's operations: counts, distinct profiles, the builder's estimate, value suggestions,
preview, sample, and the streaming reads behind unloads, exports and downloads.

Results stream as Arrow record batches; nothing unbounded is fetched into Python. Local trees are read by
DuckDB's ``read_parquet`` over the plan's file list; ``s3://``/``gs://`` trees through pyarrow's filesystems
(an Arrow dataset DuckDB scans in place), so every query is the same SQL for both.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import io
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from audiences.engine import sql as q
from audiences.engine.connection import connect, engine_threads, operation
from audiences.engine.errors import EngineError, removed_file_error
from audiences.engine.paths import is_remote
from audiences.engine.plan import Plan, output_names, plan_for, select_query
from audiences.engine.selection import Listing, Selection, as_date, layout, selected_keys

IDENTITY_COLUMNS = (
    "uid2",
    "email",
    "first_name",
    "last_name",
    "job_title",
    "company_name",
    "company_domain",
    "company_employee_count",
    "country",
    "state",
    "city",
)


@dataclass(frozen=True)
class Summary:
    records: int
    distinct_profiles: int | None
    suppressed: int


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, plan: Plan) -> Any:
    rows = con.execute(sql, plan.params).fetchall()  # one row by construction
    return rows[0][0]


def _count_sql(con: duckdb.DuckDBPyConnection, sel: Selection, plan: Plan, *, suppress: bool = True) -> str:
    return f"SELECT count(*) FROM ({select_query(con, sel, plan, project=False, suppress=suppress)})"


@operation
def list_partitions(sel: Selection) -> list[str]:
    """Sorted keys ``day=.../prefix=.../score=...`` of existing partitions (with Parquet files) in ``sel``.

    Missing day folders are simply absent; ``_SUCCESS``/``_manifest.json`` and other non-Parquet files are
    ignored. A tree without hive folders has no partitions (read it with ``partition=None``).
    """
    hive, found = layout(sel)
    return sorted(found) if hive else []


@operation
def count(sel: Selection, partition: str | None = None) -> int:
    """Rows of the selection (or of one of its partitions) after the WHERE and suppression."""
    return count_with_suppressed(sel, partition)[0] if sel.suppression else _count(sel, partition)


def _count(sel: Selection, partition: str | None) -> int:
    """Rows without suppression: from the remote dataset's footers when nothing filters them."""
    plan = plan_for(sel, partition)
    if plan.dataset is not None and not sel.where_sql:
        return int(plan.dataset.count_rows())  # row counts from the Parquet footers: no column is fetched
    con = connect()
    try:
        return int(_scalar(con, _count_sql(con, sel, plan), plan))
    finally:
        con.close()


@operation
def count_with_suppressed(sel: Selection, partition: str | None = None) -> tuple[int, int]:
    """(rows after suppression, rows removed by suppression) for the selection or one partition."""
    if not sel.suppression:
        return _count(sel, partition), 0
    plan = plan_for(sel, partition)
    con = connect()
    try:
        if plan.dataset is not None and not sel.where_sql:
            total = int(plan.dataset.count_rows())
        else:
            total = int(_scalar(con, _count_sql(con, sel, plan, suppress=False), plan))
        kept = int(_scalar(con, _count_sql(con, sel, plan), plan))
    finally:
        con.close()
    return kept, total - kept


@operation
def count_partitions(
    sel: Selection, partitions: Sequence[str], *, listing: Listing | None = None
) -> dict[str, tuple[int, int]]:
    """{partition key: (rows after suppression, rows removed by suppression)} in one grouped scan (from the
    files' footers alone when :func:`counts_from_footers`).

    The same figures as count_with_suppressed per partition, for many partitions at the cost of one query.
    Keys of a tree without hive folders: the single key "". ``listing``: the partitions' files as planned
    (:data:`Listing`), read without listing them again.
    """
    partitions = list(partitions)
    if not partitions:
        return {}
    if partitions == [""]:
        return {"": count_with_suppressed(sel, None)}
    plan = plan_for(sel, partitions=partitions, listing=listing)
    if not plan.hive:
        raise EngineError("grouped counts need a hive-partitioned tree")
    if counts_from_footers(sel):
        return _footer_counts(plan.files, partitions)
    con = connect()
    try:

        def grouped(suppress: bool) -> dict[str, int]:
            inner = select_query(con, sel, plan, project=False, suppress=suppress)
            sql = f"SELECT day, prefix, score, count(*) FROM ({inner}) GROUP BY ALL"
            rows = con.execute(sql, plan.params).fetchall()
            return {f"day={as_date(d).isoformat()}/prefix={p}/score={s}": int(n) for d, p, s, n in rows}

        kept = grouped(True)
        total = grouped(False) if sel.suppression else kept
    finally:
        con.close()
    return {key: (kept.get(key, 0), total.get(key, 0) - kept.get(key, 0)) for key in partitions}


def counts_from_footers(sel: Selection) -> bool:
    """True when :func:`count_partitions` answers from the files' Parquet footers alone (a local tree, no
    WHERE, nothing suppressed): its cost is then a footer per file, whatever the bytes."""
    return not is_remote(sel.input_path) and not sel.where_sql and not sel.suppression


# Rows of local Parquet files from their footers, by (path, bytes, modification time): a tree's files are
# written once and a rewritten one has a new time, so a recount of the same tree opens no footer again.
_FOOTER_ROWS_KEPT = 250_000  # ~60 MB at most; the 100,000-partition tree fits
_footer_rows: OrderedDict[tuple[str, int, int], int] = OrderedDict()
_footer_lock = threading.Lock()


def _file_rows(path: str) -> int:
    """Rows of one local Parquet file from its footer (remembered, see ``_footer_rows``)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise removed_file_error(path) from None
    key = (path, st.st_size, st.st_mtime_ns)
    with _footer_lock:
        rows = _footer_rows.get(key)
    if rows is not None:
        return rows
    try:
        rows = pq.read_metadata(path).num_rows
    except FileNotFoundError:
        raise removed_file_error(path) from None
    except pa.ArrowInvalid as exc:  # named, so the operation reports which file (UnreadableFileError)
        raise pa.ArrowInvalid(f"cannot read '{path}': {exc}") from exc
    with _footer_lock:
        _footer_rows[key] = rows
        while len(_footer_rows) > _FOOTER_ROWS_KEPT:
            _footer_rows.popitem(last=False)
    return rows


def _footer_counts(files: Sequence[str], partitions: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Row counts per partition from the local files' Parquet footers alone (no filter, nothing suppressed),
    read by the engine's threads (a footer is a small read and a parse; the GIL is released for both)."""

    def run(chunk: Sequence[str]) -> list[tuple[str, int]]:
        return [(path, _file_rows(path)) for path in chunk]

    threads = min(engine_threads(), len(files))
    if threads > 1:  # one run of files per thread (a future per file would cost more than its footer)
        with ThreadPoolExecutor(max_workers=threads) as pool:
            found = [
                item for chunk in pool.map(run, [files[i::threads] for i in range(threads)]) for item in chunk
            ]
    else:
        found = run(files)
    counts = dict.fromkeys(partitions, 0)
    for name, num_rows in found:
        key = "/".join(name.split("/")[-4:-1])  # .../day=D/prefix=P/score=S/part-0.parquet
        counts[key] += int(num_rows)
    return {key: (n, 0) for key, n in counts.items()}


@operation
def count_distinct(sel: Selection, column: str = "person_id") -> int:
    """Distinct non-null values of ``column`` (default: distinct profiles) after WHERE and suppression."""
    plan = plan_for(sel)
    name = q.quote(q.resolve_column(column, plan.columns))
    con = connect()
    try:
        inner = select_query(con, sel, plan, project=False)
        return int(_scalar(con, f"SELECT count(DISTINCT {name}) FROM ({inner})", plan))
    finally:
        con.close()


@operation
def count_summary(sel: Selection, distinct_column: str = "person_id") -> Summary:
    """Records and distinct profiles after suppression in one scan, plus the rows suppression removed.

    Without a suppression there is no second scan (suppressed is 0). ``distinct_profiles`` is None when the
    dataset has no ``distinct_column`` (for person_id: nothing that identifies a person, see profile_key_sql).
    """
    plan = plan_for(sel)
    lookup = {c.lower(): c for c in plan.columns}
    if distinct_column.lower() == "person_id":
        name = q.profile_key_sql(plan.columns, plan.hive)  # lists known only by email count by email
    else:
        name = q.quote(lookup[distinct_column.lower()]) if distinct_column.lower() in lookup else None
    con = connect()
    try:
        kept_sql = select_query(con, sel, plan, project=False)
        if name is not None:
            sql = f"SELECT count(*), count(DISTINCT {name}) FROM ({kept_sql})"
            records, distinct = con.execute(sql, plan.params).fetchone()
        else:
            records, distinct = _scalar(con, f"SELECT count(*) FROM ({kept_sql})", plan), None
        suppressed = 0
        if sel.suppression:
            suppressed = int(_scalar(con, _count_sql(con, sel, plan, suppress=False), plan)) - int(records)
    finally:
        con.close()
    return Summary(int(records), None if distinct is None else int(distinct), suppressed)


@operation
def value_counts_by_day(sel: Selection, column: str, per_day: int = 2000) -> dict[str, dict[str, int]]:
    """{day (ISO, or "" without hive days): {value: rows}} of a text column over the selection, per day.

    Nulls and blanks are left out; each day keeps its ``per_day`` most frequent values. Per day, so a cache
    can keep each day once and sum any window from it. Suppression does not apply (values, not people).
    """
    plan = plan_for(sel)
    col = q.quote(q.resolve_column(column, plan.columns))
    day = "CAST(day AS VARCHAR)" if plan.hive else "''"
    con = connect()
    try:
        inner = select_query(con, sel, plan, project=False, suppress=False)
        rows = con.execute(
            f"SELECT d, v, n FROM (SELECT {day} AS d, {col} AS v, count(*) AS n FROM ({inner}) "
            f"WHERE {col} IS NOT NULL AND {col} <> '' GROUP BY ALL) "
            f"QUALIFY row_number() OVER (PARTITION BY d ORDER BY n DESC, v) <= {int(per_day)}",
            plan.params,
        ).fetchall()
    finally:
        con.close()
    out: dict[str, dict[str, int]] = {}
    for d, v, n in rows:
        out.setdefault(str(d), {})[str(v)] = int(n)
    return out


def spread(items: list, n: int) -> list:
    """``n`` of ``items`` evenly spread over them (the samples of value suggestions, on every engine)."""
    step = len(items) / n
    return [items[int(i * step + step / 2)] for i in range(n)]


@operation
def value_counts_sample(
    sel: Selection, column: str, max_files: int = 24, partition_rows: Mapping[str, int] | None = None
) -> dict[str, int] | None:
    """{value: estimated rows} of a text column over the selection from at most ``max_files`` of its files.

    The files are spread evenly over the selection (sorted by day, prefix, score) and their counts scaled to
    the whole selection, so the answer costs a bounded read whatever the window. Rare values can be missing.
    With ``partition_rows`` ({partition key: rows}, e.g. from footers counted earlier) whole partitions are
    sampled and scaled by rows, and only the sampled folders are listed; otherwise the tree is listed and
    the sample scaled by bytes (rows follow bytes closely within one dataset). None when sampling would not
    save a read (no more files or partitions than ``max_files``) or the tree is remote.
    """
    if max_files <= 0 or is_remote(sel.input_path):
        return None
    if partition_rows:
        keys = selected_keys(sel, [k for k, n in partition_rows.items() if n])
        if len(keys) <= max_files:
            return None
        picked_keys = spread(keys, max_files)
        plan = plan_for(sel, partitions=picked_keys)
        picked = plan.files
        scale = sum(partition_rows[k] for k in keys) / sum(partition_rows[k] for k in picked_keys)
    else:
        plan = plan_for(sel)
        if len(plan.files) <= max_files:
            return None
        picked = spread(plan.files, max_files)
        sizes = {f: os.path.getsize(f) for f in plan.files}
        scale = sum(sizes.values()) / max(1, sum(sizes[f] for f in picked))
    col = q.quote(q.resolve_column(column, plan.columns))
    con = connect()
    try:
        rows = con.execute(
            f"SELECT {col} AS v, count(*) FROM {q.read_parquet(plan.hive)} "
            f"WHERE {col} IS NOT NULL AND {col} <> '' GROUP BY 1",
            {q.FILES_PARAM: picked},
        ).fetchall()
    finally:
        con.close()
    return {str(v): max(1, round(int(n) * scale)) for v, n in rows}


@operation
def values_present(sel: Selection, column: str, values: list[str]) -> set[str]:
    """The ``values`` (compared ignoring case, answered lower-cased) that occur in the column over the
    selection; stops at the first row of each, so values that exist cost little."""
    wanted = sorted({str(v).strip().lower() for v in values if str(v).strip()})
    if not wanted:
        return set()
    plan = plan_for(sel)
    col = q.quote(q.resolve_column(column, plan.columns))
    con = connect()
    found: set[str] = set()
    try:
        source = select_query(con, sel, plan, project=False, suppress=False)
        for value in wanted:
            sql = f"SELECT 1 FROM ({source}) WHERE lower({col}) = $value LIMIT 1"
            if con.execute(sql, {**plan.params, "value": value}).fetchall():
                found.add(value)
    finally:
        con.close()
    return found


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def json_rows(table: pa.Table) -> list[dict]:
    """The table's rows as JSON-friendly dicts: dates and times in ISO text, decimals as floats, bytes in
    base64 (previews and samples of every engine)."""
    return [{k: _jsonable(v) for k, v in row.items()} for row in table.to_pylist()]


def _rows(con: duckdb.DuckDBPyConnection, sql: str, plan: Plan) -> list[dict]:
    return json_rows(con.sql(sql, params=plan.params or None).to_arrow_table())


@operation
def preview(sel: Selection, limit: int) -> list[dict]:
    """Up to ``limit`` rows (projection applied) as JSON-friendly dicts: dates/timestamps as ISO strings."""
    plan = plan_for(sel)
    con = connect()
    try:
        return _rows(con, select_query(con, sel, plan, limit=limit), plan)
    finally:
        con.close()


@operation
def sample(sel: Selection, limit: int) -> list[dict]:
    """One row per contact (person), ordered by the person key, at most ``limit``.

    ``intent_frequency`` is the number of rows of the person in the selection, ``impression_count`` the sum of
    their impressions; identity fields (uid2, email, names, company, location) are taken from their rows.
    A person is person_id, or for lists without one the normalized email (see :func:`profile_key_sql`).
    """
    plan = plan_for(sel)
    key = q.profile_key_sql(plan.columns, plan.hive)
    if key is None:
        raise EngineError("sample needs a person_id, email or uid2 column")
    con = connect()
    try:
        inner = select_query(con, sel, plan, project=False)
        return _rows(con, q.sample_query(inner, plan.columns, key, IDENTITY_COLUMNS, limit), plan)
    finally:
        con.close()


@contextmanager
def arrow_reader(
    sel: Selection,
    *,
    partition: str | None = None,
    limit: int | None = None,
    batch_size: int = 65536,
    csv_safe: bool = False,
    people: bool = False,
) -> Iterator[pa.RecordBatchReader]:
    """A streaming Arrow reader of the selection, open while the ``with`` block runs.

    ``people``: one row per person (see :func:`audiences.engine.sql.people_query`), ``limit`` counts people.
    ``csv_safe``: text columns neutralised against spreadsheet formulas.
    """
    plan = plan_for(sel, partition)
    con = connect()
    try:
        if people:
            key = q.profile_key_sql(plan.columns, plan.hive)
            if key is None:
                raise EngineError("one row per person needs a person_id, email or uid2 column")
            sql = q.people_query(select_query(con, sel, plan, project=False), plan.columns, key, limit)
            sql = q.csv_safe(sql, output_names(sel, plan), plan.columns) if csv_safe else sql
        else:
            sql = select_query(con, sel, plan, limit=limit, csv_safe=csv_safe)
        # a relation streams; a DB-API execute() would materialise the whole result first
        yield con.sql(sql, params=plan.params or None).to_arrow_reader(batch_size)
    finally:
        con.close()


@operation
def iter_batches(
    sel: Selection, batch_size: int = 65536, *, partition: str | None = None, limit: int | None = None
) -> Iterator[pa.RecordBatch]:
    """Stream the selection (projection, WHERE, suppression applied) as Arrow record batches."""
    with arrow_reader(sel, partition=partition, limit=limit, batch_size=batch_size) as reader:
        for batch in reader:
            if batch.num_rows:
                yield batch


@operation
def unload(
    sel: Selection,
    partition: str | None,
    fmt: Literal["parquet", "csv"],
    out: BinaryIO | str,
    limit: int | None = None,
    *,
    batch_size: int = 65536,
) -> int:
    """Write the selection (or one partition) to ``out`` (path or writable binary file); return rows written.

    Parquet is zstd-compressed; CSV has a header. An empty result still writes a valid file (schema/header).
    """
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"unsupported format {fmt!r}")
    rows = 0
    with arrow_reader(
        sel, partition=partition, limit=limit, batch_size=batch_size, csv_safe=fmt == "csv"
    ) as r:
        writer_class = pq.ParquetWriter if fmt == "parquet" else pacsv.CSVWriter
        options = {"compression": "zstd"} if fmt == "parquet" else {}
        with writer_class(out, r.schema, **options) as writer:
            for batch in r:
                writer.write_batch(batch)
                rows += batch.num_rows
    return rows


@operation
def write_csv_stream(
    sel: Selection,
    limit: int | None = None,
    *,
    batch_size: int = 65536,
    rows: Literal["records", "people"] = "records",
) -> Iterator[bytes]:
    """CSV of the selection in chunks (header first) for a streaming HTTP response; ``None`` = no limit.

    ``rows="people"`` writes one row per person (see :func:`audiences.engine.sql.people_query`); ``limit``
    then counts people.
    """
    with arrow_reader(sel, limit=limit, batch_size=batch_size, csv_safe=True, people=rows == "people") as r:
        buf = io.BytesIO()
        with pacsv.CSVWriter(buf, r.schema) as writer:  # writes the header at once
            for batch in r:
                writer.write_batch(batch)
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        rest = buf.getvalue()  # the header alone when nothing matched
        if rest:
            yield rest
