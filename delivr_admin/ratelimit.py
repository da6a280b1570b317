"""Rate limit per organization through the shared cache (Redis in production).

A fixed window of burst/rate seconds allowing `burst` requests: 25/s on average with bursts of 50 by
default. cache.add + cache.incr are atomic on Redis, so every process shares one budget.
"""

import math
import time

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import BaseThrottle

from .permissions import principal_of


def rate_limit_hit(key: str, *, rate: int, burst: int) -> float | None:
    """Counts one request against `key`; returns None when allowed, else seconds to wait."""
    if rate <= 0 or burst <= 0:
        return None
    window = max(1.0, burst / rate)
    now = time.time()
    bucket = int(now // window)
    cache_key = f"rl:{key}:{bucket}"
    ttl = int(math.ceil(window)) + 1
    count = _redis_incr(cache_key, ttl)
    if count is None:
        if cache.add(cache_key, 1, timeout=ttl):
            count = 1
        else:
            try:
                count = cache.incr(cache_key)
            except ValueError:  # expired between add and incr
                cache.add(cache_key, 1, timeout=ttl)
                count = 1
    if count <= burst:
        return None
    return (bucket + 1) * window - now


def _redis_incr(key: str, ttl: int) -> int | None:
    """INCR + EXPIRE NX in one round trip on Redis (cache.add + cache.incr take three); None elsewhere."""
    if not isinstance(cache, RedisCache):
        return None
    full_key = cache.make_and_validate_key(key)
    pipe = cache._cache.get_client(full_key, write=True).pipeline(transaction=False)
    pipe.incr(full_key)
    pipe.expire(full_key, ttl, nx=True)
    return int(pipe.execute()[0])


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
