"""The builder's topic picker, live summary and error wording (kept apart from the filter rows' code).

Errors come from definition_normalize as "definition.<field>: <detail>" with extra["field"]; a marketer sees
them in words, next to the control they concern (topics, scores, time window), never as a field path.
"""

from __future__ import annotations

import json

from audiences.selectors.summary import definition_summary
from audiences.selectors.topics import topic_catalogue, topic_options, topic_sizes
from audiences.wording import error_words

__all__ = ["error_words", "estimate_context", "field_errors", "topic_context"]

AREAS = ("topics", "scores", "window")


def field_errors(exc: Exception) -> dict[str, str]:
    """{area: words} with the error placed next to its control (empty strings elsewhere)."""
    errors = dict.fromkeys(AREAS, "")
    area, words = error_words(exc)
    if area in errors:
        errors[area] = words
    return errors


def _window_of(state: dict) -> dict:
    if state.get("window") == "range":
        return {"date_from": state.get("date_from") or None, "date_to": state.get("date_to") or None}
    try:
        return {"lookback_days": int(state.get("lookback_days") or 0) or None}
    except (TypeError, ValueError):
        return {}


def topic_context(principal, *, prefixes: list[str], state: dict) -> dict:
    """The picker's options (every topic of the data, named from the catalogue, with its size) and chips."""
    sizes = topic_sizes(_window_of(state))
    org_id = principal.organization.pk
    options = topic_options(organization_id=org_id, prefixes=prefixes, sizes=sizes)
    by_code = {o.code: o for o in options}
    catalogue = topic_catalogue(org_id)
    selected = []
    for code in state.get("topic_id_prefixes") or []:
        info = by_code.get(code) or catalogue.get(code)
        selected.append({"code": code, "label": info.name if info else code})
    return {"topics": options, "selected_topics": selected, "topic_sizes_json": json.dumps(sizes)}


def estimate_context(principal, *, data, definition: dict | None, exc: Exception | None) -> dict:
    """What the estimate fragment shows besides the counts: the sentence, errors by area, topic sizes."""
    field_errors = dict.fromkeys(AREAS, "")
    error = None
    if exc is not None:
        area, words = error_words(exc, principal)
        if area in field_errors:
            field_errors[area] = words
            error = "The estimate waits for a fix: " + words[:1].lower() + words[1:]
        else:
            error = words
    window = {
        "window": data.get("window"),
        "lookback_days": data.get("lookback_days"),
        "date_from": data.get("date_from"),
        "date_to": data.get("date_to"),
    }
    summary = None
    if definition is not None:
        summary = definition_summary(definition, catalogue=topic_catalogue(principal.organization.pk))
    return {
        "error": error,
        "field_errors": field_errors,
        "summary": summary,
        "topic_sizes_json": json.dumps(topic_sizes(_window_of(window))),
        "oob": True,
    }
