"""Guards for dashboard views: a signed-in member of an organization, optionally with a given role.

The guard is the one source of truth for who may open a page: it records the roles on the view
(`allowed_roles`), and the navigation reads them from there (context_processors.navigation), so a link shows
exactly when its page would open.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied


def member_required(view=None, *, roles: tuple[str, ...] | None = None, write: bool = False):
    def decorator(func):
        @login_required
        @wraps(func)
        def wrapper(request, *args, **kwargs):
            principal = getattr(request, "principal", None)
            if principal is None:
                raise PermissionDenied(
                    "Your account belongs to no organization yet. Ask an admin to add you."
                )
            if roles is not None and principal.role not in roles:
                raise PermissionDenied(f"This page is not available to the {principal.role} role.")
            if write and request.method not in ("GET", "HEAD", "OPTIONS") and not principal.can_write:
                raise PermissionDenied(f"The {principal.role} role can look but not change this.")
            return func(request, *args, **kwargs)

        wrapper.allowed_roles = tuple(roles) if roles is not None else None
        return wrapper

    return decorator(view) if view is not None else decorator


def allowed_roles(view) -> tuple[str, ...] | None:
    """The roles a guarded view admits (None: every member), following the wrappers decorators add."""
    seen = 0
    while view is not None and seen < 10:
        if hasattr(view, "allowed_roles"):
            return view.allowed_roles
        view = getattr(view, "__wrapped__", None)
        seen += 1
    return None


admin_required = member_required(roles=("admin",))
