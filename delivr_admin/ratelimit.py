"""Rate limit per organization through the shared cache (Redis in production).

A token bucket (GCRA: one "theoretical arrival time" per key): `rate` requests per second on average with
bursts of up to `burst` (25/s and 50 by default, as Delivr publishes). On Redis the check-and-update is one
Lua script, atomic across every process; other caches (the embedded default's in-process cache) use a
process lock.
"""

import math
import threading
import time

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import BaseThrottle

from .permissions import principal_of

_GCRA_LUA = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat - now > tolerance then return tostring(tat - now - tolerance) end
local new_tat = tat + interval
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return '0'
"""
_local_lock = threading.Lock()


def rate_limit_hit(key: str, *, rate: int, burst: int) -> float | None:
    """Counts one request against `key`; returns None when allowed, else seconds to wait."""
    if rate <= 0 or burst <= 0:
        return None
    interval = 1.0 / rate
    tolerance = (burst - 1) * interval
    now = time.time()
    cache_key = f"rl:{key}"
    cache = caches["default"]  # the backend itself: `django.core.cache.cache` is a proxy, never a RedisCache
    if isinstance(cache, RedisCache):
        full_key = cache.make_and_validate_key(cache_key)
        client = cache._cache.get_client(full_key, write=True)
        wait = float(client.eval(_GCRA_LUA, 1, full_key, repr(now), repr(interval), repr(tolerance)))
        return wait if wait > 0 else None
    with _local_lock:
        tat = max(float(cache.get(cache_key) or 0.0), now)
        if tat - now > tolerance:
            return tat - now - tolerance
        cache.set(cache_key, tat + interval, timeout=int(math.ceil(tat + interval - now)) + 1)
    return None


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "unknown")


class OrganizationRateThrottle(BaseThrottle):
    """Per-organization limit for authenticated calls; per-IP for anonymous ones (register, login)."""

    def allow_request(self, request, view) -> bool:
        principal = principal_of(request)
        key = f"org:{principal.organization.id}" if principal else f"ip:{client_ip(request)}"
        self._wait = rate_limit_hit(
            key, rate=settings.DELIVR_RATE_LIMIT_PER_SECOND, burst=settings.DELIVR_RATE_LIMIT_BURST
        )
        return self._wait is None

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)
