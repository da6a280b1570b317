"""The DelivrDSP HTTP client (the outbound layer: JSON over HTTPS, bearer key, paginated campaign list).

Campaign payload (fields the sync reads; the DSP has sent each money field in several shapes, all parsed by
`campaigns.dsp.parsing`):
    {"id": "cmp_1", "account_id": "acc_1", "name": "...", "status": "active",
     "budget": "1500.00" | 1500 | {"amount": "1500.00", "currency": "USD"} | null,
     or "budget_micros": 1500000000,
     "cpm": same shapes, or "cpm_micros",
     "start_date": "2026-01-01", "end_date": "2026-03-31" | null, "contacts_total": 1234,
     "lists": [{"list_id": "lst_1", "list_name": "..."}]}
Daily row:
    {"campaign_id": "cmp_1", "account_id": "acc_1", "date": "2026-01-01", "impressions": 1000, "clicks": 3,
     "spend": money shapes (or "spend_micros"), "cpm": money shapes | null}
"""

from __future__ import annotations

import json
import urllib.parse
from datetime import date

from delivr_admin import outbound

from . import DspError

MAX_PAGES = 1000


class HttpDspClient:
    def __init__(self, *, base_url: str, api_key: str, timeout: float = 30.0):
        if not base_url:
            raise DspError("DELIVR_DSP_BASE_URL is not set: the http DSP provider needs it.")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.session = outbound.session(timeout=timeout)

    def _get(self, path: str, params: dict | None = None) -> dict:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        try:
            response = self.session.get(self.base_url + path, params=query, headers=headers)
        except outbound.OutboundError as exc:
            raise DspError(
                f"DelivrDSP unreachable on GET {path}: {exc.message}", retryable=exc.retryable
            ) from exc
        if not 200 <= response.status_code < 300:
            raise DspError(
                f"DelivrDSP answered {outbound.status_reason(response.status_code)} on GET {path}.",
                retryable=response.status_code >= 500 or response.status_code == 429,
            )
        try:
            payload = json.loads(response.content)
        except ValueError as exc:
            raise DspError(f"DelivrDSP sent invalid JSON on GET {path}") from exc
        if not isinstance(payload, dict):
            raise DspError(f"DelivrDSP sent an unexpected body on GET {path}")
        return payload

    @staticmethod
    def _data(payload: dict, path: str) -> list[dict]:
        data = payload.get("data")
        if not isinstance(data, list):
            raise DspError(f"DelivrDSP response of GET {path} has no data list")
        return [item for item in data if isinstance(item, dict)]

    def campaigns(self, account_id: str) -> list[dict]:
        path = f"/v1/accounts/{urllib.parse.quote(account_id, safe='')}/campaigns"
        out: list[dict] = []
        token = None
        for _ in range(MAX_PAGES):
            payload = self._get(path, {"account_id": account_id, "page_token": token})
            out.extend(self._data(payload, path))
            token = payload.get("next_page_token")
            if not token:
                return out
        raise DspError(f"DelivrDSP pagination of GET {path} did not end after {MAX_PAGES} pages")

    def daily(self, account_id: str, campaign_id: str, date_from: date, date_to: date) -> list[dict]:
        path = (
            f"/v1/accounts/{urllib.parse.quote(account_id, safe='')}"
            f"/campaigns/{urllib.parse.quote(campaign_id, safe='')}/daily"
        )
        params = {"from": date_from.isoformat(), "to": date_to.isoformat(), "account_id": account_id}
        return self._data(self._get(path, params), path)

    def list_match(self, list_id: str) -> dict:
        return self._get(f"/v1/lists/{urllib.parse.quote(list_id, safe='')}/match")
