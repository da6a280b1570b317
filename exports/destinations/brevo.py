"""Brevo (email marketing): the audience imported into a Brevo contact list, contacts taken off it on removal.

Why Brevo and not Customer.io identify: Brevo's contacts import takes thousands of contacts per request and
reports the rows it refused as CSV files (invalid emails, duplicates; their URLs in the import process, as
Brevo's April 2026 changelog corrects), so a 1M-person export is a few hundred requests. Customer.io's
identify is one request per person under a 10-requests-per-second limit: 28 hours for the same export.

Speaks Brevo's v3 API (`api-key` header):
    GET  /v3/account                                   connection test
    GET  /v3/contacts/attributes                       the account's contact attributes (mapping targets)
    GET  /v3/contacts/lists?limit=50&offset=N          find the export's list by name ...
    POST /v3/contacts/lists {"name", "folderId"}       ... or create it (201 {"id"})
    POST /v3/contacts/import {"jsonBody": [{"email", "attributes"}], "listIds": [id],
         "updateExistingContacts": true, "emptyContactsAttributes": false, "disableNotification": true}
         -> 202 {"processId"}
    GET  /v3/processes/{processId}                     until "completed"; `info.import` holds the URLs of the
         CSV reports (invalid_emails, duplicate_email_id, ...) for the rows Brevo did not import
    POST /v3/contacts/lists/{listId}/contacts/remove {"emails": [...]}   (at most 150 per request)
Errors come as {"code", "message"} (`unauthorized`, `invalid_parameter`, `document_not_found`...).

Idempotency: the import upserts contacts by email (updateExistingContacts), so a retried batch updates what
its first try created. Brevo does not say which contacts were new: accepted contacts count as created.
Removing a contact the list does not hold is a success (Brevo lists it under `failure`, nothing to undo).
Pacing: every request books a slot of the account's budget (exports/pacing.py, default 10 per second).
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
from typing import Any, ClassVar

import pyarrow as pa
import requests
from django.conf import settings

from delivr_admin import outbound
from exports import pacing

from .base import (
    BatchContext,
    BatchResult,
    Destination,
    DestinationError,
    Setting,
    TargetField,
    register,
    url_check,
)

DEFAULT_HOST = "https://api.brevo.com"
REMOVE_LIMIT = 150  # emails per list-removal request
PROCESS_WAIT_SECONDS = 600.0  # an import process that is not done by then fails the batch (retryable)
# Attributes an import cannot set: computed by Brevo or global to the account.
READ_ONLY_CATEGORIES = frozenset({"calculated", "global", "transactional"})
REPORT_FIELDS = {  # info.import field -> (code, words) for the rows it lists
    "invalid_emails": ("INVALID_EMAIL_FORMAT", "Brevo refused the email address"),
    "duplicate_email_id": ("DUPLICATE", "the email appears twice in the import"),
    "duplicate_ext_id": ("DUPLICATE", "the external id belongs to another contact"),
    "duplicate_contact_id": ("DUPLICATE", "the contact id appears twice in the import"),
    "duplicate_phone_id": ("DUPLICATE", "the phone number belongs to another contact"),
    "duplicate_whatsapp_id": ("DUPLICATE", "the WhatsApp number belongs to another contact"),
    "duplicate_landline_number_id": ("DUPLICATE", "the landline number belongs to another contact"),
}
ATTRIBUTE_TYPES = {"float": "number", "id": "number"}


@register
class BrevoDestination(Destination):
    kind = "brevo"
    label = "Brevo (email contacts)"
    config_fields = ("host", "list_id", "folder_id", "rate_limit")
    credential_fields = ("api_key",)
    object_types = ("Contact",)
    required_targets = ("email",)
    has_lists = True
    supports_removal = True
    fetches_fields = True
    batch_size: ClassVar[int] = 2000
    required_credential = ("api_key", "add an API key")
    form_settings = {
        "api_key": Setting(
            "API key", "A Brevo API v3 key (Settings → SMTP & API → API keys).", input_type="password"
        ),
        "host": Setting(
            "API address", "Leave empty to use Brevo.", input_type="url", placeholder="https://api.brevo.com"
        ),
        "list_id": Setting(
            "List ID (optional)",
            "An existing Brevo list to fill; leave empty to use (or create) a list named after the export's "
            "list name.",
            input_type="number",
        ),
        "folder_id": Setting(
            "Folder ID for a new list",
            "The Brevo folder a created list goes in (default 1).",
            input_type="number",
        ),
        "rate_limit": Setting(
            "Requests per second",
            "Brevo's limit for your plan (default 10).",
            input_type="number",
            placeholder="10",
        ),
    }
    default_fields = (
        TargetField("email", "Email", "text", "email", required=True, group="Contact"),
        TargetField("FIRSTNAME", "FIRSTNAME", "text", group="Contact"),
        TargetField("LASTNAME", "LASTNAME", "text", group="Contact"),
        TargetField("SMS", "SMS", "text", group="Contact"),
        TargetField("EXT_ID", "EXT_ID", "text", group="Contact"),
    )

    @classmethod
    def validate_config(cls, config: dict[str, Any], credentials: dict[str, Any]) -> None:
        if config.get("host"):
            url_check(config["host"], what="The Brevo API address", field="host")

    def __init__(self, config: dict[str, Any], credentials: dict[str, Any]):
        super().__init__(config, credentials)
        self.host = str(config.get("host") or DEFAULT_HOST).rstrip("/")
        self.api_key = str(credentials.get("api_key") or "")
        self.list_id = int(config["list_id"]) if str(config.get("list_id") or "").isdigit() else None
        self.folder_id = int(config.get("folder_id") or 1)
        self.rate_limit = int(config.get("rate_limit") or settings.DELIVR_BREVO_RATE_LIMIT)
        self.rate_window = float(config.get("rate_limit_window_seconds") or 1.0)
        self.poll_seconds = float(config.get("poll_seconds", 1.0))
        self.account_key = "brevo:" + hashlib.sha256(f"{self.host}|{self.api_key}".encode()).hexdigest()[:24]
        self.session = outbound.session(
            policy=outbound.RetryPolicy(
                attempts=int(config.get("max_retries", 4)) + 1,
                backoff_base=float(config.get("retry_base_seconds", 0.5)),
                total_seconds=300.0,
            ),
            timeout=float(config.get("timeout_seconds", 30.0)),
        )

    # transport -----------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: Any = None, *, url: str = "") -> requests.Response:
        pacing.pace(self.account_key, limit=self.rate_limit, window_seconds=self.rate_window)
        try:
            response = self.session.request(
                method,
                url or f"{self.host}{path}",
                json=body,
                headers={"api-key": self.api_key, "Accept": "application/json"},
            )
        except outbound.OutboundError as exc:
            raise DestinationError(exc.message, user_error=exc.user_error, retryable=exc.retryable) from exc
        if response.status_code == 401:
            raise DestinationError("Brevo rejected the API key", user_error=True)
        if response.status_code == 403:
            raise DestinationError(f"Brevo refused access: {_message(response)}", user_error=True)
        return response

    def _json(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200,)) -> dict:
        response = self._request(method, path, body)
        if response.status_code not in ok:
            retryable = outbound.RetryPolicy.retryable_status(response.status_code)
            raise DestinationError(
                f"Brevo answered {outbound.status_reason(response.status_code)} on {path}: {_message(response)}",
                retryable=retryable,
                user_error=not retryable,
            )
        try:
            return response.json() if response.content else {}
        except ValueError as exc:
            raise DestinationError(
                f"Brevo sent an answer that is not JSON on {path}", retryable=True
            ) from exc

    # interface -----------------------------------------------------------------------------------------
    def test_connection(self) -> None:
        self._json("GET", "/v3/account")

    def target_fields(self) -> list[TargetField]:
        body = self._json("GET", "/v3/contacts/attributes")
        fields = [self.default_fields[0]]
        for item in body.get("attributes") or []:
            if item.get("category") in READ_ONLY_CATEGORIES or not item.get("name"):
                continue
            kind = str(item.get("type") or "text")
            values = tuple(str(e.get("label") or e.get("value")) for e in item.get("enumeration") or [])
            fields.append(
                TargetField(
                    name=str(item["name"]),
                    label=str(item["name"]),
                    type=kind,
                    mapping_type=ATTRIBUTE_TYPES.get(kind, "string"),
                    picklist=values,
                    group=str(item.get("category") or ""),
                )
            )
        return fields

    def open(self, context: BatchContext) -> None:
        if self.list_id is None:
            self.list_id = self._list_for(context.list_name or f"Delivr export {context.export_id}")

    def _list_for(self, name: str) -> int:
        """The id of the account's list with this name, created in the folder when there is none."""
        offset = 0
        while True:
            body = self._json("GET", f"/v3/contacts/lists?limit=50&offset={offset}")
            lists = body.get("lists") or []
            for item in lists:
                if item.get("name") == name:
                    return int(item["id"])
            offset += len(lists)
            if not lists or offset >= int(body.get("count") or 0):
                break
        created = self._json(
            "POST", "/v3/contacts/lists", {"name": name, "folderId": self.folder_id}, ok=(201,)
        )
        return int(created["id"])

    def write_batch(self, batch: pa.RecordBatch, context: BatchContext) -> BatchResult:
        result = BatchResult()
        contacts = result.object("Contact", "import")
        keys = context.idempotency_keys
        by_email: dict[str, str] = {}
        rows: list[dict] = []
        for index, record in enumerate(batch.to_pylist()):
            email = str(record.get("email") or "").strip().lower()
            key = keys[index] if index < len(keys) else f"{context.run_id}:{email or index}"
            if not email:
                contacts.add_error(key, "REQUIRED_FIELD_MISSING", "email is required")
                continue
            if email in by_email:
                contacts.records_skipped += 1
                continue
            by_email[email] = key
            attributes = {
                k: _value(v) for k, v in record.items() if k != "email" and v is not None and v != ""
            }
            rows.append({"email": email, "attributes": attributes})
        if not rows:
            return result
        if self.list_id is None:
            self.open(context)
        body = {
            "jsonBody": rows,
            "listIds": [self.list_id],
            "updateExistingContacts": True,
            "emptyContactsAttributes": False,
            "disableNotification": True,
        }
        process_id = self._json("POST", "/v3/contacts/import", body, ok=(202,)).get("processId")
        refused = self._refused_rows(self._wait_for(process_id))
        for email, key in by_email.items():
            if email in refused:
                code, words = refused[email]
                if code == "DUPLICATE":
                    contacts.records_skipped += 1
                else:
                    contacts.add_error(key, code, words)
            else:
                contacts.records_created += 1
        return result

    def _wait_for(self, process_id: Any) -> dict:
        """The finished import process (polled with a growing pause)."""
        if process_id is None:
            raise DestinationError("Brevo started no import (no processId in its answer)", retryable=True)
        deadline = time.monotonic() + PROCESS_WAIT_SECONDS
        pause = self.poll_seconds / 4
        while True:
            process = self._json("GET", f"/v3/processes/{process_id}")
            if process.get("status") == "completed":
                return process
            if time.monotonic() + pause > deadline:
                raise DestinationError(f"Brevo's import {process_id} did not finish in time", retryable=True)
            time.sleep(pause)
            pause = min(pause * 2, self.poll_seconds * 5)

    def _refused_rows(self, process: dict) -> dict[str, tuple[str, str]]:
        """email -> (code, words) for the rows the import's CSV reports list."""
        refused: dict[str, tuple[str, str]] = {}
        info = ((process.get("info") or {}).get("import")) or {}
        for field, (code, words) in REPORT_FIELDS.items():
            url = info.get(field)
            if not isinstance(url, str) or not url:
                continue
            response = self._request("GET", "", url=url)
            if response.status_code != 200:
                raise DestinationError(
                    f"Brevo's {field} report could not be read ({outbound.status_reason(response.status_code)})",
                    retryable=True,
                )
            for email in _report_emails(response.text):
                refused.setdefault(email, (code, words))
        return refused

    def remove_batch(self, batch: pa.RecordBatch, context: BatchContext) -> BatchResult:
        """Takes the records' emails off the export's list (150 per request); absent ones are a success."""
        result = BatchResult()
        removed = result.object("Contact", "remove")
        if self.list_id is None:
            self.open(context)
        keys = context.idempotency_keys
        pending: list[tuple[str, str]] = []
        for index, record in enumerate(batch.to_pylist()):
            email = str(record.get("email") or "").strip().lower()
            key = keys[index] if index < len(keys) else f"{context.run_id}:{record.get('record_key')}:removed"
            if email:
                pending.append((email, key))
            else:
                removed.add_error(key, "REQUIRED_FIELD_MISSING", "no email to remove from Brevo")
        for start in range(0, len(pending), REMOVE_LIMIT):
            chunk = pending[start : start + REMOVE_LIMIT]
            path = f"/v3/contacts/lists/{self.list_id}/contacts/remove"
            try:
                self._json("POST", path, {"emails": [email for email, _ in chunk]}, ok=(201,))
            except DestinationError as exc:
                if exc.user_error and "rejected the API key" in exc.message:
                    raise
                for _email, key in chunk:
                    removed.add_error(key, "DESTINATION_ERROR", exc.message)
                continue
            removed.records_updated += len(chunk)
        return result

    def close(self, context: BatchContext, *, success: bool) -> dict[str, Any]:
        self.session.close()
        return {"list_id": self.list_id} if self.list_id is not None else {}


def _value(value: Any) -> Any:
    if isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value if v is not None)
    return str(value)


def _message(response: requests.Response) -> str:
    """Brevo's {"code", "message"} in words; the status when the body says nothing."""
    try:
        body = response.json()
    except ValueError:
        return outbound.status_reason(response.status_code)
    if isinstance(body, dict) and body.get("message"):
        return f"{body.get('code') or 'error'}: {str(body['message'])[:200]}"
    return outbound.status_reason(response.status_code)


def _report_emails(text: str) -> list[str]:
    """The emails a Brevo CSV report lists (its EMAIL/email column, else its first column)."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        return []
    names = [h.strip().lower() for h in header]
    column = names.index("email") if "email" in names else 0
    emails = [row[column].strip().lower() for row in reader if len(row) > column and row[column].strip()]
    if "@" in header[column]:  # no header row: the first line is a row
        emails.insert(0, header[column].strip().lower())
    return emails
