"""The one outbound HTTP layer: every request the product makes to a tenant-configured or partner host.

Three things every caller gets:
- an address guard: the host is resolved, every address is checked (loopback, private, link-local, multicast,
  reserved, unspecified, cloud metadata; IPv4 and IPv6, IPv4-mapped/NAT64/6to4 included), and the socket is
  opened to the address that was checked, while the Host header, SNI and certificate checks keep the name.
  The check runs when a connection opens, so each redirect hop is checked the same way, and a DNS answer that
  changes between check and connect (rebinding) cannot reach an unchecked address.
  `DELIVR_OUTBOUND_ALLOWED_HOSTS` (host, host:port, IP, IP:port or CIDR entries) lets an operator reach an
  internal CRM;
- one retry policy: 429 and 5xx (and network errors) retried with exponential backoff and jitter, Retry-After
  honoured up to a cap, all of it inside a bounded total time (`time_budget` narrows it further, e.g. for a
  connection test a person waits on);
- one error taxonomy, `OutboundError(kind=retryable | user | system)`, whose message is written for the
  tenant: it names what was refused or which status came back, never the remote body.

`OutboundSession` (requests) serves the webhook, Salesforce, DelivrDSP and the DSP client; the HubSpot SDK
talks urllib3 directly, so `guarded_pool_manager()` gives it pools built on the same guarded connections.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import email.utils
import http
import ipaddress
import random
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import requests
import urllib3
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

USER_AGENT = "DelivrAdmin/1"
MAX_REDIRECTS = 5
MAX_RESPONSE_BYTES = 32 * 2**20
SAVE_CHECK_RESOLVE_SECONDS = (
    1.5  # a form save waits at most this long on DNS; the run-time guard is the real one
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Well-known cloud metadata endpoints, named so the refusal says what they are.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIXTOFOUR = ipaddress.ip_network("2002::/16")


class Kind(StrEnum):
    RETRYABLE = "retryable"  # try again later: 429, 5xx, timeouts, unreachable
    USER = "user"  # the tenant's configuration or credentials are wrong: retrying changes nothing
    SYSTEM = "system"  # our side is misconfigured


class OutboundError(Exception):
    """An outbound request that failed; `message` is safe to show to the tenant."""

    def __init__(self, message: str, *, kind: Kind = Kind.RETRYABLE, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.kind = Kind(kind)
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.kind == Kind.RETRYABLE

    @property
    def user_error(self) -> bool:
        return self.kind == Kind.USER


class AddressRefused(OutboundError):
    """The guard refused a host: it is (or resolves to) an internal address that is not allow-listed."""

    def __init__(self, message: str):
        super().__init__(message, kind=Kind.USER)


# --- the address guard ---------------------------------------------------------------------------------


def _system_resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen


_resolver: Callable[[str, int], list[str]] = _system_resolve


@contextlib.contextmanager
def resolver(fn: Callable[[str, int], list[str]]) -> Iterator[None]:
    """Replaces name resolution for the duration (tests: a name that resolves where the test says)."""
    global _resolver
    previous, _resolver = _resolver, fn
    try:
        yield
    finally:
        _resolver = previous


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal_reason(ip: IPAddress) -> str:
    """'' when `ip` is a public unicast address; else what it is, in words."""
    inner = _embedded_ipv4(ip)
    if inner is not None:
        return refusal_reason(inner)
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    ):
        return "an internal address"
    return ""


@dataclass(frozen=True)
class _Allowed:
    names: frozenset[tuple[str, int | None]]  # (host name, port or None for any)
    addresses: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, int | None], ...]

    def host(self, host: str, port: int) -> bool:
        return (host, None) in self.names or (host, port) in self.names

    def address(self, ip: IPAddress, port: int) -> bool:
        return any(ip in net and allowed in (None, port) for net, allowed in self.addresses)


def _parse_entry(entry: str) -> tuple[str, Any, int | None]:
    """('net', network, port) or ('name', host, port) for one allow-list entry."""
    entry = entry.strip().lower()
    with contextlib.suppress(ValueError):
        return "net", ipaddress.ip_network(entry.strip("[]"), strict=False), None
    host, port = entry, None
    if entry.startswith("["):  # [v6]:port
        host, _, rest = entry[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else None
    elif entry.count(":") == 1:
        host, _, raw_port = entry.partition(":")
        port = int(raw_port)
    with contextlib.suppress(ValueError):
        return "net", ipaddress.ip_network(host, strict=False), port
    return "name", host.rstrip("."), port


_allowed_cache: dict[tuple[str, ...], _Allowed] = {}


def allowed_hosts() -> _Allowed:
    """The parsed DELIVR_OUTBOUND_ALLOWED_HOSTS (read at call time, so tests and operators can change it)."""
    raw = tuple(settings.DELIVR_OUTBOUND_ALLOWED_HOSTS)
    cached = _allowed_cache.get(raw)
    if cached is None:
        names, nets = set(), []
        for entry in raw:
            try:
                what, value, port = _parse_entry(entry)
            except ValueError:
                continue  # a malformed entry allows nothing
            if what == "net":
                nets.append((value, port))
            else:
                names.add((value, port))
        cached = _allowed_cache[raw] = _Allowed(frozenset(names), tuple(nets))
    return cached


def _normal_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _refused(host: str, ip: IPAddress, reason: str, *, literal: bool) -> AddressRefused:
    shown = f"{host} is {reason}" if literal else f"{host} resolves to {ip}, {reason}"
    return AddressRefused(f"{shown}; outbound requests to internal addresses are not allowed.")


def unreachable(host: str) -> OutboundError:
    """The one message for every transport failure, so a refused, reset or silent port look alike."""
    return OutboundError(f"{host} could not be reached.", kind=Kind.RETRYABLE)


_dns_pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="outbound-dns")


def _resolve_within(name: str, port: int, seconds: float) -> list[str]:
    """The resolver's answer, waited for at most `seconds` (getaddrinfo itself has no timeout)."""
    future = _dns_pool.submit(_resolver, name, port)
    try:
        return future.result(timeout=max(0.001, seconds))
    except concurrent.futures.TimeoutError as exc:
        raise OutboundError(f"{name} could not be resolved in time.", kind=Kind.RETRYABLE) from exc


def resolve_checked(host: str, port: int, *, timeout: float = 30.0) -> list[str]:
    """The addresses to connect to for host:port, each one checked; raises AddressRefused or OutboundError."""
    name = _normal_host(host)
    allowed = allowed_hosts()
    literal = True
    try:
        addresses = [str(ipaddress.ip_address(name))]
    except ValueError:
        literal = False
        try:
            addresses = _resolve_within(name, port, remaining(timeout))
        except (OSError, UnicodeError) as exc:
            raise OutboundError(f"{name} could not be resolved.", kind=Kind.USER) from exc
    if not addresses:
        raise OutboundError(f"{name} could not be resolved.", kind=Kind.USER)
    if allowed.host(name, port):
        return addresses
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if allowed.address(ip, port):
            continue
        reason = refusal_reason(ip)
        if reason:
            raise _refused(
                name, ip, reason, literal=literal
            )  # one internal answer refuses the host: no trying the others
    return addresses


class _GuardedConnectionMixin:
    """Opens the socket to an address `resolve_checked` approved; the name stays for Host, SNI and certs."""

    def _new_conn(self) -> socket.socket:
        host = self._dns_host  # type: ignore[attr-defined]
        timeout = self.timeout if isinstance(self.timeout, int | float) else 30.0  # type: ignore[attr-defined]
        addresses = resolve_checked(host, self.port, timeout=timeout)  # type: ignore[attr-defined]
        error: Exception | None = None
        for address in addresses:
            try:
                sock = urllib3.util.connection.create_connection(
                    (address, self.port),  # type: ignore[attr-defined]
                    self.timeout,  # type: ignore[attr-defined]
                    source_address=self.source_address,  # type: ignore[attr-defined]
                    socket_options=self.socket_options,  # type: ignore[attr-defined]
                )
            except TimeoutError as exc:
                error = ConnectTimeoutError(self, f"Connection to {host} timed out.")
                error.__cause__ = exc
            except OSError as exc:
                error = NewConnectionError(self, f"Failed to establish a new connection: {exc}")
            else:
                return sock
        raise error or NewConnectionError(self, "no address to connect to")


class GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


_GUARDED_POOLS = {"http": GuardedHTTPConnectionPool, "https": GuardedHTTPSConnectionPool}


def guard_pool_manager(manager: urllib3.PoolManager) -> urllib3.PoolManager:
    """Makes an existing PoolManager open only guarded connections (for SDKs that build their own)."""
    if isinstance(manager, urllib3.ProxyManager):
        raise OutboundError("Outbound proxies are not supported.", kind=Kind.SYSTEM)
    manager.clear()
    manager.pool_classes_by_scheme = dict(_GUARDED_POOLS)
    return manager


def guarded_pool_manager(**kwargs: Any) -> urllib3.PoolManager:
    return guard_pool_manager(urllib3.PoolManager(**kwargs))


class GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        guard_pool_manager(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise OutboundError("Outbound proxies are not supported.", kind=Kind.SYSTEM)


def check_url(url: Any, *, what: str = "The URL") -> None:
    """Save-time check of a configured URL: http(s), and not an internal address (raises OutboundError).

    A name that does not resolve within a moment passes: the run-time guard checks every connection anyway,
    and a form save should not wait on a slow DNS server.
    """
    parsed = urllib.parse.urlparse(url) if isinstance(url, str) else None
    try:
        port = parsed.port if parsed else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise OutboundError(f"{what} must be an http(s) URL.", kind=Kind.USER)
    port = port or (443 if parsed.scheme == "https" else 80)
    outcome: dict[str, Exception] = {}

    def run() -> None:
        try:
            resolve_checked(parsed.hostname, port)
        except Exception as exc:  # noqa: BLE001 - handed to the caller below
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(SAVE_CHECK_RESOLVE_SECONDS)
    error = outcome.get("error")
    if isinstance(error, AddressRefused):
        raise AddressRefused(f"{what} is not allowed: {error.message}")


# --- the retry policy ----------------------------------------------------------------------------------

_budget_end: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "outbound_budget_end", default=None
)


@contextlib.contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Every outbound request inside, retries and waits included, ends within `seconds` from now."""
    end = time.monotonic() + seconds
    outer = _budget_end.get()
    token = _budget_end.set(end if outer is None else min(end, outer))
    try:
        yield
    finally:
        _budget_end.reset(token)


def remaining(default: float) -> float:
    """Seconds left in the current budget, or `default` when no budget is set."""
    end = _budget_end.get()
    return default if end is None else min(default, end - time.monotonic())


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry: 429, 5xx and network errors, backoff with jitter, Retry-After."""

    attempts: int = 5  # tries in all, the first included
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 60.0
    total_seconds: float = 300.0  # one call, all its tries and waits included

    @staticmethod
    def retryable_status(status: int) -> bool:
        return status == 429 or status >= 500

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """The wait before try `attempt + 1` (attempt counts from 1)."""
        asked = _retry_after_seconds(retry_after)
        if asked is not None:
            return min(asked, self.retry_after_max)
        base = min(self.backoff_base * (2 ** (attempt - 1)), self.backoff_max)
        return base + random.uniform(0, base / 4)  # jitter: retries of many clients do not line up


DEFAULT_POLICY = RetryPolicy()


class Attempts:
    """Drives the tries of one call under a policy and the current time budget."""

    def __init__(self, policy: RetryPolicy):
        self.policy = policy
        self.end = time.monotonic() + remaining(policy.total_seconds)
        self.attempt = 0

    def left(self) -> float:
        return self.end - time.monotonic()

    def timeout(self, per_request: float) -> float:
        return max(0.001, min(per_request, self.left()))

    def next(self) -> bool:
        """True when another try may start now (counts it)."""
        if self.attempt >= self.policy.attempts or self.left() <= 0:
            return False
        self.attempt += 1
        return True

    def wait(self, retry_after: str | None = None) -> bool:
        """Sleeps before the next try; False (no sleep) when no try is left or the wait would overrun."""
        if self.attempt >= self.policy.attempts:
            return False
        pause = self.policy.delay(self.attempt, retry_after)
        if pause >= self.left():
            return False
        time.sleep(pause)
        return True


def status_reason(status: int) -> str:
    """'HTTP 503 (Service Unavailable)': what a tenant is shown instead of the reply's body."""
    try:
        return f"HTTP {status} ({http.HTTPStatus(status).phrase})"
    except ValueError:
        return f"HTTP {status}"


def status_error(status: int, who: str) -> OutboundError:
    """The taxonomy for a final non-2xx status: 401/403 and other 4xx are the user's, 429/5xx retryable."""
    kind = Kind.RETRYABLE if RetryPolicy.retryable_status(status) else Kind.USER
    return OutboundError(f"{who} answered {status_reason(status)}.", kind=kind, status=status)


# --- the session ---------------------------------------------------------------------------------------


class OutboundSession(requests.Session):
    """requests.Session with the guard, the retry policy and the error taxonomy.

    `request()` retries 429/5xx and network errors; it returns the last response (any status, also after
    retries ran out) and raises OutboundError only when no response came: refused address, unreachable, TLS
    failure, time budget spent, bad URL, too many redirects.
    """

    def __init__(self, *, policy: RetryPolicy = DEFAULT_POLICY, timeout: float = 30.0):
        super().__init__()
        self.policy = policy
        self.timeout = timeout
        self.trust_env = False  # no proxy from the environment: a proxy would connect to unchecked addresses
        self.max_redirects = MAX_REDIRECTS
        self.headers["User-Agent"] = USER_AGENT
        adapter = GuardedAdapter(max_retries=0)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        host = _normal_host(urllib.parse.urlsplit(str(url)).hostname or "the destination")
        per_request = float(kwargs.pop("timeout", None) or self.timeout)
        stream = bool(kwargs.pop("stream", False))
        tries = Attempts(self.policy)
        error: OutboundError | None = None
        while tries.next():
            try:
                response = super().request(
                    method, url, *args, timeout=tries.timeout(per_request), stream=True, **kwargs
                )
            except OutboundError:
                raise
            except requests.exceptions.SSLError as exc:
                raise OutboundError(
                    f"The TLS certificate of {host} could not be verified.", kind=Kind.USER
                ) from exc
            except requests.exceptions.TooManyRedirects as exc:
                raise OutboundError(f"{host} redirected too many times.", kind=Kind.USER) from exc
            except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
                raise OutboundError("The URL is not a valid http(s) URL.", kind=Kind.USER) from exc
            except requests.exceptions.InvalidSchema as exc:
                raise OutboundError("Only http and https URLs are allowed.", kind=Kind.USER) from exc
            except requests.exceptions.RequestException as exc:
                error = unreachable(host)
                error.__cause__ = exc
                if not tries.wait():
                    break
                continue
            if not self.policy.retryable_status(response.status_code):
                return self._bounded(response, host, stream)
            if not tries.wait(response.headers.get("Retry-After")):
                return self._bounded(response, host, stream)
            response.close()
        if error is None:
            error = OutboundError(f"{host} did not answer in time.", kind=Kind.RETRYABLE)
        raise error

    def _bounded(self, response: requests.Response, host: str, stream: bool) -> requests.Response:
        """Reads the body unless the caller streams it, refusing more than MAX_RESPONSE_BYTES (a reply the
        size of a disk must not take a worker's memory down)."""
        if stream:
            return response
        try:
            body = response.raw.read(MAX_RESPONSE_BYTES + 1, decode_content=True)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            response.close()
            raise unreachable(host) from exc
        if len(body) > MAX_RESPONSE_BYTES:
            response.close()
            raise OutboundError(
                f"{host} answered with more than {MAX_RESPONSE_BYTES // 2**20} MB; the reply was not read.",
                kind=Kind.USER,
                status=response.status_code,
            )
        response._content = body  # what requests' own .content would hold, read with a bound
        response._content_consumed = True
        response.raw.release_conn()  # the body is read: the connection goes back to the pool (keep-alive)
        return response


def session(*, policy: RetryPolicy = DEFAULT_POLICY, timeout: float = 30.0) -> OutboundSession:
    return OutboundSession(policy=policy, timeout=timeout)
