"""Validation of pixel event payloads: plain Python, fast enough for 500-event batches.

event_data holds the standard groups (geo, device, content, pricing), each an object with known keys, and
the pixel source's custom fields as top-level keys. Any other key is an error.
"""

import math
import re
import uuid
from dataclasses import dataclass

MAX_BATCH = 500
MAX_STRING = 2000
CUSTOM_TYPES = ("string", "number", "integer", "boolean")
STANDARD_GROUPS: dict[str, dict[str, str]] = {
    "geo": {"country": "string", "region": "string", "city": "string", "coordinates": "coordinates"},
    "device": {"type": "string", "os": "string", "browser": "string"},
    "content": {"title": "string", "url": "string", "category": "string"},
    "pricing": {"price": "number", "currency": "currency"},
}
EVENT_KEYS = {"pixel_id", "organization_id", "event_type", "event_data", "visitor_id"}
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_FIELD_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")


class EventInvalid(Exception):
    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class EventIn:
    pixel_id: uuid.UUID
    organization_id: uuid.UUID
    event_type: str
    event_data: dict
    visitor_id: str


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_string(value, path: str):
    if not isinstance(value, str):
        raise EventInvalid(path, "Must be a string.")
    if len(value) > MAX_STRING:
        raise EventInvalid(path, f"At most {MAX_STRING} characters.")
    if "\x00" in value:
        raise EventInvalid(path, "Must not contain NUL characters.")
    return value


def _check_number(value, path: str):
    if not _is_number(value):
        raise EventInvalid(path, "Must be a number.")
    return value


def _check_integer(value, path: str):
    if isinstance(value, bool) or not isinstance(value, int):
        raise EventInvalid(path, "Must be an integer.")
    return value


def _check_boolean(value, path: str):
    if not isinstance(value, bool):
        raise EventInvalid(path, "Must be true or false.")
    return value


def _check_currency(value, path: str):
    if not isinstance(value, str) or not _CURRENCY.match(value):
        raise EventInvalid(path, "Must be a three-letter ISO 4217 currency code.")
    return value.upper()


def _check_coordinates(value, path: str):
    if isinstance(value, dict) and set(value) == {"lat", "lon"}:
        lat, lon = value["lat"], value["lon"]
    elif isinstance(value, list) and len(value) == 2:
        lat, lon = value
    else:
        raise EventInvalid(path, 'Must be {"lat": number, "lon": number} or [lat, lon].')
    if not (_is_number(lat) and _is_number(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise EventInvalid(path, "Latitude must be in [-90, 90] and longitude in [-180, 180].")
    return {"lat": lat, "lon": lon}


_CHECKS = {
    "string": _check_string,
    "number": _check_number,
    "integer": _check_integer,
    "boolean": _check_boolean,
    "currency": _check_currency,
    "coordinates": _check_coordinates,
}


def _check(kind: str, value, path: str):
    """The value, cleaned, when it is of `kind`; raises EventInvalid. An unknown kind passes unchecked."""
    check = _CHECKS.get(kind)
    return check(value, path) if check else value


def event_data_validate(data, custom_fields: dict[str, str], path: str = "event_data") -> dict:
    """The validated event_data (currency upper-cased, coordinates as {lat, lon}); raises EventInvalid."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise EventInvalid(path, "Must be an object.")
    out: dict = {}
    for key, value in data.items():
        group = STANDARD_GROUPS.get(key)
        if group is not None:
            if not isinstance(value, dict):
                raise EventInvalid(f"{path}.{key}", "Must be an object.")
            clean = {}
            for name, item in value.items():
                kind = group.get(name)
                if kind is None:
                    raise EventInvalid(
                        f"{path}.{key}.{name}", f"Unknown field; {key} has {', '.join(group)}."
                    )
                if item is not None:
                    clean[name] = _check(kind, item, f"{path}.{key}.{name}")
            out[key] = clean
        elif key in custom_fields:
            if value is not None:
                out[key] = _check(custom_fields[key], value, f"{path}.{key}")
        else:
            raise EventInvalid(
                f"{path}.{key}", "Unknown field: not a standard group nor a custom field of this pixel."
            )
    return out


def _uuid(value, path: str) -> uuid.UUID:
    if not isinstance(value, str) or not value.strip():
        raise EventInvalid(path, "Must be a valid UUID.")
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise EventInvalid(path, "Must be a valid UUID.") from exc


def event_parse(raw, path: str) -> tuple[EventIn, object]:
    """The event's envelope (ids, type, visitor id) and its raw event_data, validated later per pixel."""
    if not isinstance(raw, dict):
        raise EventInvalid(path or "body", "Must be an object.")
    prefix = f"{path}." if path else ""
    unknown = set(raw) - EVENT_KEYS
    if unknown:
        raise EventInvalid(f"{prefix}{sorted(unknown)[0]}", "Unknown field.")
    for required in ("pixel_id", "organization_id", "event_type"):
        if required not in raw:
            raise EventInvalid(f"{prefix}{required}", "This field is required.")
    event_type = raw["event_type"]
    if (
        not isinstance(event_type, str)
        or not event_type.strip()
        or len(event_type) > 100
        or "\x00" in event_type
    ):
        raise EventInvalid(f"{prefix}event_type", "Must be a non-empty string of at most 100 characters.")
    visitor_id = raw.get("visitor_id") or ""
    if not isinstance(visitor_id, str) or len(visitor_id) > 64 or "\x00" in visitor_id:
        raise EventInvalid(f"{prefix}visitor_id", "Must be a string of at most 64 characters.")
    event = EventIn(
        pixel_id=_uuid(raw["pixel_id"], f"{prefix}pixel_id"),
        organization_id=_uuid(raw["organization_id"], f"{prefix}organization_id"),
        event_type=event_type.strip(),
        event_data={},
        visitor_id=visitor_id,
    )
    return event, raw.get("event_data")


def custom_fields_validate(fields) -> list[dict]:
    """A pixel source's custom field schema: a list of {name, type}; names unique and not a standard group."""
    if not isinstance(fields, list):
        raise EventInvalid("custom_fields", "Must be a list of {name, type}.")
    if len(fields) > 50:
        raise EventInvalid("custom_fields", "At most 50 custom fields.")
    seen: set[str] = set()
    out = []
    for i, field in enumerate(fields):
        path = f"custom_fields[{i}]"
        if not isinstance(field, dict) or set(field) != {"name", "type"}:
            raise EventInvalid(path, "Must be an object with name and type.")
        name, kind = field["name"], field["type"]
        if not isinstance(name, str) or not _FIELD_NAME.match(name):
            raise EventInvalid(
                f"{path}.name", "Lower-case letters, digits and _ (at most 64), not starting with a digit."
            )
        if name in STANDARD_GROUPS or name in seen:
            raise EventInvalid(f"{path}.name", f"{name!r} is a standard group or used twice.")
        if kind not in CUSTOM_TYPES:
            raise EventInvalid(f"{path}.type", f"One of {', '.join(CUSTOM_TYPES)}.")
        seen.add(name)
        out.append({"name": name, "type": kind})
    return out
