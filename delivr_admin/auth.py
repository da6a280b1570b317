"""DRF authentication: Bearer JWT, API key + secret headers, and the browser session.

Each returns (user-like, Principal) so that views read the caller's organization from request.auth.
Failed JWT and API-key authentication counts against the caller's address (shared limiter); past the limit
the answer is 429 before any token check or key lookup.
"""

from rest_framework import authentication, exceptions

from .ratelimit import failed_auth_check, failed_auth_record


class PrincipalUser:
    """The request.user of an API-key request: authenticated, but not a person."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    pk = None

    def __init__(self, principal):
        self.principal = principal

    def __str__(self) -> str:
        return self.principal.actor


class JWTAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if not parts or parts[0].lower() != self.keyword.lower():
            return None
        failed_auth_check(request)
        if len(parts) != 2:
            failed_auth_record(request)
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: expected 'Bearer <token>'."
            )
        from accounts.services import jwt_principal

        principal = jwt_principal(parts[1])
        if principal is None:
            failed_auth_record(request)
            raise exceptions.AuthenticationFailed("The token is invalid or has expired.")
        return principal.user, principal

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """X-API-Key with X-Api-Secret (header names are case-insensitive, as HTTP says)."""

    def authenticate(self, request):
        api_key = request.META.get("HTTP_X_API_KEY")
        if api_key is None:
            return None
        api_secret = request.META.get("HTTP_X_API_SECRET")
        from accounts.services import ApiKeyRejected, api_client_authenticate

        failed_auth_check(request)
        try:
            principal = api_client_authenticate(api_key=api_key.strip(), api_secret=api_secret)
        except ApiKeyRejected as exc:
            failed_auth_record(request)
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        return PrincipalUser(principal), principal

    def authenticate_header(self, request):
        return 'ApiKey realm="api"'


class SessionPrincipalAuthentication(authentication.SessionAuthentication):
    """The dashboard's session (with CSRF), so HTMX pages may call the JSON API too."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        principal = getattr(request._request, "principal", None)
        if principal is None:
            raise exceptions.PermissionDenied("This user belongs to no organization.")
        return result[0], principal
