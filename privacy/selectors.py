"""Reads of the privacy app. The registry holds global entries (organization null, e.g. UID2 opt-outs) that
every organization sees, and organization entries seen by that organization and its parents."""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.http import Http404

from accounts.selectors import Principal
from audiences.engine import Suppression  # the engine subtracts the registry from every output
from delivr_admin.selectors import one_or_404

from .models import AuditEvent, IdentifierType, OptOut, SuppressionRecord


def _visible(organization_ids: Iterable[uuid.UUID], field: str = "organization_id") -> Q:
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__in": list(organization_ids)})


def optout_list(principal: Principal) -> QuerySet[OptOut]:
    """Registry entries the principal may see (global + its organizations), newest opt-out first (searched
    with privacy.filters.OptOutFilter)."""
    qs = OptOut.objects.filter(_visible(principal.organization_ids)).select_related("organization")
    return qs.order_by("-opted_out_at", "id")


def optout_get(principal: Principal, optout_id: uuid.UUID | str) -> OptOut:
    return one_or_404(optout_list(principal), "opt-out not found", id=optout_id)


def audit_event_list(principal: Principal) -> QuerySet[AuditEvent]:
    """Audit events the principal may see, newest first (searched with privacy.filters.AuditEventFilter)."""
    qs = AuditEvent.objects.filter(_visible(principal.organization_ids))
    return qs.order_by("-occurred_at", "-id")


@dataclass
class IdentifierDetail:
    identifier_type: str
    value: str
    entries: list[OptOut]
    events: list[AuditEvent]
    suppressions: list[SuppressionRecord]


def identifier_detail(principal: Principal, *, identifier_type: str, value: str) -> IdentifierDetail:
    """A person's page: their registry entries, every audit event, and the outputs that suppressed since.

    We record per output run only how many records were suppressed, not which ones: the suppressions
    shown are the runs, in organizations the entry applies to, recorded after the opt-out time with a
    suppressed_count above zero. They probably, not certainly, left this person out.
    """
    if identifier_type not in IdentifierType.values:
        raise Http404("unknown identifier type")
    if identifier_type in (IdentifierType.EMAIL, IdentifierType.HASHED_EMAIL):
        value = value.strip().lower()
    entries = list(
        OptOut.objects.filter(_visible(principal.organization_ids))
        .filter(identifier_type=identifier_type, value=value)
        .select_related("organization")
    )
    if not entries:
        raise Http404("identifier not in the registry")
    events = list(
        AuditEvent.objects.filter(_visible(principal.organization_ids)).filter(
            identifier_type=identifier_type, identifier_value=value
        )
    )
    scope = Q(pk__in=[])
    for entry in entries:
        orgs = principal.organization_ids if entry.is_global else [entry.organization_id]
        scope |= Q(organization_id__in=orgs, recorded_at__gte=entry.opted_out_at)
    suppressions = list(
        SuppressionRecord.objects.filter(
            organization_id__in=principal.organization_ids, suppressed_count__gt=0
        )
        .filter(scope)
        .select_related("organization")[:500]
    )
    return IdentifierDetail(identifier_type, value, entries, events, suppressions)


def optouts_apply(organization_ids: Iterable[uuid.UUID]) -> bool:
    """Whether any opt-out entry applies to these organizations (one EXISTS query, nothing loaded)."""
    return OptOut.objects.filter(_visible(organization_ids)).exists()


def optout_suppression(organization_ids: Iterable[uuid.UUID]) -> Suppression:
    """Everything an output of these organizations must leave out: global entries and their own.

    Plain emails stay plain: the engine hashes them itself when a dataset carries hashed emails only. Read
    with one single-column query per kind (no model or tuple per row): a million entries load in about a
    second, which every export pays once.
    """
    from django.db import connection

    visible = OptOut.objects.filter(_visible(organization_ids))
    found: dict[str, list[str]] = {}
    for kind in IdentifierType.values:
        sql, params = (
            visible.filter(identifier_type=kind).order_by().values_list("value").query.sql_with_params()
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            found[kind] = [row[0] for row in cursor.fetchall()]
    return Suppression(
        person_ids=found[IdentifierType.PERSON_ID],
        uid2s=found[IdentifierType.UID2],
        emails=found[IdentifierType.EMAIL],
        email_sha256=found[IdentifierType.HASHED_EMAIL],
    )


def optouts_received_since(
    organization_id: uuid.UUID, since: datetime | None, until: datetime
) -> list[OptOut]:
    """Opt-outs that apply to the organization (its own and global ones) received in (since, until]."""
    qs = OptOut.objects.filter(Q(organization__isnull=True) | Q(organization_id=organization_id))
    qs = qs.filter(last_received_at__lte=until)
    if since is not None:
        qs = qs.filter(last_received_at__gt=since)
    return list(qs.order_by())
