"""A local stand-in for a Salesforce-style CRM REST API: exactly the endpoints
exports/destinations/salesforce.py uses, with Salesforce's response shapes.

- `POST  /services/oauth2/token`                                  OAuth username-password flow (form body)
- `GET   /services/data/v60.0/limits`                             (connection test)
- `GET   /services/data/v60.0/sobjects/{Contact|Lead}/describe`   the object's fields, shaped as Salesforce's
  describe (name, label, type, length, nillable, createable, updateable, defaultedOnCreate, picklistValues)
- `PATCH /services/data/v60.0/composite/sobjects/{Contact|Lead}/{ExternalIdField}`
  sObject Collections upsert: at most 200 records, `allOrNone`, one result per record in order:
  {"id", "success", "created", "errors": [{"statusCode", "message", "fields"}]}. Validation as Salesforce
  does it: LastName required (Lead: Company too), Email must look like an email, an unknown field fails the
  whole request with 400 INVALID_FIELD, an unknown object 404 NOT_FOUND.

State: `records[object_type][external id value]` -> record. Errors outside a result list come as
Salesforce's list form: [{"message", "errorCode"}].
"""

from __future__ import annotations

import re
from typing import Any

from tests.exports.standins.base import Reply, Request, StandIn

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
API = "/services/data/v60.0"
COLLECTION_LIMIT = 200
FIELDS = {
    "Contact": {"Email", "FirstName", "LastName", "Title", "Phone", "Department", "Description", "LeadSource"}
    | {"MailingCity", "MailingState", "MailingCountry", "AccountId"},
    "Lead": {"Email", "FirstName", "LastName", "Title", "Phone", "Company", "Website", "Description"}
    | {"City", "State", "Country", "NumberOfEmployees", "Industry", "LeadSource"},
}
REQUIRED = {"Contact": ("LastName",), "Lead": ("LastName", "Company")}
# name -> (label, type, length); fields not listed are 255-character strings labelled by their name.
DESCRIBE = {
    "Email": ("Email", "email", 80),
    "FirstName": ("First Name", "string", 40),
    "LastName": ("Last Name", "string", 80),
    "Title": ("Title", "string", 128),
    "Phone": ("Business Phone", "phone", 40),
    "Company": ("Company", "string", 255),
    "Website": ("Website", "url", 255),
    "Description": ("Description", "textarea", 32000),
    "LeadSource": ("Lead Source", "picklist", 255),
    "Industry": ("Industry", "picklist", 255),
    "NumberOfEmployees": ("Employees", "int", 0),
    "AccountId": ("Account ID", "reference", 18),
    "MailingCountry": ("Mailing Country", "string", 80),
    "Country": ("Country", "string", 80),
}
PICKLISTS = {
    "LeadSource": ("Web", "Phone Inquiry", "Partner Referral", "Other"),
    "Industry": ("Technology", "Finance"),
}
ID_PREFIX = {"Contact": "003", "Lead": "00Q"}


def _errors(code: str, message: str) -> list[dict]:
    return [{"message": message, "errorCode": code}]


class SalesforceStandIn(StandIn):
    token = "00Dstandin!salesforce-token"
    client_id = "standin-client-id"
    client_secret = "standin-client-secret"
    username = "integration@example.com"
    password = "standin-password"

    def __init__(self):
        super().__init__()
        self.records: dict[str, dict[str, dict]] = {"Contact": {}, "Lead": {}}
        self.valid_tokens = {self.token}
        self._next_id = 0

    # helpers for tests -----------------------------------------------------------------------------------
    def config(self, **extra) -> dict[str, Any]:
        return {"object_type": "Contact", "external_id_field": "Email", "retry_base_seconds": 0.01, **extra}

    def credentials(self, *, oauth: bool = False) -> dict[str, Any]:
        if oauth:
            return {
                "instance_url": self.url,
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "username": self.username,
                "password": self.password,
            }
        return {"instance_url": self.url, "access_token": self.token}

    def expire_tokens(self) -> None:
        """Every token issued so far stops working, as when a session times out."""
        with self.lock:
            self.valid_tokens.clear()

    # plumbing ------------------------------------------------------------------------------------------
    def authorized(self, request: Request) -> bool:
        if request.path == "/services/oauth2/token":
            return True
        header = request.headers.get("authorization", "")
        return header.startswith("Bearer ") and header.removeprefix("Bearer ") in self.valid_tokens

    def unauthorized(self, request: Request) -> Reply:
        return Reply(401, _errors("INVALID_SESSION_ID", "Session expired or invalid"))

    def fault_body(self, status: int) -> Any:
        if status == 429:
            return _errors("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
        if status == 503:
            return _errors("SERVER_UNAVAILABLE", "Server is temporarily unavailable")
        return _errors("UNKNOWN_EXCEPTION", "An unexpected error occurred.")

    def route(self, request: Request) -> Reply:
        if request.method == "POST" and request.path == "/services/oauth2/token":
            return self._token(request.body if isinstance(request.body, dict) else {})
        if request.method == "GET" and request.path == f"{API}/limits":
            return Reply(200, {"DailyApiRequests": {"Max": 15000, "Remaining": 14990}})
        describe = re.fullmatch(rf"{API}/sobjects/([A-Za-z_]+)/describe", request.path)
        if request.method == "GET" and describe:
            return self._describe(describe.group(1))
        prefix = f"{API}/composite/sobjects/"
        if request.method == "PATCH" and request.path.startswith(prefix):
            parts = request.path.removeprefix(prefix).split("/")
            if len(parts) == 2:
                return self._upsert(parts[0], parts[1], request.body)
        return Reply(404, _errors("NOT_FOUND", "The requested resource does not exist"))

    # endpoints -----------------------------------------------------------------------------------------
    def _describe(self, object_type: str) -> Reply:
        if object_type not in FIELDS:
            return Reply(404, _errors("NOT_FOUND", f"The requested resource does not exist: {object_type}"))
        fields = [
            {
                "name": "Id",
                "label": f"{object_type} ID",
                "type": "id",
                "length": 18,
                "nillable": False,
                "createable": False,
                "updateable": False,
                "defaultedOnCreate": True,
                "picklistValues": [],
            }
        ]
        for name in sorted(FIELDS[object_type]):
            label, kind, length = DESCRIBE.get(name, (name, "string", 255))
            fields.append(
                {
                    "name": name,
                    "label": label,
                    "type": kind,
                    "length": length,
                    "nillable": name not in REQUIRED[object_type],
                    "createable": True,
                    "updateable": True,
                    "defaultedOnCreate": False,
                    "externalId": False,
                    "idLookup": name == "Email",
                    "picklistValues": [
                        {"active": True, "defaultValue": False, "label": v, "value": v}
                        for v in PICKLISTS.get(name, ())
                    ],
                }
            )
        return Reply(200, {"name": object_type, "label": object_type, "createable": True, "fields": fields})

    def _token(self, form: dict) -> Reply:
        good = (
            form.get("grant_type") == "password"
            and form.get("client_id") == self.client_id
            and form.get("client_secret") == self.client_secret
            and form.get("username") == self.username
            and form.get("password") == self.password
        )
        if not good:
            return Reply(400, {"error": "invalid_grant", "error_description": "authentication failure"})
        self._next_id += 1
        token = f"00Dstandin!issued-{self._next_id}"
        self.valid_tokens.add(token)
        return Reply(
            200,
            {
                "access_token": token,
                "instance_url": self.url,
                "id": f"{self.url}/id/00Dstandin/005standin",
                "token_type": "Bearer",
                "issued_at": "1767225600000",
                "signature": "standin",
            },
        )

    def _upsert(self, object_type: str, id_field: str, body: Any) -> Reply:
        if object_type not in FIELDS:
            return Reply(404, _errors("NOT_FOUND", f"The requested resource does not exist: {object_type}"))
        if id_field not in FIELDS[object_type] and not id_field.endswith("__c"):
            return Reply(
                404,
                _errors(
                    "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {id_field}"
                ),
            )
        records = (body or {}).get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            return Reply(400, _errors("JSON_PARSER_ERROR", "records is required"))
        if len(records) > COLLECTION_LIMIT:
            return Reply(
                400,
                _errors(
                    "EXCEEDED_ID_LIMIT",
                    f"record limit reached. cannot submit more than {COLLECTION_LIMIT} records into this call",
                ),
            )
        for record in records:
            for name in record:
                if name != "attributes" and name not in FIELDS[object_type] and not name.endswith("__c"):
                    return Reply(
                        400,
                        _errors("INVALID_FIELD", f"No such column '{name}' on sobject of type {object_type}"),
                    )
        results, staged = [], []
        table = self.records[object_type]
        for record in records:
            errors = self._validate(object_type, id_field, record)
            if errors:
                results.append({"id": None, "success": False, "errors": errors})
                staged.append(None)
                continue
            key = str(record[id_field]).lower()
            existing = table.get(key)
            if existing:
                results.append({"id": existing["Id"], "success": True, "errors": [], "created": False})
            else:
                self._next_id += 1
                new_id = f"{ID_PREFIX[object_type]}{self._next_id:015d}"
                results.append({"id": new_id, "success": True, "errors": [], "created": True})
            staged.append((key, record))
        if body.get("allOrNone") and any(not r["success"] for r in results):
            rolled = {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
                "fields": [],
            }
            return Reply(
                200,
                [
                    r if not r["success"] else {"id": None, "success": False, "errors": [rolled]}
                    for r in results
                ],
            )
        for result, item in zip(results, staged, strict=True):
            if item is None:
                continue
            key, record = item
            fields = {k: v for k, v in record.items() if k != "attributes"}
            if key in table:
                table[key].update(fields)
            else:
                table[key] = {"Id": result["id"], **fields}
        return Reply(200, results)

    @staticmethod
    def _validate(object_type: str, id_field: str, record: dict) -> list[dict]:
        errors = []
        attributes = record.get("attributes") or {}
        if attributes.get("type") != object_type:
            errors.append(
                {"statusCode": "INVALID_TYPE", "message": "attributes.type must match the URL", "fields": []}
            )
        if not record.get(id_field):
            errors.append(
                {
                    "statusCode": "MISSING_ARGUMENT",
                    "message": f"{id_field} not specified",
                    "fields": [id_field],
                }
            )
        missing = [name for name in REQUIRED[object_type] if not record.get(name)]
        if missing:
            errors.append(
                {
                    "statusCode": "REQUIRED_FIELD_MISSING",
                    "message": f"Required fields are missing: [{', '.join(missing)}]",
                    "fields": missing,
                }
            )
        email = record.get("Email")
        if email and not EMAIL.match(str(email)):
            errors.append(
                {
                    "statusCode": "INVALID_EMAIL_ADDRESS",
                    "message": f"Email: invalid email address: {email}",
                    "fields": ["Email"],
                }
            )
        return errors
