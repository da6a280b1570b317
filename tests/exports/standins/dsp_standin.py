"""A local stand-in for the DelivrDSP list API: exactly what exports/destinations/delivr_dsp.py speaks.

- `GET  /v1/lists?limit&external_id&account_id`         {"data": [{"list_id", "list_name", "external_id",
  "account_id", "member_count"}]}
- `POST /v1/lists` {"name", "account_id", "external_id"} -> 201 {"list_id", "list_name"}
- `PATCH /v1/lists/{id}` {"name"}                          -> 200 (renames)
- `POST /v1/lists/{id}/members` {"members": [{"external_id", "idempotency_key", "fields"}]}
  -> {"added", "updated", "skipped", "failed"}: upsert by external_id; a member whose fields carry
  `"email": "reject@..."` is refused (failed) to show per-member errors
- `POST /v1/lists/{id}/members/remove` {"members": [{"external_id", "idempotency_key"}]}
  -> {"removed", "not_found", "failed"}
Every POST/PATCH with an Idempotency-Key seen before gets the first answer again, unapplied. An unknown list
answers 404 {"error": "list_not_found"}.

Auth: `Authorization: Bearer <token>`. Rate limit: `rate_limit` requests per `rate_window` seconds per key
(rolling), 429 with Retry-After past it; `max_in_window` and `rate_limited` let a test assert it held.
`applied` counts, per member external_id, how often a members request really wrote it (replays excluded);
`lose_answers(n, path_contains, after)` (the base stand-in's) makes writes be applied and then answered 503; a
retry with the same key is a replay.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from tests.exports.standins.base import Reply, Request, StandIn


class DspListStandIn(StandIn):
    token = "dsp-key"

    def __init__(self):
        super().__init__()
        self.lists: dict[str, dict] = {}  # list id -> {"list_id", "list_name", "external_id", "members"}
        self.answers: dict[str, Reply] = {}  # Idempotency-Key -> the first answer
        self.applied: Counter = Counter()  # external_id -> member writes applied
        self.removed: list[str] = []  # external ids taken off a list, in order
        self.rate_limit = 20
        self.rate_window = 1.0

    def config(self, **extra) -> dict[str, Any]:
        return {
            "base_url": self.url,
            "retry_base_seconds": 0.01,
            "rate_limit": self.rate_limit,
            "rate_limit_window_seconds": self.rate_window,
            **extra,
        }

    def credentials(self) -> dict[str, Any]:
        return {"api_key": self.token}

    def members_of(self, list_id: str = "") -> dict[str, dict]:
        with self.lock:
            lst = self.lists[list_id] if list_id else next(iter(self.lists.values()))
            return dict(lst["members"])

    # plumbing ------------------------------------------------------------------------------------------
    def unauthorized(self, request: Request) -> Reply:
        return Reply(401, {"error": "unauthorized"})

    def fault_body(self, status: int) -> Any:
        return {"error": "rate_limited" if status == 429 else "internal_error"}

    def _dispatch(self, request: Request) -> Reply:
        with self.lock:
            if self.authorized(request):
                if self.over_limit(request.headers["authorization"])[0]:
                    self.requests.append(request)
                    return Reply(429, self.fault_body(429), {"Retry-After": "1"})
            return super()._dispatch(request)

    def route(self, request: Request) -> Reply:
        key = request.headers.get("idempotency-key", "")
        writes = request.method in ("POST", "PATCH")
        if writes and key in self.answers:
            return self.answers[key]
        reply = self._route(request)
        if writes and key and reply.status < 500:
            self.answers[key] = reply
        return reply

    def _route(self, request: Request) -> Reply:
        path, method = request.path, request.method
        body = request.body if isinstance(request.body, dict) else {}
        if path == "/v1/lists":
            return self._find(request.query) if method == "GET" else self._create(body)
        match = re.fullmatch(r"/v1/lists/([^/]+)(/members(/remove)?)?", path)
        if not match:
            return Reply(404, {"error": "not_found"})
        lst = self.lists.get(match.group(1))
        if lst is None:
            return Reply(404, {"error": "list_not_found"})
        if method == "PATCH" and not match.group(2):
            lst["list_name"] = str(body.get("name") or lst["list_name"])
            return Reply(200, self._public(lst))
        if method == "POST" and match.group(3):
            return self._remove(lst, body)
        if method == "POST" and match.group(2):
            return self._upsert(lst, body)
        return Reply(405, {"error": "method_not_allowed"})

    @staticmethod
    def _public(lst: dict) -> dict:
        return {
            "list_id": lst["list_id"],
            "list_name": lst["list_name"],
            "external_id": lst["external_id"],
            "account_id": lst["account_id"],
            "member_count": len(lst["members"]),
        }

    # endpoints -----------------------------------------------------------------------------------------
    def _find(self, query: dict) -> Reply:
        items = sorted(self.lists.values(), key=lambda item: item["list_id"])
        if "external_id" in query:
            items = [i for i in items if i["external_id"] == query["external_id"]]
        if query.get("account_id"):
            items = [i for i in items if i["account_id"] == query["account_id"]]
        limit = int(query.get("limit") or 100)
        return Reply(200, {"data": [self._public(i) for i in items[:limit]]})

    def _create(self, body: dict) -> Reply:
        if not body.get("name"):
            return Reply(422, {"error": "name is required"})
        list_id = f"lst_{len(self.lists) + 1}"
        self.lists[list_id] = {
            "list_id": list_id,
            "list_name": body["name"],
            "external_id": str(body.get("external_id") or ""),
            "account_id": str(body.get("account_id") or ""),
            "members": {},
        }
        return Reply(201, {"list_id": list_id, "list_name": body["name"]})

    def _upsert(self, lst: dict, body: dict) -> Reply:
        members = body.get("members")
        if not isinstance(members, list) or not members:
            return Reply(422, {"error": "members is required"})
        added = updated = 0
        failed = []
        for member in members:
            external_id = str(member.get("external_id") or "")
            fields = member.get("fields") or {}
            if not external_id or str(fields.get("email") or "").startswith("reject@"):
                failed.append(
                    {"idempotency_key": member.get("idempotency_key"), "error": "no usable identifier"}
                )
                continue
            self.applied[external_id] += 1
            if external_id in lst["members"]:
                updated += 1
            else:
                added += 1
            lst["members"][external_id] = fields
        return Reply(200, {"added": added, "updated": updated, "skipped": 0, "failed": failed})

    def _remove(self, lst: dict, body: dict) -> Reply:
        members = body.get("members")
        if not isinstance(members, list) or not members:
            return Reply(422, {"error": "members is required"})
        removed = not_found = 0
        for member in members:
            external_id = str(member.get("external_id") or "")
            if lst["members"].pop(external_id, None) is None:
                not_found += 1
            else:
                removed += 1
                self.removed.append(external_id)
        return Reply(200, {"removed": removed, "not_found": not_found, "failed": []})
