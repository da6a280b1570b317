"""Why a record failed, in words a marketer understands, and the record as a person recognises it.

One table for every destination's error codes (ours from the field mapping, and the CRM's own): pages show
the phrase, followed by the destination's message; the raw code and the run's idempotency key stay in the
stored results and the API, and on the page only for admins and support.
"""

from __future__ import annotations

import re

# The codes our mapping checks and the destinations report, in words. A code not listed falls back to the
# destination's own message (never the code).
RECORD_ERROR_WORDS = {
    # the field mapping's checks (exports/validation.py) and a record with neither person id nor email
    "REQUIRED_FIELD_MISSING": "Required field empty",
    "STRING_TOO_LONG": "Value too long",
    "MULTI_VALUE_TOO_LONG": "Values too long once joined",
    "INVALID_PICKLIST_VALUE": "Not one of the allowed values",
    "INVALID_EMAIL_FORMAT": "Not a valid email address",
    "INVALID_NUMBER_FORMAT": "Not a number",
    # the destinations' own codes
    "DESTINATION_ERROR": "Refused by the destination",
    "ERROR": "Refused by the destination",
    "NO_RESULT": "No answer from the destination for this record",
    "ASSOCIATION_FAILED": "Sent, but not linked to its company",
    "PROPERTY_DOESNT_EXIST": "A mapped field does not exist at the destination",
    "PROPERTY_NOT_SET": "Not unsubscribed: the contact was not found",
    "UNSUBSCRIBE_FAILED": "Could not be unsubscribed",
    "DUPLICATE": "Appears twice",
    "INVALID_EMAIL": "Not a valid email address",
    "INVALID_EMAIL_ADDRESS": "Not a valid email address",
    "INVALID_FIELD": "A mapped field does not exist at the destination",
    "INVALID_FIELD_FOR_INSERT_UPDATE": "A mapped field cannot be written at the destination",
    "INVALID_TYPE": "A value has the wrong type for the destination",
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": "Not one of the allowed values",
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": "Refused by a validation rule at the destination",
    "DUPLICATE_VALUE": "A value the destination already holds for another record",
    "MISSING_ARGUMENT": "Refused by the destination: a value is missing",
    "ALL_OR_NONE_OPERATION_ROLLED_BACK": "Not sent: another record of the same request was refused",
    "NOT_FOUND": "Not found at the destination",
    "OBJECT_NOT_FOUND": "Not found at the destination",
    "VALIDATION_ERROR": "Refused by the destination's checks",
    "CONFLICT": "Already at the destination",
    "RATE_LIMITS": "The destination's rate limit was reached",
    "REQUEST_LIMIT_EXCEEDED": "The destination's rate limit was reached",
}
UNKNOWN_REASON = "Refused by the destination"

# "<run id>:" or "optout-<export id>:" before the record key, ":removed" after it (exports/services/runs)
_KEY_PREFIX = re.compile(
    r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|optout[-:][^:]*):", re.I
)
_REMOVED = ":removed"
# "CODE: message", as ObjectResult.add_error stores the last error of an object type
_CODED = re.compile(r"^([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*): ?(.*)$", re.S)


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] if text else ""


def record_label(key: str | None) -> str:
    """The record as a person recognises it: its person id or email, without the run's id; a removal says
    so; a record with neither id says that."""
    text = str(key or "")
    removal = text.endswith(_REMOVED)
    if removal:
        text = text[: -len(_REMOVED)]
    text = _KEY_PREFIX.sub("", text)
    if not text:
        return "No person id or email"
    return f"{text} (removal)" if removal else text


def record_error_reason(code: str | None) -> str:
    """The phrase for a known error code; "" for an unknown one (the caller falls back to the message)."""
    return RECORD_ERROR_WORDS.get(str(code or "").strip().upper(), "")


def record_error_words(code: str | None, message: str | None = "") -> str:
    """Why a record failed in one line: the code's phrase, then the destination's message when it adds
    something ("Required field empty: Email is required"); an unknown code gives the message alone."""
    phrase = record_error_reason(code)
    message = str(message or "").strip().rstrip(".")
    if not phrase:
        return _sentence(message) or UNKNOWN_REASON
    if not message or message.lower() == phrase.lower():
        return phrase
    return f"{phrase}: {message}"


def record_error_parts(code: str | None, message: str | None = "") -> tuple[str, str]:
    """(reason, details) for a table of failed records: the code's phrase and the destination's message;
    an unknown code gives the message as the reason and no details."""
    phrase = record_error_reason(code)
    message = str(message or "").strip()
    if not phrase:
        return _sentence(message) or UNKNOWN_REASON, ""
    return phrase, "" if message.rstrip(".").lower() == phrase.lower() else _sentence(message)


def last_error_words(stored: str | None) -> str:
    """An object type's last error, stored as "CODE: message" (or a bare message), in words."""
    text = str(stored or "").strip()
    if not text:
        return ""
    m = _CODED.match(text)
    if m is None:
        return _sentence(text)
    return record_error_words(m.group(1), m.group(2))


def last_error_code(stored: str | None) -> str:
    """The code of a stored "CODE: message" ("" without one): for support."""
    m = _CODED.match(str(stored or "").strip())
    return m.group(1) if m else ""
