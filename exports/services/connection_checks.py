"""Connection checks ("test connection"): queued by a person or an integrator, run on a worker within one
deadline, polled by the page and the API. The web request only writes a row and queues a task, so a
destination that hangs can hold a worker slot for at most the deadline and never a web worker."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from delivr_admin import outbound
from exports.crypto import CredentialError
from exports.destinations.base import DestinationError, get_destination
from exports.models import CheckStatus, ConnectionCheck, ConnectionStatus, Export
from exports.services.exports import export_destination

logger = logging.getLogger(__name__)

# A check still pending this long after its deadline is failed when someone looks at it: a person gets an
# answer within the deadline even when the workers are busy (the worker then finds it done and skips it).
GRACE_SECONDS = 2
MIN_BUDGET_SECONDS = 0.5  # less than this left when a worker picks the check up: fail it at once
MAX_MESSAGE = 500


def deadline_seconds() -> float:
    return float(settings.DELIVR_TEST_CONNECTION_DEADLINE_SECONDS)


@transaction.atomic
def connection_check_start(*, export: Export, actor: str) -> ConnectionCheck:
    """A new pending check queued on the worker; a check of this export still pending is returned instead
    (pressing the button ten times queues one check)."""
    Export.objects.select_for_update().filter(pk=export.pk).first()  # one pending check per export
    recent = timezone.now() - timedelta(seconds=deadline_seconds())
    pending = (
        ConnectionCheck.objects.filter(export=export, status=CheckStatus.PENDING, created_at__gte=recent)
        .order_by("-created_at")
        .first()
    )
    if pending is not None:
        return pending
    check = ConnectionCheck.objects.create(
        export=export, organization_id=export.organization_id, created_by=actor[:200]
    )
    from exports.tasks import connection_check_run as task

    task.delay_on_commit(str(check.id))
    return check


def _finish(check_id, status: str, message: str, *, export_id=None) -> bool:
    """Ends a pending check (False when it had ended already); with `export_id`, the export's connection
    badge says the same."""
    now = timezone.now()
    finished = ConnectionCheck.objects.filter(pk=check_id, status=CheckStatus.PENDING).update(
        status=status, message=message[:MAX_MESSAGE], checked_at=now
    )
    if finished and export_id is not None:
        ok = status == CheckStatus.OK
        Export.objects.filter(pk=export_id).update(
            connection_status=ConnectionStatus.CONNECTED if ok else ConnectionStatus.NOT_CONNECTED,
            connection_message=(message if ok else f"Not connected: {message}")[:MAX_MESSAGE],
            connection_checked_at=now,
        )
    return bool(finished)


def _finish_unanswered(check: ConnectionCheck, message: str) -> None:
    """Fails a check that got no answer (it could not start, or finish, in time). The destination was not
    asked, so the export is not "Not connected"; but when this check is the one a save queued (the export's
    latest, its badge on Checking), the badge must not stay on Checking: it says Not checked yet, and why."""
    if not _finish(check.pk, CheckStatus.FAILED, message):
        return
    if ConnectionCheck.objects.filter(export_id=check.export_id, created_at__gt=check.created_at).exists():
        return  # a newer check answers for the export
    Export.objects.filter(pk=check.export_id, connection_status=ConnectionStatus.CHECKING).update(
        connection_status=ConnectionStatus.UNCHECKED, connection_message=message[:MAX_MESSAGE]
    )


def _test(export: Export) -> tuple[str, str]:
    """(status, message) of one test of the export's destination; no exception escapes."""
    try:
        export_destination(export).test_connection()
    except CredentialError as exc:
        return CheckStatus.FAILED, str(exc)
    except (DestinationError, outbound.OutboundError) as exc:
        return CheckStatus.FAILED, exc.message
    except SoftTimeLimitExceeded:
        return CheckStatus.FAILED, "The destination did not answer in time."
    except Exception:  # a destination's bug must still end the check, with words instead of a traceback
        logger.exception("connection check of export %s failed unexpectedly", export.pk)
        return CheckStatus.FAILED, "The check failed unexpectedly; try again later."
    return CheckStatus.OK, f"Connected to {get_destination(export.destination_type).label}."


def connection_check_run(*, check_id: str) -> str:
    """Runs a pending check within what is left of its deadline (counted from when it was asked for)."""
    now = timezone.now()
    claimed = ConnectionCheck.objects.filter(pk=check_id, status=CheckStatus.PENDING, started_at=None).update(
        started_at=now
    )
    if not claimed:
        return "skipped"  # a second delivery, or already expired
    check = ConnectionCheck.objects.select_related("export").get(pk=check_id)
    budget = deadline_seconds() - (now - check.created_at).total_seconds()
    if budget < MIN_BUDGET_SECONDS:
        _finish_unanswered(check, "The check could not start in time: the workers are busy. Try again.")
        return CheckStatus.FAILED
    with outbound.time_budget(budget):
        status, message = _test(check.export)
    _finish(check.pk, status, message, export_id=check.export_id)
    if status == CheckStatus.OK:  # the mapping form's targets: the destination's own fields
        from exports.services.connection import export_catalog_refresh

        with outbound.time_budget(deadline_seconds()):
            export_catalog_refresh(export_id=check.export_id)
    return status


def connection_check_expire(*, check: ConnectionCheck) -> ConnectionCheck:
    """Fails a check still pending past its deadline, so the answer (and the polling) ends on time."""
    limit = check.created_at + timedelta(seconds=deadline_seconds() + GRACE_SECONDS)
    if check.status == CheckStatus.PENDING and timezone.now() > limit:
        message = (
            "The check did not finish in time: the destination did not answer, or the workers are busy. "
            "Try again in a minute."
        )
        if check.started_at is None:
            message = "The check could not start in time: the workers are busy. Try again in a minute."
        _finish_unanswered(check, message)
        check.refresh_from_db()
    return check


def export_connection_settle(*, export: Export) -> Export:
    """The export, its badge settled: while it says Checking, its latest check is failed once past its
    deadline (no worker took it), so a badge polled with no worker running ends on Not checked yet."""
    if export.connection_status != ConnectionStatus.CHECKING:
        return export
    check = ConnectionCheck.objects.filter(export=export).order_by("-created_at").first()
    if check is not None and check.status == CheckStatus.PENDING:
        connection_check_expire(check=check)
        export.refresh_from_db()
    return export
