"""Counts of a selection in as few scans as possible (the builder's live estimate and audience builds).

A separate module so the core reader stays small; it reuses the core's plan and query builder, so the
partition pruning, WHERE allow-list and suppression anti-joins are exactly those of every other read.
"""

from __future__ import annotations

from dataclasses import dataclass

from audiences.engine.core import (
    EngineError,
    Selection,
    _connect,
    _plan,
    _query,
    _quote,
    _remote_errors,
    _scalar,
    profile_key_sql,
)


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
