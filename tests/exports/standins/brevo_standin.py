"""A local stand-in for Brevo's v3 contacts API: exactly the endpoints exports/destinations/brevo.py uses, with
Brevo's shapes and error codes.

- `GET  /v3/account`                                        connection test ({"email", "companyName", "plan"})
- `GET  /v3/contacts/attributes`                            {"attributes": [{"name", "category", "type",
  "enumeration"?}]}: normal, category and calculated/global ones, as an account has
- `GET  /v3/contacts/lists?limit&offset`, `POST /v3/contacts/lists` {"name", "folderId"} -> 201 {"id"}
- `POST /v3/contacts/import` {"jsonBody", "listIds", "updateExistingContacts", ...} -> 202 {"processId"}
- `GET  /v3/processes/{id}`: "in_process" on the first look, then "completed" with `info.import` holding the
  URLs of CSV reports (invalid_emails, duplicate_email_id) for the rows it did not import, strings as the
  April 2026 changelog corrects; an unknown id answers 404 `document_not_found`
- `GET  /v3/reports/{process}/{field}.csv`                  those reports (an EMAIL column)
- `POST /v3/contacts/lists/{id}/contacts/remove` {"emails"} -> 201 {"contacts": {"success", "failure"}}
  (at most 150 emails; an unknown list answers 404 `document_not_found`)

Auth: the `api-key` header; 401 {"code": "unauthorized", "message": "Key not found"} otherwise. Rate limit:
`rate_limit` requests per `rate_window` seconds per key (rolling), 429 `too_many_requests` past it;
`max_in_window` and `rate_limited` let a test assert the limit held.
"""

from __future__ import annotations

import re
from typing import Any

from tests.exports.standins.base import Reply, Request, StandIn

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
REMOVE_LIMIT = 150


def _error(code: str, message: str) -> dict:
    return {"code": code, "message": message}


class BrevoStandIn(StandIn):
    token = "xkeysib-standin"

    def __init__(self):
        super().__init__()
        self.contacts: dict[str, dict] = {}  # email -> {"email", "attributes", "listIds"}
        self.lists: dict[int, dict] = {}
        self.processes: dict[int, dict] = {}
        self.reports: dict[str, str] = {}
        self.attributes = [
            {"name": "FIRSTNAME", "category": "normal", "type": "text"},
            {"name": "LASTNAME", "category": "normal", "type": "text"},
            {"name": "JOB_TITLE", "category": "normal", "type": "text"},
            {"name": "EMPLOYEES", "category": "normal", "type": "float"},
            {
                "name": "SENIORITY",
                "category": "category",
                "type": "category",
                "enumeration": [{"value": 1, "label": "Junior"}, {"value": 2, "label": "Senior"}],
            },
            {"name": "OPENS_LAST_30_DAYS", "category": "calculated", "type": "number"},
            {"name": "ACCOUNT_PLAN", "category": "global", "type": "text"},
        ]
        self.rate_limit = 10
        self.rate_window = 1.0
        self._next = 0

    def config(self, **extra) -> dict[str, Any]:
        return {
            "host": self.url,
            "retry_base_seconds": 0.01,
            "poll_seconds": 0.05,
            "rate_limit": self.rate_limit,
            "rate_limit_window_seconds": self.rate_window,
            **extra,
        }

    def credentials(self) -> dict[str, Any]:
        return {"api_key": self.token}

    def in_list(self, list_id: int) -> set[str]:
        with self.lock:
            return {e for e, c in self.contacts.items() if list_id in c["listIds"]}

    # plumbing ------------------------------------------------------------------------------------------
    def authorized(self, request: Request) -> bool:
        return request.headers.get("api-key") == self.token

    def unauthorized(self, request: Request) -> Reply:
        return Reply(401, _error("unauthorized", "Key not found"))

    def fault_body(self, status: int) -> Any:
        if status == 429:
            return _error("too_many_requests", "The expected rate limit is exceeded.")
        return _error("internal_error", "Internal server error")

    def _id(self) -> int:
        self._next += 1
        return self._next

    def _dispatch(self, request: Request) -> Reply:
        with self.lock:
            if self.authorized(request):
                if self.over_limit(request.headers["api-key"])[0]:
                    self.requests.append(request)
                    return Reply(429, self.fault_body(429), {"Retry-After": "1"})
            return super()._dispatch(request)

    def route(self, request: Request) -> Reply:
        path, method = request.path, request.method
        body = request.body if isinstance(request.body, dict) else {}
        if method == "GET" and path == "/v3/account":
            return Reply(
                200, {"email": "ops@example.com", "companyName": "Example", "plan": [{"type": "free"}]}
            )
        if method == "GET" and path == "/v3/contacts/attributes":
            return Reply(200, {"attributes": self.attributes})
        if path == "/v3/contacts/lists":
            return self._lists(request, body) if method == "GET" else self._create_list(body)
        if method == "POST" and path == "/v3/contacts/import":
            return self._import(body)
        process = re.fullmatch(r"/v3/processes/(\d+)", path)
        if method == "GET" and process:
            return self._process(int(process.group(1)))
        if method == "GET" and path in self.reports:
            return Reply(200, self.reports[path])
        remove = re.fullmatch(r"/v3/contacts/lists/(\d+)/contacts/remove", path)
        if method == "POST" and remove:
            return self._remove(int(remove.group(1)), body)
        return Reply(404, _error("document_not_found", "Not found"))

    # endpoints -----------------------------------------------------------------------------------------
    def _lists(self, request: Request, body: dict) -> Reply:
        limit = int(request.query.get("limit") or 10)
        offset = int(request.query.get("offset") or 0)
        items = sorted(self.lists.values(), key=lambda item: item["id"])
        return Reply(200, {"lists": items[offset : offset + limit], "count": len(items)})

    def _create_list(self, body: dict) -> Reply:
        if not body.get("name") or not isinstance(body.get("folderId"), int):
            return Reply(400, _error("invalid_parameter", "name and folderId are required"))
        item = {"id": self._id(), "name": body["name"], "folderId": body["folderId"], "uniqueSubscribers": 0}
        self.lists[item["id"]] = item
        return Reply(201, {"id": item["id"]})

    def _import(self, body: dict) -> Reply:
        rows, list_ids = body.get("jsonBody"), body.get("listIds") or []
        if not isinstance(rows, list) or not rows:
            return Reply(400, _error("invalid_parameter", "jsonBody is required"))
        if any(i not in self.lists for i in list_ids):
            return Reply(404, _error("document_not_found", "List ID does not exist"))
        invalid, duplicate, seen = [], [], set()
        for row in rows:
            email = str(row.get("email") or "").lower()
            if not EMAIL.match(email):
                invalid.append(email)
                continue
            if email in seen:
                duplicate.append(email)
                continue
            seen.add(email)
            contact = self.contacts.setdefault(email, {"email": email, "attributes": {}, "listIds": set()})
            if body.get("updateExistingContacts", True) or not contact["attributes"]:
                contact["attributes"].update(row.get("attributes") or {})
            contact["listIds"].update(list_ids)
        process_id = self._id()
        info: dict[str, str] = {}
        for field, emails in (("invalid_emails", invalid), ("duplicate_email_id", duplicate)):
            if emails:
                path = f"/v3/reports/{process_id}/{field}.csv"
                self.reports[path] = "EMAIL\n" + "".join(f"{e}\n" for e in emails)
                info[field] = f"{self.url}{path}"
        self.processes[process_id] = {"id": process_id, "name": "IMPORTUSER", "looks": 0, "info": info}
        return Reply(202, {"processId": process_id})

    def _process(self, process_id: int) -> Reply:
        process = self.processes.get(process_id)
        if process is None:
            return Reply(404, _error("document_not_found", "Process ID does not exist"))
        process["looks"] += 1
        if process["looks"] == 1:
            return Reply(200, {"id": process_id, "status": "in_process", "name": process["name"]})
        reply = {"id": process_id, "status": "completed", "name": process["name"]}
        if process["info"]:
            reply["info"] = {"import": dict(process["info"])}
        return Reply(200, reply)

    def _remove(self, list_id: int, body: dict) -> Reply:
        if list_id not in self.lists:
            return Reply(404, _error("document_not_found", "List ID does not exist"))
        emails = body.get("emails")
        if not isinstance(emails, list) or not emails or len(emails) > REMOVE_LIMIT:
            return Reply(400, _error("invalid_parameter", f"emails: 1 to {REMOVE_LIMIT} addresses"))
        success, failure = [], []
        for email in emails:
            contact = self.contacts.get(str(email).lower())
            if contact and list_id in contact["listIds"]:
                contact["listIds"].discard(list_id)
                success.append(email)
            else:
                failure.append(email)
        return Reply(201, {"contacts": {"success": success, "failure": failure}})
