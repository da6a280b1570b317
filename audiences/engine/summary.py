"""Counts of a selection in as few scans as possible (the builder's live estimate and audience builds).

A separate module so the core reader stays small; it reuses the core's plan and query builder, so the
partition pruning, WHERE allow-list and suppression anti-joins are exactly those of every other read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from audiences.engine.core import (
    _KEY_RE,
    HIVE_KEYS,
    EngineError,
    Selection,
    _connect,
    _plan,
    _query,
    _quote,
    _read_parquet,
    _remote_errors,
    _scalar,
    _wanted,
    profile_key_sql,
)
from audiences.engine.paths import is_remote


@dataclass(frozen=True)
class Summary:
    records: int
    distinct_profiles: int | None
    suppressed: int


@_remote_errors
def count_summary(sel: Selection, distinct_column: str = "person_id") -> Summary:
    """Records and distinct profiles after suppression in one scan, plus the rows suppression removed.

    Without a suppression there is no second scan (suppressed is 0). ``distinct_profiles`` is None when the
    dataset has no ``distinct_column`` (for person_id: nothing that identifies a person, see profile_key_sql).
    """
    plan = _plan(sel)
    lookup = {c.lower(): c for c in plan.columns}
    if distinct_column.lower() == "person_id":
        name = profile_key_sql(plan.columns, plan.hive)  # lists known only by email count by email
    else:
        name = _quote(lookup[distinct_column.lower()]) if distinct_column.lower() in lookup else None
    con = _connect(plan.remote)
    try:
        kept_sql = _query(con, sel, plan, project=False)
        if name is not None:
            records, distinct = con.execute(
                f"SELECT count(*), count(DISTINCT {name}) FROM ({kept_sql})"
            ).fetchone()
        else:
            records, distinct = _scalar(con, f"SELECT count(*) FROM ({kept_sql})"), None
        suppressed = 0
        if sel.suppression:
            total = _scalar(
                con, f"SELECT count(*) FROM ({_query(con, sel, plan, project=False, suppress=False)})"
            )
            suppressed = int(total) - int(records)
    finally:
        con.close()
    return Summary(int(records), None if distinct is None else int(distinct), suppressed)


@_remote_errors
def value_counts_by_day(sel: Selection, column: str, per_day: int = 2000) -> dict[str, dict[str, int]]:
    """{day (ISO, or "" without hive days): {value: rows}} of a text column over the selection, per day.

    Nulls and blanks are left out; each day keeps its ``per_day`` most frequent values. Per day, so a cache
    can keep each day once and sum any window from it. Suppression does not apply (values, not people).
    """
    plan = _plan(sel)
    lookup = {c.lower(): c for c in plan.columns}
    name = lookup.get(column.lower())
    if name is None:
        raise EngineError(f"unknown column {column!r}")
    col = _quote(name)
    day = "CAST(day AS VARCHAR)" if plan.hive else "''"
    con = _connect(plan.remote)
    try:
        inner = _query(con, sel, plan, project=False, suppress=False)
        rows = con.execute(
            f"SELECT d, v, n FROM (SELECT {day} AS d, {col} AS v, count(*) AS n FROM ({inner}) "
            f"WHERE {col} IS NOT NULL AND {col} <> '' GROUP BY ALL) "
            f"QUALIFY row_number() OVER (PARTITION BY d ORDER BY n DESC, v) <= {int(per_day)}"
        ).fetchall()
    finally:
        con.close()
    out: dict[str, dict[str, int]] = {}
    for d, v, n in rows:
        out.setdefault(str(d), {})[str(v)] = int(n)
    return out


def _text_column(plan, column: str) -> str:
    lookup = {c.lower(): c for c in plan.columns}
    name = lookup.get(column.lower())
    if name is None:
        raise EngineError(f"unknown column {column!r}")
    return _quote(name)


def _spread(items: list, n: int) -> list:
    step = len(items) / n
    return [items[int(i * step + step / 2)] for i in range(n)]


@_remote_errors
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
        keys = _selected_keys(sel, [k for k, n in partition_rows.items() if n])
        if len(keys) <= max_files:
            return None
        picked_keys = _spread(keys, max_files)
        plan = _plan(sel, partitions=picked_keys)
        picked, scale = (
            plan.files,
            sum(partition_rows[k] for k in keys) / sum(partition_rows[k] for k in picked_keys),
        )
    else:
        plan = _plan(sel)
        if len(plan.files) <= max_files:
            return None
        picked = _spread(plan.files, max_files)
        sizes = {f: os.path.getsize(f) for f in plan.files}
        scale = sum(sizes.values()) / max(1, sum(sizes[f] for f in picked))
    col = _text_column(plan, column)
    con = _connect()
    try:
        rows = con.execute(
            f"SELECT {col} AS v, count(*) FROM {_read_parquet(picked, plan.hive)} "
            f"WHERE {col} IS NOT NULL AND {col} <> '' GROUP BY 1"
        ).fetchall()
    finally:
        con.close()
    return {str(v): max(1, round(int(n) * scale)) for v, n in rows}


def _selected_keys(sel: Selection, keys: list[str]) -> list[str]:
    """The partition keys inside the selection, sorted; each distinct day/prefix/score is checked once
    (a 20M-row tree has 1,800 keys but 30 days)."""
    verdicts: dict[tuple[str, str], bool] = {}
    out = []
    for key in keys:
        m = _KEY_RE.fullmatch(key)
        if not m:
            continue
        ok = True
        for part in HIVE_KEYS:
            verdict = verdicts.get((part, m.group(part)))
            if verdict is None:
                verdict = verdicts[(part, m.group(part))] = _wanted(sel, part, m.group(part))
            if not verdict:
                ok = False
                break
        if ok:
            out.append(key)
    return sorted(out)


@_remote_errors
def values_present(sel: Selection, column: str, values: list[str]) -> set[str]:
    """The ``values`` (compared ignoring case, answered lower-cased) that occur in the column over the
    selection; stops at the first row of each, so values that exist cost little."""
    wanted = sorted({str(v).strip().lower() for v in values if str(v).strip()})
    if not wanted:
        return set()
    plan = _plan(sel)
    col = _text_column(plan, column)
    con = _connect()
    found: set[str] = set()
    try:
        source = _query(con, sel, plan, project=False, suppress=False)
        for value in wanted:
            hit = con.execute(f"SELECT 1 FROM ({source}) WHERE lower({col}) = ? LIMIT 1", [value]).fetchall()
            if hit:
                found.add(value)
    finally:
        con.close()
    return found
