"""Rate limits held in a store every process shares: Redis in production, a small SQLite file by default.

A token bucket (GCRA: one "theoretical arrival time" per key): `rate` requests per second on average with
bursts of up to `burst` (25/s and 50 by default, as Delivr publishes). The check-and-update is one atomic
step in the store, so gunicorn workers, threads and machines (on Redis) draw from one bucket:
- CACHE_URL=redis://...: one Lua script on the default cache's Redis.
- the embedded default: one UPSERT ... RETURNING statement on var/ratelimit.sqlite3 (DELIVR_RATELIMIT_DB).
  It is not the application's database, so a flood of limited requests never waits on (or delays) the
  application's writes; and it is not an in-process cache, whose buckets are per worker (two workers used to
  give twice the limit). Its rows are disposable state: synchronous=OFF, rows of full buckets pruned.

Failed API authentication uses the same buckets through `rate_limit_wait` (a read that refuses before any
key lookup) and `rate_limit_hit` (counting the failure). Sign-ins count each attempt up front (so that 32
concurrent attempts cannot all pass the check before the first failure is counted) and give it back with
`rate_limit_refund` when the password was right.

Outbound budgets (exports/pacing.py: HubSpot per portal, Brevo per account) live in the same store as rolling
windows rather than buckets, the rule those destinations enforce: `window_book` books the key's next slot (at
once while the last `window` seconds hold fewer than `budget` slots, else when the oldest leaves the window)
and `window_defer` moves every later slot past a destination's Retry-After. On SQLite the read-modify-write
runs under `BEGIN IMMEDIATE` (the file's write lock), on Redis in one Lua script, so every process books from
one budget.
"""

import os
import random
import sqlite3
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework import exceptions
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

_REFUND_LUA = """
local tat = redis.call('GET', KEYS[1])
if tat then redis.call('SET', KEYS[1], tostring(tonumber(tat) - tonumber(ARGV[1])), 'KEEPTTL') end
return 0
"""

_WINDOW_BOOK_LUA = """
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

_WINDOW_DEFER_LUA = """
local at = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if at > current then
  redis.call('SET', KEYS[1], tostring(at), 'PX', math.ceil((at - tonumber(ARGV[2])) * 1000) + 60000)
end
return 0
"""

# Right-hand sides of SET see the row's old values, so `ok` and `tat` are decided from the same read.
_GCRA_SQL = """
INSERT INTO buckets (key, tat, ok) VALUES (:key, :now + :interval, 1)
ON CONFLICT (key) DO UPDATE SET
    ok = (max(tat, :now) - :now <= :tolerance),
    tat = CASE WHEN max(tat, :now) - :now <= :tolerance THEN max(tat, :now) + :interval ELSE tat END
RETURNING tat, ok
"""


class _SqliteBuckets:
    """The embedded default's store: one connection per thread and process (a fork gets new ones)."""

    def __init__(self):
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        path = str(settings.DELIVR_RATELIMIT_DB)
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.key == (os.getpid(), path):
            return conn
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, tat REAL NOT NULL, ok INTEGER)"
        )
        # `times`: the unix times of the key's last slots booked, space-separated, oldest first; `last` the
        # latest of them (for pruning).
        conn.execute(
            "CREATE TABLE IF NOT EXISTS windows (key TEXT PRIMARY KEY, until REAL NOT NULL DEFAULT 0,"
            " last REAL NOT NULL DEFAULT 0, times TEXT NOT NULL DEFAULT '')"
        )
        self._local.conn, self._local.key = conn, (os.getpid(), path)
        return conn

    def hit(self, key: str, now: float, interval: float, tolerance: float) -> float:
        conn = self._connection()
        params = {"key": key, "now": now, "interval": interval, "tolerance": tolerance}
        tat, ok = conn.execute(_GCRA_SQL, params).fetchone()
        if random.random() < 0.001:  # buckets that have refilled hold no information
            conn.execute("DELETE FROM buckets WHERE tat < ?", (now - 60,))
        return 0.0 if ok else tat - now - tolerance

    def tat(self, key: str) -> float:
        row = self._connection().execute("SELECT tat FROM buckets WHERE key = ?", (key,)).fetchone()
        return row[0] if row else 0.0

    def refund(self, key: str, interval: float) -> None:
        self._connection().execute("UPDATE buckets SET tat = tat - ? WHERE key = ?", (interval, key))

    def reset(self, key: str) -> None:
        self._connection().execute("DELETE FROM buckets WHERE key = ?", (key,))
        self._connection().execute("DELETE FROM windows WHERE key = ?", (key,))

    def reset_all(self) -> None:
        self._connection().execute("DELETE FROM buckets")
        self._connection().execute("DELETE FROM windows")

    def window_book(self, key: str, now: float, budget: int, window: float) -> float:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")  # the write lock first: one process's read-modify-write at a time
        try:
            row = conn.execute("SELECT until, times FROM windows WHERE key = ?", (key,)).fetchone()
            until, times = (row[0], [float(t) for t in row[1].split()]) if row else (0.0, [])
            times = times[-budget:]
            at = max(now, until)
            if len(times) >= budget:
                at = max(at, times[0] + window)
            kept = " ".join(repr(t) for t in (times + [at])[-budget:])
            conn.execute(
                "INSERT INTO windows (key, until, last, times) VALUES (?, 0, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET last = excluded.last, times = excluded.times",
                (key, at, kept),
            )
            if random.random() < 0.001:  # windows long past hold no information
                conn.execute("DELETE FROM windows WHERE max(until, last) < ?", (now - 3600,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return max(0.0, at - now)

    def window_defer(self, key: str, at: float, now: float) -> None:
        self._connection().execute(
            "INSERT INTO windows (key, until, times) VALUES (?, ?, '')"
            " ON CONFLICT (key) DO UPDATE SET until = max(until, excluded.until)",
            (key, at),
        )

    def window_until(self, key: str) -> float:
        row = self._connection().execute("SELECT until FROM windows WHERE key = ?", (key,)).fetchone()
        return row[0] if row else 0.0


class _RedisBuckets:
    def __init__(self, cache: RedisCache):
        self.cache = cache

    def _client(self, key: str):
        full_key = self.cache.make_and_validate_key(f"rl:{key}")
        return full_key, self.cache._cache.get_client(full_key, write=True)

    def hit(self, key: str, now: float, interval: float, tolerance: float) -> float:
        full_key, client = self._client(key)
        return float(client.eval(_GCRA_LUA, 1, full_key, repr(now), repr(interval), repr(tolerance)))

    def tat(self, key: str) -> float:
        full_key, client = self._client(key)
        return float(client.get(full_key) or 0.0)

    def refund(self, key: str, interval: float) -> None:
        full_key, client = self._client(key)
        client.eval(_REFUND_LUA, 1, full_key, repr(interval))

    def reset(self, key: str) -> None:
        full_key, client = self._client(key)
        client.delete(full_key)

    def _window_keys(self, key: str):
        times_key = self.cache.make_and_validate_key(f"win:{key}")
        until_key = self.cache.make_and_validate_key(f"win-until:{key}")
        return times_key, until_key, self.cache._cache.get_client(times_key, write=True)

    def window_book(self, key: str, now: float, budget: int, window: float) -> float:
        times_key, until_key, client = self._window_keys(key)
        args = (repr(now), str(budget), repr(window))
        return max(0.0, float(client.eval(_WINDOW_BOOK_LUA, 2, times_key, until_key, *args)))

    def window_defer(self, key: str, at: float, now: float) -> None:
        _, until_key, client = self._window_keys(key)
        client.eval(_WINDOW_DEFER_LUA, 1, until_key, repr(at), repr(now))

    def window_until(self, key: str) -> float:
        _, until_key, client = self._window_keys(key)
        return float(client.get(until_key) or 0.0)

    def reset_all(self) -> None:
        self.cache.clear()


_sqlite_buckets = _SqliteBuckets()


def _store() -> _SqliteBuckets | _RedisBuckets:
    cache = caches["default"]  # the backend itself: `django.core.cache.cache` is a proxy, never a RedisCache
    return _RedisBuckets(cache) if isinstance(cache, RedisCache) else _sqlite_buckets


def rate_limit_hit(key: str, *, rate: float, burst: int) -> float | None:
    """Counts one request against `key`; returns None when allowed, else seconds to wait."""
    if rate <= 0 or burst <= 0:
        return None
    interval = 1.0 / rate
    wait = _store().hit(key, time.time(), interval, (burst - 1) * interval)
    return wait if wait > 0 else None


def rate_limit_wait(key: str, *, rate: float, burst: int) -> float | None:
    """Seconds until `key` may be counted again (None: now), without counting anything."""
    if rate <= 0 or burst <= 0:
        return None
    interval = 1.0 / rate
    wait = _store().tat(key) - time.time() - (burst - 1) * interval
    return wait if wait > 0 else None


def rate_limit_refund(key: str, *, rate: float) -> None:
    """Gives back one request counted against `key` (an attempt counted up front that turned out fine)."""
    if rate > 0:
        _store().refund(key, 1.0 / rate)


def window_book(key: str, *, budget: int, window_seconds: float) -> float:
    """Books `key`'s next slot of `budget` per rolling `window_seconds`; returns the seconds until it."""
    if budget <= 0 or window_seconds <= 0:
        return 0.0
    return _store().window_book(key, time.time(), budget, window_seconds)


def window_defer(key: str, seconds: float) -> None:
    """No slot of `key` starts before `seconds` from now (a destination's Retry-After), in every process."""
    if seconds > 0:
        now = time.time()
        _store().window_defer(key, now + seconds, now)


def window_until(key: str) -> float:
    """The unix time before which no slot of `key` starts (0: no Retry-After pending)."""
    return _store().window_until(key)


def rate_limit_reset(key: str) -> None:
    _store().reset(key)


def rate_limit_reset_all() -> None:
    """Empties every bucket (tests start from full buckets)."""
    _store().reset_all()


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "unknown")


class TooManyAttempts(exceptions.Throttled):
    """429 with Retry-After for failed sign-ins or failed API authentication; `detail` is the whole message."""

    error_code = "too_many_attempts"

    def __init__(self, wait: float, message: str):
        exceptions.APIException.__init__(self, message)
        self.wait = wait


def retry_seconds(wait: float) -> int:
    return max(1, int(wait + 0.999))


def failed_auth_check(request) -> None:
    """Refuses a caller whose address has failed API authentication too often (before any key lookup)."""
    wait = rate_limit_wait(f"authfail:{client_ip(request)}", **_auth_failure_limit())
    if wait is not None:
        raise TooManyAttempts(
            wait,
            "Too many failed authentication attempts from this address. "
            f"Try again in {retry_seconds(wait)} seconds.",
        )


def failed_auth_record(request) -> None:
    rate_limit_hit(f"authfail:{client_ip(request)}", **_auth_failure_limit())


def _auth_failure_limit() -> dict:
    count, seconds = settings.DELIVR_AUTH_FAILURES_PER_ADDRESS, settings.DELIVR_AUTH_FAILURE_WINDOW_SECONDS
    return {"rate": count / seconds, "burst": count}


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


def signin_address_limit(client_address: str) -> tuple[str, dict]:
    """The bucket of failed sign-ins from one client address, and its limit."""
    count = settings.DELIVR_LOGIN_FAILURES_PER_ADDRESS
    limit = {"rate": count / settings.DELIVR_LOGIN_FAILURE_WINDOW_SECONDS, "burst": count}
    return f"login:address:{client_address}", limit


class SignInFloodMiddleware:
    """Answers POST /auth/v1/login from an address past its sign-in failure limit before anything else runs.

    A flood of sign-ins is a closed loop (each thread sends again as soon as it is answered), so the cost of
    each refused attempt decides how long other callers queue behind it; this skips sessions, CSRF, DRF and
    JSON parsing. The account limit and everything else stay in accounts.services.user_authenticate.
    """

    LOGIN_PATH = "/auth/v1/login"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST" and request.path == self.LOGIN_PATH:
            key, limit = signin_address_limit(client_ip(request))
            wait = rate_limit_wait(key, **limit)
            if wait is not None:
                from .errors import error_response

                message = f"Too many failed sign-in attempts. Try again in {retry_seconds(wait)} seconds."
                response = error_response("too_many_attempts", message, 429)
                response["Retry-After"] = str(retry_seconds(wait))
                return response
        return self.get_response(request)
