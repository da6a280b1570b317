"""Outbound request budgets shared by every worker process: a destination books a slot before each request.

A budget is `limit` requests per `window_seconds` for one key (HubSpot: one portal, whichever export or run
sends). Booking is GCRA without burst: each booking moves the key's "theoretical arrival time" one interval
on and returns when the booked slot comes; the caller sleeps until then. The interval is window / (limit -
margin), so any rolling window holds at most `limit` requests even when network jitter bunches arrivals (the
margin is 2% of the limit, at least one request) and a run loses at most ~2% of the allowed throughput.

Store: Redis (one Lua script, atomic across processes) when the cache is Redis (CACHE_URL), else one row per
key in the database, moved with a single conditional UPDATE, so processes of the embedded default share it
too. A Retry-After answer defers the whole key (`pace_defer`): every process waits, not only the one told.
"""

from __future__ import annotations

import time

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest

MAX_WAIT_SECONDS = 300.0

_BOOK_LUA = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 60000)
return tostring(tat - now)
"""
_DEFER_LUA = """
local at = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < at then redis.call('SET', KEYS[1], tostring(at), 'PX', math.ceil(tonumber(ARGV[2]) * 1000) + 60000) end
return 'ok'
"""


def interval_of(*, limit: int, window_seconds: float) -> float:
    """Seconds between two booked slots for a budget of `limit` requests per `window_seconds`."""
    margin = max(1, limit // 50)
    return window_seconds / max(1, limit - margin)


def _redis():
    cache = caches["default"]
    return cache if isinstance(cache, RedisCache) else None


def pace_book(key: str, *, limit: int, window_seconds: float) -> float:
    """Books the key's next slot; returns the seconds until it (0 when it is now)."""
    if limit <= 0 or window_seconds <= 0:
        return 0.0
    interval = interval_of(limit=limit, window_seconds=window_seconds)
    now = time.time()
    cache = _redis()
    if cache is not None:
        full_key = cache.make_and_validate_key(f"pace:{key}")
        client = cache._cache.get_client(full_key, write=True)
        return max(0.0, float(client.eval(_BOOK_LUA, 1, full_key, repr(now), repr(interval))))
    return _book_db(key, now, interval)


def _book_db(key: str, now: float, interval: float) -> float:
    from exports.models import PacingSlot

    for _ in range(2):
        with transaction.atomic():
            # One UPDATE moves the slot: concurrent processes serialize on the row (PostgreSQL row lock,
            # SQLite's write lock), and the read after it sees our own write.
            moved = PacingSlot.objects.filter(key=key).update(tat=Greatest(F("tat"), Value(now)) + interval)
            if moved:
                return max(0.0, PacingSlot.objects.get(key=key).tat - interval - now)
        try:
            with transaction.atomic():
                PacingSlot.objects.create(key=key, tat=now + interval)
            return 0.0
        except IntegrityError:  # another process created it first: book through it
            continue
    return 0.0


def pace(key: str, *, limit: int, window_seconds: float) -> float:
    """Waits for the key's next slot; returns the seconds waited."""
    wait = min(pace_book(key, limit=limit, window_seconds=window_seconds), MAX_WAIT_SECONDS)
    if wait > 0:
        time.sleep(wait)
    return wait


def pace_defer(key: str, seconds: float) -> None:
    """No slot of the key starts before `seconds` from now (a destination's Retry-After)."""
    if seconds <= 0:
        return
    at = time.time() + min(seconds, MAX_WAIT_SECONDS)
    cache = _redis()
    if cache is not None:
        full_key = cache.make_and_validate_key(f"pace:{key}")
        client = cache._cache.get_client(full_key, write=True)
        client.eval(_DEFER_LUA, 1, full_key, repr(at), repr(seconds))
        return
    from exports.models import PacingSlot

    with transaction.atomic():
        if not PacingSlot.objects.filter(key=key).update(tat=Greatest(F("tat"), Value(at))):
            try:
                with transaction.atomic():
                    PacingSlot.objects.create(key=key, tat=at)
            except IntegrityError:
                PacingSlot.objects.filter(key=key).update(tat=Greatest(F("tat"), Value(at)))
