"""SQL text for the engine's reads, built from sqlglot identifiers and bound parameters, never from quoted values.

Identifiers are rendered by sqlglot; values (the Parquet file list) are bound parameters (``$files``); the only
numbers formatted in are ``int()``-converted limits. User filters never arrive here as text of our making:
they come through :func:`audiences.engine.sqlsafety.validate_where`, which re-renders them with sqlglot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from audiences.engine.errors import EngineError
from delivr_admin import csvsafe
from delivr_admin.emails import email_normalize_sql

# sqlglot imports a dialect's module the first time it is named: load DuckDB's now, at import (before a
# Celery worker forks its pool), not inside the first job of every pool process (0.2 s on a loaded machine)
Dialect.get_or_raise("duckdb")

FILES_PARAM = "files"
_HIVE_TYPES = "{'day': DATE, 'prefix': VARCHAR, 'score': VARCHAR}"


def quote(name: str) -> str:
    """A column name as a quoted DuckDB identifier."""
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


def read_parquet(hive: bool) -> str:
    """``read_parquet`` over the bound list parameter ``$files``, hive columns typed when ``hive``."""
    if not hive:
        return f"read_parquet(${FILES_PARAM})"
    return f"read_parquet(${FILES_PARAM}, hive_partitioning = true, hive_types = {_HIVE_TYPES})"


def limit_clause(limit: int | None) -> str:
    return "" if limit is None else f" LIMIT {max(0, int(limit))}"


def resolve_column(name: str, columns: Mapping[str, str]) -> str:
    """The dataset's spelling of column ``name`` (case-insensitive), EngineError when it has none."""
    lookup = {c.lower(): c for c in columns}
    try:
        return lookup[name.lower()]
    except KeyError:
        raise EngineError(f"unknown column {name!r}") from None


def profile_key_sql(columns: Mapping[str, str], hive: bool) -> str | None:
    """SQL (unqualified columns) naming the person a row belongs to; None when nothing identifies one.

    An intent tree carries person_id on every row. A list (not hive) may hold rows known only by email or
    uid2 (an email-only upload), so its key falls back to the normalized email, then the uid2: records,
    distinct profiles, sample and per-person downloads then agree on who a person is.
    """
    lookup = {c.lower(): c for c in columns}
    if hive and "person_id" in lookup:
        return quote(lookup["person_id"])
    parts = []
    if "person_id" in lookup:
        parts.append(f"nullif(trim({quote(lookup['person_id'])}), '')")
    if "email" in lookup:
        parts.append(f"nullif({email_normalize_sql(quote(lookup['email']))}, '')")
    if "uid2" in lookup:
        parts.append(f"nullif(trim({quote(lookup['uid2'])}), '')")
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def empty_projection(columns: Mapping[str, str]) -> str:
    """A one-row projection of NULLs typed like ``columns`` (the shape of a selection with no files)."""
    return ", ".join(f"CAST(NULL AS {typ}) AS {quote(name)}" for name, typ in columns.items())


def csv_safe(sql: str, names: Sequence[str], columns: Mapping[str, str]) -> str:
    """``sql`` with its VARCHAR output columns among ``names`` neutralised by delivr_admin.csvsafe (in the
    projection: the engine does it vectorised, no Python per cell); numeric columns stay numbers."""
    text = [n for n in names if str(columns.get(n, "")).upper() == "VARCHAR"]
    if not text:
        return sql
    replace = ", ".join(f"{csvsafe.sql_text(quote(n))} AS {quote(n)}" for n in text)
    return f"SELECT * REPLACE ({replace}) FROM ({sql}) csv_q"


def sample_query(
    inner: str, columns: Mapping[str, str], key: str, identity: Sequence[str], limit: int
) -> str:
    """One row per person of ``inner`` (the first ``limit`` persons by ``key``), identity fields and counts.

    Picks the first persons on the key alone, then aggregates only their rows: aggregating every column for
    every person of a large selection would spill and take minutes.
    """
    aggs = [f"min({quote(c)}) AS {quote(c)}" for c in identity if c in columns]
    aggs.append("count(*) AS intent_frequency")
    if "impression_count" in columns:
        aggs.append('CAST(coalesce(sum("impression_count"), 0) AS BIGINT) AS impression_count')
    n = max(0, int(limit))
    if key == '"person_id"':
        return (
            f"WITH base AS NOT MATERIALIZED ({inner}), picked AS (SELECT DISTINCT person_id FROM base "
            f"WHERE person_id IS NOT NULL ORDER BY person_id LIMIT {n}) "
            f"SELECT person_id, {', '.join(aggs)} FROM base SEMI JOIN picked USING (person_id) "
            f"GROUP BY person_id ORDER BY person_id"
        )
    person = 'min("person_id")' if "person_id" in columns else "CAST(NULL AS VARCHAR)"
    return (
        f"WITH base AS NOT MATERIALIZED (SELECT *, {key} AS _profile FROM ({inner})), "
        f"picked AS (SELECT DISTINCT _profile FROM base WHERE _profile IS NOT NULL "
        f"ORDER BY _profile LIMIT {n}) "
        f"SELECT {person} AS person_id, {', '.join(aggs)} FROM base SEMI JOIN picked USING (_profile) "
        f"GROUP BY _profile ORDER BY _profile"
    )


def people_query(inner: str, columns: Mapping[str, str], key: str, limit: int | None) -> str:
    """One row per person over ``inner``: the newest record's attributes plus per-person aggregates.

    Attributes come from the person's most recent record (by seen_at, then day; any record when the data
    has neither); intent_frequency is the number of the person's records in the audience (the sample's
    figure), impression_count their sum, last_seen_at the newest seen_at.
    """
    lower = {c.lower(): c for c in columns}
    order = next((lower[c] for c in ("seen_at", "day") if c in lower), None)
    skip = {"person_id", "intent_frequency", "impression_count"}
    attrs = [c for c in columns if c.lower() not in skip]

    def pick(c: str) -> str:
        return f"arg_max({quote(c)}, {quote(order)})" if order else f"any_value({quote(c)})"

    cols = ['min("person_id") AS person_id' if "person_id" in lower else "CAST(NULL AS VARCHAR) AS person_id"]
    cols += [f"{pick(c)} AS {quote(c)}" for c in attrs]
    cols.append("count(*) AS intent_frequency")
    if "impression_count" in lower:
        cols.append(
            f"CAST(coalesce(sum({quote(lower['impression_count'])}), 0) AS BIGINT) AS impression_count"
        )
    if "seen_at" in lower:
        cols.append(f"max({quote(lower['seen_at'])}) AS last_seen_at")
    sql = (
        f"SELECT {', '.join(cols)} FROM (SELECT *, {key} AS _profile FROM ({inner})) "
        "WHERE _profile IS NOT NULL GROUP BY _profile"
    )
    return sql + limit_clause(limit)
