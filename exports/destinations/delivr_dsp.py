"""DelivrDSP list destination: uploads the run's contacts to a DSP list named after the audience.

Speaks the DelivrDSP JSON API (the campaigns app reads campaigns from the same API, same key):
    GET  {base}/v1/lists?limit=1                      -> 200 when the key is valid
    POST {base}/v1/lists {"name", "account_id", "external_id": run_id}   (Idempotency-Key: run_id)
         -> {"list_id", "list_name"}; the same key returns the same list, so a retried run reuses it
    POST {base}/v1/lists/{list_id}/members {"members": [{"idempotency_key", "fields": {...}}]}
         (Idempotency-Key: run_id:batch_index) -> {"added": n, "updated": n, "skipped": n,
         "failed": [{"idempotency_key", "error"}]}
Authorization: Bearer <api_key> (the export's own key, else DELIVR_DSP_API_KEY); base URL from the config,
else DELIVR_DSP_BASE_URL.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any, ClassVar

import pyarrow as pa
from django.conf import settings

from delivr_admin import outbound

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
from .webhook import json_value

MAX_ATTEMPTS = 4
MAX_CALL_SECONDS = 15 * 60.0


@register
class DelivrDspDestination(Destination):
    kind = "delivr_dsp"
    label = "DelivrDSP list"
    config_fields = ("base_url", "account_id")
    credential_fields = ("api_key",)
    object_types = ("Contact",)
    has_lists = True
    form_settings = {
        "base_url": Setting(
            "DelivrDSP address", "Leave empty to use your organization's DelivrDSP.", input_type="url"
        ),
        "account_id": Setting("Advertiser account", "The DSP account the list belongs to."),
        "api_key": Setting(
            "API key", "Leave empty to use the organization's DelivrDSP key.", input_type="password"
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
    supports_changes: ClassVar[bool] = False  # each run makes its own list (external_id = the run)
    backoff_base: ClassVar[float] = 0.5

    @classmethod
    def validate_config(cls, config: dict[str, Any], credentials: dict[str, Any]) -> None:
        base = config.get("base_url") or ""
        if base:
            url_check(base, what="The DelivrDSP URL", field="base_url")

    @property
    def base_url(self) -> str:
        base = (self.config.get("base_url") or settings.DELIVR_DSP_BASE_URL).rstrip("/")
        if not base:
            raise DestinationError(
                "No DelivrDSP URL: set base_url on the export or DELIVR_DSP_BASE_URL.", user_error=True
            )
        return base

    def _session(self) -> outbound.OutboundSession:
        session = getattr(self, "_http", None)
        if session is None:
            policy = outbound.RetryPolicy(
                attempts=MAX_ATTEMPTS, backoff_base=self.backoff_base, total_seconds=MAX_CALL_SECONDS
            )
            timeout = float(settings.DELIVR_DSP_TIMEOUT_SECONDS)
            session = self._http = outbound.session(policy=policy, timeout=timeout)
        return session

    def _request(self, method: str, path: str, payload: dict | None = None, key: str = "") -> dict:
        api_key = self.credentials.get("api_key") or settings.DELIVR_DSP_API_KEY
        headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        data = None
        if payload is not None:
            data = json.dumps(payload, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        if key:
            headers["Idempotency-Key"] = key
        where = f"{method} {path.split('?', 1)[0]}"
        try:
            response = self._session().request(method, self.base_url + path, data=data, headers=headers)
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
            raise DestinationError(f"DelivrDSP sent invalid JSON on {where}.") from exc

    def test_connection(self) -> None:
        self.validate_config(self.config, self.credentials)
        try:
            self._request("GET", "/v1/lists?limit=1")
        except DestinationError as exc:
            raise DestinationError(exc.message, user_error=True) from exc

    def open(self, context: BatchContext) -> None:
        payload = {
            "name": context.list_name,
            "account_id": self.config.get("account_id") or "",
            "external_id": context.run_id,
        }
        answer = self._request("POST", "/v1/lists", payload, key=context.run_id)
        self.list_id = str(answer.get("list_id") or "")
        if not self.list_id:
            raise DestinationError("DelivrDSP created no list (no list_id in its answer).")

    def write_batch(self, batch: pa.RecordBatch, context: BatchContext) -> BatchResult:
        members = [
            {"idempotency_key": key, "fields": {k: json_value(v) for k, v in row.items()}}
            for key, row in zip(context.idempotency_keys, batch.to_pylist(), strict=True)
        ]
        path = f"/v1/lists/{urllib.parse.quote(self.list_id, safe='')}/members"
        result = BatchResult()
        obj = result.object("Contact", "add_to_list")
        try:
            answer = self._request(
                "POST", path, {"members": members}, key=f"{context.run_id}:{context.batch_index}"
            )
        except DestinationError as exc:
            if exc.user_error:
                raise
            for key in context.idempotency_keys:
                obj.add_error(key, "DESTINATION_ERROR", exc.message)
            return result
        failed = answer.get("failed") if isinstance(answer.get("failed"), list) else []
        for item in failed:
            if isinstance(item, dict):
                obj.add_error(
                    str(item.get("idempotency_key", "")), "DESTINATION_ERROR", str(item.get("error", ""))
                )
        obj.records_created += int(answer.get("added") or 0)
        obj.records_updated += int(answer.get("updated") or 0)
        obj.records_skipped += int(answer.get("skipped") or 0)
        return result

    def close(self, context: BatchContext, *, success: bool) -> dict[str, Any]:
        return {"list_id": getattr(self, "list_id", ""), "list_name": context.list_name}
