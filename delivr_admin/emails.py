"""Email addresses: the one rule for "valid" and the one hashed form, used by list imports, export field
validation, the opt-out registry and the engine's suppression.

Valid means it looks like ``x@y.z``: one ``@``, a dot in the domain with text on both sides, no white space
(the export reference: INVALID_EMAIL_FORMAT when the @ or the dot is missing). The rule is kept as a pattern
that Python's ``re`` and Arrow's RE2 read the same way, so per-record and vectorised checks cannot drift.
"""

import hashlib
import re

# anchored for Arrow's match_substring_regex; Python uses fullmatch on the same body (its `$` would accept a
# trailing newline)
_BODY = r"[^@\s]+@[^@\s]+\.[^@\s]+"
EMAIL_PATTERN = f"^{_BODY}$"
_EMAIL = re.compile(_BODY)


def email_valid(text: str) -> bool:
    """True when `text` (already trimmed) looks like ``x@y.z``."""
    return _EMAIL.fullmatch(text) is not None


def email_normalize(email: str) -> str:
    """The form emails are compared and hashed in: trimmed and lower-cased."""
    return email.strip().lower()


def email_sha256(email: str) -> str:
    """The hashed_email form of an address: SHA-256 hex of the trimmed, lower-cased address."""
    return hashlib.sha256(email_normalize(email).encode()).hexdigest()


def email_normalize_sql(column: str) -> str:
    """`email_normalize` as a DuckDB expression over an (already quoted) VARCHAR column."""
    return f"lower(trim({column}))"


def email_sha256_sql(column: str) -> str:
    """The same hash as a DuckDB expression over an (already quoted) VARCHAR column."""
    return f"sha256({email_normalize_sql(column)})"
