"""Writes of the pixels app: pixel sources, the cookieless setting, snippet regeneration, event ingestion."""

import uuid
from collections.abc import Sequence

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organization
from accounts.services import organization_cookies_set
from delivr_admin.errors import ApplicationError

from .events import MAX_BATCH, EventIn, EventInvalid, custom_fields_validate, event_data_validate, event_parse
from .models import Pixel, PixelEvent, PixelMode
from .snippet import snippet_render

REGENERATE_PER_CYCLE = 1000


def organization_pixel_mode(organization: Organization) -> str:
    return PixelMode.COOKIE if organization.cookies_enabled else PixelMode.COOKIELESS


def _invalid(exc: EventInvalid) -> ApplicationError:
    return ApplicationError(
        str(exc), code="invalid_request", status=400, extra={"fields": {exc.path: [exc.message]}}
    )


@transaction.atomic
def pixel_create(*, organization: Organization, name: str, custom_fields: list | None = None) -> Pixel:
    """Creates a pixel source with its snippet already generated for the organization's mode."""
    name = (name or "").strip()
    if not name:
        raise ApplicationError("A pixel needs a name.", code="invalid_request")
    try:
        fields = custom_fields_validate(custom_fields or [])
    except EventInvalid as exc:
        raise _invalid(exc) from exc
    now = timezone.now()
    mode = organization_pixel_mode(organization)
    pixel = Pixel(organization=organization, name=name, custom_fields=fields, mode=mode, generated_at=now)
    pixel.snippet = snippet_render(
        pixel_id=pixel.id, organization_id=organization.id, mode=mode, generated_at=now
    )
    try:
        with transaction.atomic():
            pixel.save(force_insert=True)
    except IntegrityError as exc:
        raise ApplicationError(
            f"A pixel named {name!r} already exists.", code="conflict", status=409
        ) from exc
    return pixel


@transaction.atomic
def organization_settings_update(*, organization: Organization, cookies_enabled: bool) -> Organization:
    """Sets cookie mode and marks the organization's pixels of the other mode for the next update cycle."""
    organization_cookies_set(organization=organization, cookies_enabled=cookies_enabled)
    mode = organization_pixel_mode(organization)
    Pixel.objects.filter(organization=organization).exclude(mode=mode).update(regeneration_pending=True)
    Pixel.objects.filter(organization=organization, mode=mode).update(regeneration_pending=False)
    return organization


def pixels_needing_regeneration_q() -> Q:
    """Pixels flagged, or whose snippet mode no longer matches their organization (self-healing after races)."""
    return (
        Q(regeneration_pending=True)
        | Q(mode=PixelMode.COOKIE, organization__cookies_enabled=False)
        | Q(mode=PixelMode.COOKIELESS, organization__cookies_enabled=True)
    )


@transaction.atomic
def pixel_regenerate(*, pixel_id: uuid.UUID) -> Pixel | None:
    """Regenerates one pixel's snippet for its organization's current mode (row locked while doing so)."""
    pixel = Pixel.objects.select_for_update().select_related("organization").filter(pk=pixel_id).first()
    if pixel is None:
        return None
    now = timezone.now()
    mode = organization_pixel_mode(pixel.organization)
    snippet = snippet_render(
        pixel_id=pixel.id, organization_id=pixel.organization_id, mode=mode, generated_at=now
    )
    Pixel.objects.filter(pk=pixel.pk).update(
        mode=mode, snippet=snippet, generated_at=now, regeneration_pending=False
    )
    pixel.mode, pixel.snippet, pixel.generated_at, pixel.regeneration_pending = mode, snippet, now, False
    return pixel


def pixel_regenerate_pending() -> int:
    """The pixel update cycle: regenerates every pixel that needs it (up to REGENERATE_PER_CYCLE); returns how many."""
    ids = list(
        Pixel.objects.filter(pixels_needing_regeneration_q()).values_list("id", flat=True)[
            :REGENERATE_PER_CYCLE
        ]
    )
    done = 0
    for pixel_id in ids:
        if pixel_regenerate(pixel_id=pixel_id) is not None:
            done += 1
    return done


def pixel_events_ingest(*, payload) -> int:
    """Validates one event or {"events": [...]} (at most MAX_BATCH) and stores them in one bulk insert.

    All or nothing: one invalid event refuses the batch (400 naming it); an unknown pixel, or a pixel of
    another organization, is a 404. Returns the number of events stored. Cookieless organizations never
    get a visitor id stored, even from a snippet not yet regenerated.
    """
    if isinstance(payload, dict) and "events" in payload:
        if set(payload) != {"events"}:
            raise ApplicationError("A batch body holds only `events`.", code="invalid_request")
        raw_events = payload["events"]
        if not isinstance(raw_events, list) or not raw_events:
            raise ApplicationError("events: Must be a non-empty list.", code="invalid_request")
        if len(raw_events) > MAX_BATCH:
            raise ApplicationError(f"events: At most {MAX_BATCH} events per request.", code="invalid_request")
        paths = [f"events[{i}]" for i in range(len(raw_events))]
    else:
        raw_events, paths = [payload], [""]
    parsed: list[tuple[EventIn, object, str]] = []
    try:
        for raw, path in zip(raw_events, paths, strict=True):
            event, data = event_parse(raw, path)
            parsed.append((event, data, path))
    except EventInvalid as exc:
        raise _invalid(exc) from exc
    pixels = {
        p.id: p
        for p in Pixel.objects.filter(id__in={e.pixel_id for e, _, _ in parsed}).select_related(
            "organization"
        )
    }
    now = timezone.now()
    rows = []
    for event, data, path in parsed:
        pixel = pixels.get(event.pixel_id)
        if pixel is None or pixel.organization_id != event.organization_id:
            raise ApplicationError(
                f"{path + '.' if path else ''}pixel_id: no such pixel in this organization.",
                code="not_found",
                status=404,
            )
        try:
            clean = event_data_validate(
                data, pixel.custom_field_types, f"{path + '.' if path else ''}event_data"
            )
        except EventInvalid as exc:
            raise _invalid(exc) from exc
        rows.append(
            PixelEvent(
                pixel_id=pixel.id,
                organization_id=pixel.organization_id,
                event_type=event.event_type,
                event_data=clean,
                visitor_id=event.visitor_id if pixel.organization.cookies_enabled else "",
                received_at=now,
            )
        )
    with transaction.atomic():
        PixelEvent.objects.bulk_create(rows, batch_size=MAX_BATCH)
    return len(rows)


def pixel_events_seed(*, pixel: Pixel, events: Sequence[PixelEvent]) -> int:
    """Stores prepared events as they are (demo data); returns how many."""
    with transaction.atomic():
        PixelEvent.objects.bulk_create(list(events), batch_size=MAX_BATCH)
    return len(events)
