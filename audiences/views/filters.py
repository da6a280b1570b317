"""The builder's attribute filters: AND/OR groups of condition rows, value suggestions, per-condition hints.

The rows are two Django formsets (audiences.forms: ``groups-N-key``/``-op`` and ``filters-N-group``/``-key``/
``-field``/``-op``/``-value``) plus ``filters_op`` (how groups combine). Keys only tie rows to their groups
and to their messages; they never reach the definition. Each new group or row is rendered at the next index
of its formset, with the new totals swapped in out of band.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from accounts.models import Role
from audiences import definitions
from audiences.forms import (
    GROUPS_PREFIX,
    ROWS_PREFIX,
    BuilderForm,
    FilterKeyField,
    filter_rows,
    new_key,
    next_index,
)
from audiences.selectors import audiences as audience_selectors
from audiences.selectors import values as value_selectors
from delivr_admin.decorators import member_required
from delivr_admin.errors import ApplicationError

LIST_VALUE_OPS = ("in", "not in", "between")
OPERATOR_WORDS = {
    "=": "is",
    "!=": "is not",
    "in": "is one of",
    "not in": "is none of",
    "<": "is less than",
    "<=": "is at most",
    ">": "is more than",
    ">=": "is at least",
    "between": "is between",
    "contains": "contains",
    "is empty": "is empty",
}
EMPTY_HINT = "Enter a value: this condition is not counted until it has one."
NO_FIELD_HINT = "Choose a field: this condition is not counted until it has one."

builder_required = member_required(roles=(Role.ADMIN, Role.MARKETER))


def _parsed(op: str, value: str):
    if op == "is empty":
        return None
    if op in LIST_VALUE_OPS:
        return [v.strip() for v in value.split(",") if v.strip()]
    return value.strip()


def _complete(row: dict) -> bool:
    return bool(row["field"]) and (row["op"] == "is empty" or bool(row["value"].strip()))


def filters_from_form(data) -> tuple[list | dict, dict[tuple[int, int], str]]:
    """(the definition's filters, {(group, index) in those filters: row key}) from the form.

    Rows still being filled in are left out (each gets a hint next to it instead). One AND group under an
    AND gives the flat list shape, anything else the grouped one.
    """
    top, groups = filter_rows(data)
    out_groups, positions = [], {}
    for group in groups:
        rows = [r for r in group["rows"] if _complete(r)]
        if not rows:
            continue
        g = len(out_groups)
        for i, row in enumerate(rows):
            positions[(g, i)] = row["key"]
        conditions = [
            {"field": r["field"], "op": r["op"], "value": _parsed(r["op"], r["value"])} for r in rows
        ]
        out_groups.append({"op": group["op"], "conditions": conditions})
    if not out_groups:
        return [], positions
    if len(out_groups) == 1 and out_groups[0]["op"] == "and" and top == "and":
        return out_groups[0]["conditions"], positions
    return {"op": top, "groups": out_groups}, positions


def filters_state(definition: dict) -> dict:
    """The builder's groups for a definition (normalized, or as typed: raw_filters)."""
    top, groups = definitions.filter_groups(definition)
    out, row_index = [], 0
    for group_index, group in enumerate(groups):
        rows = []
        for c in group.get("conditions", []):
            value = c.get("value")
            if isinstance(value, list):
                value = ", ".join(str(v) for v in value)
            rows.append(
                {
                    "key": c.get("key") or new_key("c"),
                    "field": c.get("field", ""),
                    "op": c.get("op", "="),
                    "value": "" if value is None else value,
                    "index": row_index,
                }
            )
            row_index += 1
        key = group.get("key") or new_key("g")
        out.append({"key": key, "op": group.get("op", "and"), "rows": rows, "index": group_index})
    return {"op": top, "groups": out, "group_total": len(out), "row_total": row_index}


def raw_filters(data) -> dict:
    """The filters exactly as typed (incomplete rows too), in the grouped shape filters_state reads."""
    top, groups = filter_rows(data)
    return {
        "op": top,
        "groups": [
            {"key": g["key"], "op": g["op"], "conditions": [dict(r) for r in g["rows"]]}
            for g in groups
            if g["rows"]
        ],
    }


def _window(data) -> dict:
    return BuilderForm(data).time_window()


def condition_messages(data, exc: Exception | None) -> dict[str, str]:
    """{row key: message} for every condition row: hints for unfinished rows, the definition's error next
    to the row it concerns, and "no value like …" for equality conditions naming no value of the data."""
    _top, groups = filter_rows(data)
    messages = {row["key"]: "" for group in groups for row in group["rows"]}
    _filters, positions = filters_from_form(data)
    for group in groups:
        for row in group["rows"]:
            if not row["field"]:
                messages[row["key"]] = (
                    NO_FIELD_HINT if row["value"].strip() else "Choose a field and a value."
                )
            elif not _complete(row):
                messages[row["key"]] = EMPTY_HINT
    position = getattr(exc, "extra", {}).get("condition") if isinstance(exc, ApplicationError) else None
    if position is not None:
        key = positions.get((position.get("group", 0), position.get("index", 0)))
        if key:
            messages[key] = _without_position(exc.message)
        return messages
    window = _window(data)
    for group in groups:
        for row in group["rows"]:
            if _complete(row) and row["op"] in ("=", "in"):
                hint = value_selectors.condition_value_hint(
                    condition={
                        "field": row["field"],
                        "op": row["op"],
                        "value": _parsed(row["op"], row["value"]),
                    },
                    window=window,
                )
                if hint:
                    messages[row["key"]] = hint
    return messages


def _without_position(message: str) -> str:
    """ "Group 1, condition 2 (Country): needs a value." shown next to that row reads "Needs a value."."""
    head, sep, rest = message.partition(": ")
    if not sep or not (head.startswith("Filter ") or head.startswith("Group ")):
        return message
    return rest[:1].upper() + rest[1:]


def messages_html(request: HttpRequest, messages: dict[str, str]) -> str:
    """Out-of-band swaps putting each message next to its condition row (empty ones clear old messages)."""
    return render_to_string(
        "audiences/partials/filters.html#condition-messages", {"messages": messages}, request=request
    )


def _columns() -> list[dict]:
    overview = audience_selectors.dataset_overview(None)
    names = sorted(c for c in overview["columns"] if c not in ("day", "prefix", "score"))
    return [{"name": c, "label": definitions.field_label(c)} for c in names]


def filter_context(state_filters: dict | None = None) -> dict:
    """What partials/filters.html needs besides the form state."""
    return {
        "filter_columns": _columns(),
        "operator_choices": [(op, OPERATOR_WORDS[op]) for op in definitions.OPERATORS],
        "filters": state_filters or {"op": "and", "groups": []},
    }


def _with_totals(request: HttpRequest, response: HttpResponse, *, groups: int, rows: int) -> HttpResponse:
    """The response plus the formsets' new totals, swapped in out of band."""
    response.content += render_to_string(
        "audiences/partials/filters.html#filters-management",
        {"filters": {"group_total": groups, "row_total": rows}, "oob": True},
        request=request,
    ).encode()
    return response


@require_GET
@builder_required
def audience_filter_row(request: HttpRequest) -> HttpResponse:
    """One empty condition row for the group named by ?group=, at the rows formset's next index."""
    data = request.GET
    group_key = FilterKeyField("g").clean(data.get("group"))
    row = {"key": new_key("c"), "field": "", "op": "=", "value": "", "index": next_index(data, ROWS_PREFIX)}
    context = {**filter_context(), "row": row, "group": {"key": group_key}}
    response = render(request, "audiences/partials/filters.html#filter-row", context)
    return _with_totals(request, response, groups=next_index(data, GROUPS_PREFIX), rows=row["index"] + 1)


@require_GET
@builder_required
def audience_filter_group(request: HttpRequest) -> HttpResponse:
    """A new group with one empty condition (?op=or makes it an either/or group), at the next indices."""
    data = request.GET
    row = {"key": new_key("c"), "field": "", "op": "=", "value": "", "index": next_index(data, ROWS_PREFIX)}
    op = "or" if data.get("op") == "or" else "and"
    group = {"key": new_key("g"), "op": op, "rows": [row], "index": next_index(data, GROUPS_PREFIX)}
    context = {**filter_context(), "group": group}
    response = render(request, "audiences/partials/filters.html#filter-group", context)
    return _with_totals(request, response, groups=group["index"] + 1, rows=row["index"] + 1)


@require_GET
@builder_required
def audience_field_values(request: HttpRequest) -> HttpResponse:
    """The <option>s of a condition's datalist: values of its field over the window, with their rows.

    The row is named by ?key=; its field and typed value come from the form fields sent with the request.
    """
    data = request.GET
    key = data.get("key", "")
    _top, groups = filter_rows(data)
    row = next((r for g in groups for r in g["rows"] if r["key"] == key), None)
    values: list = []
    if row and row["field"]:
        try:
            values = value_selectors.field_values(field=row["field"], window=_window(data))
        except ApplicationError:
            values = []
        typed = row["value"].split(",")[-1] if row["op"] in LIST_VALUE_OPS else row["value"]
        values = value_selectors.suggestions(values, typed)
    return render(request, "audiences/partials/filters.html#value-options", {"values": values})
