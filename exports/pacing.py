"""Outbound request budgets shared by every worker process: a destination books a slot before each request.

A budget is `limit` requests per rolling `window_seconds` for one key (HubSpot: one portal, whichever export
or run sends), the rule HubSpot itself enforces. Booking keeps the times of the last slots booked: a request
may go at once while the last window holds fewer than the budget, else when the oldest of them leaves the
window. So a run that fell behind (a slow batch, a busy machine) catches up at once instead of losing that
time, and no rolling window ever holds more than the budget. The budget is the limit less 2% (at least one
request) and the window is lengthened by 1%, so network jitter between our clock and the destination's
arrival times cannot push a window past the real limit.

Store: the shared rate-limit store (delivr_admin/ratelimit.py `window_*`): one Lua script on Redis when the
cache is Redis (CACHE_URL), else the atomic SQLite file of the embedded default, so every process books from
one budget and the application's database is never locked for it. A Retry-After answer defers the whole key
(`pace_defer`): every process waits, not only the one told.
"""

from __future__ import annotations

import time

from delivr_admin import ratelimit

MAX_WAIT_SECONDS = 300.0


def budget_of(*, limit: int, window_seconds: float) -> tuple[int, float]:
    """(requests, seconds): the budget actually booked for `limit` per `window_seconds`, with the margins."""
    return max(1, limit - max(1, limit // 50)), window_seconds * 1.01


def pace_book(key: str, *, limit: int, window_seconds: float) -> float:
    """Books the key's next slot; returns the seconds until it (0 when it is now)."""
    if limit <= 0 or window_seconds <= 0:
        return 0.0
    budget, window = budget_of(limit=limit, window_seconds=window_seconds)
    return ratelimit.window_book(f"pace:{key}", budget=budget, window_seconds=window)


def pace(key: str, *, limit: int, window_seconds: float) -> float:
    """Waits for the key's next slot; returns the seconds waited."""
    wait = min(pace_book(key, limit=limit, window_seconds=window_seconds), MAX_WAIT_SECONDS)
    if wait > 0:
        time.sleep(wait)
    return wait


def pace_defer(key: str, seconds: float) -> None:
    """No slot of the key starts before `seconds` from now (a destination's Retry-After)."""
    ratelimit.window_defer(f"pace:{key}", min(seconds, MAX_WAIT_SECONDS))


def pace_deferred_until(key: str) -> float:
    """The unix time before which no slot of the key starts (0 when no Retry-After is pending)."""
    return ratelimit.window_until(f"pace:{key}")
