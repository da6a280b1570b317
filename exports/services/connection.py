"""An export's connection, checked in the background: whether its credentials work, and the destination's own
fields (HubSpot properties, a Salesforce describe...) fetched once and kept on the export for the mapping form.

Saving an export queues a check (on commit); the pages show Connected / Not connected / Checking from the
export's row and never wait on the destination. A check is safe to run twice: it only overwrites the row's
connection fields with what the destination answers now.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from delivr_admin import outbound
from exports.crypto import CredentialError, credentials_decrypt
from exports.destinations.base import Destination, DestinationError, get_destination
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


def _enqueue(export_id: uuid.UUID) -> None:
    from exports.tasks import export_connection_check

    transaction.on_commit(lambda: export_connection_check.delay(str(export_id)))


def export_connection_queue(*, export: Export) -> Export:
    """Marks the export Checking and queues the check; Not connected at once when a credential is missing."""
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
        _enqueue(export.pk)
    return export


def _catalog(destination: Destination, label: str) -> dict:
    try:
        fields = destination.target_fields()
    except DestinationError as exc:
        return {
            "fields": [],
            "error": f"{label} did not list its fields: {exc.message}",
            "fetched_at": _now(),
        }
    return {"fields": [f.as_dict() for f in fields], "error": "", "fetched_at": _now()}


def _now() -> str:
    return timezone.now().isoformat()


def export_connection_check(*, export_id: uuid.UUID | str) -> str:
    """Tests the saved credentials and, when they work, fetches the destination's fields; returns the status."""
    export = Export.objects.filter(pk=export_id).first()
    if export is None:
        return "gone"
    missing = missing_credentials(export)
    catalog = None
    if missing:
        status, message = ConnectionStatus.NOT_CONNECTED, f"Not connected: {missing}"
    else:
        cls = get_destination(export.destination_type)
        try:
            destination = cls(
                dict(export.destination_config), credentials_decrypt(export.credentials_encrypted)
            )
            # The same deadline as the button's check: a silent destination holds a worker slot briefly.
            with outbound.time_budget(settings.DELIVR_TEST_CONNECTION_DEADLINE_SECONDS):
                destination.test_connection()
        except DestinationError as exc:
            status, message = ConnectionStatus.NOT_CONNECTED, f"Not connected: {exc.message}"
        except Exception:  # noqa: BLE001 - a check must end with a status the page can show
            logger.exception("export %s: connection check failed", export.pk)
            status, message = ConnectionStatus.NOT_CONNECTED, "Not connected: the check failed unexpectedly"
        else:
            status, message = ConnectionStatus.CONNECTED, f"Connected to {cls.label}"
            if cls.fetches_fields:
                catalog = _catalog(destination, cls.label)
    fields = {
        "connection_status": status,
        "connection_message": message[:500],
        "connection_checked_at": timezone.now(),
    }
    if catalog is not None:
        fields["field_catalog"] = catalog
    Export.objects.filter(pk=export.pk).update(**fields)
    return status


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
