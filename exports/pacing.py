"""Outbound request budgets shared by every worker process: a destination books a slot before each request.

A budget is `limit` requests per rolling `window_seconds` for one key (HubSpot: one portal, whichever export
or run sends), the rule HubSpot itself enforces. Booking keeps the times of the last slots booked: a request
may go at once while the last window holds fewer than the budget, else when the oldest of them leaves the
window. So a run that fell behind (a slow batch, a busy machine) catches up at once instead of losing that
time, and no rolling window ever holds more than the budget. The budget is the limit less 2% (at least one
request) and the window is lengthened by 1%, so network jitter between our clock and the destination's
arrival times cannot push a window past the real limit.

Store: Redis (one Lua script, atomic across processes) when the cache is Redis (CACHE_URL), else one row per
key in the database, locked for the read-modify-write, so processes of the embedded default share it too.
A Retry-After answer defers the whole key (`pace_defer`): every process waits, not only the one told.
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
local budget = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local at = now
local untilv = tonumber(redis.call('GET', KEYS[2]) or '0')
if untilv > at then at = untilv end
local times = redis.call('LRANGE', KEYS[1], -budget, -1)
if #times >= budget then
  local free = tonumber(times[1]) + window
  if free > at then at = free end
end
redis.call('RPUSH', KEYS[1], tostring(at))
redis.call('LTRIM', KEYS[1], -budget, -1)
redis.call('PEXPIRE', KEYS[1], math.ceil((at - now + window) * 1000) + 60000)
return tostring(at - now)
"""


def budget_of(*, limit: int, window_seconds: float) -> tuple[int, float]:
    """(requests, seconds): the budget actually booked for `limit` per `window_seconds`, with the margins."""
    return max(1, limit - max(1, limit // 50)), window_seconds * 1.01


def _redis():
    cache = caches["default"]
    return cache if isinstance(cache, RedisCache) else None


def pace_book(key: str, *, limit: int, window_seconds: float) -> float:
    """Books the key's next slot; returns the seconds until it (0 when it is now)."""
    if limit <= 0 or window_seconds <= 0:
        return 0.0
    budget, window = budget_of(limit=limit, window_seconds=window_seconds)
    now = time.time()
    cache = _redis()
    if cache is not None:
        full_key = cache.make_and_validate_key(f"pace:{key}")
        until_key = cache.make_and_validate_key(f"pace-until:{key}")
        client = cache._cache.get_client(full_key, write=True)
        wait = client.eval(_BOOK_LUA, 2, full_key, until_key, repr(now), str(budget), repr(window))
        return max(0.0, float(wait))
    return _book_db(key, now, budget, window)


def _book_db(key: str, now: float, budget: int, window: float) -> float:
    from exports.models import PacingSlot

    for _ in range(2):
        with transaction.atomic():
            # Take the row's write lock first (PostgreSQL row lock, SQLite's database write lock), so the
            # read-modify-write below is one process's at a time.
            if PacingSlot.objects.filter(key=key).update(tat=F("tat")):
                slot = PacingSlot.objects.select_for_update().get(key=key)
                at = max(now, slot.tat)
                times = [float(t) for t in slot.times][-budget:]
                if len(times) >= budget:
                    at = max(at, times[0] + window)
                slot.times = (times + [at])[-budget:]
                slot.save(update_fields=["times"])
                return max(0.0, at - now)
        try:
            with transaction.atomic():
                PacingSlot.objects.create(key=key, tat=0.0, times=[now])
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
        until_key = cache.make_and_validate_key(f"pace-until:{key}")
        client = cache._cache.get_client(until_key, write=True)
        current = float(client.get(until_key) or 0)
        if at > current:
            client.set(until_key, repr(at), px=int((at - time.time()) * 1000) + 60000)
        return
    from exports.models import PacingSlot

    with transaction.atomic():
        if not PacingSlot.objects.filter(key=key).update(tat=Greatest(F("tat"), Value(at))):
            try:
                with transaction.atomic():
                    PacingSlot.objects.create(key=key, tat=at, times=[])
            except IntegrityError:
                PacingSlot.objects.filter(key=key).update(tat=Greatest(F("tat"), Value(at)))
