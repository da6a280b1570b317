"""Reads of contact lists (uploads and export-generated lists), scoped to the caller's organizations."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404

from accounts.selectors import Principal
from audiences.models import ContactList


def contact_list_list(
    principal: Principal, *, type: str | None = None, source: str | None = None
) -> QuerySet[ContactList]:
    qs = ContactList.objects.filter(organization_id__in=principal.organization_ids).select_related("project")
    if type:
        qs = qs.filter(type=type)
    if source:
        qs = qs.filter(source=source)
    return qs.order_by("-created_at", "id")


def contact_list_get(principal: Principal, list_id: uuid.UUID | str) -> ContactList:
    try:
        return contact_list_list(principal).get(pk=list_id)
    except (ContactList.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise Http404("List not found.") from exc


def contact_list_report_name(contact_list: ContactList, kind: str) -> str:
    """The stored report file of kind ``invalid`` or ``duplicates`` ("" when the import found none)."""
    if kind == "invalid":
        return contact_list.invalid_report_name
    if kind == "duplicates":
        return contact_list.duplicate_report_name
    raise Http404("Unknown report.")
