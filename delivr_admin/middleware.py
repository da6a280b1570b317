import logging
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.shortcuts import resolve_url
from django.utils.cache import patch_vary_headers

from .errors import error_response, is_api_path

logger = logging.getLogger("delivr_admin.errors")


class ApiErrorMiddleware:
    """Turns any exception that escapes an API view into the error format (never a traceback)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if is_api_path(request.path) and request.META.get("CONTENT_LENGTH", "").isdigit():
            limit = settings.DELIVR_MAX_UPLOAD_BYTES
            if limit and int(request.META["CONTENT_LENGTH"]) > limit:
                return error_response("payload_too_large", "The request body is too large.", 413)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_api_path(request.path):
            return None
        if isinstance(exception, RequestDataTooBig):
            return error_response("payload_too_large", "The request body is too large.", 413)
        logger.exception("Unhandled API error on %s %s", request.method, request.path)
        return error_response("internal_error", "An internal error occurred. Retry after a few seconds.", 500)


class CurrentOrganizationMiddleware:
    """Sets request.principal for signed-in browser users: their current organization and role.

    Dashboard responses also say `Vary: HX-Request`: a page URL answers a whole page or, to htmx, a partial
    (hx-push-url puts such URLs in the history), and without it the browser's cache hands the partial back
    to a plain visit of the URL (Back from another page showed an unstyled fragment).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from accounts.selectors import principal_for_session

        request.principal = None
        if getattr(request, "user", None) is not None and request.user.is_authenticated:
            request.principal = principal_for_session(request.user, request.session.get("org_id"))
        response = self.get_response(request)
        if not is_api_path(request.path):
            patch_vary_headers(response, ("HX-Request",))
            response = htmx_login_redirect(request, response)
        return response


def htmx_login_redirect(request, response):
    """An htmx request whose session expired would follow the redirect to the login page and swap that
    whole page into a fragment. Instead the browser goes to the login page, and back to the page it was on
    (HX-Current-URL, not the fragment's URL) once signed in."""
    if not getattr(request, "htmx", False) or response.status_code not in (301, 302):
        return response
    login_path = resolve_url(settings.LOGIN_URL)
    if urlsplit(response.get("Location", "")).path != login_path:
        return response
    current = urlsplit(request.headers.get("HX-Current-URL", ""))
    same_site = current.netloc in ("", request.get_host())
    next_url = (
        (current.path + (f"?{current.query}" if current.query else "")) if same_site and current.path else "/"
    )
    redirect = HttpResponse(status=204)
    redirect["HX-Redirect"] = f"{login_path}?{urlencode({'next': next_url})}"
    return redirect
