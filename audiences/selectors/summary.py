"""Any audience definition as one plain sentence plus chips, for every page a marketer reads.

"People with high or medium intent for CRM Software or Marketing Automation in the last 14 days, in the US,
at companies of 51–500 employees". Works on stored (normalized) definitions and on a builder form's raw one,
flat or with AND/OR groups; it never raises, so a page never breaks on an old or odd definition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from audiences.engine.buckets import SCORES
from audiences.selectors.topics import TopicInfo, topic_catalogue

SCORE_ORDER = tuple(reversed(SCORES))  # highest first, as sentences say them
MAX_TOPICS_IN_SENTENCE = 4
COUNTRIES = {
    "US": "the US",
    "GB": "the UK",
    "UK": "the UK",
    "DE": "Germany",
    "FR": "France",
    "CA": "Canada",
    "AU": "Australia",
    "NL": "the Netherlands",
    "ES": "Spain",
    "IT": "Italy",
    "IE": "Ireland",
    "IN": "India",
    "BR": "Brazil",
    "JP": "Japan",
    "SE": "Sweden",
    "SG": "Singapore",
    "MX": "Mexico",
    "AE": "the UAE",
}
FIELD_LABELS = {"company_employee_count": "company size", "intent_frequency": "intent frequency"}
OP_WORDS = {
    "=": "is",
    "!=": "is not",
    "in": "is one of",
    "not in": "is not one of",
    "<": "is less than",
    "<=": "is at most",
    ">": "is more than",
    ">=": "is at least",
    "contains": "contains",
}


@dataclass(frozen=True)
class Chip:
    kind: str  # topic, score, window, filter, group
    text: str


@dataclass(frozen=True)
class DefinitionSummary:
    sentence: str
    chips: list[Chip] = field(default_factory=list)


def join_words(items: list[str], word: str = "or") -> str:
    """'A', 'A or B', 'A, B or C'."""
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def _human_date(value: Any) -> str:
    try:
        d = date.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return f"{d.day} {d.strftime('%b %Y')}"


def _field_label(name: str) -> str:
    return FIELD_LABELS.get(name.lower(), name.replace("_", " ").strip().lower())


def _values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [v.strip() for v in str(value).split(",") if v.strip()] if "," in str(value) else [str(value)]


def _country(code: str) -> str:
    return COUNTRIES.get(code.strip().upper(), code)


def _bucket_bounds(bucket: str) -> tuple[int | None, int | None]:
    m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", bucket)
    if m:
        return int(m.group(1)), int(m.group(2))
    m = re.fullmatch(r"\s*(\d+)\s*\+\s*", bucket)
    if m:
        return int(m.group(1)), None
    return None, None


def _n(value: int) -> str:
    return f"{value:,}"


def _companies(op: str, values: list[str]) -> str | None:
    """Employee-count buckets as words ('at companies of 51–500 employees'); None when not buckets."""
    bounds = [_bucket_bounds(v) for v in values]
    if not values or any(lo is None for lo, _hi in bounds):
        return None
    lo, hi = bounds[0]
    if op == "between" and len(bounds) == 2:
        lo, hi = min(bounds[0][0], bounds[1][0]), bounds[1][1] if bounds[1][1] is not None else None
        if bounds[0][1] is None:
            hi = None

    def span(a: int, b: int | None) -> str:
        return f"{_n(a)} or more" if b is None else f"{_n(a)}–{_n(b)}"

    if op in ("=", "between"):
        return f"at companies of {span(lo, hi)} employees"
    if op == "in":
        return f"at companies of {join_words([span(a, b) for a, b in bounds])} employees"
    if op == ">=":
        return f"at companies of {_n(lo)} or more employees"
    if op == ">":
        return f"at companies of more than {_n(hi)} employees" if hi is not None else None
    if op == "<=":
        return f"at companies of up to {_n(hi)} employees" if hi is not None else None
    if op == "<":
        return f"at companies of fewer than {_n(lo)} employees"
    if op in ("!=", "not in"):
        return f"not at companies of {join_words([span(a, b) for a, b in bounds])} employees"
    return None


def _quoted(v: str) -> str:
    return v if re.fullmatch(r"[\w.+@-]+", v) else f"“{v}”"


def condition_text(condition: dict) -> str:
    """One attribute filter in words: 'in the US', 'where job title contains “VP”', 'where city is empty'."""
    name = str(condition.get("field") or "")
    op = str(condition.get("op") or "=").strip().lower()
    values = _values(condition.get("value"))
    if name.lower() == "country" and op in ("=", "in") and values:
        return f"in {join_words([_country(v) for v in values])}"
    if name.lower() == "country" and op in ("!=", "not in") and values:
        return f"outside {join_words([_country(v) for v in values], 'and')}"
    if name.lower() == "company_employee_count":
        words = _companies(op, values)
        if words:
            return words
    label = _field_label(name)
    if op == "is empty":
        return f"where {label} is empty"
    if op == "between" and len(values) == 2:
        return f"where {label} is between {_quoted(values[0])} and {_quoted(values[1])}"
    if op in ("in", "not in"):
        quoted = [_quoted(v) for v in values]
        return f"where {label} {OP_WORDS[op]} {join_words(quoted, 'or' if op == 'in' else 'and')}"
    shown = _quoted(values[0]) if values else "nothing"
    return f"where {label} {OP_WORDS.get(op, op)} {shown}"


def _is_group(node: Any) -> bool:
    return (
        isinstance(node, dict)
        and "field" not in node
        and any(isinstance(node.get(k), list) for k in ("filters", "conditions", "any", "all"))
    )


def _group_parts(node: dict) -> tuple[str, list]:
    """(combinator 'and'/'or', children) of a group, whatever spelling it uses."""
    for key, match in (("any", "or"), ("all", "and")):
        if isinstance(node.get(key), list):
            return match, node[key]
    children = node.get("filters") if isinstance(node.get("filters"), list) else node.get("conditions", [])
    raw = str(
        node.get("match") or node.get("combine") or node.get("logic") or node.get("op") or "and"
    ).lower()
    return ("or" if raw in ("or", "any") else "and"), children


def _combine(texts: list[str], match: str, nested: bool) -> str:
    if len(texts) == 1:
        return texts[0]
    if match == "or":
        return f"either {join_words(texts, 'or')}" if not nested else f"({join_words(texts, 'or')})"
    return join_words(texts, "and") if not nested else f"({join_words(texts, 'and')})"


def _merge_equalities(conditions: list[dict]) -> list[dict]:
    """An OR group of "field is X" on one field reads as one "is one of" ("in the US or Canada")."""
    fields = {str(c.get("field") or "").lower() for c in conditions}
    if (
        len(conditions) < 2
        or len(fields) != 1
        or any(str(c.get("op") or "").strip() not in ("=", "in") for c in conditions)
    ):
        return conditions
    values: list = []
    for c in conditions:
        values += c["value"] if isinstance(c.get("value"), list) else [c.get("value")]
    return [{"field": conditions[0].get("field"), "op": "in", "value": values}]


def filters_text(filters: list, match: str = "and") -> tuple[list[str], list[str]]:
    """(sentence parts, chip texts) of a filter list whose items combine with ``match``."""
    parts, chips = [], []
    for node in filters or []:
        if _is_group(node):
            inner_match, children = _group_parts(node)
            children = [c for c in children if isinstance(c, dict) and not _is_group(c)]
            if inner_match == "or":
                children = _merge_equalities(children)
            texts = [condition_text(c) for c in children]
            if not texts:
                continue
            parts.append(_combine(texts, inner_match, nested=match == "or"))
            chips.append(join_words(texts, inner_match))
        elif isinstance(node, dict):
            text = condition_text(node)
            parts.append(text)
            chips.append(text)
    return parts, chips


def _scores_text(scores: list[str]) -> str:
    ordered = [s for s in SCORE_ORDER if s in {str(x).lower() for x in scores or []}]
    if not ordered or len(ordered) == len(SCORE_ORDER):
        return "any intent"
    return f"{join_words(ordered)} intent"


def _window_text(definition: dict) -> str:
    lookback = definition.get("lookback_days")
    if lookback:
        return "on the newest day of data" if int(lookback) == 1 else f"in the last {int(lookback)} days"
    start, end = definition.get("date_from"), definition.get("date_to")
    if start and end:
        if start == end:
            return f"on {_human_date(start)}"
        return f"from {_human_date(start)} to {_human_date(end)}"
    if start:
        return f"from {_human_date(start)}"
    if end:
        return f"until {_human_date(end)}"
    return "at any time"


def _topics_text(codes: list[str], catalogue: dict[str, TopicInfo]) -> tuple[str, list[str]]:
    names = [catalogue[c].name if c in catalogue else c for c in codes]
    if not names:
        return "for any topic", []
    if len(names) > MAX_TOPICS_IN_SENTENCE:
        shown = names[: MAX_TOPICS_IN_SENTENCE - 1]
        return f"for {', '.join(shown)} or {len(names) - len(shown)} other topics", names
    return f"for {join_words(names)}", names


def _top_level(filters: Any) -> tuple[str, list]:
    """(how the top-level items combine, the items): a flat list ANDs its conditions; the grouped shape
    ``{"op": "and"|"or", "groups": [...]}`` (audiences/definitions.py) combines its groups with ``op``."""
    if isinstance(filters, dict):
        items = filters.get("groups")
        match = "or" if str(filters.get("op") or "and").lower() in ("or", "any") else "and"
        return match, items if isinstance(items, list) else []
    return "and", filters if isinstance(filters, list) else []


def definition_summary(
    definition: dict | None, *, organization_id=None, catalogue: dict[str, TopicInfo] | None = None
) -> DefinitionSummary:
    """The definition as one sentence plus chips (topics by their catalogue names; unknown ones by code)."""
    definition = definition if isinstance(definition, dict) else {}
    if catalogue is None:
        catalogue = topic_catalogue(organization_id)
    codes = [str(c) for c in definition.get("topic_id_prefixes") or []]
    topics, topic_chips = _topics_text(codes, catalogue)
    scores = _scores_text(definition.get("scores") or [])
    window = _window_text(definition)
    match, nodes = _top_level(definition.get("filters"))
    parts, filter_chips = filters_text(nodes, match)
    sentence = f"People with {scores} {topics} {window}"
    if parts:
        sentence += ", " + (
            ", ".join(parts) if match == "and" else f"who match {_combine(parts, 'or', nested=False)}"
        )
    chips = [Chip("topic", n) for n in topic_chips] or [Chip("topic", "All topics")]
    chips.append(Chip("score", scores[0].upper() + scores[1:]))
    chips.append(Chip("window", window[0].upper() + window[1:]))
    chips += [Chip("filter", c[0].upper() + c[1:]) for c in filter_chips]
    return DefinitionSummary(sentence=sentence + ".", chips=chips)
