"""A Salesforce-style CRM: Contacts or Leads upserted by an external id through sObject Collections
(`PATCH /services/data/v60.0/composite/sobjects/{Contact|Lead}/{ExternalIdField}`, allOrNone false, 200
records per request), one result per record mapped to per-object results.

Credentials: `instance_url` + `access_token`, or `client_id`, `client_secret`, `username`, `password` for the
OAuth username-password flow (`POST {login_url or instance_url}/services/oauth2/token`); with those, an
expired session is renewed once per request. The batch arrives with Salesforce field API names (the core
applied the field mapping); `company_domain` and empty values are not sent (an upsert never blanks a field).

Idempotency: the upsert key is the external id field (default Email), so a retried batch updates the records
its first try created instead of creating them again.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import requests

from delivr_admin import outbound
from exports.destinations.base import (
    BatchContext,
    BatchResult,
    Destination,
    DestinationError,
    RequestFailed,
    Setting,
    TargetField,
    register,
    url_check,
)

API_VERSION = "v60.0"
DEFAULT_LOGIN_URL = "https://login.salesforce.com"
COLLECTION_LIMIT = 200  # sObject Collections take at most 200 records per request
OBJECT_TYPES = ("Contact", "Lead")
NOT_FIELDS = frozenset({"company_domain"})
MAX_CALL_SECONDS = 15 * 60.0
# Whole-request errors that no retry can fix: the mapping or config names something Salesforce lacks.
CONFIG_ERRORS = frozenset({"INVALID_FIELD", "NOT_FOUND", "INVALID_TYPE", "INVALID_FIELD_FOR_INSERT_UPDATE"})


def _value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value if v is not None)  # multi-select picklist form
    return value


@register
class SalesforceDestination(Destination):
    kind = "salesforce"
    label = "Salesforce"
    config_fields = ("object_type", "external_id_field", "login_url")
    credential_fields = ("instance_url", "access_token", "client_id", "client_secret", "username", "password")
    object_types = OBJECT_TYPES
    records_per_request = COLLECTION_LIMIT  # a write is one sObject Collections request: a retry resends one
    form_settings = {
        "object_type": Setting(
            "Record type",
            "Whether the audience becomes Contacts or Leads.",
            choices=(("Contact", "Contacts"), ("Lead", "Leads")),
        ),
        "external_id_field": Setting(
            "Match records on", "The field that finds an existing record (default Email)."
        ),
        "login_url": Setting(
            "Login address",
            "Leave empty for https://login.salesforce.com; sandboxes use test.salesforce.com.",
        ),
        "instance_url": Setting(
            "Instance address",
            "Your org's address, e.g. https://yourcompany.my.salesforce.com.",
            input_type="url",
        ),
        "access_token": Setting(
            "Access token", "A session token; or use the four OAuth fields below.", input_type="password"
        ),
        "client_id": Setting("Connected app consumer key", input_type="password"),
        "client_secret": Setting("Connected app consumer secret", input_type="password"),
        "username": Setting("Integration user name"),
        "password": Setting("Integration user password (with security token)", input_type="password"),
    }
    default_fields = (
        TargetField("Email", "Email", "email", "email", max_length=80, group="Contact"),
        TargetField("FirstName", "First Name", "string", max_length=40, group="Contact"),
        TargetField("LastName", "Last Name", "string", max_length=80, required=True, group="Contact"),
        TargetField("Title", "Title", "string", max_length=128, group="Contact"),
        TargetField("Company", "Company (Leads)", "string", max_length=255, group="Lead"),
    )
    fetches_fields = True

    @classmethod
    def missing_credentials(cls, credentials: dict[str, Any]) -> str:
        oauth = all(credentials.get(n) for n in ("client_id", "client_secret", "username", "password"))
        if credentials.get("access_token") or oauth:
            return ""
        return "add an access token or the OAuth client and user"

    def __init__(self, config: dict[str, Any], credentials: dict[str, Any]):
        super().__init__(config, credentials)
        self.object_type = config.get("object_type") or "Contact"
        if self.object_type not in OBJECT_TYPES:
            raise DestinationError(f"object_type must be one of {', '.join(OBJECT_TYPES)}", user_error=True)
        self.external_id_field = config.get("external_id_field") or "Email"
        self.retry_base_seconds = float(config.get("retry_base_seconds", 1.0))
        self.max_retries = int(config.get("max_retries", 5))
        self.timeout = float(config.get("timeout_seconds", 30.0))
        self.instance_url = str(credentials.get("instance_url") or "").rstrip("/")
        self.access_token = str(credentials.get("access_token") or "")
        self.login_url = str(config.get("login_url") or self.instance_url or DEFAULT_LOGIN_URL).rstrip("/")
        self._password_flow = all(
            credentials.get(name) for name in ("client_id", "client_secret", "username", "password")
        )
        self.session = outbound.session(policy=self._policy(), timeout=self.timeout)

    def _policy(self) -> outbound.RetryPolicy:
        return outbound.RetryPolicy(
            attempts=self.max_retries + 1,
            backoff_base=self.retry_base_seconds,
            total_seconds=MAX_CALL_SECONDS,
        )

    @classmethod
    def validate_config(cls, config: dict[str, Any], credentials: dict[str, Any]) -> None:
        if config.get("login_url"):
            url_check(config["login_url"], what="The Salesforce login URL", field="login_url")
        if credentials.get("instance_url"):
            url_check(credentials["instance_url"], what="The Salesforce instance URL", field="instance_url")

    # auth ----------------------------------------------------------------------------------------------
    def _fetch_token(self) -> None:
        try:
            response = self.session.post(
                f"{self.login_url}/services/oauth2/token",
                data={
                    "grant_type": "password",
                    "client_id": self.credentials["client_id"],
                    "client_secret": self.credentials["client_secret"],
                    "username": self.credentials["username"],
                    "password": self.credentials["password"],
                },
            )
        except outbound.OutboundError as exc:
            if exc.user_error:
                raise DestinationError(exc.message, user_error=True) from exc
            raise DestinationError(f"Salesforce login: {exc.message}", retryable=True) from exc
        body = _json(response)
        if response.status_code in (400, 401) or not isinstance(body, dict) or "access_token" not in body:
            detail = body.get("error_description") if isinstance(body, dict) else ""
            raise DestinationError(
                f"Salesforce rejected the OAuth credentials ({detail or response.status_code})",
                user_error=True,
            )
        self.access_token = body["access_token"]
        self.instance_url = str(body.get("instance_url") or self.instance_url).rstrip("/")

    # transport -----------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, json_body: Any = None) -> Any:
        """One API call (the outbound layer retries 429/5xx and network errors); a renewed token on 401 once."""
        if not self.access_token and self._password_flow:
            self._fetch_token()
        if not self.instance_url:
            raise DestinationError("Salesforce instance_url is missing", user_error=True)
        renewed = False
        while True:
            try:
                response = self.session.request(
                    method,
                    f"{self.instance_url}{path}",
                    json=json_body,
                    headers={"Authorization": f"Bearer {self.access_token}", "Accept": "application/json"},
                )
            except outbound.OutboundError as exc:
                if exc.user_error:
                    raise DestinationError(exc.message, user_error=True) from exc
                raise RequestFailed(0, "UNREACHABLE", exc.message) from exc
            status, body = response.status_code, _json(response)
            if 200 <= status < 300:
                return body
            code, message = _error_of(body, status)
            if status == 401:
                if self._password_flow and not renewed:
                    renewed = True
                    self._fetch_token()
                    continue
                raise DestinationError("Salesforce rejected the access token", user_error=True)
            if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
                raise DestinationError(f"Salesforce API limit reached: {message}", retryable=True)
            if status == 403:
                raise DestinationError(f"Salesforce refused access: {message}", user_error=True)
            if code in CONFIG_ERRORS or status == 404:
                raise DestinationError(f"Salesforce: {code}: {message}", user_error=True)
            raise RequestFailed(status, code, message)

    # interface -----------------------------------------------------------------------------------------
    def test_connection(self) -> None:
        self.validate_config(self.config, self.credentials)
        policy = self.session.policy
        self.session.policy = dataclasses.replace(policy, attempts=min(policy.attempts, 2))  # a person waits
        try:
            self._request("GET", f"/services/data/{API_VERSION}/limits")
        except RequestFailed as exc:
            raise DestinationError(
                f"Salesforce did not answer ({exc.code}: {exc.message})", retryable=True
            ) from exc
        finally:
            self.session.policy = policy

    def target_fields(self) -> list[TargetField]:
        """The object's writable fields from its describe (`/sobjects/{Contact|Lead}/describe`)."""
        policy = self.session.policy
        self.session.policy = dataclasses.replace(policy, attempts=min(policy.attempts, 2))
        try:
            body = self._request("GET", f"/services/data/{API_VERSION}/sobjects/{self.object_type}/describe")
        except RequestFailed as exc:
            raise DestinationError(f"Salesforce did not describe {self.object_type} ({exc.code})") from exc
        finally:
            self.session.policy = policy
        fields = [_describe_field(item, self.object_type) for item in (body or {}).get("fields") or []]
        return [f for f in fields if f is not None]

    def write_batch(self, batch: pa.RecordBatch, context: BatchContext) -> BatchResult:
        result = BatchResult()
        objects = result.object(self.object_type, "upsert")
        keys = context.idempotency_keys
        pending: list[tuple[str, dict]] = []
        seen: set[str] = set()
        for index, row in enumerate(batch.to_pylist()):
            external_id = row.get(self.external_id_field)
            key = keys[index] if index < len(keys) else f"{context.run_id}:{external_id or index}"
            if external_id is None or str(external_id).strip() == "":
                objects.add_error(key, "REQUIRED_FIELD_MISSING", f"{self.external_id_field} is required")
                continue
            if str(external_id).lower() in seen:  # one request may not name an external id twice
                objects.records_skipped += 1
                continue
            seen.add(str(external_id).lower())
            record = {"attributes": {"type": self.object_type}}
            record.update(
                {
                    name: _value(value)
                    for name, value in row.items()
                    if name not in NOT_FIELDS and value is not None and value != ""
                }
            )
            pending.append((key, record))
        path = f"/services/data/{API_VERSION}/composite/sobjects/{self.object_type}/{self.external_id_field}"
        for start in range(0, len(pending), COLLECTION_LIMIT):
            chunk = pending[start : start + COLLECTION_LIMIT]
            try:
                body = self._request("PATCH", path, {"allOrNone": False, "records": [r for _, r in chunk]})
            except RequestFailed as exc:
                for key, _record in chunk:
                    objects.add_error(key, exc.code, exc.message)
                continue
            results = body if isinstance(body, list) else []
            for position, (key, _record) in enumerate(chunk):
                item = results[position] if position < len(results) else None
                if not isinstance(item, dict):  # never a silent drop
                    objects.add_error(key, "NO_RESULT", "Salesforce returned no result for this record")
                elif item.get("success"):
                    if item.get("created"):
                        objects.records_created += 1
                    else:
                        objects.records_updated += 1
                else:
                    errors = item.get("errors") or [{}]
                    first = errors[0]
                    fields = ", ".join(first.get("fields") or [])
                    message = str(first.get("message") or "record rejected")
                    objects.add_error(
                        key,
                        str(first.get("statusCode") or "ERROR"),
                        f"{message} ({fields})" if fields else message,
                    )
        return result

    def close(self, context: BatchContext, *, success: bool) -> dict[str, Any]:
        self.session.close()
        return {}


TEXT_TYPES = frozenset(
    {"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox"}
)


def _describe_field(item: dict, object_type: str) -> TargetField | None:
    """A describe field as a mapping target; None for what an upsert cannot set."""
    if not (item.get("createable") or item.get("updateable")):
        return None
    kind = str(item.get("type") or "string")
    length = int(item.get("length") or 0)
    values = tuple(
        str(p["value"]) for p in item.get("picklistValues") or [] if p.get("active", True) and p.get("value")
    )
    return TargetField(
        name=str(item["name"]),
        label=str(item.get("label") or item["name"]),
        type=kind,
        mapping_type="email"
        if kind == "email"
        else "number"
        if kind in ("int", "double", "currency", "percent")
        else "string",
        max_length=length if kind in TEXT_TYPES and length > 0 else None,
        required=not item.get("nillable", True) and not item.get("defaultedOnCreate", False),
        picklist=values if kind in ("picklist", "multipicklist") else (),
        multi_value=kind == "multipicklist",
        group=object_type,
    )


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_of(body: Any, status: int) -> tuple[str, str]:
    """Salesforce's error list ([{"errorCode", "message"}]) or an OAuth error body, as (code, message)."""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return str(body[0].get("errorCode") or f"HTTP_{status}"), str(body[0].get("message") or "")
    if isinstance(body, dict):
        return str(body.get("errorCode") or body.get("error") or f"HTTP_{status}"), str(
            body.get("message") or body.get("error_description") or ""
        )
    # Not JSON: the status in words, never the reply's text.
    return (f"HTTP_{status}" if status else "UNREACHABLE"), outbound.status_reason(
        status
    ) if status else "no answer"
