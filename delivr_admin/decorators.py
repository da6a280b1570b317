"""Guards for dashboard views: a signed-in member of an organization, optionally with a given role."""

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
                raise PermissionDenied("You belong to no organization.")
            if roles is not None and principal.role not in roles:
                raise PermissionDenied("Your role cannot open this page.")
            if write and request.method not in ("GET", "HEAD", "OPTIONS") and not principal.can_write:
                raise PermissionDenied("Your role cannot change this.")
            return func(request, *args, **kwargs)

        return wrapper

    return decorator(view) if view is not None else decorator


admin_required = member_required(roles=("admin",))
