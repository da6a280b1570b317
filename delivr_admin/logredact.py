"""Access logs without personal data or secrets.

Query strings carry UID2 values (`/api/v1/uid2/optout?user=...`), emails (`/privacy/identifier/?value=...`,
`?identifier=...`) and signed-link tokens (`.../download?token=...`). Access logs keep every parameter's
name but only the values of an allow-list of harmless ones (paging, ids, enums, dates); any other value is
replaced, and anything that looks like an email is replaced wherever it appears (paths, referers).

Used by gunicorn's access log (`--logger-class delivr_admin.logredact.GunicornLogger`, see bin/run) and by a
logging filter on Django's request loggers (`django.server`, `django.request`).
"""

import logging
import re
from urllib.parse import quote, unquote_plus

REDACTED = "[redacted]"
# Values that are neither personal nor secret: kept so that logs stay useful for support.
SAFE_PARAMS = frozenset(
    {
        "limit",
        "offset",
        "page",
        "log_page",
        "status",
        "type",
        "kind",
        "source",
        "format",
        "from",
        "to",
        "top",
        "poll",
        "project_id",
        "audience_id",
        "export_id",
        "campaign",
        "destination_type",
        "record_limit",
        "summary_id",
        "refresh_from",
        "action",
        "optouttime",
    }
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+(?:@|%40)[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_QUERY = re.compile(r"\?([^\s\"]*)")
SECRET_HEADERS = ("authorization", "x-api-key", "x-api-secret", "cookie", "x-uid2-signature", "x-csrftoken")


def redact_query(query: str) -> str:
    """The query string with the values of parameters outside SAFE_PARAMS replaced."""
    if not query:
        return query
    out = []
    for pair in query.split("&"):
        name, sep, value = pair.partition("=")
        if sep and value and unquote_plus(name).lower() not in SAFE_PARAMS:
            value = quote(REDACTED)
        out.append(f"{name}{sep}{value}")
    return _EMAIL.sub(REDACTED, "&".join(out))


def redact(text: str) -> str:
    """A request line, URL or log message with its query values (see redact_query) and emails redacted."""
    if not text:
        return text
    text = _QUERY.sub(lambda m: "?" + redact_query(m.group(1)), text)
    return _EMAIL.sub(REDACTED, text)


class RedactFilter(logging.Filter):
    """Rewrites a record's message (Django's request loggers print paths and request lines) redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logged as it is
            return True
        record.msg, record.args = redact(message), ()
        return True


try:  # gunicorn is a runtime dependency, but keep this module importable without it
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # pragma: no cover
    _GunicornLogger = object  # type: ignore[assignment,misc]


class GunicornLogger(_GunicornLogger):  # type: ignore[misc,valid-type]
    """gunicorn's logger with the access-log atoms redacted: request line, path, query, referer, and the
    credential headers should a custom access-log format name them."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "f"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        if isinstance(atoms.get("q"), str):
            atoms["q"] = redact_query(atoms["q"])
        for header in SECRET_HEADERS:
            if f"{{{header}}}i" in atoms:
                atoms[f"{{{header}}}i"] = REDACTED
        return atoms
