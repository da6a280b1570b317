"""Content-Security-Policy on every response.

Pages: scripts only from this origin (htmx from django-htmx, plotly.js served locally, static/js/app.js) or an
inline script carrying the request's nonce (`{{ request.csp_nonce }}`; the dashboard has none, the ReDoc page
has one). No 'unsafe-eval': htmx's attribute expressions are not used, and the charts draw without eval.
Styles allow 'unsafe-inline': plotly and htmx insert <style> elements and the templates use a few style
attributes; styles cannot run code, scripts are what the policy guards. API and file answers get a policy
that allows nothing, so a JSON or CSV body opened in a browser can never run anything.
"""

import secrets
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"
NONE_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def page_policy(nonce: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",  # ReDoc's search worker; workers run this origin's scripts only
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class ContentSecurityPolicyMiddleware:
    """Sets request.csp_nonce, then the page policy on HTML answers and the empty policy on the rest (a view
    that sets its own header keeps it)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        nonce = secrets.token_urlsafe(16)
        request.csp_nonce = nonce
        response = self.get_response(request)
        if HEADER not in response:
            html = response.get("Content-Type", "").startswith("text/html")
            response[HEADER] = page_policy(nonce) if html else NONE_POLICY
        return response
