from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.selectors import Principal


def principal_of(request) -> Principal | None:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, Principal) else None


class HasPrincipal(BasePermission):
    """Any authenticated caller with an organization."""

    def has_permission(self, request, view) -> bool:
        return principal_of(request) is not None


class CanWrite(BasePermission):
    """Reads for everyone in the org; writes for admins, marketers and API clients, not support."""

    message = "Your role cannot change this."

    def has_permission(self, request, view) -> bool:
        principal = principal_of(request)
        if principal is None:
            return False
        return request.method in SAFE_METHODS or principal.can_write


class IsOrgAdmin(BasePermission):
    """Organization admins only (members, API clients, settings)."""

    message = "Only organization admins can do this."

    def has_permission(self, request, view) -> bool:
        principal = principal_of(request)
        return principal is not None and principal.is_admin


class IsSignedInUser(BasePermission):
    """A person (JWT or session), not an API client."""

    message = "This endpoint needs a signed-in user (Bearer token)."

    def has_permission(self, request, view) -> bool:
        principal = principal_of(request)
        return principal is not None and principal.user is not None
