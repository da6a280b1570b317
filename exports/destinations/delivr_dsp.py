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
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, ClassVar

import pyarrow as pa
from django.conf import settings

from .base import BatchContext, BatchResult, Destination, DestinationError, register
from .webhook import _jsonable

MAX_ATTEMPTS = 4


@register
class DelivrDspDestination(Destination):
    kind = "delivr_dsp"
    label = "DelivrDSP list"
    config_fields = ("base_url", "account_id")
    credential_fields = ("api_key",)
    object_types = ("Contact",)
    batch_size: ClassVar[int] = 1000
    backoff_base: ClassVar[float] = 0.5

    @classmethod
    def validate_config(cls, config: dict[str, Any], credentials: dict[str, Any]) -> None:
        base = config.get("base_url") or ""
        if base:
            parsed = urllib.parse.urlparse(base)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise DestinationError("base_url must be an http(s) URL.", user_error=True)

    @property
    def base_url(self) -> str:
        base = (self.config.get("base_url") or getattr(settings, "DELIVR_DSP_BASE_URL", "") or "").rstrip("/")
        if not base:
            raise DestinationError(
                "No DelivrDSP URL: set base_url on the export or DELIVR_DSP_BASE_URL.", user_error=True
            )
        return base

    def _request(self, method: str, path: str, payload: dict | None = None, key: str = "") -> dict:
        api_key = self.credentials.get("api_key") or getattr(settings, "DELIVR_DSP_API_KEY", "")
        headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        data = None
        if payload is not None:
            data = json.dumps(payload, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        if key:
            headers["Idempotency-Key"] = key
        timeout = float(getattr(settings, "DELIVR_DSP_TIMEOUT_SECONDS", 30))
        last = ""
        for attempt in range(MAX_ATTEMPTS):
            request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
            retry_after = None
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - configured URL
                    body = response.read()
                    return json.loads(body) if body else {}
            except urllib.error.HTTPError as exc:
                if exc.code in (401, 403):
                    raise DestinationError(
                        f"DelivrDSP refused the API key (HTTP {exc.code}).", user_error=True
                    ) from exc
                if exc.code != 429 and exc.code < 500:
                    detail = exc.read()[:300].decode("utf-8", "replace")
                    raise DestinationError(
                        f"DelivrDSP answered {exc.code} on {method} {path}: {detail}"
                    ) from exc
                last = f"HTTP {exc.code}"
                retry_after = (exc.headers or {}).get("Retry-After")
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                last = f"unreachable: {exc}"
            except ValueError as exc:
                raise DestinationError(f"DelivrDSP sent invalid JSON on {method} {path}") from exc
            if attempt < MAX_ATTEMPTS - 1:
                delay = self.backoff_base * (2**attempt)
                try:
                    delay = max(delay, min(float(retry_after or 0), 60.0))
                except ValueError:
                    pass
                time.sleep(delay)
        raise DestinationError(f"DelivrDSP did not answer {method} {path} ({last})", retryable=True)

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
            {"idempotency_key": key, "fields": {k: _jsonable(v) for k, v in row.items()}}
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
