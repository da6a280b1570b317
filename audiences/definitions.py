"""Audience definitions: validation against the dataset's columns and compilation to an engine selection.

The definition format (JSON, as the API takes it and as ``Audience.definition`` stores it)::

    {
      "topic_id_prefixes": ["4eyes_100", ...],     # empty or absent: every topic
      "scores": ["high", "medium"],               # empty or absent: every score
      "lookback_days": 7,                         # or "date_from"/"date_to" (YYYY-MM-DD), not both
      "filters": <filters>                        # optional
    }

``filters`` takes one of two shapes:

* **a list of conditions** (the original shape, still valid): every condition must hold (AND)::

      "filters": [{"field": "country", "op": "=", "value": "US"},
                  {"field": "company_employee_count", "op": ">=", "value": "51-200"}]

* **groups**, one level deep: each group combines its conditions with ``op`` (``"and"``/``"or"``) and the
  groups combine with the top-level ``op``; ``(A or B) and C`` is::

      "filters": {"op": "and", "groups": [
          {"op": "or", "conditions": [{"field": "country", "op": "=", "value": "US"},
                                      {"field": "country", "op": "=", "value": "CA"}]},
          {"op": "and", "conditions": [{"field": "job_title", "op": "contains", "value": "marketing"}]}
      ]}

  A bare condition in ``groups`` is a group of one. Groups do not nest further.

A condition is ``{"field", "op", "value"}``; ``op`` is one of :data:`OPERATORS`. ``value`` is a string or a
number; a list for ``in``/``not in``; ``[low, high]`` for ``between``; absent for ``is empty``. Text equality
(``=``, ``!=``, ``in``, ``not in``) ignores case, so ``country = us`` finds ``US``. Ordered buckets (score
low < medium < high; company_employee_count ranges such as ``51-200``) compare by their order.

Both shapes are kept as given when normalized (an old client reads back what it wrote); readers that want one
shape call :func:`filter_groups`. Conditions compile to a sqlglot expression tree (values become escaped
literals, never pasted text) that then goes through the engine's allow-list (``engine.validate_where``) like
every other filter, so there is one query path and one safety check. Errors are sentences a marketer can
read ("Group 1, condition 2 (Country): needs a value."), with the condition's position in ``extra`` so a
form can show the message next to it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from sqlglot import exp

from audiences import engine
from audiences.engine.buckets import SCORES, BucketError, employee_buckets_in_range, score_buckets
from delivr_admin.errors import ApplicationError

OPERATORS = ("=", "!=", "in", "not in", "<", "<=", ">", ">=", "between", "contains", "is empty")
COMBINATORS = ("and", "or")
MAX_LOOKBACK_DAYS = 366
MAX_FILTERS = 50
MAX_VALUES = 1000
# Case-insensitive equality applies to text columns; ordered buckets keep their own comparison rules.
_BUCKET_COLUMNS = ("score", "company_employee_count")
_TEXT_EQUALITY = ("=", "!=", "in", "not in")
_NUMERIC = (
    "INT",
    "BIGINT",
    "INTEGER",
    "SMALLINT",
    "TINYINT",
    "HUGEINT",
    "UBIGINT",
    "UINTEGER",
    "DOUBLE",
    "FLOAT",
    "REAL",
    "DECIMAL",
)
FIELD_LABELS = {
    "company_employee_count": "Company size (employees)",
    "company_name": "Company name",
    "company_domain": "Company domain",
    "job_title": "Job title",
    "first_name": "First name",
    "last_name": "Last name",
    "intent_frequency": "Intent frequency",
    "impression_count": "Impressions",
    "topic_id": "Topic",
    "seen_at": "Last seen",
    "person_id": "Person ID",
    "uid2": "UID2",
    "prefix": "Topic prefix",
}
_KEY_LABELS = {
    "topic_id_prefixes": "Topics",
    "scores": "Scores",
    "lookback_days": "Lookback days",
    "date_from": "Start date",
    "date_to": "End date",
    "filters": "Filters",
}


def field_label(name: str) -> str:
    """A column's name for people ("Company size (employees)" for company_employee_count)."""
    return FIELD_LABELS.get(name.lower(), name.replace("_", " ").capitalize())


@dataclass(frozen=True)
class Compiled:
    days: tuple[date, ...]
    prefixes: tuple[str, ...]
    scores: tuple[str, ...]
    where_sql: str


def filter_groups(definition: dict) -> tuple[str, list[dict]]:
    """(op between groups, [{"op", "conditions"}, ...]) of a normalized definition, whatever its shape.

    A flat list is one AND group; no filters give ``("and", [])``.
    """
    filters = definition.get("filters") or []
    if isinstance(filters, list):
        return "and", ([{"op": "and", "conditions": list(filters)}] if filters else [])
    return filters.get("op", "and"), list(filters.get("groups", []))


# ---------------------------------------------------------------------------------------------------------
# validation: the nested DRF serializer below is the one check of a definition (API, builder, selectors)


class _Where:
    """Where a condition sits, for messages in words and for forms that show errors next to a condition."""

    def __init__(self, group: int | None, index: int) -> None:
        self.group, self.index = group, index

    def label(self, field: str | None = None) -> str:
        where = (
            f"Filter {self.index + 1}"
            if self.group is None
            else f"Group {self.group + 1}, condition {self.index + 1}"
        )
        return f"{where} ({field_label(field)})" if field else where

    def error(self, message: str, field: str | None = None) -> serializers.ValidationError:
        """A condition's error: the sentence and the position a form shows it at."""
        position = {"group": self.group or 0, "index": self.index}
        return serializers.ValidationError(
            {"message": f"{self.label(field)}: {message}", "condition": position}
        )


def _is_numeric(sql_type: str) -> bool:
    return sql_type.upper().startswith(_NUMERIC)


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class NamesField(serializers.Field):
    """A list of non-blank names (stripped, sorted, once each); lower-cased and checked when `allowed`."""

    def __init__(self, *, allowed: tuple[str, ...] | None = None, **kwargs: Any) -> None:
        self.allowed = allowed
        super().__init__(required=False, allow_null=True, default=None, **kwargs)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        empty, value = super().validate_empty_values(data)
        return (True, []) if empty else (False, value)

    def to_internal_value(self, data: Any) -> list[str]:
        if not isinstance(data, list) or not all(isinstance(v, str) and v.strip() for v in data):
            raise serializers.ValidationError("give a list of names.")
        if len(data) > MAX_VALUES:
            raise serializers.ValidationError(f"at most {MAX_VALUES:,} values.")
        out = [v.strip() for v in data]
        if self.allowed is not None:
            out = [v.lower() for v in out]
            bad = [v for v in out if v not in self.allowed]
            if bad:
                raise serializers.ValidationError(f"“{bad[0]}” is not one of {', '.join(self.allowed)}.")
        return sorted(set(out))

    def to_representation(self, value: Any) -> Any:
        return value


class LookbackField(serializers.IntegerField):
    """Whole days (not a boolean, not text) from 1 to MAX_LOOKBACK_DAYS."""

    def __init__(self, **kwargs: Any) -> None:
        message = f"give a whole number from 1 to {MAX_LOOKBACK_DAYS}."
        errors = {key: message for key in ("invalid", "min_value", "max_value", "max_string_length")}
        super().__init__(
            min_value=1,
            max_value=MAX_LOOKBACK_DAYS,
            required=False,
            allow_null=True,
            default=None,
            error_messages=errors,
            **kwargs,
        )

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field({"type": "string", "format": "date", "nullable": True})
class DayField(serializers.Field):
    """A day as YYYY-MM-DD text; read by :func:`_day` once the window's other rules are checked."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, allow_null=True, default=None, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        return data

    def to_representation(self, value: Any) -> Any:
        return value


def _day(value: Any) -> date:
    if not isinstance(value, str):
        raise serializers.ValidationError("give a date like 2024-05-01.")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise serializers.ValidationError(f"“{value}” is not a date like 2024-05-01.") from exc


class ConditionSerializer(serializers.Serializer):
    """One condition checked against the dataset (``context["columns"]``, ``context["where"]``): the field in
    the dataset's own casing, the operator lower-cased, the value typed by the column."""

    def to_internal_value(self, data: Any) -> dict:
        where: _Where = self.context["where"]
        if isinstance(data, dict) and ("conditions" in data or "groups" in data):
            raise where.error("groups nest one level deep; a group cannot contain another group.")
        if not isinstance(data, dict) or not isinstance(data.get("field"), str) or not data["field"].strip():
            raise where.error("choose a field, an operator and a value.")
        columns: dict[str, str] = self.context["columns"]
        name = {c.lower(): c for c in columns}.get(data["field"].strip().lower())
        if name is None:
            raise where.error(f"there is no field called “{data['field']}” in this data.")
        raw_op = data.get("op", "=")
        op = raw_op.strip().lower() if isinstance(raw_op, str) else ""
        if op not in OPERATORS:
            raise where.error(f"“{raw_op}” is not an operator; use one of {', '.join(OPERATORS)}.", name)
        condition = {"field": name, "op": op, "value": self._typed(op, data.get("value"), name)}
        try:
            _condition_expression(condition, columns)  # bucket names and ranges are checked here
        except BucketError as exc:
            raise where.error(_bucket_message(name, condition["value"]), name) from exc
        return condition

    def _typed(self, op: str, value: Any, name: str) -> Any:
        where: _Where = self.context["where"]
        if op == "is empty":
            return None
        if op in ("in", "not in"):
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                value = [value]  # a single value is a list of one
            if not isinstance(value, list) or not value or len(value) > MAX_VALUES:
                raise where.error(f"needs a list of 1 to {MAX_VALUES:,} values.", name)
            return [self._value(v, name) for v in value]
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise where.error("needs two values, the low and the high end.", name)
            return [self._value(v, name) for v in value]
        if value is None:
            raise where.error("needs a value.", name)
        return self._value(value, name)

    def _value(self, value: Any, name: str) -> str | int | float:
        where: _Where = self.context["where"]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise where.error("values must be text or numbers.", name)
        if isinstance(value, str) and not value.strip():
            raise where.error("needs a value.", name)
        if _is_numeric(self.context["columns"][name]) and isinstance(value, str):
            try:
                return float(value) if "." in value else int(value)
            except ValueError as exc:
                raise where.error(f"“{value}” is not a number.", name) from exc
        return value.strip() if isinstance(value, str) else value


def _bucket_message(name: str, value: Any) -> str:
    shown = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    if name.lower() == "score":
        return f"“{shown}” is not a score; scores are {', '.join(SCORES)}."
    sizes = ", ".join(engine.EMPLOYEE_BUCKETS)
    return f"“{shown}” is not a company size; use one of {sizes} or a number."


def _combinator(value: Any, group: int | None = None) -> str:
    """ "and" or "or" (any case; absent is "and"); a group's message names the group."""
    op = (value if isinstance(value, str) else "and").strip().lower() if value is not None else "and"
    if op not in COMBINATORS:
        label = "" if group is None else f"Group {group + 1}: "
        raise serializers.ValidationError(f"{label}combine conditions with “and” or “or”, not “{value}”.")
    return op


_FILTERS_SCHEMA_CONDITION = {
    "type": "object",
    "properties": {
        "field": {"type": "string", "description": "A column of the dataset, any casing."},
        "op": {"type": "string", "enum": list(OPERATORS)},
        "value": {
            "oneOf": [
                {"type": "string"},
                {"type": "number"},
                {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "number"}]}},
                {"type": "null"},
            ],
            "description": "Text or a number; a list for in / not in; [low, high] for between; absent for "
            "is empty. Text equality (=, !=, in, not in) ignores case; score and company_employee_count "
            "compare by bucket order.",
        },
    },
    "required": ["field", "op"],
}
_COMBINATOR_SCHEMA = {"type": "string", "enum": list(COMBINATORS), "default": "and"}


@extend_schema_field(
    {
        "oneOf": [
            {
                "type": "array",
                "items": _FILTERS_SCHEMA_CONDITION,
                "maxItems": MAX_FILTERS,
                "description": "Conditions that must all hold (AND).",
            },
            {
                "type": "object",
                "description": "Groups one level deep: (A or B) and C is two groups, the first with op or.",
                "properties": {
                    "op": {**_COMBINATOR_SCHEMA, "description": "How the groups combine."},
                    "groups": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "op": {**_COMBINATOR_SCHEMA, "description": "How its conditions combine."},
                                "conditions": {
                                    "type": "array",
                                    "items": _FILTERS_SCHEMA_CONDITION,
                                    "minItems": 1,
                                },
                            },
                            "required": ["conditions"],
                        },
                    },
                },
                "required": ["groups"],
            },
        ]
    }
)
class FiltersField(serializers.Field):
    """Filters in the shape given (a list of conditions, or {op, groups}), each condition through
    ConditionSerializer with its position."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, allow_null=True, default=None, **kwargs)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        empty, value = super().validate_empty_values(data)
        return (True, []) if empty else (False, value)

    def _condition(self, item: Any, where: _Where) -> dict:
        serializer = ConditionSerializer(data=item, context={**self.context, "where": where})
        return serializer.to_internal_value(item)

    def to_internal_value(self, data: Any) -> list | dict:
        if isinstance(data, list):
            if len(data) > MAX_FILTERS:
                raise serializers.ValidationError(f"at most {MAX_FILTERS} conditions.")
            return [self._condition(item, _Where(None, i)) for i, item in enumerate(data)]
        if not isinstance(data, dict):
            raise serializers.ValidationError("give a list of conditions or {op, groups}.")
        unknown = sorted(set(data) - {"op", "groups"})
        if unknown:
            raise serializers.ValidationError(
                f"“{unknown[0]}” is not part of a filter group (use op and groups)."
            )
        top_op = _combinator(data.get("op"))
        groups = data.get("groups") or []
        if not isinstance(groups, list):
            raise serializers.ValidationError("groups must be a list.")
        out_groups, total = [], 0
        for g, group in enumerate(groups):
            if isinstance(group, dict) and "field" in group:
                group = {"op": "and", "conditions": [group]}
            total += self._group_size(group, g)
            if total > MAX_FILTERS:
                raise serializers.ValidationError(f"at most {MAX_FILTERS} conditions.")
            conditions = [self._condition(item, _Where(g, i)) for i, item in enumerate(group["conditions"])]
            out_groups.append({"op": _combinator(group.get("op"), g), "conditions": conditions})
        return {"op": top_op, "groups": out_groups} if out_groups else []

    @staticmethod
    def _group_size(group: Any, g: int) -> int:
        if not isinstance(group, dict) or not isinstance(group.get("conditions"), list):
            raise serializers.ValidationError(f"group {g + 1} needs a list of conditions.")
        extra = sorted(set(group) - {"op", "conditions"})
        if extra:
            raise serializers.ValidationError(f"group {g + 1}: “{extra[0]}” is not part of a group.")
        if not group["conditions"]:
            raise serializers.ValidationError(f"group {g + 1} has no conditions.")
        return len(group["conditions"])

    def to_representation(self, value: Any) -> Any:
        return value


# The one check of a definition (the API through the services, the builder, the selectors); filter fields are
# looked up in context["columns"], the dataset's columns. Its docstring and fields are the API schema's.
class DefinitionSerializer(serializers.Serializer):
    """An audience definition: topics, scores, a time window (lookback_days, or date_from and date_to) and
    filters. Anything else is a 400 `invalid_definition` naming the wrong part in words."""

    topic_id_prefixes = NamesField(help_text="Topic prefixes; empty means every topic.")
    scores = NamesField(allowed=SCORES, help_text=f"Empty means every score; any of {', '.join(SCORES)}.")
    lookback_days = LookbackField(
        help_text="Days ending on the newest day with data; or give date_from and date_to."
    )
    date_from = DayField(help_text="YYYY-MM-DD; with date_to instead of lookback_days.")
    date_to = DayField(help_text="YYYY-MM-DD, at most 366 days after date_from.")
    filters = FiltersField(
        help_text="A list of conditions (all must hold) or {op, groups}: groups one level deep, each "
        "combining its conditions with and/or, the groups combined with the top-level op.",
    )

    def to_internal_value(self, data: Any) -> dict:
        if not isinstance(data, dict):
            raise ApplicationError("The audience definition must be an object.", code="invalid_definition")
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise ApplicationError(
                f"“{unknown[0]}” is not part of an audience definition (use {', '.join(sorted(self.fields))}).",
                code="invalid_definition",
                extra={"field": unknown[0]},
            )
        return super().to_internal_value(data)

    def validate_date_from(self, value: Any) -> str | None:
        given = self.initial_data.get("date_from") is not None or self.initial_data.get("date_to") is not None
        if not given:
            return None
        if self.initial_data.get("lookback_days") is not None:
            raise serializers.ValidationError("give either a number of days or a date range, not both.")
        return _day(value).isoformat()

    def validate_date_to(self, value: Any) -> str | None:
        start_text = self.initial_data.get("date_from")
        if value is None and start_text is None:
            return None
        end = _day(value)
        try:
            start = _day(start_text)
        except serializers.ValidationError:
            return end.isoformat()  # the start date's own error is the one reported
        if end < start:
            raise serializers.ValidationError("the end date is before the start date.")
        if (end - start).days >= MAX_LOOKBACK_DAYS:
            raise serializers.ValidationError(f"a range spans at most {MAX_LOOKBACK_DAYS} days.")
        return end.isoformat()


def definition_normalize(definition: Any, columns: dict[str, str]) -> dict:
    """The definition with types checked and filter field names in the dataset's own casing (through
    DefinitionSerializer); otherwise ApplicationError invalid_definition naming the first wrong part in words."""
    serializer = DefinitionSerializer(data=definition, context={"columns": columns})
    if serializer.is_valid():
        return dict(serializer.validated_data)
    key = next(k for k in serializer.fields if k in serializer.errors)
    detail = serializer.errors[key]
    if isinstance(detail, dict):  # a condition: the sentence and its position
        position = {k: int(v) for k, v in detail["condition"].items()}
        message = detail["message"]
        raise ApplicationError(
            str(message[0] if isinstance(message, list) else message),
            code="invalid_definition",
            extra={"field": "filters", "condition": position},
        )
    message = str(detail[0])
    if not message.startswith("Group "):  # a group's combinator names its group itself
        message = f"{_KEY_LABELS[key]}: {message}"
    raise ApplicationError(message, code="invalid_definition", extra={"field": key})


# ---------------------------------------------------------------------------------------------------------
# compilation to a sqlglot expression


def _literal(value: str | int | float) -> exp.Expression:
    if isinstance(value, int | float):
        return exp.Literal.number(value) if value >= 0 else exp.Neg(this=exp.Literal.number(-value))
    return exp.Literal.string(str(value))


def _in(column: exp.Expression, values: list, negate: bool = False) -> exp.Expression:
    if not values:
        return exp.false() if not negate else exp.true()
    node = exp.In(this=column, expressions=[_literal(v) for v in values])
    return exp.Not(this=node) if negate else node


def _bucket_expression(name: str, op: str, value: Any) -> exp.Expression:
    """Bucket comparisons as IN lists of the buckets that satisfy them (order, not alphabet)."""
    column = exp.column(name, quoted=True)
    is_score = name.lower() == "score"
    if op in ("in", "not in"):
        if is_score:
            values = sorted({b for v in value for b in score_buckets("=", str(v))})
        else:
            values = sorted({b for v in value for b in employee_buckets_in_range("=", v)})
        return _in(column, values, negate=op == "not in")
    pair = tuple(value) if op == "between" else value
    if is_score:
        buckets = score_buckets(op, pair if op == "between" else str(value))
    else:
        buckets = employee_buckets_in_range(op, pair)
    return _in(column, list(buckets))


def _condition_expression(condition: dict, columns: dict[str, str]) -> exp.Expression:
    """A normalized condition as a sqlglot boolean expression (raises BucketError for unknown buckets)."""
    name, op, value = condition["field"], condition["op"], condition["value"]
    column = exp.column(name, quoted=True)
    numeric = _is_numeric(columns.get(name, "VARCHAR"))
    if op == "is empty":
        if numeric:
            return exp.Is(this=column, expression=exp.Null())
        empty = exp.EQ(this=column, expression=exp.Literal.string(""))
        return exp.Paren(this=exp.or_(exp.Is(this=column, expression=exp.Null()), empty))
    if name.lower() in _BUCKET_COLUMNS and op != "contains":
        return _bucket_expression(name, op, value)
    if op == "contains":
        return exp.ILike(this=column, expression=exp.Literal.string(f"%{value}%"))
    if not numeric and op in _TEXT_EQUALITY:
        lowered = exp.Lower(this=column)
        values = [str(v).lower() for v in (value if isinstance(value, list) else [value])]
        if op in ("in", "not in"):
            return _in(lowered, values, negate=op == "not in")
        cls = exp.EQ if op == "=" else exp.NEQ
        return cls(this=lowered, expression=exp.Literal.string(values[0]))
    if op in ("in", "not in"):
        return _in(column, value, negate=op == "not in")
    if op == "between":
        return exp.Between(this=column, low=_literal(value[0]), high=_literal(value[1]))
    cls = {"=": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}[op]
    return cls(this=column, expression=_literal(value))


def _combine(op: str, parts: list[exp.Expression]) -> exp.Expression:
    node = exp.and_(*parts) if op == "and" else exp.or_(*parts)
    return exp.Paren(this=node) if len(parts) > 1 else node


def filters_expression(definition: dict, columns: dict[str, str]) -> exp.Expression | None:
    """The filters of a normalized definition as one sqlglot expression (None when there are none)."""
    op, groups = filter_groups(definition)
    parts = [
        _combine(g["op"], [_condition_expression(c, columns) for c in g["conditions"]])
        for g in groups
        if g["conditions"]
    ]
    if not parts:
        return None
    return _combine(op, parts)


def filters_sql(definition_or_filters: dict | list, columns: dict[str, str]) -> str:
    """DuckDB SQL of the filters (a normalized definition or its filters); '' when there are none."""
    if isinstance(definition_or_filters, list) or "groups" in definition_or_filters:
        definition_or_filters = {"filters": definition_or_filters}
    node = filters_expression(definition_or_filters, columns)
    return node.sql(dialect="duckdb") if node is not None else ""


_DAYS_SECONDS = 30.0
_days_cache: dict[str, tuple[float, int, list[date]]] = {}


def available_days(input_path: str) -> list[date]:
    """Days with data in the hive tree, from the directory listing.

    Listing a 1,800-partition tree costs 100-300 ms and every estimate (and each value hint) asks, so a local
    tree's answer is kept for 30 s while its root folder is unchanged (a new day folder changes it at once).
    """
    local = os.path.isdir(input_path)
    stamp = os.stat(input_path).st_mtime_ns if local else 0
    hit = _days_cache.get(input_path)
    if local and hit and hit[1] == stamp and time.monotonic() - hit[0] < _DAYS_SECONDS:
        return list(hit[2])
    keys = engine.engine_for(input_path).list_partitions(engine.Selection(input_path=input_path))
    days = sorted({date.fromisoformat(k.split("/", 1)[0].split("=", 1)[1]) for k in keys})
    if local:
        _days_cache[input_path] = (time.monotonic(), stamp, days)
    return list(days)


def definition_days(definition: dict, *, input_path: str, hive: bool = True) -> tuple[date, ...]:
    """The days a normalized definition reads: a lookback ends on the newest day with data, not today.

    So a partition that lands late never empties an otherwise-ready audience. ``()`` means every day.
    """
    if hive and definition.get("lookback_days"):
        present = available_days(input_path)
        if present:
            newest = present[-1]
            start = newest - timedelta(days=definition["lookback_days"] - 1)
            return tuple(d for d in present if d >= start) or (newest,)
        return ()
    if definition.get("date_from"):
        start, end = date.fromisoformat(definition["date_from"]), date.fromisoformat(definition["date_to"])
        return tuple(start + timedelta(days=i) for i in range((end - start).days + 1))
    return ()


def definition_compile(
    definition: dict, *, input_path: str, columns: dict[str, str], hive: bool = True
) -> Compiled:
    """Days, prefixes, scores and the allow-listed WHERE of a normalized definition."""
    days = definition_days(definition, input_path=input_path, hive=hive)
    where_text = filters_sql(definition, columns)
    try:
        where_sql = engine.validate_where(where_text, columns) if where_text else ""
    except engine.UnsafeExpression as exc:
        raise ApplicationError(
            "The filters cannot be used on this data; check each condition's field and value.",
            code="invalid_definition",
            extra={"field": "filters"},
        ) from exc
    return Compiled(
        days=days,
        prefixes=tuple(definition.get("topic_id_prefixes", ())) if hive else (),
        scores=tuple(definition.get("scores", ())) if hive else (),
        where_sql=where_sql,
    )
