"""Counts of a selection in as few scans as possible (the builder's live estimate and audience builds).

A separate module so the core reader stays small; it reuses the core's plan and query builder, so the
partition pruning, WHERE allow-list and suppression anti-joins are exactly those of every other read.
"""

from __future__ import annotations

from dataclasses import dataclass

from audiences.engine.core import (
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
