"""An export's connection, checked in the background: whether its credentials work, and the destination's own
fields (HubSpot properties, a Salesforce describe...) fetched once and kept on the export for the mapping form.

Saving an export queues the same connection check as the Test connection button (connection_checks.py, on
commit); a check that succeeds then fetches the destination's fields. The pages show Connected / Not
connected / Checking from the export's row and never wait on the destination.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from exports.crypto import CredentialError, credentials_decrypt
from exports.destinations.base import DestinationError, get_destination
from exports.models import ConnectionStatus, Export

logger = logging.getLogger(__name__)

CATALOG_MAX_AGE = timedelta(hours=1)  # a portal's custom properties change rarely; a save refreshes sooner


def missing_credentials(export: Export) -> str:
    """Words naming the credential a run needs and the export lacks ("" when nothing is missing)."""
    try:
        cls = get_destination(export.destination_type)
        credentials = credentials_decrypt(export.credentials_encrypted)
    except DestinationError:
        return "choose a destination"
    except CredentialError:
        return "enter the credentials again (the saved ones cannot be read)"
    return cls.missing_credentials(credentials)


def export_connection_queue(*, export: Export, actor: str = "") -> Export:
    """Marks the export Checking and queues the connection check (sechttp's task: one deadline, polled);
    Not connected at once when a credential is missing. A check that succeeds also fetches the catalog."""
    missing = missing_credentials(export)
    if missing:
        fields = {
            "connection_status": ConnectionStatus.NOT_CONNECTED,
            "connection_message": f"Not connected: {missing}",
            "connection_checked_at": timezone.now(),
        }
    else:
        fields = {
            "connection_status": ConnectionStatus.CHECKING,
            "connection_message": "Checking the connection…",
        }
    Export.objects.filter(pk=export.pk).update(**fields)
    for name, value in fields.items():
        setattr(export, name, value)
    if not missing:
        # Started once the save commits: the check reads what was saved, and a save that rolls back
        # leaves no pending check behind (a pending check is what the Test connection button returns).
        transaction.on_commit(lambda: _start_check(export.pk, actor or "export saved"))
    return export


def _start_check(export_id, actor: str) -> None:
    from exports.services.connection_checks import connection_check_start

    export = Export.objects.filter(pk=export_id).first()
    if export is not None:
        connection_check_start(export=export, actor=actor)


def export_catalog_refresh(*, export_id: uuid.UUID | str) -> None:
    """Fetches the destination's own fields onto the export (after a successful connection check)."""
    export = Export.objects.filter(pk=export_id).first()
    if export is None:
        return
    cls = get_destination(export.destination_type)
    if not cls.fetches_fields:
        return
    try:
        destination = cls(dict(export.destination_config), credentials_decrypt(export.credentials_encrypted))
    except (DestinationError, CredentialError):
        return
    label = cls.label
    try:
        fields = destination.target_fields()
        catalog = {"fields": [f.as_dict() for f in fields], "error": "", "fetched_at": _now()}
    except DestinationError as exc:
        catalog = {
            "fields": [],
            "error": f"{label} did not list its fields: {exc.message}",
            "fetched_at": _now(),
        }
    except Exception:  # noqa: BLE001 - the form falls back to the standard fields, with the reason
        logger.exception("export %s: field list failed", export.pk)
        catalog = {"fields": [], "error": f"{label} did not list its fields.", "fetched_at": _now()}
    Export.objects.filter(pk=export.pk).update(field_catalog=catalog)


def _now() -> str:
    return timezone.now().isoformat()


def export_target_catalog(*, export: Export | None, destination_type: str) -> dict:
    """What the mapping form offers as targets: {"fields": [TargetField dict], "state", "message"}.

    state: "fetched" (the destination's own list), "loading" (a check is under way; standard fields for
    now), "standard" (the destination's standard fields: not connected yet, or the fetch failed, with the
    reason in `message`), "free" (a destination without a field list: targets are typed).
    """
    try:
        cls = get_destination(destination_type)
    except DestinationError:
        return {"fields": [], "state": "free", "message": ""}
    standard = [f.as_dict() for f in cls.default_fields]
    if not cls.default_fields and not cls.fetches_fields:
        return {"fields": [], "state": "free", "message": ""}
    same = export is not None and export.destination_type == destination_type
    if not cls.fetches_fields or not same:
        message = ""
        if cls.fetches_fields:
            message = f"Save the export with its {cls.label} credentials to pick from your {cls.label}'s own fields."
        return {"fields": standard, "state": "standard", "message": message}
    catalog = export.field_catalog or {}
    if catalog.get("fields"):
        return {"fields": catalog["fields"], "state": "fetched", "message": ""}
    if export.connection_status == ConnectionStatus.CHECKING:
        return {"fields": standard, "state": "loading", "message": f"Loading your {cls.label} fields…"}
    reason = catalog.get("error") or export.connection_message or f"{cls.label} is not connected."
    return {
        "fields": standard,
        "state": "standard",
        "message": f"{reason} Showing {cls.label}'s standard fields.",
    }


def catalog_is_stale(export: Export) -> bool:
    fetched = (export.field_catalog or {}).get("fetched_at")
    if not fetched:
        return True
    try:
        from datetime import datetime

        return timezone.now() - datetime.fromisoformat(fetched) > CATALOG_MAX_AGE
    except ValueError:
        return True
