"""Reads every app's selectors share."""

from typing import TypeVar

from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404

M = TypeVar("M", bound=Model)


def one_or_404(queryset: QuerySet[M], message: str, **lookup: object) -> M:
    """The one row of `queryset` (already scoped to what the caller may see) matching `lookup`; 404 with
    `message` when there is none, or when the id is malformed (not a UUID, a wrong type), so another
    organization's row looks like no row."""
    try:
        return queryset.get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise Http404(message) from exc
