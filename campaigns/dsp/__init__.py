"""DelivrDSP clients behind one small interface.

The DelivrDSP HTTP API is not public; the JSON API this package speaks (see `http.py` for the exact shapes):

    GET /v1/accounts/{account_id}/campaigns?account_id={account_id}[&page_token=...]
        -> {"data": [campaign, ...], "next_page_token": str | null}
    GET /v1/accounts/{account_id}/campaigns/{campaign_id}/daily?from=YYYY-MM-DD&to=YYYY-MM-DD&account_id=...
        -> {"data": [daily row, ...]}
    GET /v1/lists/{list_id}/match
        -> {"list_id", "list_name", "identifiers_count", "matched_count", "contacts_count"}

Every request carries `Authorization: Bearer <DELIVR_DSP_API_KEY>`. Two providers: "simulator"
(deterministic, in-process, the default for `make run`) and "http" (the real HTTP client).
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from django.conf import settings


class DspError(Exception):
    """The DSP could not be reached or answered with an error; `retryable` for 5xx and network errors."""

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class DspClient(Protocol):
    def campaigns(self, account_id: str) -> list[dict]:
        """Campaign payloads of `account_id` (all pages)."""
        ...

    def daily(self, account_id: str, campaign_id: str, date_from: date, date_to: date) -> list[dict]:
        """Daily rows of one campaign between two dates, both included."""
        ...

    def list_match(self, list_id: str) -> dict:
        """Identifiers sent and matched for one DSP list."""
        ...


def dsp_client(provider: str | None = None) -> DspClient:
    """The client configured by DELIVR_DSP_PROVIDER (or `provider`): "simulator" or "http"."""
    provider = (provider or settings.DELIVR_DSP_PROVIDER).lower()
    if provider == "simulator":
        from .simulator import SimulatorDspClient

        return SimulatorDspClient()
    if provider == "http":
        from .http import HttpDspClient

        return HttpDspClient(
            base_url=settings.DELIVR_DSP_BASE_URL,
            api_key=settings.DELIVR_DSP_API_KEY,
            timeout=float(settings.DELIVR_DSP_TIMEOUT_SECONDS),
        )
    raise DspError(f"Unknown DELIVR_DSP_PROVIDER {provider!r}: use 'simulator' or 'http'.")
