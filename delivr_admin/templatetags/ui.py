"""Words and numbers for every page: status labels and badges coloured by meaning, numbers with thousands
separators, one date-time format with its time zone, and accessible copy buttons (static/js/app.js).

Registered as a template builtin (settings.TEMPLATES), so pages use them without `{% load %}`.
"""

import datetime
import uuid
from decimal import Decimal

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html

register = template.Library()

# Every stored status a page shows, in words. One table for all apps: the same word means the same thing
# everywhere (a task's "completed" and an export run's "completed" read alike).
STATUS_LABELS = {
    "in_progress": "Counting",
    "counted": "Counted",
    "unloading": "Unloading",
    "completed": "Completed",
    "completed_with_errors": "Completed with errors",
    "failed": "Failed",
    "queued": "Queued",
    "running": "Running",
    "done": "Done",
    "active": "Active",
    "paused": "Paused",
    "never": "Never built",
    "building": "Building",
    "ready": "Ready",
    "processing": "Processing",
    "draft": "Draft",
    "archived": "Archived",
    "succeeded": "Succeeded",
    "manual": "Manual",
    "daily": "Daily",
    "weekly": "Weekly",
    "schedule": "Scheduled",
    "scheduled": "Scheduled",
    "truncate": "Truncate to the limit",
    "fail": "Fail the run",
    "intent": "Intent",
    "persona": "Persona",
    "list": "List",
    "contacts": "Contacts",
    "suppression": "Suppression",
    "upload": "Upload",
    "api": "API",
    "export": "Export",
    "admin": "Admin",
    "marketer": "Marketer",
    "support": "Support",
    "integrator": "Integrator",
    "cookie": "Cookie",
    "cookieless": "Cookieless",
    "uid2_webhook": "UID2 webhook",
    "list_upload": "Suppression list upload",
    "intent_hive": "Intent data",
    "generic_parquet": "Parquet files",
    "user": "Configuration",
    "system": "System",
    "pending": "Pending",
    "online": "Online",
    "offline": "Offline",
    # what an export run did per object type (object_type_results' operation)
    "upsert": "Create or update",
    "add_to_list": "Add to list",
    "remove": "Remove",
}

# Colour by meaning: success green, running blue, failed red, needs-attention amber, everything else grey.
STATUS_TONES = {
    "success": {"completed", "done", "ready", "active", "succeeded", "counted", "online"},
    "running": {"queued", "running", "in_progress", "unloading", "building", "processing", "pending"},
    "failed": {"failed", "offline"},
    "warning": {"completed_with_errors", "paused"},
}

DESTINATION_LABELS = {
    "hubspot": "HubSpot",
    "salesforce": "Salesforce",
    "delivr_dsp": "DelivrDSP list",
    "file": "File (CSV or Parquet)",
    "webhook": "HTTP webhook",
}


@register.filter
def status_label(value) -> str:
    """The words for a stored status or enum value; an unknown value is made readable, never shown raw."""
    if value is None or value == "":
        return "—"
    key = str(value)
    return STATUS_LABELS.get(key, key.replace("_", " ").capitalize())


@register.filter
def status_tone(value) -> str:
    key = str(value or "")
    for tone, members in STATUS_TONES.items():
        if key in members:
            return tone
    return "neutral"


@register.simple_tag
def status_badge(value, label: str = "", id: str = ""):  # noqa: A002 - the HTML attribute's name
    """A badge coloured by the status's meaning, saying it in words; `data-status` keeps the stored value
    for scripts and tests."""
    words = label or status_label(value)
    if id:
        return format_html(
            '<span class="badge tone-{}" id="{}" data-status="{}">{}</span>',
            status_tone(value),
            id,
            value,
            words,
        )
    return format_html(
        '<span class="badge tone-{}" data-status="{}">{}</span>', status_tone(value), value, words
    )


def run_display_status(run) -> str:
    """The status a run is shown with: a run that exported nothing and failed records is a failure, whatever
    the worker stored (a HubSpot run that sent 0 of 497 records is not a success)."""
    status = getattr(run, "status", "") or ""
    exported = getattr(run, "records_exported", 0) or 0
    failed = getattr(run, "records_failed", 0) or 0
    # a sync run that sent nothing because nothing changed (or only removed records) did its job
    held = (getattr(run, "records_unchanged", 0) or 0) + (getattr(run, "records_removed", 0) or 0)
    if status in ("completed", "completed_with_errors") and exported == 0 and failed > 0 and not held:
        return "failed"
    return status


@register.filter
def run_status(run) -> str:
    return run_display_status(run)


@register.simple_tag
def run_badge(run, id: str = ""):  # noqa: A002 - the HTML attribute's name
    return status_badge(run_display_status(run), id=id)


@register.filter
def destination_label(kind) -> str:
    if not kind:
        return "—"
    key = str(kind)
    if key in DESTINATION_LABELS:
        return DESTINATION_LABELS[key]
    return key.replace("_", " ").capitalize() if key.islower() else key  # already a label ("HubSpot")


@register.filter
def num(value, places: int | None = None) -> str:
    """A number with thousands separators (1,234,567; 1,234.5); "—" for no value. `places` fixes decimals."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = Decimal(value.replace(",", ""))
        except ArithmeticError:
            return value
    if places is not None:
        return f"{float(value):,.{int(places)}f}"
    if isinstance(value, int) or (isinstance(value, float | Decimal) and value == int(value)):
        return f"{int(value):,}"
    return f"{value:,}"


DATETIME_FORMAT = "j M Y, H:i T"  # 1 Dec 2026, 06:04 UTC
DATE_FORMAT = "j M Y"


@register.filter
def dt(value, seconds: bool = False) -> str:
    """The one date-time format: day, month, year, time and the time zone ("1 Dec 2026, 06:04 UTC")."""
    if not value:
        return "—"
    if isinstance(value, str):
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value else None
        if parsed is None:
            return value
        value = parsed
    if isinstance(value, datetime.datetime):
        if timezone.is_naive(value):
            value = timezone.make_aware(value, datetime.UTC)
        value = timezone.localtime(value)
        return date_format(value, "j M Y, H:i:s T" if seconds else DATETIME_FORMAT)
    if isinstance(value, datetime.date):
        return date_format(value, DATE_FORMAT)
    return str(value)


@register.filter
def day(value) -> str:
    """A calendar day in the same style as dt ("1 Dec 2026")."""
    if not value:
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.date.fromisoformat(value[:10])
        except ValueError:
            return value
    return date_format(value, DATE_FORMAT)


@register.simple_tag
def copy_button(value, label: str = "Copy", what: str = ""):
    """A button that copies `value` and announces "Copied" (app.js); `what` names it for screen readers."""
    name = f"{label} {what}".strip() if what else label
    return format_html(
        '<button type="button" class="copy-button" data-copy="{}" aria-label="{}">{}</button>',
        value,
        name,
        label,
    )


@register.simple_tag
def copy_id(value, what: str = "ID"):
    """An internal id kept out of sight but one click away for support: a small "Copy ID" button."""
    return format_html(
        '<button type="button" class="copy-button small" data-copy="{}" aria-label="Copy {}">Copy ID</button>',
        str(value) if isinstance(value, uuid.UUID) else value,
        what,
    )


@register.filter
def actor_label(value) -> str:
    """Who did something, in words: "user:ann@example.com" -> "ann@example.com", an API client -> "API client"."""
    text = str(value or "")
    if text.startswith("user:"):
        return text[5:]
    if text.startswith("api_client:"):
        return "API client"
    if text in ("", "system"):
        return "Delivr (automatic)" if text else "—"
    if text == "schedule":
        return "Schedule"
    return text.replace("_", " ")
