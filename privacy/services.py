"""Writes of the privacy app: recording opt-outs (registry row + audit event, one transaction) and
recording how many opted-out records each output left out."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Organization
from delivr_admin.emails import email_valid
from delivr_admin.errors import ApplicationError

from .models import AuditEvent, IdentifierType, OptOut, OptOutSource, SuppressionRecord

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_NO_SPACE = re.compile(
    r"^[^\s\x00-\x1f\x7f]+$"
)  # no whitespace, no control characters (NUL breaks PostgreSQL)


@dataclass(frozen=True)
class RequestMeta:
    """Where a change came from: kept on every audit event."""

    ip: str | None = None
    user_agent: str = ""
    request_id: str = ""


SYSTEM_META = RequestMeta()


def identifier_normalize(identifier_type: str, value: str) -> str:
    """The canonical form of an identifier (emails lower-cased, hashes lower-case hex); raises if invalid."""
    if identifier_type not in IdentifierType.values:
        raise ApplicationError(f"Unknown identifier type {identifier_type!r}.", code="invalid_identifier")
    if not isinstance(value, str):
        raise ApplicationError("The identifier must be a string.", code="invalid_identifier")
    value = value.strip()
    if identifier_type in (IdentifierType.EMAIL, IdentifierType.HASHED_EMAIL):
        value = value.lower()
    if not value or len(value) > 255 or not _NO_SPACE.match(value):
        raise ApplicationError(
            "The identifier must be 1 to 255 characters without spaces.", code="invalid_identifier"
        )
    if identifier_type == IdentifierType.EMAIL and not email_valid(value):
        raise ApplicationError("The email address is not valid.", code="invalid_identifier")
    if identifier_type == IdentifierType.HASHED_EMAIL and not _HEX64.match(value):
        raise ApplicationError(
            "A hashed email is the SHA-256 hex digest (64 hex characters) of the lower-cased email.",
            code="invalid_identifier",
        )
    return value


def optout_record(
    *,
    identifier_type: str,
    value: str,
    source: str,
    opted_out_at: datetime,
    organization: Organization | None = None,
    actor: str,
    request_meta: RequestMeta | None = None,
) -> tuple[OptOut, bool]:
    """Adds the identifier to the registry (or re-confirms it) and appends one audit event.

    Returns (entry, created). A repeat delivery keeps one entry, moves opted_out_at back if the new time is
    earlier, and is still audited. Safe under concurrent deliveries of the same identifier.
    """
    if source not in OptOutSource.values:
        raise ApplicationError(f"Unknown opt-out source {source!r}.", code="invalid_request")
    if timezone.is_naive(opted_out_at):
        opted_out_at = timezone.make_aware(opted_out_at, UTC)
    value = identifier_normalize(identifier_type, value)
    meta = request_meta or SYSTEM_META
    now = timezone.now()
    with transaction.atomic():
        candidate = OptOut(
            organization=organization,
            identifier_type=identifier_type,
            value=value,
            source=source,
            opted_out_at=opted_out_at,
            first_received_at=now,
            last_received_at=now,
        )
        # New identifiers (the common case) cost one INSERT; a repeat fails it inside a savepoint and then
        # locks the existing row, so concurrent deliveries of one identifier never raise.
        try:
            with transaction.atomic():
                candidate.save(force_insert=True)
            entry, created = candidate, True
        except IntegrityError:
            entry = OptOut.objects.select_for_update().get(
                identifier_type=identifier_type, value=value, organization=organization
            )
            created = False
        if created:
            action = "optout.created"
            changes = {
                "opted_out_at": {"from": None, "to": opted_out_at.isoformat()},
                "source": {"from": None, "to": source},
            }
        else:
            changes = {}
            fields = {"last_received_at": now}
            if opted_out_at < entry.opted_out_at:
                changes["opted_out_at"] = {
                    "from": entry.opted_out_at.isoformat(),
                    "to": opted_out_at.isoformat(),
                }
                fields["opted_out_at"] = opted_out_at
            OptOut.objects.filter(pk=entry.pk).update(**fields)
            for name, field_value in fields.items():
                setattr(entry, name, field_value)
            action = "optout.updated" if changes else "optout.repeated"
        AuditEvent.objects.create(
            occurred_at=now,
            actor=actor[:200],
            action=action,
            identifier_type=identifier_type,
            identifier_value=value,
            source=source,
            organization_id=organization.id if organization is not None else None,
            optout_id=entry.id,
            changes={**changes, "reported_opted_out_at": opted_out_at.isoformat()},
            ip=meta.ip or None,
            user_agent=(meta.user_agent or "")[:500],
            request_id=(meta.request_id or "")[:100],
        )
    return entry, created


@transaction.atomic
def suppression_record(
    *, organization: Organization, output_kind: str, output_id: str, suppressed_count: int
) -> SuppressionRecord:
    """Records how many opted-out records one output run left out; a retried run overwrites its count."""
    if suppressed_count < 0:
        raise ApplicationError("suppressed_count cannot be negative.", code="invalid_request")
    record, _ = SuppressionRecord.objects.update_or_create(
        organization=organization,
        output_kind=output_kind[:40],
        output_id=str(output_id)[:64],
        defaults={"suppressed_count": suppressed_count, "recorded_at": timezone.now()},
    )
    return record
