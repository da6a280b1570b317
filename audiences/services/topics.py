"""Topic catalogue writes: the CSV import behind `manage.py import_topics`.

The CSV has a header row with the columns ``code`` (the topic prefix as it appears in the data, required),
``name`` (required), ``category`` and ``description`` (optional); other columns are ignored and header names
are matched case-insensitively. Importing the same file twice changes nothing (rows are keyed by code), and
each bad row is reported by its line number in words while the good rows are still imported.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.db import transaction

from accounts.models import Organization
from audiences.models import Topic
from delivr_admin.errors import ApplicationError

COLUMNS = ("code", "name", "category", "description")
LIMITS = {"code": 200, "name": 200, "category": 200, "description": 500}


@dataclass
class TopicImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)


def _row_error(line: int, row: dict[str, str], seen: dict[str, int]) -> str | None:
    """Why a row cannot be imported, in words (None when it can)."""
    if not row["code"]:
        return f"Line {line}: the code is empty."
    if not row["name"]:
        return f"Line {line}: topic {row['code']} has no name."
    for column, limit in LIMITS.items():
        if len(row[column]) > limit:
            return f"Line {line}: the {column} of topic {row['code']} is longer than {limit} characters."
    if row["code"] in seen:
        return (
            f"Line {line}: topic {row['code']} is already on line {seen[row['code']]}; this line is skipped."
        )
    return None


def _read(text: str) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    reader = csv.DictReader(io.StringIO(text))
    header = {(h or "").strip().lower(): h for h in reader.fieldnames or []}
    missing = [c for c in ("code", "name") if c not in header]
    if missing:
        raise ApplicationError(
            f"The file needs a header row with the columns code and name (missing: {', '.join(missing)}).",
            code="invalid_topic_file",
        )
    rows, errors, seen = [], [], {}
    for raw in reader:
        line = reader.line_num
        row = {c: (raw.get(header[c]) or "").strip() if c in header else "" for c in COLUMNS}
        if not any(row.values()):
            continue  # blank line
        problem = _row_error(line, row, seen)
        if problem:
            errors.append(problem)
            continue
        seen[row["code"]] = line
        rows.append((line, row))
    return rows, errors


@transaction.atomic
def topic_import(
    *, content: bytes, organization: Organization | None = None, actor: str = ""
) -> TopicImportResult:
    """Creates or updates the catalogue from CSV bytes (global, or one organization's overrides); rows
    created or changed record `actor` as who changed them last."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApplicationError("The file is not UTF-8 text.", code="invalid_topic_file") from exc
    rows, errors = _read(text)
    result = TopicImportResult(errors=errors)
    existing = {t.code: t for t in Topic.objects.filter(organization=organization)}
    for _line, row in rows:
        topic = existing.get(row["code"])
        if topic is None:
            Topic.objects.create(organization=organization, updated_by=actor[:200], **row)
            result.created += 1
        elif any(getattr(topic, c) != row[c] for c in COLUMNS):
            for c in COLUMNS:
                setattr(topic, c, row[c])
            topic.updated_by = actor[:200]
            topic.save()
            result.updated += 1
        else:
            result.unchanged += 1
    return result


@transaction.atomic
def topic_override_save(
    *, organization: Organization, code: str, name: str, category: str = "", description: str = "", actor: str
) -> Topic:
    """Creates or changes the organization's own entry for a topic code (it overrides the global one for the
    organization); the same rules as an imported row. Raises ApplicationError naming the field in words."""
    row = {c: v.strip() for c, v in zip(COLUMNS, (code, name, category, description), strict=True)}
    if not row["code"]:
        raise ApplicationError("Say which topic code this is.", code="invalid_topic", extra={"field": "code"})
    if not row["name"]:
        raise ApplicationError("Give the topic a name.", code="invalid_topic", extra={"field": "name"})
    for column, limit in LIMITS.items():
        if len(row[column]) > limit:
            raise ApplicationError(
                f"The {column} is longer than {limit} characters.",
                code="invalid_topic",
                extra={"field": column},
            )
    topic, _created = Topic.objects.update_or_create(
        organization=organization,
        code=row["code"],
        defaults={**{c: row[c] for c in ("name", "category", "description")}, "updated_by": actor[:200]},
    )
    return topic


@transaction.atomic
def topic_override_reset(*, organization: Organization, code: str) -> bool:
    """Removes the organization's own entry for a code, so the global one applies again (True if removed)."""
    deleted, _ = Topic.objects.filter(organization=organization, code=code).delete()
    return bool(deleted)
