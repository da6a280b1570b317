"""Reads of the pixels app, scoped to the principal's organizations."""

import uuid

from django.db.models import Count, Max, QuerySet

from accounts.selectors import Principal
from delivr_admin.selectors import one_or_404

from .models import Pixel, PixelMode


def pixel_list(principal: Principal, *, with_stats: bool = False) -> QuerySet[Pixel]:
    qs = Pixel.objects.filter(organization_id__in=principal.organization_ids).select_related("organization")
    if with_stats:
        qs = qs.annotate(event_count=Count("events"), last_event_at=Max("events__received_at"))
    return qs.order_by("organization__name", "name")


def pixel_get(principal: Principal, pixel_id: uuid.UUID | str) -> Pixel:
    return one_or_404(pixel_list(principal), "pixel not found", id=pixel_id)


def pixel_is_pending(pixel: Pixel) -> bool:
    """Whether the served snippet is not (yet) the one for its organization's current mode."""
    expected = PixelMode.COOKIE if pixel.organization.cookies_enabled else PixelMode.COOKIELESS
    return pixel.regeneration_pending or pixel.mode != expected


def pixel_snippet(pixel_id: uuid.UUID) -> str | None:
    """The stored snippet of a pixel, for the public snippet URL; None if there is no such pixel."""
    return Pixel.objects.filter(pk=pixel_id).values_list("snippet", flat=True).first()


def pixel_pending_count(organization_id: uuid.UUID) -> int:
    return sum(
        1
        for p in Pixel.objects.filter(organization_id=organization_id).select_related("organization")
        if pixel_is_pending(p)
    )
