"""The audit log in words: actions and changes as a support agent reads them, times in the one format."""

from __future__ import annotations

from django import template

from delivr_admin.templatetags.ui import dt
from privacy.models import IdentifierType, OptOutSource

register = template.Library()

ACTIONS = {
    "optout.created": "Opted out",
    "optout.updated": "Opt-out time moved earlier",
    "optout.repeated": "Received again",
}
FIELDS = {"opted_out_at": "Opted out", "source": "Source", "reported_opted_out_at": "Reported opt-out time"}
TIME_FIELDS = {"opted_out_at", "reported_opted_out_at"}


@register.filter
def audit_action(value: str) -> str:
    """ "optout.created" -> "Opted out"; an unknown action as it is stored."""
    return ACTIONS.get(value, value)


def _value(name: str, value) -> str:
    if value in (None, ""):
        return "—"
    if name in TIME_FIELDS:
        return dt(value, True)
    if name == "source":
        return dict(OptOutSource.choices).get(value, value)
    return str(value)


@register.filter
def audit_changes(changes) -> list[str]:
    """The event's changes as lines ("Opted out: — → 1 Dec 2026, 06:04:05 UTC"); the time reported by the
    sender only when nothing else changed (a repeat), since a new or moved opt-out already shows it."""
    if not isinstance(changes, dict):
        return []
    lines = []
    for name, change in changes.items():
        if name == "reported_opted_out_at":
            continue
        label = FIELDS.get(name, name.replace("_", " ").capitalize())
        if isinstance(change, dict):
            lines.append(f"{label}: {_value(name, change.get('from'))} → {_value(name, change.get('to'))}")
        else:
            lines.append(f"{label}: {_value(name, change)}")
    if not lines and changes.get("reported_opted_out_at"):
        lines.append(
            f"{FIELDS['reported_opted_out_at']}: {_value('opted_out_at', changes['reported_opted_out_at'])}"
        )
    return lines


@register.filter
def identifier_type_label(value: str) -> str:
    """ "uid2" -> "UID2": the identifier type's display name."""
    return dict(IdentifierType.choices).get(value, value)


OUTPUT_KINDS = {"export_run": "Export run"}


@register.filter
def output_kind_label(value: str) -> str:
    """ "export_run" -> "Export run": the kind of output that left opted-out records out, in words."""
    return OUTPUT_KINDS.get(value, str(value).replace("_", " ").capitalize())
