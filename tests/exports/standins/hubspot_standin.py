"""A local stand-in for the HubSpot CRM API: exactly the endpoints exports/destinations/hubspot.py uses,
with HubSpot's response shapes.

- `GET  /crm/v3/objects/contacts?limit=1`                          (connection test)
- `POST /crm/v3/objects/contacts/batch/upsert`                      idProperty email; 200 COMPLETE, or 207
  with `errors[]` (context {"email": [...]}) for invalid emails; `invalid_email_mode = "reject_batch"`
  answers 400 for the whole batch instead, as HubSpot does for some validation errors
- `POST /crm/v3/objects/companies/search`                           domain EQ / IN, paged with `after`
- `POST /crm/v3/objects/companies/batch/create`                     201
- `POST /crm/v4/associations/contacts/companies/batch/associate/default`
- `POST /integrators/timeline/v3/events/batch/create` (the client's path; `/crm/v3/timeline/events/batch/create`
  too): events keyed by their `id`; a repeated id is a per-input CONFLICT error, as a retried event would be

- `GET  /crm/v3/properties/contacts`                                 the portal's contact properties, shaped
  as HubSpot's (name, label, type, fieldType, groupName, options, hidden, calculated, modificationMetadata)
- `GET|POST /integrators/timeline/v3/{appId}/event-templates`       the app's timeline event templates,
  authorized by the developer key (`?hapikey=`), not the portal token; events must use declared tokens

- `GET  /crm/v3/lists/object-type-id/{objectTypeId}/name/{listName}`  a list by name ({"list": ...}, or 404)
- `POST /crm/v3/lists`                                              create a list (name, objectTypeId 0-1,
  processingType MANUAL/DYNAMIC/SNAPSHOT); 400 when the name is taken
- `PUT  /crm/v3/lists/{listId}/memberships/add|remove`             a JSON array of record ids; answers
  recordIdsAdded / recordIdsRemoved and recordIdsMissing (ids of no contact)
- `POST /crm/v3/objects/contacts/batch/read`                        by email (idProperty); 207 with
  OBJECT_NOT_FOUND errors for the unknown ones
- `POST /crm/v3/objects/contacts/batch/update`                      by contact id; 400 PROPERTY_DOESNT_EXIST
  for a property the portal lacks or cannot write, 207 OBJECT_NOT_FOUND for unknown ids
- `GET  /communication-preferences/v3/definitions`                 the portal's subscription types
- `POST /communication-preferences/v3/unsubscribe`                 {emailAddress, subscriptionId}; 400 when
  the contact is already unsubscribed from it ("... is already unsubscribed from subscription ..."), as HubSpot

Rate limit, as HubSpot enforces it: at most `rate_limit` requests per `rate_window` seconds per token
(rolling window); past it, 429 RATE_LIMITS with Retry-After. `max_in_window` is the most requests any window
held and `rate_limited` the 429s answered, so a test can assert the limit was never exceeded. Every answer
carries X-HubSpot-RateLimit-* headers with the real remaining count (`rate_remaining=None` leaves them out,
a number pins it).
State: `subscriptions` ((email, subscription id) -> "SUBSCRIBED"/"NOT_SUBSCRIBED"), `contacts` (email -> record), `companies` (id -> record), `associations` (contact id, company id)
pairs, `events` (id -> event), `templates` (known timeline template ids), `lists` (id -> list with its
`members`, a set of contact ids).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from tests.exports.standins.base import Reply, Request, StandIn

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
BATCH_LIMIT = 100


def _property(name: str, label: str, kind: str = "string", field_type: str = "text", **extra) -> dict:
    """One contact property as HubSpot's properties API returns it."""
    now = "2024-01-01T00:00:00Z"
    return {
        "name": name,
        "label": label,
        "type": kind,
        "fieldType": field_type,
        "description": extra.pop("description", ""),
        "groupName": extra.pop("groupName", "contactinformation"),
        "options": extra.pop("options", []),
        "displayOrder": -1,
        "calculated": extra.pop("calculated", False),
        "externalOptions": False,
        "hasUniqueValue": False,
        "hidden": extra.pop("hidden", False),
        "hubspotDefined": extra.pop("hubspotDefined", True),
        "modificationMetadata": {
            "archivable": True,
            "readOnlyDefinition": True,
            "readOnlyValue": extra.pop("readOnlyValue", False),
        },
        "formField": True,
        "createdAt": now,
        "updatedAt": now,
        "archived": False,
        **extra,
    }


def _option(value: str, label: str, order: int) -> dict:
    return {"label": label, "value": value, "displayOrder": order, "hidden": False}


CONTACT_PROPERTIES = (
    _property("email", "Email"),
    _property("firstname", "First Name"),
    _property("lastname", "Last Name"),
    _property("jobtitle", "Job Title"),
    _property("company", "Company Name"),
    _property("city", "City"),
    _property("country", "Country/Region"),
    _property("phone", "Phone Number", field_type="phonenumber"),
    _property("numemployees", "Number of Employees", "number", "number"),
    _property(
        "lifecyclestage",
        "Lifecycle Stage",
        "enumeration",
        "radio",
        options=[_option("subscriber", "Subscriber", 0), _option("lead", "Lead", 1)],
    ),
    _property(
        "delivr_intent_topics",
        "Delivr intent topics",
        "enumeration",
        "checkbox",
        groupName="delivr",
        hubspotDefined=False,
        options=[_option("crm", "CRM", 0), _option("security", "Security", 1)],
    ),
    _property(
        "delivr_opted_out",
        "Opted out (Delivr)",
        "bool",
        "booleancheckbox",
        groupName="delivr",
        hubspotDefined=False,
        options=[_option("true", "Yes", 0), _option("false", "No", 1)],
    ),
    _property("hs_object_id", "Record ID", "number", "number", readOnlyValue=True),
    _property("hs_analytics_num_visits", "Number of Sessions", "number", "number", calculated=True),
    _property("hs_legacy_hidden", "Legacy", hidden=True),
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _list_view(item: dict) -> dict:
    view = {k: v for k, v in item.items() if k != "members"}
    view["size"] = len(item["members"])
    return view


def _error(message: str, category: str = "VALIDATION_ERROR", context: dict | None = None) -> dict:
    error = {"status": "error", "category": category, "message": message}
    if context:
        error["context"] = context
    return error


class HubSpotStandIn(StandIn):
    token = "hubspot-standin-token"

    def __init__(self):
        super().__init__()
        self.contacts: dict[str, dict] = {}  # lower-cased email -> record
        self.contact_ids: set[str] = set()  # the ids of self.contacts' records (memberships look them up)
        self.companies: dict[str, dict] = {}  # id -> record
        self.associations: set[tuple[str, str]] = set()  # (contact id, company id)
        self.events: dict[str, dict] = {}
        self.templates: set[str] = {"1001"}
        self.app_id = "424242"
        self.developer_key = "standin-developer-key"
        self.app_templates: dict[str, dict] = {}  # id -> template created through the templates API
        self.rate_limit = 100
        self.rate_window = 1.0  # HubSpot's is 10 s; tests keep the limit and shorten the window
        self.properties: list[dict] = [dict(p) for p in CONTACT_PROPERTIES]
        self.invalid_email_mode = "multi_status"  # or "reject_batch"
        self.rate_remaining: int | str | None = "real"  # a number pins the header (tests of the header)
        self.rate_interval_ms: int | None = None  # None: the rolling window's
        self._next_id = 1000
        self.lists: dict[str, dict] = {}  # list id -> {"listId", "name", ..., "members": set of contact ids}
        self.subscription_types: dict[str, str] = {"7001": "Newsletter", "7002": "Product updates"}
        self.subscriptions: dict[tuple[str, str], str] = {}  # (email, subscription id) -> status

    # helpers for tests -----------------------------------------------------------------------------------
    def config(self, **extra) -> dict[str, Any]:
        """A destination config pointed at this stand-in, with backoff shortened for tests."""
        return {
            "host": self.url,
            "retry_base_seconds": 0.01,
            "rate_limit": self.rate_limit,
            "rate_limit_window_seconds": self.rate_window,
            **extra,
        }

    def credentials(self) -> dict[str, Any]:
        return {"access_token": self.token}

    def add_company(self, domain: str, name: str = "") -> dict:
        with self.lock:
            return self._create_company({"domain": domain, "name": name or domain})

    def companies_for(self, domain: str) -> list[dict]:
        with self.lock:
            return [c for c in self.companies.values() if c["properties"].get("domain") == domain]

    def company_of(self, email: str) -> dict | None:
        """The company a contact is associated with (the first one), or None."""
        with self.lock:
            contact = self.contacts.get(email.lower())
            if not contact:
                return None
            for contact_id, company_id in sorted(self.associations):
                if contact_id == contact["id"]:
                    return self.companies[company_id]
            return None

    # plumbing ------------------------------------------------------------------------------------------
    def _id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def _record(self, properties: dict) -> dict:
        now = _now()
        return {
            "id": self._id(),
            "properties": dict(properties),
            "createdAt": now,
            "updatedAt": now,
            "archived": False,
        }

    def _create_company(self, properties: dict) -> dict:
        record = self._record(properties)
        self.companies[record["id"]] = record
        return record

    def unauthorized(self, request: Request) -> Reply:
        return Reply(
            401,
            _error(
                "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
                "INVALID_AUTHENTICATION",
            ),
        )

    def fault_body(self, status: int) -> Any:
        if status == 429:
            return _error("You have reached your ten_secondly_rolling limit.", "RATE_LIMITS")
        return _error("internal error", "INTERNAL_ERROR")

    def authorized(self, request: Request) -> bool:
        if "/event-templates" in request.path:
            return request.query.get("hapikey") == self.developer_key
        return super().authorized(request)

    def _dispatch(self, request: Request) -> Reply:
        with self.lock:
            refused, remaining = (False, self.rate_limit)
            if "/event-templates" not in request.path and self.authorized(request):
                refused, remaining = self.over_limit(request.headers.get("authorization", ""))
            if refused:
                self.requests.append(request)
                retry_after = str(max(1, round(self.rate_window / 10)))
                reply = Reply(429, self.fault_body(429), {"Retry-After": retry_after})
            else:
                reply = super()._dispatch(request)
        if self.rate_remaining is not None:
            reply.headers.setdefault("X-HubSpot-RateLimit-Max", str(self.rate_limit))
            pinned = self.rate_remaining if isinstance(self.rate_remaining, int) else remaining
            interval = self.rate_interval_ms or int(self.rate_window * 1000)
            reply.headers.setdefault("X-HubSpot-RateLimit-Remaining", str(pinned))
            reply.headers.setdefault("X-HubSpot-RateLimit-Interval-Milliseconds", str(interval))
        return reply

    def route(self, request: Request) -> Reply:
        path, method = request.path, request.method
        if method == "GET" and path == "/crm/v3/objects/contacts":
            return self._list_contacts(request)
        if method == "GET" and path == "/crm/v3/properties/contacts":
            return Reply(200, {"results": self.properties})
        templates = re.fullmatch(r"/integrators/timeline/v3/([^/]+)/event-templates", path)
        if templates:
            return self._templates(method, templates.group(1), request.body)
        if path.startswith("/crm/v3/lists"):
            return self._lists(method, path, request.body)
        if path.startswith("/communication-preferences/v3/"):
            return self._preferences(method, path, request.body)
        if method != "POST":
            return Reply(404, _error("not found", "OBJECT_NOT_FOUND"))
        body = request.body if isinstance(request.body, dict) else {}
        inputs = body.get("inputs")
        if path == "/crm/v3/objects/companies/search":
            return self._search_companies(body)
        if not isinstance(inputs, list):
            return Reply(400, _error("Invalid input JSON: inputs is required"))
        if len(inputs) > BATCH_LIMIT:
            return Reply(400, _error(f"Batch size {len(inputs)} is over the limit of {BATCH_LIMIT}"))
        if path == "/crm/v3/objects/contacts/batch/upsert":
            return self._upsert_contacts(inputs)
        if path == "/crm/v3/objects/contacts/batch/read":
            return self._read_contacts(body, inputs)
        if path == "/crm/v3/objects/contacts/batch/update":
            return self._update_contacts(inputs)
        if path == "/crm/v3/objects/companies/batch/create":
            return self._create_companies(inputs)
        if path == "/crm/v4/associations/contacts/companies/batch/associate/default":
            return self._associate(inputs)
        if path in ("/integrators/timeline/v3/events/batch/create", "/crm/v3/timeline/events/batch/create"):
            return self._create_events(inputs)
        return Reply(404, _error("not found", "OBJECT_NOT_FOUND"))

    @staticmethod
    def _batch(status: int, results: list, errors: list) -> Reply:
        now = _now()
        body = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
        if errors:
            body["errors"] = errors
            body["numErrors"] = len(errors)
            status = 207
        return Reply(status, body)

    # endpoints -----------------------------------------------------------------------------------------
    def _list_contacts(self, request: Request) -> Reply:
        limit = int(request.query.get("limit") or 10)
        return Reply(200, {"results": list(self.contacts.values())[:limit]})

    def _upsert_contacts(self, inputs: list) -> Reply:
        ids = [str(i.get("id", "")).lower() for i in inputs]
        if any(i.get("idProperty") != "email" for i in inputs):
            return Reply(400, _error("idProperty must be email in this stand-in"))
        if len(set(ids)) != len(ids):
            return Reply(400, _error("Duplicate IDs found in batch input"))
        invalid = [i["id"] for i in inputs if not EMAIL.match(str(i.get("id", "")))]
        if invalid and self.invalid_email_mode == "reject_batch":
            details = ", ".join(f"Email address {e} is invalid" for e in invalid)
            return Reply(400, _error(f"Property values were not valid: {details}"))
        results, errors = [], []
        for item in inputs:
            email = str(item["id"])
            if email in invalid:
                errors.append(
                    _error(f"Email address {email} is invalid", "VALIDATION_ERROR", {"email": [email]})
                )
                continue
            existing = self.contacts.get(email.lower())
            properties = {k: v for k, v in (item.get("properties") or {}).items()}
            properties["email"] = email.lower()
            if existing:
                existing["properties"].update(properties)
                existing["updatedAt"] = _now()
                record, new = existing, False
            else:
                record, new = self._record(properties), True
                self.contacts[email.lower()] = record
                self.contact_ids.add(record["id"])
            record["objectWriteTraceId"] = item.get("objectWriteTraceId")
            results.append({**record, "new": new})
        return self._batch(200, results, errors)

    def _read_contacts(self, body: dict, inputs: list) -> Reply:
        if body.get("idProperty") != "email":
            return Reply(400, _error("idProperty must be email in this stand-in"))
        results, errors = [], []
        for item in inputs:
            record = self.contacts.get(str(item.get("id", "")).lower())
            if record is None:
                errors.append(
                    _error(
                        "Could not get some CONTACT objects, they may be deleted or not exist. "
                        "Check that ids are valid.",
                        "OBJECT_NOT_FOUND",
                        {"ids": [item.get("id")]},
                    )
                )
            else:
                results.append(record)
        return self._batch(200, results, errors)

    def _update_contacts(self, inputs: list) -> Reply:
        writable = {
            p["name"]
            for p in self.properties
            if not p["hidden"] and not p["calculated"] and not p["modificationMetadata"]["readOnlyValue"]
        }
        for item in inputs:
            unknown = sorted(set(item.get("properties") or {}) - writable)
            if unknown:
                return Reply(
                    400,
                    _error(
                        f'Property values were not valid: Property "{unknown[0]}" does not exist',
                        "VALIDATION_ERROR",
                    ),
                )
        by_id = {record["id"]: record for record in self.contacts.values()}
        results, errors = [], []
        for item in inputs:
            record = by_id.get(str(item.get("id")))
            if record is None:
                errors.append(_error("Contact not found", "OBJECT_NOT_FOUND", {"ids": [str(item.get("id"))]}))
                continue
            record["properties"].update({k: str(v) for k, v in (item.get("properties") or {}).items()})
            record["updatedAt"] = _now()
            results.append(record)
        return self._batch(200, results, errors)

    def _preferences(self, method: str, path: str, body: Any) -> Reply:
        """Subscription types and unsubscribing (communication preferences v3)."""
        if method == "GET" and path == "/communication-preferences/v3/definitions":
            definitions = [
                {"id": sid, "name": name, "description": "", "purpose": "Marketing", "isActive": True}
                for sid, name in self.subscription_types.items()
            ]
            return Reply(200, {"subscriptionDefinitions": definitions})
        if method != "POST" or path != "/communication-preferences/v3/unsubscribe":
            return Reply(404, _error("not found", "OBJECT_NOT_FOUND"))
        body = body if isinstance(body, dict) else {}
        email, sid = str(body.get("emailAddress") or "").lower(), str(body.get("subscriptionId") or "")
        if not EMAIL.match(email) or sid not in self.subscription_types:
            return Reply(400, _error(f"Invalid email address or subscription id {sid}"))
        if self.subscriptions.get((email, sid)) == "NOT_SUBSCRIBED":
            return Reply(400, _error(f"{email} is already unsubscribed from subscription {sid}"))
        self.subscriptions[(email, sid)] = "NOT_SUBSCRIBED"
        return Reply(
            200,
            {
                "id": sid,
                "name": self.subscription_types[sid],
                "description": "",
                "status": "NOT_SUBSCRIBED",
                "sourceOfStatus": "SUBSCRIPTION_STATUS",
                "legalBasis": None,
                "legalBasisExplanation": None,
            },
        )

    def _lists(self, method: str, path: str, body: Any) -> Reply:
        """HubSpot's lists v3: find by name, create, and manual memberships."""
        by_name = re.fullmatch(r"/crm/v3/lists/object-type-id/([^/]+)/name/([^/]+)", path)
        if method == "GET" and by_name:
            kind, name = unquote(by_name.group(1)), unquote(by_name.group(2))
            for item in self.lists.values():
                if item["name"].lower() == name.lower() and item["objectTypeId"] == kind:
                    return Reply(200, {"list": _list_view(item)})
            return Reply(404, _error(f"List with name {name} does not exist", "OBJECT_NOT_FOUND"))
        if method == "POST" and path.rstrip("/") == "/crm/v3/lists":
            return self._create_list(body if isinstance(body, dict) else {})
        members = re.fullmatch(r"/crm/v3/lists/([^/]+)/memberships/(add|remove)", path)
        if method == "PUT" and members:
            item = self.lists.get(members.group(1))
            if item is None:
                return Reply(404, _error(f"List {members.group(1)} does not exist", "OBJECT_NOT_FOUND"))
            if item["processingType"] != "MANUAL":
                return Reply(400, _error("Only MANUAL lists can have their memberships changed"))
            if not isinstance(body, list):
                return Reply(400, _error("Invalid input JSON: an array of record ids is expected"))
            ids = [str(i) for i in body]
            missing = [i for i in ids if i not in self.contact_ids]
            done = [i for i in ids if i in self.contact_ids]
            if members.group(2) == "add":
                item["members"].update(done)
                return Reply(200, {"recordIdsAdded": done, "recordIdsMissing": missing})
            item["members"].difference_update(done)
            return Reply(200, {"recordIdsRemoved": done, "recordIdsMissing": missing})
        return Reply(404, _error("not found", "OBJECT_NOT_FOUND"))

    def _create_list(self, body: dict) -> Reply:
        name = str(body.get("name") or "")
        if not name or body.get("objectTypeId") != "0-1":
            return Reply(400, _error("name and objectTypeId (0-1 for contacts) are required"))
        if body.get("processingType") not in ("MANUAL", "DYNAMIC", "SNAPSHOT"):
            return Reply(400, _error("processingType must be MANUAL, DYNAMIC or SNAPSHOT"))
        if any(item["name"].lower() == name.lower() for item in self.lists.values()):
            return Reply(400, _error(f"A list named {name} already exists", "VALIDATION_ERROR"))
        list_id = self._id()
        self.lists[list_id] = {
            "listId": list_id,
            "name": name,
            "objectTypeId": "0-1",
            "processingType": body["processingType"],
            "createdAt": _now(),
            "members": set(),
        }
        return Reply(200, {"list": _list_view(self.lists[list_id])})

    def members_of(self, name: str) -> set[str]:
        """The emails of the list's members (for tests)."""
        ids = next((item["members"] for item in self.lists.values() if item["name"] == name), set())
        return {email for email, record in self.contacts.items() if record["id"] in ids}

    def _search_companies(self, body: dict) -> Reply:
        wanted: set[str] | None = None
        for group in body.get("filterGroups") or []:
            for flt in group.get("filters") or []:
                if flt.get("propertyName") != "domain":
                    return Reply(400, _error("this stand-in searches companies by domain only"))
                if flt.get("operator") == "EQ":
                    values = {str(flt.get("value", "")).lower()}
                elif flt.get("operator") == "IN":
                    values = {str(v) for v in flt.get("values") or []}
                    if len(values) > 100:
                        return Reply(400, _error("too many values in IN filter (max 100)"))
                else:
                    return Reply(400, _error(f"unsupported operator {flt.get('operator')}"))
                wanted = values if wanted is None else wanted | values
        matches = [
            c for c in self.companies.values() if wanted is None or c["properties"].get("domain") in wanted
        ]
        limit = min(int(body.get("limit") or 10), 200)
        start = int(body.get("after") or 0)
        page = matches[start : start + limit]
        reply = {"total": len(matches), "results": page}
        if start + limit < len(matches):
            reply["paging"] = {"next": {"after": str(start + limit)}}
        return Reply(200, reply)

    def _create_companies(self, inputs: list) -> Reply:
        results = [self._create_company(i.get("properties") or {}) for i in inputs]
        return self._batch(201, results, [])

    def _associate(self, inputs: list) -> Reply:
        results, errors = [], []
        contact_ids = {c["id"] for c in self.contacts.values()}
        for item in inputs:
            from_id = str((item.get("from") or {}).get("id", ""))
            to_id = str((item.get("to") or {}).get("id", ""))
            if from_id not in contact_ids or to_id not in self.companies:
                errors.append(
                    _error(
                        f"No contact {from_id} or company {to_id}",
                        "OBJECT_NOT_FOUND",
                        {"fromObjectId": [from_id], "toObjectId": [to_id]},
                    )
                )
                continue
            self.associations.add((from_id, to_id))
            results.append(
                {
                    "from": {"id": from_id},
                    "to": {"id": to_id},
                    "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1},
                }
            )
        return self._batch(200, results, errors)

    def _templates(self, method: str, app_id: str, body: Any) -> Reply:
        if app_id != self.app_id:
            return Reply(404, _error(f"App {app_id} not found", "OBJECT_NOT_FOUND"))
        if method == "GET":
            return Reply(200, {"results": list(self.app_templates.values())})
        if method != "POST" or not isinstance(body, dict) or not body.get("name"):
            return Reply(400, _error("name, objectType and tokens are required"))
        now = _now()
        template = {
            "id": self._id(),
            "name": body["name"],
            "objectType": body.get("objectType") or "contacts",
            "headerTemplate": body.get("headerTemplate") or "",
            "detailTemplate": body.get("detailTemplate") or "",
            "tokens": [{**token, "createdAt": now, "updatedAt": now} for token in body.get("tokens") or []],
            "createdAt": now,
            "updatedAt": now,
        }
        self.app_templates[template["id"]] = template
        return Reply(201, template)

    def _create_events(self, inputs: list) -> Reply:
        results, errors = [], []
        for item in inputs:
            template = str(item.get("eventTemplateId", ""))
            declared = self.app_templates.get(template)
            if template not in self.templates and declared is None:
                return Reply(404, _error(f"Event template {template} not found", "OBJECT_NOT_FOUND"))
            if declared is not None:
                names = {t["name"] for t in declared["tokens"]}
                unknown = sorted(set(item.get("tokens") or {}) - names)
                if unknown:
                    errors.append(
                        _error(
                            f"Unknown token(s) {', '.join(unknown)} for template {template}",
                            "VALIDATION_ERROR",
                            {"id": [str(item.get("id"))]},
                        )
                    )
                    continue
            event_id = str(item.get("id") or self._id())
            if event_id in self.events:
                errors.append(_error(f"Event {event_id} already exists", "CONFLICT", {"id": [event_id]}))
                continue
            email = str(item.get("email") or "").lower()
            object_id = str(item.get("objectId") or "")
            if not object_id and email in self.contacts:
                object_id = self.contacts[email]["id"]
            if not object_id:
                errors.append(_error("No contact for the event", "OBJECT_NOT_FOUND", {"id": [event_id]}))
                continue
            event = {
                "id": event_id,
                "eventTemplateId": template,
                "objectId": object_id,
                "email": email or None,
                "tokens": item.get("tokens") or {},
                "timestamp": item.get("timestamp") or _now(),
                "objectType": "contacts",
                "createdAt": _now(),
            }
            self.events[event_id] = event
            results.append(event)
        return self._batch(201, results, errors)
