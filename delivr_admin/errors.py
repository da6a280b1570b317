"""The API error format: {"error": {"code": "...", "message": "..."}} with the right 4xx, no traceback."""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A domain error a service raises; the API turns it into the error format with `status`."""

    def __init__(
        self, message: str, *, code: str = "invalid_request", status: int = 400, extra: dict | None = None
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.extra = extra or {}


def error_body(code: str, message: str, **extra: Any) -> dict:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update(extra)
    return {"error": body}


def error_response(code: str, message: str, http_status: int, **extra: Any) -> JsonResponse:
    return JsonResponse(error_body(code, message, **extra), status=http_status)


def _flatten(detail: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Flattens DRF's nested validation detail into (field path, message) pairs."""
    if isinstance(detail, dict):
        out: list[tuple[str, str]] = []
        for key, value in detail.items():
            if isinstance(key, int):  # a ListSerializer's errors by item index
                out.extend(_flatten(value, f"{prefix}[{key}]"))
                continue
            name = key if key != "non_field_errors" else ""
            out.extend(_flatten(value, f"{prefix}.{name}" if prefix and name else (name or prefix)))
        return out
    if isinstance(detail, list):
        out = []
        for i, value in enumerate(detail):
            nested = isinstance(value, dict | list)
            out.extend(_flatten(value, f"{prefix}[{i}]" if nested else prefix))
        return out
    return [(prefix, str(detail))]


def validation_message(detail: Any, prefix: str = "") -> str:
    """The first problem of a DRF validation detail in words: "<field path>: <message>"."""
    pairs = _flatten(detail, prefix)
    field, message = pairs[0] if pairs else ("", "Invalid request.")
    return f"{field}: {message}" if field else message


_DRF_CODES = {
    exceptions.ParseError: ("malformed_request", status.HTTP_400_BAD_REQUEST),
    exceptions.AuthenticationFailed: ("unauthorized", status.HTTP_401_UNAUTHORIZED),
    exceptions.NotAuthenticated: ("unauthorized", status.HTTP_401_UNAUTHORIZED),
    exceptions.PermissionDenied: ("forbidden", status.HTTP_403_FORBIDDEN),
    exceptions.NotFound: ("not_found", status.HTTP_404_NOT_FOUND),
    exceptions.MethodNotAllowed: ("method_not_allowed", status.HTTP_405_METHOD_NOT_ALLOWED),
    exceptions.NotAcceptable: ("not_acceptable", status.HTTP_406_NOT_ACCEPTABLE),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", status.HTTP_415_UNSUPPORTED_MEDIA_TYPE),
    exceptions.Throttled: ("rate_limited", status.HTTP_429_TOO_MANY_REQUESTS),
}


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF exception handler producing the error format for every error an API view can raise."""
    headers: dict[str, str] = {}
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, **exc.extra), status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("payload_too_large", "The request body is too large."), status=413)
    if isinstance(exc, Http404):
        return Response(error_body("not_found", str(exc) or "Not found."), status=404)
    if isinstance(exc, PermissionDenied):
        return Response(error_body("forbidden", "You do not have permission to do this."), status=403)
    if isinstance(exc, SuspiciousOperation):
        return Response(error_body("bad_request", "The request was refused."), status=400)
    if isinstance(exc, exceptions.ValidationError):
        pairs = _flatten(exc.detail)
        text = validation_message(exc.detail)
        fields: dict[str, list[str]] = {}
        for name, msg in pairs:
            fields.setdefault(name or "non_field_errors", []).append(msg)
        return Response(error_body("invalid_request", text, fields=fields), status=400)
    if isinstance(exc, exceptions.APIException):
        code, http_status = "error", exc.status_code
        for cls, (mapped_code, mapped_status) in _DRF_CODES.items():
            if isinstance(exc, cls):
                code, http_status = mapped_code, mapped_status
                break
        code = getattr(exc, "error_code", code)  # e.g. too_many_attempts, a Throttled of its own
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
        auth_header = getattr(exc, "auth_header", None)
        if http_status == 401:
            headers["WWW-Authenticate"] = auth_header or 'Bearer realm="api"'
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return Response(error_body(code, detail), status=http_status, headers=headers)
    return None


def is_api_path(path: str) -> bool:
    return path.startswith(("/api/", "/auth/", "/client/", "/pixel/"))


def _answers_json(path: str) -> bool:
    """API paths, and the one API path under the dashboard's prefix: /audiences/{id}/download (its 404 for a
    malformed id is the resolver's, so without this it was the HTML page the schema does not document)."""
    return is_api_path(path) or (path.startswith("/audiences/") and path.rstrip("/").endswith("/download"))


ERROR_PAGES = {
    400: ("The request was refused", "The page could not understand this request. Go back and try again."),
    403: ("You cannot open this page", "Your role does not give access to this page."),
    404: (
        "Page not found",
        "This page does not exist, or it belongs to an organization you are not a member of.",
    ),
    500: ("Something went wrong on our side", "The error was logged. Try again in a few seconds."),
}


def html_error(request, http_status: int, reason: str = "") -> HttpResponse:
    """The styled error page (a short message fragment for htmx, which app.js shows as a toast).

    `reason` is shown only when it was written for users (PermissionDenied messages in the guards); Http404's
    text comes from the ORM ("No Audience matches the given query.") so it is never shown.
    """
    title, default_reason = ERROR_PAGES[http_status]
    back = request.META.get("HTTP_REFERER", "")
    if (
        not back
        or back == request.build_absolute_uri()
        or not url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        back = ""
    context = {"status": http_status, "title": title, "reason": reason or default_reason, "back_url": back}
    template = "errors/message.html" if getattr(request, "htmx", False) else "errors/page.html"
    try:
        return render(request, template, context, status=http_status)
    except Exception:  # the error page itself must not fail (a broken DB behind a 500): plain text instead
        logger.exception("Error page %s failed to render", http_status)
        return HttpResponse(f"{title}. {context['reason']}", status=http_status, content_type="text/plain")


def json_404(request, exception=None):  # noqa: ARG001 - Django's handler signature
    if _answers_json(request.path):
        return error_response("not_found", "Not found.", 404)
    return html_error(request, 404)


def json_500(request):
    if _answers_json(request.path):
        return error_response("internal_error", "An internal error occurred. Retry after a few seconds.", 500)
    return html_error(request, 500)


def json_400(request, exception=None):  # noqa: ARG001 - Django's handler signature
    if _answers_json(request.path):
        return error_response("bad_request", "The request was refused.", 400)
    return html_error(request, 400)


def json_403(request, exception=None):
    if _answers_json(request.path):
        return error_response("forbidden", "You do not have permission to do this.", 403)
    reason = str(exception) if isinstance(exception, PermissionDenied) and exception.args else ""
    return html_error(request, 403, reason)
