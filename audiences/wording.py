"""Errors of the audience engine and of definitions in words a marketer understands.

One wording for the builder's estimate, the detail page's sample and a failed audience build: a field path
("definition.filters[0].value") or an engine's own message never reaches the page; the raw text goes to the
logs (and, for a build, to the support-only details).
"""

from __future__ import annotations

import re

from accounts.models import Role
from audiences import datasets, engine
from delivr_admin.errors import ApplicationError

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


BUILD_FAILED = (
    "The audience could not be counted: the data could not be read just now. "
    "Refresh it in a moment; if it keeps failing, contact support."
)


def build_error_words(exc: Exception) -> str:
    """Why a build failed, in the estimate's words (no file name: the detail page shows it to admins and
    support from the build's raw details)."""
    area, words = error_words(exc)
    if not isinstance(exc, ApplicationError) and words == ENGINE_FAILED:
        return BUILD_FAILED
    if area in ("topics", "scores", "window"):
        return (
            "The audience's definition needs a fix before it can be counted: " + words[:1].lower() + words[1:]
        )
    return "The audience could not be counted: " + words[:1].lower() + words[1:]
