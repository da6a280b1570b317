from django.urls import NoReverseMatch, Resolver404, resolve, reverse

from .decorators import allowed_roles

# The main navigation; an entry shows once its app has a page under that URL name, and only to the roles
# that page's guard admits (read from the view itself, so the link and the page never disagree).
NAV = [
    ("audiences:audience-list", "Audiences"),
    ("audiences:task-list", "Tasks"),
    ("audiences:list-list", "Lists"),
    ("exports:export-list", "Exports"),
    ("campaigns:overview", "Campaigns"),
    ("privacy:registry", "Privacy"),
    ("pixels:pixel-list", "Pixels"),
]


def nav_items_for(role: str) -> list[dict]:
    """The navigation entries a member with `role` may open, in NAV order."""
    items = []
    for name, label in NAV:
        try:
            url = reverse(name)
            roles = allowed_roles(resolve(url).func)
        except (NoReverseMatch, Resolver404):
            continue
        if roles is None or role in roles:
            items.append({"url": url, "label": label})
    return items


def navigation(request) -> dict:
    principal = getattr(request, "principal", None)
    items = nav_items_for(principal.role) if principal is not None else []
    return {"principal": principal, "nav_items": items}
