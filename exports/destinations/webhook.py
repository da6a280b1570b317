"""Webhook destination: each batch is POSTed as signed JSON.

Body: {"export_id", "run_id", "batch_index", "records": [{"idempotency_key": "<run_id>:<record_key>",
"fields": {target: value, ...}}, ...]}. Headers: `X-Delivr-Signature: sha256=<hex HMAC-SHA256 of the body
with the secret>`, `Idempotency-Key: <run_id>:<batch_index>`. A 2xx accepts the batch; the receiver may
answer {"results": [{"idempotency_key", "status": "created" | "updated" | "skipped" | "failed", "error"}]}
to report per record. 429 and 5xx are retried with exponential backoff (honouring Retry-After); when the
retries run out, or on another 4xx, every record of the batch is reported failed with the reason (never
dropped silently). 401/403 stop the run: the credentials are wrong.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, ClassVar

import pyarrow as pa

from delivr_admin import outbound

from .base import BatchContext, BatchResult, Destination, DestinationError, Setting, register, url_check

MAX_ATTEMPTS = 5
MAX_CALL_SECONDS = 15 * 60.0  # one batch, all its tries and waits included


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def json_value(value: Any) -> Any:
    """A record value as JSON can carry it: NaN as null, non-scalars as text."""
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


@register
class WebhookDestination(Destination):
    kind = "webhook"
    label = "HTTP webhook (signed JSON)"
    config_fields = ("url", "timeout_seconds")
    credential_fields = ("secret",)
    object_types = ("Record",)
    form_settings = {
        "url": Setting("Address", "Where each batch is POSTed (https://...).", input_type="url"),
        "timeout_seconds": Setting(
            "Timeout (seconds)", "How long to wait for your server's answer (1 to 300).", input_type="number"
        ),
        "secret": Setting(
            "Signing secret",
            "Signs each body (X-Delivr-Signature: sha256 HMAC) so your server knows it comes from Delivr.",
            input_type="password",
        ),
    }
    required_credential = ("secret", "add a signing secret")
    batch_size: ClassVar[int] = 500
    supports_removal: ClassVar[bool] = True  # a `removed` event per batch
    backoff_base: ClassVar[float] = 0.5

    @classmethod
    def validate_config(cls, config: dict[str, Any], credentials: dict[str, Any]) -> None:
        url_check(config.get("url") or "", what="The webhook URL", field="url")
        timeout = config.get("timeout_seconds", 30)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 1 <= timeout <= 300:
            raise DestinationError(
                "timeout_seconds must be between 1 and 300.", user_error=True, field="timeout_seconds"
            )
        if not isinstance(credentials.get("secret", ""), str) or not credentials.get("secret"):
            raise DestinationError("The webhook needs a signing secret.", user_error=True, field="secret")

    def _session(self) -> outbound.OutboundSession:
        session = getattr(self, "_http", None)
        if session is None:
            policy = outbound.RetryPolicy(
                attempts=MAX_ATTEMPTS, backoff_base=self.backoff_base, total_seconds=MAX_CALL_SECONDS
            )
            timeout = float(self.config.get("timeout_seconds") or 30)
            session = self._http = outbound.session(policy=policy, timeout=timeout)
        return session

    def _send(self, body: bytes, idempotency_key: str) -> tuple[int, bytes, str]:
        """(status, body, error in words) after the outbound layer's retries; an internal URL stops the run."""
        headers = {
            "Content-Type": "application/json",
            "X-Delivr-Signature": sign(body, self.credentials.get("secret", "")),
            "Idempotency-Key": idempotency_key,
        }
        try:
            response = self._session().post(self.config["url"], data=body, headers=headers)
        except outbound.OutboundError as exc:
            if exc.user_error:
                raise DestinationError(exc.message, user_error=True) from exc
            return 0, b"", exc.message
        status = response.status_code
        error = outbound.status_reason(status) if outbound.RetryPolicy.retryable_status(status) else ""
        return status, response.content, error

    def test_connection(self) -> None:
        self.validate_config(self.config, self.credentials)
        body = json.dumps({"type": "connection_test", "records": []}).encode()
        status, content, error = self._send(body, "connection-test")
        if status in (401, 403):
            raise DestinationError(
                f"The webhook refused the signature ({outbound.status_reason(status)}).", user_error=True
            )
        if not 200 <= status < 300:
            reason = error if status == 0 else f"it answered {outbound.status_reason(status)}."
            raise DestinationError(f"The webhook did not accept a test request: {reason}", user_error=True)

    def write_batch(self, batch: pa.RecordBatch, context: BatchContext) -> BatchResult:
        rows = batch.to_pylist()
        records = [
            {"idempotency_key": key, "fields": {k: json_value(v) for k, v in row.items()}}
            for key, row in zip(context.idempotency_keys, rows, strict=True)
        ]
        body = json.dumps(
            {
                "export_id": context.export_id,
                "run_id": context.run_id,
                "batch_index": context.batch_index,
                "records": records,
            },
            separators=(",", ":"),
        ).encode()
        status, content, error = self._send(body, f"{context.run_id}:{context.batch_index}")
        result = BatchResult()
        obj = result.object("Record", "send")
        if status in (401, 403):
            raise DestinationError(
                f"The webhook refused the signature ({outbound.status_reason(status)}).", user_error=True
            )
        if not 200 <= status < 300:
            reason = error or outbound.status_reason(status)  # never the reply's body: it is not ours to show
            for key in context.idempotency_keys:
                obj.add_error(key, "DESTINATION_ERROR", f"the webhook did not accept the batch ({reason})")
            return result
        reported = {}
        try:
            payload = json.loads(content) if content else {}
            if isinstance(payload, dict) and isinstance(payload.get("results"), list):
                reported = {r.get("idempotency_key"): r for r in payload["results"] if isinstance(r, dict)}
        except ValueError:
            pass
        for key in context.idempotency_keys:
            item = reported.get(key)
            state = (item or {}).get("status", "created")
            if state == "failed":
                obj.add_error(
                    key, str(item.get("code") or "DESTINATION_ERROR"), str(item.get("error") or "refused")
                )
            elif state == "updated":
                obj.records_updated += 1
            elif state == "skipped":
                obj.records_skipped += 1
            else:
                obj.records_created += 1
        return result

    def remove_batch(self, batch: pa.RecordBatch, context: BatchContext) -> BatchResult:
        """One signed `removed` event naming the records' keys (the receiver knows them from the sends)."""
        keys = batch.column(batch.schema.get_field_index("record_key")).to_pylist()
        body = json.dumps(
            {
                "type": "removed",
                "export_id": context.export_id,
                "run_id": context.run_id,
                "batch_index": context.batch_index,
                "records": [
                    {"idempotency_key": idem, "record_key": key}
                    for idem, key in zip(context.idempotency_keys, keys, strict=True)
                ],
            },
            separators=(",", ":"),
        ).encode()
        status, _, error = self._send(body, f"{context.run_id}:removed:{context.batch_index}")
        if status in (401, 403):
            raise DestinationError(
                f"The webhook refused the signature ({outbound.status_reason(status)}).", user_error=True
            )
        result = BatchResult()
        obj = result.object("Record", "remove")
        if not 200 <= status < 300:
            reason = error or outbound.status_reason(status)
            for key in context.idempotency_keys:
                obj.add_error(key, "DESTINATION_ERROR", f"the webhook did not accept the removals ({reason})")
        else:
            obj.records_updated = len(keys)
        return result
