"""Reading request metadata for the audit log (shared by the webhook, the API and the support pages)."""

import uuid

from delivr_admin.ratelimit import client_ip

from .services import RequestMeta


def request_meta(request) -> RequestMeta:
    """The caller's IP, user agent and request id (X-Request-ID when given, else a fresh one)."""
    request_id = request.META.get("HTTP_X_REQUEST_ID", "").strip()[:100] or uuid.uuid4().hex
    ip = client_ip(request)
    return RequestMeta(
        ip=ip if ip != "unknown" else None,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:500],
        request_id=request_id,
    )
