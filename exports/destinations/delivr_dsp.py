"""DelivrDSP list destination: keeps one DSP audience list per export in sync with the export's audience.

Speaks the DelivrDSP list API (the campaigns app reads campaigns from the same API, same key). The list API
follows the DSP audience APIs marketers know (The Trade Desk's data/advertiser segments, LiveRamp's
audiences): a list is created once and found again by its `external_id`, members are upserted by their own
`external_id`, and members are removed by it; every write carries an Idempotency-Key.

    GET    {base}/v1/lists?limit=1                               connection test (200 when the key is valid)
    GET    {base}/v1/lists?external_id={export_id}&account_id=   {"data": [{"list_id", "list_name",
           "external_id", "account_id", "member_count"}]}: the export's list, if it has one
    POST   {base}/v1/lists {"name", "account_id", "external_id": export_id}   (Idempotency-Key:
           list:<export_id>) -> 201 {"list_id", "list_name"}; the same key answers the same list again
    PATCH  {base}/v1/lists/{list_id} {"name"}                     -> 200: the list follows the export's list name
    POST   {base}/v1/lists/{list_id}/members {"members": [{"external_id", "idempotency_key", "fields"}]}
           (Idempotency-Key: <run_id>:<batch_index>:<digest of the members' keys>) -> {"added", "updated",
           "skipped", "failed": [{"idempotency_key", "error"}]}; a member is upserted by external_id (added
           when new to the list, updated when there), so a resent batch adds nobody twice
    POST   {base}/v1/lists/{list_id}/members/remove {"members": [{"external_id", "idempotency_key"}]}
           (Idempotency-Key as above) -> {"removed", "not_found", "failed": [...]}; a member the list does not
           hold counts as not_found, which is a success (nothing to undo)
A request repeated with the same Idempotency-Key gets the first answer again without being applied twice.
Errors: 401/403 (the key), 404 {"error": "list_not_found"}, 422 (a body the DSP refuses), 429 with
Retry-After past the account's rate limit, 5xx.

A member's external_id is the record key (person_id, else the lower-cased email); the list name is the
export's list name (the audience's name unless overridden, as the March 2026 update says). Authorization:
Bearer <api_key> (the export's own key, else DELIVR_DSP_API_KEY); base URL from the config, else
DELIVR_DSP_BASE_URL. Pacing: every request books a slot of the API key's budget (exports/pacing.py;
DELIVR_DSP_RATE_LIMIT requests per second by default, `rate_limit` on the export).

Failures: 401/403 stop the run (user error); a 429/5xx or an unreachable DSP that outlasts the retries stops
the run as retryable (it resumes after its last committed batch); records the DSP names in `failed` fail
alone.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from typing import Any, ClassVar

import pyarrow as pa
from django.conf import settings

from delivr_admin import outbound
from exports import pacing

from .base import (
    BatchContext,
    BatchResult,
    Destination,
    DestinationError,
    ObjectResult,
    Setting,
    TargetField,
    register,
    url_check,
)
from .webhook import json_value

MAX_ATTEMPTS = 4
MAX_CALL_SECONDS = 15 * 60.0


def batch_key(context: BatchContext, keys: list[str], suffix: str = "") -> str:
    """The Idempotency-Key of one batch request: its run and index, and a digest of its members' keys (a
    resumed run may put other records in a batch of the same index: they must not get the first answer)."""
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
    return f"{context.run_id}:{context.batch_index}{suffix}:{digest}"


@register
class DelivrDspDestination(Destination):
    kind = "delivr_dsp"
    label = "DelivrDSP list"
    config_fields = ("base_url", "account_id", "rate_limit")
    credential_fields = ("api_key",)
    object_types = ("Contact",)
    has_lists = True
    supports_removal = True  # members/remove: `mirror` and opt-outs
    form_settings = {
        "base_url": Setting(
            "DelivrDSP address", "Leave empty to use your organization's DelivrDSP.", input_type="url"
        ),
        "account_id": Setting("Advertiser account", "The DSP account the list belongs to."),
        "api_key": Setting(
            "API key", "Leave empty to use the organization's DelivrDSP key.", input_type="password"
        ),
        "rate_limit": Setting(
            "Requests per second",
            "Your DelivrDSP account's limit (default 20).",
            input_type="number",
            placeholder="20",
        ),
    }
    # The identifiers the DSP matches people on, then the attributes it keeps with a list member.
    default_fields = (
        TargetField("email", "Email address", "identifier", "email", group="Identifiers"),
        TargetField("uid2", "UID2 token", "identifier", group="Identifiers"),
        TargetField("person_id", "Delivr person ID", "identifier", group="Identifiers"),
        TargetField("company_domain", "Company domain", "identifier", group="Identifiers"),
        TargetField("first_name", "First name", "string", group="Attributes"),
        TargetField("last_name", "Last name", "string", group="Attributes"),
        TargetField("job_title", "Job title", "string", group="Attributes"),
        TargetField("company_name", "Company name", "string", group="Attributes"),
        TargetField("country", "Country", "string", group="Attributes"),
        TargetField("state", "State", "string", group="Attributes"),
        TargetField("city", "City", "string", group="Attributes"),
    )

    @classmethod
    def missing_credentials(cls, credentials: dict[str, Any]) -> str:
        if credentials.get("api_key") or settings.DELIVR_DSP_API_KEY:
            return ""
        return "add an API key"

    batch_size: ClassVar[int] = 1000

    def __init__(self, config: dict[str, Any], credentials: dict[str, Any]):
        super().__init__(config, credentials)
        self.api_key = str(credentials.get("api_key") or settings.DELIVR_DSP_API_KEY)
        self.account_id = str(config.get("account_id") or "")
        self.rate_limit = int(config.get("rate_limit") or settings.DELIVR_DSP_RATE_LIMIT)
        self.rate_window = float(config.get("rate_limit_window_seconds") or 1.0)
        self.backoff_base = float(config.get("retry_base_seconds", 0.5))
        base = str(config.get("base_url") or settings.DELIVR_DSP_BASE_URL).rstrip("/")
        self.budget_key = "dsp:" + hashlib.sha256(f"{base}|{self.api_key}".encode()).hexdigest()[:24]
        self.list_id = ""
        self._http: outbound.OutboundSession | None = None

    @classmethod
    def validate_config(cls, config: dict[str, Any], credentials: dict[str, Any]) -> None:
        base = config.get("base_url") or ""
        if base:
            url_check(base, what="The DelivrDSP URL", field="base_url")
        limit = config.get("rate_limit")
        if limit not in (None, "") and not (str(limit).isdigit() and int(limit) > 0):
            raise DestinationError(
                "Requests per second must be a whole number above 0.", user_error=True, field="rate_limit"
            )

    @property
    def base_url(self) -> str:
        base = (self.config.get("base_url") or settings.DELIVR_DSP_BASE_URL).rstrip("/")
        if not base:
            raise DestinationError(
                "No DelivrDSP URL: set base_url on the export or DELIVR_DSP_BASE_URL.", user_error=True
            )
        return base

    def _session(self) -> outbound.OutboundSession:
        if self._http is None:
            policy = outbound.RetryPolicy(
                attempts=MAX_ATTEMPTS, backoff_base=self.backoff_base, total_seconds=MAX_CALL_SECONDS
            )
            timeout = float(settings.DELIVR_DSP_TIMEOUT_SECONDS)
            self._http = outbound.session(policy=policy, timeout=timeout)
        return self._http

    def _request(self, method: str, path: str, payload: dict | None = None, key: str = "") -> dict:
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        data = None
        if payload is not None:
            data = json.dumps(payload, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        if key:
            headers["Idempotency-Key"] = key
        where = f"{method} {path.split('?', 1)[0]}"
        url = self.base_url + path
        pacing.pace(self.budget_key, limit=self.rate_limit, window_seconds=self.rate_window)
        try:
            response = self._session().request(method, url, data=data, headers=headers)
        except outbound.OutboundError as exc:
            if exc.user_error:
                raise DestinationError(exc.message, user_error=True) from exc
            raise DestinationError(
                f"DelivrDSP did not answer {where}: {exc.message}", retryable=True
            ) from exc
        status = response.status_code
        if status in (401, 403):
            raise DestinationError(
                f"DelivrDSP refused the API key ({outbound.status_reason(status)}).", user_error=True
            )
        if not 200 <= status < 300:
            retryable = outbound.RetryPolicy.retryable_status(status)
            raise DestinationError(
                f"DelivrDSP answered {outbound.status_reason(status)} on {where}.", retryable=retryable
            )
        try:
            return json.loads(response.content) if response.content else {}
        except ValueError as exc:
            raise DestinationError(f"DelivrDSP sent invalid JSON on {where}.", retryable=True) from exc

    def test_connection(self) -> None:
        self.validate_config(self.config, self.credentials)
        try:
            self._request("GET", "/v1/lists?limit=1")
        except DestinationError as exc:
            raise DestinationError(exc.message, user_error=True) from exc

    def open(self, context: BatchContext) -> None:
        """Finds the export's list (external_id = the export), renamed when the list name changed; creates
        it unless this is an opt-out pass (no list: nothing to take back)."""
        query = urllib.parse.urlencode({"external_id": context.export_id, "account_id": self.account_id})
        found = self._request("GET", f"/v1/lists?{query}").get("data") or []
        mine = [item for item in found if str(item.get("external_id")) == context.export_id]
        if mine:
            self.list_id = str(mine[0].get("list_id") or "")
            if context.list_name and mine[0].get("list_name") != context.list_name:
                self._request("PATCH", self._list_path(), {"name": context.list_name})
            return
        if context.optout:
            return
        payload = {"name": context.list_name, "account_id": self.account_id, "external_id": context.export_id}
        answer = self._request("POST", "/v1/lists", payload, key=f"list:{context.export_id}")
        self.list_id = str(answer.get("list_id") or "")
        if not self.list_id:
            raise DestinationError("DelivrDSP created no list (no list_id in its answer).", retryable=True)

    def _list_path(self, tail: str = "") -> str:
        return f"/v1/lists/{urllib.parse.quote(self.list_id, safe='')}{tail}"

    def write_batch(self, batch: pa.RecordBatch, context: BatchContext) -> BatchResult:
        keys = context.idempotency_keys
        prefix = f"{context.run_id}:"
        members = [
            {
                "external_id": key[len(prefix) :] if key.startswith(prefix) else key,
                "idempotency_key": key,
                "fields": {k: json_value(v) for k, v in row.items()},
            }
            for key, row in zip(keys, batch.to_pylist(), strict=True)
        ]
        result = BatchResult()
        obj = result.object("Contact", "add_to_list")
        try:
            answer = self._request(
                "POST", self._list_path("/members"), {"members": members}, batch_key(context, keys)
            )
        except DestinationError as exc:
            _refused(obj, keys, exc)
            return result
        _failed(obj, answer)
        obj.records_created += int(answer.get("added") or 0)
        obj.records_updated += int(answer.get("updated") or 0)
        obj.records_skipped += int(answer.get("skipped") or 0)
        return result

    def remove_batch(self, batch: pa.RecordBatch, context: BatchContext) -> BatchResult:
        """Takes the records off the export's list by external_id (the record key); absent ones succeed."""
        result = BatchResult()
        obj = result.object("Contact", "remove")
        if not self.list_id:  # no list at the DSP (an opt-out before any run made one): nothing to remove
            obj.records_updated += batch.num_rows
            return result
        record_keys = batch.column(batch.schema.get_field_index("record_key")).to_pylist()
        keys = context.idempotency_keys or [f"{context.run_id}:{k}:removed" for k in record_keys]
        members = [
            {"external_id": external_id, "idempotency_key": key}
            for external_id, key in zip(record_keys, keys, strict=True)
        ]
        path = self._list_path("/members/remove")
        try:
            answer = self._request("POST", path, {"members": members}, batch_key(context, keys, ":remove"))
        except DestinationError as exc:
            _refused(obj, keys, exc)
            return result
        _failed(obj, answer)
        obj.records_updated += int(answer.get("removed") or 0) + int(answer.get("not_found") or 0)
        return result

    def close(self, context: BatchContext, *, success: bool) -> dict[str, Any]:
        if self._http is not None:
            self._http.close()
        return {"list_id": self.list_id, "list_name": context.list_name}


def _failed(obj: ObjectResult, answer: dict) -> None:
    """The members the DSP named as refused, each failed with its reason."""
    failed = answer.get("failed") if isinstance(answer.get("failed"), list) else []
    for item in failed:
        if isinstance(item, dict):
            obj.add_error(
                str(item.get("idempotency_key", "")), "DESTINATION_ERROR", str(item.get("error", ""))
            )


def _refused(obj: ObjectResult, keys: list[str], exc: DestinationError) -> None:
    """A batch the DSP refused outright (a 4xx other than the key's) fails every record with the reason;
    the key refused or the DSP unavailable past the retries stop the run (the latter to resume later)."""
    if exc.user_error or exc.retryable:
        raise exc
    for key in keys:
        obj.add_error(key, "DESTINATION_ERROR", exc.message)
