from django.urls import NoReverseMatch, reverse

# The main navigation; an entry shows once its app has a page under that URL name.
NAV = [
    ("audiences:audience-list", "Audiences"),
    ("audiences:task-list", "Tasks"),
    ("audiences:list-list", "Lists"),
    ("exports:export-list", "Exports"),
    ("campaigns:overview", "Campaigns"),
    ("privacy:registry", "Privacy"),
    ("pixels:pixel-list", "Pixels"),
]


def navigation(request) -> dict:
    principal = getattr(request, "principal", None)
    items = []
    if principal is not None:
        for name, label in NAV:
            try:
                items.append({"url": reverse(name), "label": label})
            except NoReverseMatch:
                continue
    return {"principal": principal, "nav_items": items}
