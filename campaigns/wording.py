"""A DSP sync's stored error in words a marketer understands.

The sync stores what happened for support (the exception's class, the DSP request's path, timeouts in
seconds); the page says what it means and what happens next, and shows the stored text only to admins and
support.
"""

from __future__ import annotations

import re

NEXT_SYNC = "The next hourly sync tries again."
OUR_SIDE = "The sync failed on our side. " + NEXT_SYNC + " If it keeps failing, contact support."
_STATUS = re.compile(r"answered (HTTP (\d{3})(?: \(([^)]*)\))?)")


def _dsp_words(message: str) -> str:
    """A DspError's message (campaigns/dsp) in words, without the request's path."""
    if "DELIVR_DSP" in message:
        return "The DelivrDSP connection is not set up on this server. Contact support."
    if "unreachable" in message:
        return "DelivrDSP could not be reached. " + NEXT_SYNC
    status = _STATUS.search(message)
    if status:
        code = int(status.group(2))
        if code in (401, 403):
            return f"DelivrDSP refused the connection's API key ({status.group(1)}). Contact support."
        if code == 429:
            return "DelivrDSP asked us to slow down (too many requests). " + NEXT_SYNC
        if code >= 500:
            return f"DelivrDSP had a problem on its side ({status.group(1)}). " + NEXT_SYNC
        return f"DelivrDSP refused the request ({status.group(1)}). Contact support if it keeps happening."
    if "pagination" in message:
        return "DelivrDSP kept sending more pages of campaigns, so the sync stopped. " + NEXT_SYNC
    return "DelivrDSP sent an answer that could not be read. " + NEXT_SYNC


def sync_error_words(error: str | None) -> str:
    """What a sync's stored error means, in words ("" when it has none)."""
    text = str(error or "").strip()
    if not text:
        return ""
    if text.startswith("Retrying after: "):
        words = sync_error_words(text[len("Retrying after: ") :])
        return "Retrying in a moment. " + words.replace(" " + NEXT_SYNC, "")
    if text.startswith("Reaped: no worker"):
        return "No worker started the sync in time (see the worker status on the home page). " + NEXT_SYNC
    if text.startswith("Reaped:"):
        return "The sync stopped before it finished (the worker stopped or lost the connection). " + NEXT_SYNC
    if text == "The sync was interrupted.":
        return "The sync was interrupted. " + NEXT_SYNC
    if text.startswith("DspError: "):
        return _dsp_words(text[len("DspError: ") :])
    if text.startswith("DelivrDSP "):  # a DspError stored without its class (the retry's note)
        return _dsp_words(text)
    return OUR_SIDE
