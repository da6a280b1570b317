"""The builder's topic picker, live summary and error wording (kept apart from the filter rows' code).

Errors come from definition_normalize as "definition.<field>: <detail>" with extra["field"]; a marketer sees
them in words, next to the control they concern (topics, scores, time window), never as a field path.
"""

from __future__ import annotations

import json
import re

from accounts.models import Role
from audiences import datasets, engine
from audiences.selectors.summary import definition_summary
from audiences.selectors.topics import topic_catalogue, topic_options, topic_sizes
from delivr_admin.errors import ApplicationError

AREAS = ("topics", "scores", "window")
ENGINE_FAILED = (
    "Nothing could be counted: the data could not be read just now. "
    "Your choices are kept; change anything or wait a moment to try again."
)


def _window_words(field: str, detail: str) -> str:
    if "before" in detail:
        return "The end date is before the start date."
    if "at most" in detail and field != "lookback_days":
        return "A date range covers at most 366 days; choose a shorter range."
    if "either" in detail:
        return "Use either “last N days” or a date range, not both."
    if field == "lookback_days":
        return "Enter a number of days from 1 to 366."
    which = "start" if field == "date_from" else "end"
    return f"Enter the {which} date of the range (for example 1 May 2024), or choose “last N days”."


def unreadable_words(file: str, principal=None) -> str:
    """A file the reader cannot parse, in words: which file only for admins and support (they can fix it)."""
    if principal is not None and (principal.is_admin or principal.role == Role.SUPPORT):
        return f"{datasets.UNREADABLE_WORDS} Unreadable file: {file} (truncated or corrupt); replace or remove it."
    return f"{datasets.UNREADABLE_WORDS} {datasets.UNREADABLE_ADVICE}"


def error_words(exc: Exception, principal=None) -> tuple[str, str]:
    """(area the error concerns: topics, scores, window or general; what to tell the marketer)."""
    unreadable = exc if isinstance(exc, engine.UnreadableFileError) else exc.__cause__
    if isinstance(unreadable, engine.UnreadableFileError):
        return "general", unreadable_words(unreadable.file, principal)
    if not isinstance(exc, ApplicationError):
        return "general", ENGINE_FAILED
    field = str(exc.extra.get("field") or "")
    detail = re.sub(r"^definition\.[\w\[\].]+:\s*", "", exc.message)
    if field in ("lookback_days", "date_from", "date_to"):
        return "window", _window_words(field, detail)
    if field == "scores":
        return "scores", "Choose intent scores from high, medium and low."
    if field == "topic_id_prefixes":
        return "topics", "Pick topics from the list (type a name, a category or a code)."
    m = re.match(r"filters\[(\d+)\]", field)
    if m:
        return "general", f"Filter {int(m.group(1)) + 1}: {detail[:1].upper()}{detail[1:]}".rstrip(".") + "."
    return "general", detail[:1].upper() + detail[1:]


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
