"""Audience definitions: validation against the dataset's columns and compilation to an engine selection.

Attribute filters become SQL text that then goes through the same allow-list (engine.validate_where) as a
user's where_expr, so there is one query path and one safety check. Ordered buckets (score,
company_employee_count) are rewritten there too, so range filters keep only buckets inside the range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from audiences import engine
from delivr_admin.errors import ApplicationError

OPERATORS = ("=", "!=", "in", "not in", "<", "<=", ">", ">=", "between", "contains", "is empty")
SCORES = ("low", "medium", "high")
MAX_LOOKBACK_DAYS = 366
MAX_FILTERS = 50
MAX_VALUES = 1000
_NUMERIC = (
    "INT",
    "BIGINT",
    "INTEGER",
    "SMALLINT",
    "TINYINT",
    "HUGEINT",
    "DOUBLE",
    "FLOAT",
    "REAL",
    "DECIMAL",
)


@dataclass(frozen=True)
class Compiled:
    days: tuple[date, ...]
    prefixes: tuple[str, ...]
    scores: tuple[str, ...]
    where_sql: str


def _error(message: str, field: str) -> ApplicationError:
    return ApplicationError(
        f"definition.{field}: {message}", code="invalid_definition", extra={"field": field}
    )


def _is_numeric(sql_type: str) -> bool:
    return sql_type.upper().startswith(_NUMERIC)


def _date(value: Any, field: str) -> date:
    if not isinstance(value, str):
        raise _error("must be a date string like 2024-05-01", field)
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise _error("must be a date like 2024-05-01", field) from exc


def _str_list(value: Any, field: str, *, allowed: tuple[str, ...] | None = None) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _error("must be a list of non-empty strings", field)
    if len(value) > MAX_VALUES:
        raise _error(f"at most {MAX_VALUES} values", field)
    out = [v.strip() for v in value]
    if allowed is not None:
        out = [v.lower() for v in out]
        bad = [v for v in out if v not in allowed]
        if bad:
            raise _error(f"unknown value {bad[0]!r} (allowed: {', '.join(allowed)})", field)
    return sorted(set(out))


def _value(value: Any, sql_type: str, field: str) -> str | int | float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _error("values must be strings or numbers", field)
    if _is_numeric(sql_type) and isinstance(value, str):
        try:
            return float(value) if "." in value else int(value)
        except ValueError as exc:
            raise _error(f"{value!r} is not a number", field) from exc
    return value


def definition_normalize(definition: Any, columns: dict[str, str]) -> dict:
    """The definition with types checked and filter field names in the dataset's own casing; 400 otherwise."""
    if not isinstance(definition, dict):
        raise ApplicationError("definition must be an object.", code="invalid_definition")
    known = {"topic_id_prefixes", "scores", "lookback_days", "date_from", "date_to", "filters"}
    unknown = sorted(set(definition) - known)
    if unknown:
        raise _error(f"unknown key (allowed: {', '.join(sorted(known))})", unknown[0])
    out: dict[str, Any] = {
        "topic_id_prefixes": _str_list(definition.get("topic_id_prefixes"), "topic_id_prefixes"),
        "scores": _str_list(definition.get("scores"), "scores", allowed=SCORES),
        "lookback_days": None,
        "date_from": None,
        "date_to": None,
        "filters": [],
    }
    lookback = definition.get("lookback_days")
    if lookback is not None:
        if (
            isinstance(lookback, bool)
            or not isinstance(lookback, int)
            or not 1 <= lookback <= MAX_LOOKBACK_DAYS
        ):
            raise _error(f"must be an integer from 1 to {MAX_LOOKBACK_DAYS}", "lookback_days")
        out["lookback_days"] = lookback
    if definition.get("date_from") is not None or definition.get("date_to") is not None:
        if lookback is not None:
            raise _error("give either lookback_days or a date range, not both", "date_from")
        start = _date(definition.get("date_from"), "date_from")
        end = _date(definition.get("date_to"), "date_to")
        if end < start:
            raise _error("is before date_from", "date_to")
        if (end - start).days >= MAX_LOOKBACK_DAYS:
            raise _error(f"a range spans at most {MAX_LOOKBACK_DAYS} days", "date_to")
        out["date_from"], out["date_to"] = start.isoformat(), end.isoformat()
    filters = definition.get("filters") or []
    if not isinstance(filters, list) or len(filters) > MAX_FILTERS:
        raise _error(f"must be a list of at most {MAX_FILTERS} filters", "filters")
    lookup = {name.lower(): name for name in columns}
    for i, item in enumerate(filters):
        path = f"filters[{i}]"
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("field"), str)
            or not isinstance(item.get("op"), str)
        ):
            raise _error("each filter is {field, op, value}", path)
        name = lookup.get(item["field"].strip().lower())
        if name is None:
            raise _error(f"unknown field {item['field']!r}", f"{path}.field")
        op = item["op"].strip().lower()
        if op not in OPERATORS:
            raise _error(f"unknown operator {item['op']!r} (allowed: {', '.join(OPERATORS)})", f"{path}.op")
        value = item.get("value")
        sql_type = columns[name]
        if op == "is empty":
            value = None
        elif op in ("in", "not in"):
            if not isinstance(value, list) or not value or len(value) > MAX_VALUES:
                raise _error(f"needs a list of 1 to {MAX_VALUES} values", f"{path}.value")
            value = [_value(v, sql_type, f"{path}.value") for v in value]
        elif op == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise _error("needs [low, high]", f"{path}.value")
            value = [_value(v, sql_type, f"{path}.value") for v in value]
        else:
            value = _value(value, sql_type, f"{path}.value")
        out["filters"].append({"field": name, "op": op, "value": value})
    return out


def _lit(value: str | int | float) -> str:
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def filters_sql(filters: list[dict], columns: dict[str, str]) -> str:
    """SQL text for normalized filters (ANDed); it still goes through engine.validate_where."""
    parts = []
    for f in filters:
        col, op, value = f'"{f["field"]}"', f["op"], f["value"]
        if op == "is empty":
            text_col = not _is_numeric(columns.get(f["field"], "VARCHAR"))
            parts.append(f"({col} IS NULL OR {col} = '')" if text_col else f"{col} IS NULL")
        elif op in ("in", "not in"):
            parts.append(f"{col} {op.upper()} ({', '.join(_lit(v) for v in value)})")
        elif op == "between":
            parts.append(f"{col} BETWEEN {_lit(value[0])} AND {_lit(value[1])}")
        elif op == "contains":
            parts.append(f"{col} ILIKE {_lit('%' + str(value) + '%')}")
        else:
            parts.append(f"{col} {op} {_lit(value)}")
    return " AND ".join(parts)


def available_days(input_path: str) -> list[date]:
    """Days with data in the hive tree (from the directory listing; cheap)."""
    keys = engine.list_partitions(engine.Selection(input_path=input_path))
    return sorted({date.fromisoformat(k.split("/", 1)[0].split("=", 1)[1]) for k in keys})


def definition_compile(
    definition: dict, *, input_path: str, columns: dict[str, str], hive: bool = True
) -> Compiled:
    """Days, prefixes, scores and the allow-listed WHERE of a normalized definition.

    A lookback window ends on the newest day that has data (not today), so a partition that lands late
    never empties an otherwise-ready audience.
    """
    days: tuple[date, ...] = ()
    if hive and definition.get("lookback_days"):
        present = available_days(input_path)
        if present:
            newest = present[-1]
            start = newest - timedelta(days=definition["lookback_days"] - 1)
            days = tuple(d for d in present if d >= start)
            if not days:
                days = (newest,)
    elif definition.get("date_from"):
        start, end = date.fromisoformat(definition["date_from"]), date.fromisoformat(definition["date_to"])
        days = tuple(start + timedelta(days=i) for i in range((end - start).days + 1))
    where_text = filters_sql(definition.get("filters", []), columns)
    try:
        where_sql = engine.validate_where(where_text, columns) if where_text else ""
    except engine.UnsafeExpression as exc:
        raise ApplicationError(f"definition.filters: {exc}", code="invalid_definition") from exc
    return Compiled(
        days=days,
        prefixes=tuple(definition.get("topic_id_prefixes", ())) if hive else (),
        scores=tuple(definition.get("scores", ())) if hive else (),
        where_sql=where_sql,
    )
