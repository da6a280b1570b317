"""A webhook receiver on 127.0.0.1 (port 0) that behaves like a careful real one.

It checks the HMAC signature, honours idempotency keys (a record key seen before is "skipped", never created
twice), can answer 429/503 for the next N requests, and can hold a batch at a gate until the test opens it (to
kill a worker while that batch is in flight).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.exports.standins.base import Gate


class WebhookStandin:
    def __init__(self, secret: str):
        self.secret = secret
        self.lock = threading.Lock()
        self.batches: list[dict] = []  # every accepted batch body
        self.created: dict[str, int] = {}  # idempotency key -> times created (always 1 if idempotency works)
        self.received: list[str] = []  # every record key received, resends included
        self.holds: dict[str, dict] = {}  # record key -> fields: what the receiver holds now
        self.removed: list[str] = []  # record keys named by `removed` events
        self.fail_next: list[int] = []  # statuses to answer for the next requests
        self.retry_after: str | None = None
        self.gate: Gate | None = None  # see hold()
        self.requests = 0
        self.bad_signatures = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> WebhookStandin:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status: int, body: dict | None = None, headers: dict | None = None):
                payload = json.dumps(body or {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                expected = "sha256=" + hmac.new(standin.secret.encode(), body, hashlib.sha256).hexdigest()
                with standin.lock:
                    standin.requests += 1
                    if not hmac.compare_digest(expected, self.headers.get("X-Delivr-Signature", "")):
                        standin.bad_signatures += 1
                        return self._answer(401, {"error": "bad signature"})
                    if standin.fail_next:
                        status = standin.fail_next.pop(0)
                        headers = {"Retry-After": standin.retry_after} if standin.retry_after else {}
                        return self._answer(status, {"error": "try later"}, headers)
                data = json.loads(body)
                gate = standin.gate
                held = (
                    gate is not None
                    and bool(data.get("records"))
                    and gate.wait_if_held("POST", str(data.get("type") or "records"), standin.lock)
                )
                results = []
                with standin.lock:
                    standin.batches.append({"headers": dict(self.headers), "body": data})
                    if held:
                        gate.done += 1  # (under the stand-in's lock, as Gate.held_done)
                    if data.get("type") == "removed":
                        for record in data.get("records", []):
                            standin.removed.append(record["record_key"])
                            standin.holds.pop(record["record_key"], None)
                        return self._answer(200, {})
                    for record in data.get("records", []):
                        standin.holds[record["idempotency_key"].split(":", 1)[1]] = record.get("fields", {})
                        key = record["idempotency_key"]
                        standin.received.append(key)
                        if key in standin.created:
                            results.append({"idempotency_key": key, "status": "skipped"})
                        else:
                            standin.created[key] = 1
                            results.append({"idempotency_key": key, "status": "created"})
                return self._answer(200, {"results": results})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def hold(self, *, kind: str, after: int) -> Gate:
        """Batches of `kind` ("removed", or "records" for the others) after the next `after` of them wait, not
        done and not answered, until the gate is opened (see tests.exports.standins.base.Gate)."""
        with self.lock:
            self.gate = Gate("POST", kind, after)
            return self.gate

    def stop(self) -> None:
        if self.gate is not None:
            self.gate.opened.set()
        self.server.shutdown()
        self.server.server_close()
