"""A deterministic in-process DelivrDSP for `make run` and the demo.

Every account id gets the same six campaigns every time, with flights anchored to today (so the dashboard
always shows the last ~60 days): a ramp-up over the first week, weekday seasonality (weekends deliver less),
daily noise from a hash (not a random generator), and pacing that spreads the remaining budget over the
remaining days, never spending past the budget. Payloads use the same JSON shapes as the HTTP API, money in
all the shapes the parser accepts (string, number, {"amount"}, *_micros), so the demo exercises them too.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from django.utils import timezone

CAMPAIGNS = [
    # name, flight days, started days ago, daily budget, base cpm, ctr, paused for the last N days
    ("Spring Launch — Prospecting", 90, 70, 900, "9.50", 0.0021, 0),
    ("Retargeting — Site Visitors", 120, 62, 450, "14.00", 0.0042, 0),
    ("CRM Software Intent — High", 60, 40, 1200, "11.25", 0.0028, 0),
    ("Brand Awareness Q1", 75, 90, 2200, "5.75", 0.0009, 0),
    ("Webinar Promotion", 45, 30, 300, "12.40", 0.0035, 9),
    ("Competitor Conquesting", 180, 120, 650, "16.80", 0.0031, 0),
]
LIST_NAMES = [
    "Intent: CRM software — high",
    "Intent: marketing automation",
    "Site visitors (30 days)",
    "Webinar registrants",
    "Lookalike: customers",
    "Intent: data warehouse",
]
WEEKDAY = [1.04, 1.10, 1.12, 1.06, 0.96, 0.68, 0.58]
CENT = Decimal("0.01")


def _unit(*parts) -> float:
    """A number in [0, 1) that depends only on `parts`."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _money(value: Decimal, shape: int, places: int = 2) -> object:
    value = value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    if shape == 0:
        return str(value)
    if shape == 1:
        return float(value)
    if shape == 2:
        return {"amount": str(value), "currency": "USD"}
    return int(value * 1_000_000)


def _put_money(payload: dict, name: str, value: Decimal, shape: int, places: int = 2) -> None:
    if shape == 3:
        payload[f"{name}_micros"] = _money(value, 3, places)
    else:
        payload[name] = _money(value, shape, places)


def _campaign_id(account_id: str, index: int) -> str:
    return f"cmp_{hashlib.sha256(account_id.encode()).hexdigest()[:8]}_{index + 1}"


@lru_cache(maxsize=256)
def _flight(account_id: str, index: int, anchor: date) -> dict:
    name, flight, ago, daily_budget, cpm, ctr, paused_days = CAMPAIGNS[index]
    scale = 0.7 + 0.6 * _unit(account_id, index, "scale")
    start = anchor - timedelta(days=ago)
    end = start + timedelta(days=flight - 1)
    budget = (Decimal(daily_budget * flight * scale) / 100).quantize(Decimal(1)) * 100
    base_cpm = Decimal(cpm)
    last_delivery = min(end, anchor - timedelta(days=paused_days + 1) if paused_days else anchor)
    rows: list[dict] = []
    spent = Decimal(0)
    day = start
    while day <= last_delivery:
        i = (day - start).days
        remaining_days = (end - day).days + 1
        target = (budget - spent) / remaining_days
        ramp = min(1.0, 0.3 + 0.7 * i / 6)
        noise = 0.88 + 0.24 * _unit(account_id, index, day, "spend")
        spend = (target * Decimal(ramp * WEEKDAY[day.weekday()] * noise)).quantize(CENT, ROUND_HALF_UP)
        spend = max(Decimal(0), min(spend, budget - spent))
        spent += spend
        drift = 1 + 0.06 * ((i % 28) / 28 - 0.5) + 0.05 * (_unit(account_id, index, day, "cpm") - 0.5)
        day_cpm = base_cpm * Decimal(drift) * (Decimal("1.08") if day.weekday() >= 5 else 1)
        impressions = int(spend / day_cpm * 1000) if day_cpm else 0
        clicks = int(impressions * ctr * (0.8 + 0.4 * _unit(account_id, index, day, "ctr")))
        rows.append({"date": day, "impressions": impressions, "clicks": clicks, "spend": spend})
        day += timedelta(days=1)
    if end < anchor:
        status = "completed"
    elif paused_days:
        status = "paused"
    else:
        status = "active"
    return {
        "name": name,
        "start": start,
        "end": end,
        "budget": budget,
        "cpm": base_cpm,
        "status": status,
        "rows": rows,
    }


class SimulatorDspClient:
    """The DSP client of the "simulator" provider; `anchor` is the simulated today (default: today, UTC)."""

    def __init__(self, anchor: date | None = None):
        self.anchor = anchor or timezone.now().date()

    def _lists(self, account_id: str, index: int) -> list[dict]:
        count = 1 + int(_unit(account_id, index, "lists") * 3)
        return [
            {
                "list_id": f"lst_{_campaign_id(account_id, index)[4:]}_{j + 1}",
                "list_name": LIST_NAMES[(index + j * 2) % len(LIST_NAMES)],
            }
            for j in range(count)
        ]

    def campaigns(self, account_id: str) -> list[dict]:
        out = []
        for index in range(len(CAMPAIGNS)):
            flight = _flight(account_id, index, self.anchor)
            shape = index % 4
            payload = {
                "id": _campaign_id(account_id, index),
                "account_id": account_id,
                "name": flight["name"],
                "status": flight["status"],
                "start_date": flight["start"].isoformat(),
                "end_date": flight["end"].isoformat(),
                "lists": self._lists(account_id, index),
            }
            _put_money(payload, "budget", flight["budget"], shape)
            _put_money(payload, "cpm", flight["cpm"], shape, places=4)
            payload["contacts_total"] = (
                sum(self.list_match(lst["list_id"])["contacts_count"] for lst in payload["lists"]) * 9 // 10
            )
            out.append(payload)
        return out

    def daily(self, account_id: str, campaign_id: str, date_from: date, date_to: date) -> list[dict]:
        for index in range(len(CAMPAIGNS)):
            if _campaign_id(account_id, index) == campaign_id:
                break
        else:
            return []
        shape = index % 4
        out = []
        for row in _flight(account_id, index, self.anchor)["rows"]:
            if not date_from <= row["date"] <= date_to:
                continue
            payload = {
                "campaign_id": campaign_id,
                "account_id": account_id,
                "date": row["date"].isoformat(),
                "impressions": row["impressions"],
                "clicks": row["clicks"],
            }
            _put_money(payload, "spend", row["spend"], shape)
            if row["impressions"]:
                _put_money(payload, "cpm", row["spend"] / row["impressions"] * 1000, shape, places=4)
            out.append(payload)
        return out

    def list_match(self, list_id: str) -> dict:
        identifiers = 4000 + int(_unit(list_id, "ids") * 76000)
        rate = 0.38 + 0.5 * _unit(list_id, "rate")
        matched = int(identifiers * rate)
        return {
            "list_id": list_id,
            "identifiers_count": identifiers,
            "matched_count": matched,
            "contacts_count": int(identifiers * 0.82),
        }
