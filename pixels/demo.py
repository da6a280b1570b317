"""Demo pixel sources with custom fields and a few hundred deterministic events (idempotent)."""

import random
from datetime import UTC, datetime, timedelta

from .models import Pixel, PixelEvent
from .services import pixel_create, pixel_events_seed

SOURCES = [
    ("Marketing website", [{"name": "plan", "type": "string"}, {"name": "logged_in", "type": "boolean"}]),
    ("Checkout", [{"name": "cart_items", "type": "integer"}, {"name": "coupon", "type": "string"}]),
]
PAGES = [
    ("Home", "/", "landing"),
    ("Pricing", "/pricing", "pricing"),
    ("Blog", "/blog/intent-data", "content"),
]
PLACES = [
    ("US", "CA", "San Francisco", 37.77, -122.42),
    ("GB", "ENG", "London", 51.51, -0.13),
    ("DE", "BE", "Berlin", 52.52, 13.40),
]
DEVICES = [("desktop", "macOS", "Safari"), ("mobile", "iOS", "Safari"), ("desktop", "Windows", "Edge")]
START = datetime(2026, 3, 1, tzinfo=UTC)


def _events(pixel: Pixel, rng: random.Random, count: int) -> list[PixelEvent]:
    events = []
    for n in range(count):
        title, path, category = rng.choice(PAGES)
        country, region, city, lat, lon = rng.choice(PLACES)
        kind, os_name, browser = rng.choice(DEVICES)
        data = {
            "geo": {
                "country": country,
                "region": region,
                "city": city,
                "coordinates": {"lat": lat, "lon": lon},
            },
            "device": {"type": kind, "os": os_name, "browser": browser},
            "content": {"title": title, "url": f"https://acme.example{path}", "category": category},
        }
        event_type = "page_view"
        if pixel.name == "Checkout":
            event_type = "purchase" if n % 5 == 0 else "add_to_cart"
            data["pricing"] = {"price": round(rng.uniform(19, 499), 2), "currency": "USD"}
            data["cart_items"] = rng.randint(1, 6)
            if n % 7 == 0:
                data["coupon"] = "SPRING26"
        else:
            data["plan"] = rng.choice(["free", "pro", "enterprise"])
            data["logged_in"] = n % 3 == 0
        events.append(
            PixelEvent(
                pixel=pixel,
                organization_id=pixel.organization_id,
                event_type=event_type,
                event_data=data,
                visitor_id=f"demo-{rng.randint(1, 80):04d}",
                received_at=START + timedelta(minutes=37 * n),
            )
        )
    return events


def seed(context) -> None:
    rng = random.Random(7)
    for (name, fields), count in zip(SOURCES, (240, 120), strict=True):
        pixel = Pixel.objects.filter(organization=context.organization, name=name).first()
        if pixel is None:
            pixel = pixel_create(organization=context.organization, name=name, custom_fields=fields)
        events = _events(pixel, rng, count)  # drawn even when skipped, so the sequence stays deterministic
        if not PixelEvent.objects.filter(pixel=pixel).exists():
            pixel_events_seed(pixel=pixel, events=events)
    context.stdout.write("Pixels: demo sources and events ready.")
