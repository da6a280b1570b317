"""A local stand-in for the DelivrDSP HTTP API (http.server in a thread on 127.0.0.1, port 0).

It speaks the JSON API that campaigns/dsp/http.py documents and misbehaves the way the March 2026 bug
fixes describe: every campaign list and every daily response also carries a row of *another* account, and
money comes in whatever shape a test puts in. `fail_with = 500` makes every request fail.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_KEY = "standin-key"


@dataclass
class StandInState:
    campaigns: dict[str, list[dict]] = field(default_factory=dict)  # account id -> campaign payloads
    daily: dict[tuple[str, str], list[dict]] = field(default_factory=dict)  # (account, campaign) -> rows
    lists: dict[str, dict] = field(default_factory=dict)  # list id -> match payload
    fail_with: int | None = None
    leak_other_account: bool = True
    page_size: int = 2
    requests: list[str] = field(default_factory=list)


class DspStandIn:
    def __init__(self):
        self.state = StandInState()
        state = self.state

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, status: int, body) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status >= 500:  # the client's own retries need not wait in tests
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802 - http.server's name
                state.requests.append(self.path)
                if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    return self._send(401, {"error": "bad key"})
                if state.fail_with:
                    return self._send(state.fail_with, {"error": "stand-in failure"})
                url = urllib.parse.urlparse(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                parts = [urllib.parse.unquote(p) for p in url.path.strip("/").split("/")]
                if len(parts) == 4 and parts[:2] == ["v1", "accounts"] and parts[3] == "campaigns":
                    return self._campaigns(parts[2], query)
                if len(parts) == 6 and parts[:2] == ["v1", "accounts"] and parts[5] == "daily":
                    return self._daily(parts[2], parts[4], query)
                if len(parts) == 4 and parts[:2] == ["v1", "lists"] and parts[3] == "match":
                    match = state.lists.get(parts[2])
                    return self._send(200, match) if match else self._send(404, {"error": "no such list"})
                return self._send(404, {"error": "not found"})

            def _others(self, account_id: str) -> list[str]:
                return [a for a in state.campaigns if a != account_id]

            def _campaigns(self, account_id: str, query: dict) -> None:
                items = list(state.campaigns.get(account_id, []))
                if state.leak_other_account:
                    for other in self._others(account_id)[:1]:
                        items.extend(state.campaigns[other][:1])
                start = int(query.get("page_token") or 0)
                page = items[start : start + state.page_size]
                nxt = str(start + state.page_size) if start + state.page_size < len(items) else None
                self._send(200, {"data": page, "next_page_token": nxt})

            def _daily(self, account_id: str, campaign_id: str, query: dict) -> None:
                lo = date.fromisoformat(query["from"])
                hi = date.fromisoformat(query["to"])
                rows = [
                    r
                    for r in state.daily.get((account_id, campaign_id), [])
                    if lo <= date.fromisoformat(r["date"]) <= hi
                ]
                if state.leak_other_account and rows:
                    for other in self._others(account_id)[:1]:
                        leaked = dict(rows[0], account_id=other, impressions=999_999, spend="99999.00")
                        rows = [*rows, leaked]
                self._send(200, {"data": rows})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> DspStandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_campaign(
        self, account_id: str, campaign_id: str, *, rows: list[dict] | None = None, **fields
    ) -> dict:
        payload = {"id": campaign_id, "account_id": account_id, "name": f"Campaign {campaign_id}"}
        payload.update(fields)
        self.state.campaigns.setdefault(account_id, []).append(payload)
        self.state.daily[(account_id, campaign_id)] = [
            {"campaign_id": campaign_id, "account_id": account_id, **row} for row in rows or []
        ]
        return payload
