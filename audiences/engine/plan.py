"""A read's plan: the files (local paths, or a registered Arrow dataset for object storage) and column types of
a selection, and the one SELECT every read is built on (WHERE allow-list, suppression anti-joins, projection)."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from audiences.engine import remote
from audiences.engine import sql as q
from audiences.engine.connection import connect, operation, storage_filesystem
from audiences.engine.errors import EngineError, removed_file_error
from audiences.engine.paths import is_remote
from audiences.engine.selection import (
    KEY_RE,
    Listing,
    Selection,
    first_file,
    layout,
    listed_layout,
    local_partitions_layout,
)
from audiences.engine.sqlsafety import validate_where
from audiences.engine.suppression import anti_joins

_REMOTE_SOURCE = "_remote_src"


@dataclass
class Plan:
    hive: bool
    files: list[str]
    columns: dict[str, str]
    remote: bool
    dataset: Any = None  # remote only: the pyarrow dataset DuckDB scans
    registered: set[int] = field(default_factory=set)  # ids of the cursors the dataset is registered in

    @property
    def params(self) -> dict[str, Any]:
        """The bound parameters of queries built on this plan (:func:`select_query`)."""
        return {q.FILES_PARAM: self.files} if self.files and self.dataset is None else {}

    def source(self, con: duckdb.DuckDBPyConnection) -> str:
        """The FROM source: ``read_parquet`` over local files, or the registered remote Arrow dataset."""
        if self.dataset is not None:
            # once per cursor: a second register() fails while an earlier result is still being fetched
            if id(con) not in self.registered:
                con.register(_REMOTE_SOURCE, self.dataset)
                self.registered.add(id(con))
            return _REMOTE_SOURCE
        return q.read_parquet(self.hive)


def plan_for(
    sel: Selection,
    partition: str | None = None,
    partitions: Sequence[str] | None = None,
    *,
    listing: Listing | None = None,
) -> Plan:
    """The plan of the selection, or of one or several of its partitions (EngineError if one is not in it).

    With ``listing`` (the planner's :data:`Listing` of those partitions) nothing is listed again."""
    want = [partition] if partition is not None else partitions
    remote_tree = is_remote(sel.input_path)
    if want and listing is not None:
        found = listed_layout(sel, want, listing)
        hive = "" not in want
    elif want and "" not in want and not remote_tree:
        # A job names its partitions: list just those folders, so 1,800 jobs don't each list 1,800 folders.
        found, hive = local_partitions_layout(sel, want), True
    else:
        hive, found = layout(sel)
        if want is not None:
            missing = [p for p in want if p not in found]
            if missing:
                raise EngineError(f"partition {missing[0]!r} is not in the selection")
            found = {p: found[p] for p in want}
    if remote_tree:
        if not found:
            return Plan(hive=hive, files=[], columns=dataset_columns(sel.input_path), remote=True)
        data = remote.dataset(storage_filesystem(sel.input_path)[0], found, hive)
        files = [info.path for key in sorted(found) for info in found[key]]
        return Plan(hive=hive, files=files, columns=_arrow_columns(data), remote=True, dataset=data)
    files = [f for key in sorted(found) for f in found[key]]
    if listing is not None and files:  # the column types from the first listed file: no listing at all
        columns = dict(_describe_file(files[0], _mtime(files[0]), hive))
    else:
        columns = dataset_columns(sel.input_path)
    return Plan(hive=hive, files=files, columns=columns, remote=False)


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        raise removed_file_error(path) from None


def _arrow_columns(data: Any) -> dict[str, str]:
    """Column name -> DuckDB type of an Arrow dataset (its schema only; nothing is scanned)."""
    con = connect()
    try:
        con.register(_REMOTE_SOURCE, data)
        return {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {_REMOTE_SOURCE}").fetchall()}
    finally:
        con.close()


@operation
def dataset_columns(input_path: str) -> dict[str, str]:
    """Column name -> DuckDB type of the dataset (from one file's footer), including day/prefix/score."""
    if is_remote(input_path):
        fs, base = storage_filesystem(input_path)
        hive, found = remote.first_file(fs, base, KEY_RE)
        if not found:
            raise EngineError(f"no Parquet files under {input_path}")
        return _arrow_columns(remote.dataset(fs, found, hive))
    hive, first = first_file(input_path)
    if first is None:
        raise EngineError(f"no Parquet files under {input_path}")
    return dict(_describe_file(first, os.stat(first).st_mtime_ns, hive))


@functools.lru_cache(maxsize=256)
def _describe_file(path: str, mtime_ns: int, hive: bool) -> tuple[tuple[str, str], ...]:
    """A file's column types, cached per path and modification time (every job asks for them)."""
    con = connect()
    try:
        rows = con.execute(
            f"DESCRIBE SELECT * FROM {q.read_parquet(hive)}", {q.FILES_PARAM: [path]}
        ).fetchall()
    finally:
        con.close()
    return tuple((r[0], r[1]) for r in rows)


def select_query(
    con: duckdb.DuckDBPyConnection,
    sel: Selection,
    plan: Plan,
    *,
    project: bool = True,
    suppress: bool = True,
    limit: int | None = None,
    csv_safe: bool = False,
    file_hash: str | None = None,
) -> str:
    """SELECT over the plan's files with the WHERE, suppression anti-joins, projection and limit.

    Run it with ``plan.params``. `csv_safe` (CSV outputs): text columns that start like a spreadsheet formula
    get a leading quote. ``file_hash``: also a column of that name, DuckDB's ``hash()`` of the path of each
    row's file (local files only, see :func:`file_hashes`).
    """
    if csv_safe:
        inner = select_query(con, sel, plan, project=project, suppress=suppress, limit=limit)
        return q.csv_safe(inner, output_names(sel, plan), plan.columns)
    if project and sel.columns:
        cols = ", ".join("t." + q.quote(q.resolve_column(c, plan.columns)) for c in sel.columns)
    else:
        cols = "t.*"
    if file_hash is not None:
        cols += f", hash(t.filename) AS {q.quote(file_hash)}"
    if not plan.files:
        return f"SELECT {cols} FROM (SELECT {q.empty_projection(plan.columns)}) t WHERE false"
    joins = anti_joins(con, sel.suppression, plan.columns) if suppress else []
    sql = f"SELECT {cols} FROM {plan.source(con)} t " + " ".join(joins)
    if sel.where_sql:
        sql += f" WHERE ({validate_where(sel.where_sql, plan.columns)})"
    return sql + q.limit_clause(limit)


def output_names(sel: Selection, plan: Plan) -> list[str]:
    """The dataset's names of the selection's output columns (all columns without a projection)."""
    return [q.resolve_column(c, plan.columns) for c in sel.columns] if sel.columns else list(plan.columns)


def file_hashes(con: duckdb.DuckDBPyConnection, sel: Selection, plan: Plan) -> dict[int, str] | None:
    """{``hash(path)``: the file's partition key} of the plan's local files, for a reader that tells rows'
    partitions apart by one integer instead of day/prefix/score; None for a remote dataset, a dataset with
    a column named ``filename`` (it would hide DuckDB's), a file outside a day/prefix/score folder, or two
    paths of equal hash."""
    if plan.dataset is not None or not plan.files or "filename" in {c.lower() for c in plan.columns}:
        return None
    keys = ["/".join(os.path.relpath(path, sel.input_path).split(os.sep)[:3]) for path in plan.files]
    if not all(KEY_RE.fullmatch(key) for key in keys):
        return None
    rows = con.execute("SELECT hash(f) FROM unnest($files) AS u(f)", {"files": plan.files}).fetchall()
    found = {int(h): key for (h,), key in zip(rows, keys, strict=True)}
    return found if len(found) == len(set(plan.files)) else None
