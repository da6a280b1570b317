"""Plumbing shared by the CRM stand-ins: an http.server in a thread on 127.0.0.1 (port 0), a bearer-token
check, a request log tests assert on, and injectable faults (the next N matching requests answer 429 with
Retry-After, 500, 503...).

A stand-in subclass implements `route(request) -> (status, body, headers)`; everything else lives here.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str  # without the query string
    query: dict[str, str]
    headers: dict[str, str]
    body: Any  # parsed JSON, a dict of form fields, or None
    at: float = 0.0  # time.monotonic() when it arrived
    status: int = 0  # what the stand-in answered


@dataclass
class Fault:
    status: int
    remaining: int
    path_contains: str = ""
    retry_after: str | None = None
    body: Any = None


@dataclass
class Gate:
    """Matching requests after the first `after` wait, neither done nor answered, until `opened` is set: a test
    kills a worker while one of its writes is held, whatever the machine's speed (see StandIn.hold)."""

    method: str
    path_contains: str
    after: int
    seen: int = 0
    waiting: int = 0  # requests held (so far)
    done: int = 0  # held requests done once the gate opened (answered to whoever still listens)
    opened: threading.Event = field(default_factory=threading.Event)

    def wait_if_held(self, method: str, path: str, lock) -> bool:
        """Holds a matching request until the gate opens; True when it was held (the stand-in then does it
        and calls `held_done`)."""
        with lock:
            if self.opened.is_set() or method != self.method or self.path_contains not in path:
                return False
            self.seen += 1
            if self.seen <= self.after:
                return False
            self.waiting += 1
        self.opened.wait(600)  # released by the test (or its stand-in's stop)
        return True

    def held_done(self, lock) -> None:
        with lock:
            self.done += 1

    def all_done(self) -> bool:
        """Every held request was done once the gate opened: a test starts the retry only then, so the
        stand-in's log has the held request before its resend."""
        return self.opened.is_set() and self.done >= self.waiting


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class StandIn:
    """Base class: start(), stop(), url, requests (the log), fail_next(...)."""

    token = "standin-token"

    def __init__(self):
        self.lock = threading.RLock()
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        # a rolling-window rate limit per credential, for the stand-ins that enforce one (0: none)
        self.rate_limit = 0
        self.rate_window = 1.0
        self.max_in_window = 0  # the most requests any window held
        self.rate_limited = 0  # the requests refused for the limit
        self._window: dict[str, deque] = {}
        self._lost: list[list] = []  # [remaining, path_contains, after]: answers lost after the work is done
        self.gate: Gate | None = None
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs and the clients' pools expect

            def log_message(self, *args):  # keep test output quiet
                pass

            def _handle(self):
                url = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                content_type = self.headers.get("Content-Type", "")
                body: Any = None
                if raw:
                    if "x-www-form-urlencoded" in content_type:
                        body = dict(urllib.parse.parse_qsl(raw.decode()))
                    else:
                        try:
                            body = json.loads(raw)
                        except ValueError:
                            body = raw.decode(errors="replace")
                request = Request(
                    method=self.command,
                    path=urllib.parse.unquote(url.path),
                    query=dict(urllib.parse.parse_qsl(url.query)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    at=time.monotonic(),
                )
                gate = standin.gate  # held before the work, outside the lock, until the test opens the gate
                held = gate is not None and gate.wait_if_held(request.method, request.path, standin.lock)
                reply = standin._dispatch(request)
                if held:
                    gate.held_done(standin.lock)  # done; the answer reaches whoever still listens
                request.status = reply.status
                text = isinstance(reply.body, str)  # a proxy's HTML error page, say
                data = (
                    b"" if reply.body is None else (reply.body if text else json.dumps(reply.body)).encode()
                )
                self.send_response(reply.status)
                self.send_header("Content-Type", "text/html" if text else "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815 - http.server's names

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    # lifecycle -------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self):
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.gate is not None:
            self.gate.opened.set()
        self.server.shutdown()
        self.server.server_close()

    # faults and log --------------------------------------------------------------------------------------
    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 500,
        path_contains: str = "",
        retry_after: str | int | None = None,
        body: Any = None,
    ) -> None:
        """The next `count` requests whose path contains `path_contains` answer `status` (FIFO with others)."""
        with self.lock:
            self.faults.append(
                Fault(status, count, path_contains, None if retry_after is None else str(retry_after), body)
            )

    def hold(self, *, path_contains: str, after: int, method: str = "POST") -> Gate:
        """Requests (`method`, path containing `path_contains`) after the next `after` of them wait, not done
        and not answered, until the gate is opened (`gate.opened.set()`); then each is done, and answered to
        whoever still listens. A test kills a worker once `gate.waiting` (never on the clock)."""
        with self.lock:
            self.gate = Gate(method, path_contains, after)
            return self.gate

    def over_limit(self, credential: str) -> tuple[bool, int]:
        """Counts a request in its credential's rolling window (call under the lock); (refused, remaining)."""
        if self.rate_limit <= 0:
            return False, 0
        window = self._window.setdefault(credential, deque())
        now = time.monotonic()
        while window and window[0] <= now - self.rate_window:
            window.popleft()
        if len(window) >= self.rate_limit:
            self.rate_limited += 1
            return True, 0
        window.append(now)
        self.max_in_window = max(self.max_in_window, len(window))
        return False, self.rate_limit - len(window)

    def lose_answers(self, count: int = 1, path_contains: str = "", after: int = 0) -> None:
        """The next `count` writes (POST/PUT/PATCH/DELETE) whose path contains `path_contains`, once `after`
        of them went through, are done and then answered 503: the destination did the work, the answer was
        lost (a retry with the same Idempotency-Key may still be answered from the first)."""
        with self.lock:
            self._lost.append([count, path_contains, after])

    def _lose(self, request: Request, reply: Reply) -> Reply:
        if request.method == "GET" or reply.status >= 500:
            return reply
        for lost in self._lost:
            if lost[0] > 0 and lost[1] in request.path:
                if lost[2] > 0:
                    lost[2] -= 1
                    return reply
                lost[0] -= 1
                return Reply(503, self.fault_body(503))
        return reply

    def calls(self, method: str = "", path_contains: str = "") -> list[Request]:
        with self.lock:
            return [
                r
                for r in self.requests
                if (not method or r.method == method) and (not path_contains or path_contains in r.path)
            ]

    def _dispatch(self, request: Request) -> Reply:
        with self.lock:
            self.requests.append(request)
            if not self.authorized(request):
                return self.unauthorized(request)
            for fault in self.faults:
                if fault.remaining > 0 and fault.path_contains in request.path:
                    fault.remaining -= 1
                    headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                    return Reply(fault.status, fault.body or self.fault_body(fault.status), headers)
            return self._lose(request, self.route(request))

    # to implement ---------------------------------------------------------------------------------------
    def authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.token}"

    def unauthorized(self, request: Request) -> Reply:
        return Reply(401, {"message": "unauthorized"})

    def fault_body(self, status: int) -> Any:
        return {"message": f"stand-in fault {status}"}

    def route(self, request: Request) -> Reply:
        raise NotImplementedError
