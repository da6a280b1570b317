"""Parses DSP payload values. The March 2026 fix: budget and CPM were stored as null because the DSP sends
money in several shapes. Accepted, for a money field `name` (budget, cpm, spend):

    "name": "1500.50"                       a decimal string (a "$" or "," is tolerated)
    "name": 1500.5 | 1500                   a JSON number (read through its text, never through a float sum)
    "name": {"amount": "1500.50", ...}      an object with "amount" (or "value"), itself any of these shapes
    "name": {"micros": 1500500000}          an object with micros
    "name_micros": 1500500000 | "1500500000"  micros (millionths of the currency unit)

`None` means "the DSP did not say" (missing, null, empty or unparseable): callers keep the previous value.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

MICROS = Decimal(1_000_000)


def _decimal(value) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        value = repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, dict):
        for key in ("amount", "value"):
            if key in value:
                return _decimal(value[key])
        if "micros" in value:
            micros = _decimal(value["micros"])
            return None if micros is None else micros / MICROS
        return None
    if not isinstance(value, str):
        return None
    text = value.strip().replace(",", "").replace("$", "").replace("USD", "").strip()
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def parse_money(payload: dict, name: str) -> Decimal | None:
    """The money field `name` of `payload` in any documented shape; None when absent, null or unparseable."""
    value = _decimal(payload.get(name))
    if value is None and f"{name}_micros" in payload:
        micros = _decimal(payload.get(f"{name}_micros"))
        value = None if micros is None else micros / MICROS
    if value is None or value < 0:
        return None
    return value


def parse_int(value, default: int = 0) -> int:
    """A non-negative integer from a number or numeric string; `default` otherwise."""
    number = _decimal(value)
    if number is None or number < 0:
        return default
    return int(number)


def parse_date(value) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def quantize(value: Decimal | None, places: int) -> Decimal | None:
    if value is None:
        return None
    return value.quantize(Decimal(1).scaleb(-places))
