"""Audience writes: create, update, delete, pause/resume, refresh, and the build (counts) run on Celery."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from accounts.selectors import Principal, project_resolve
from audiences import datasets, definitions, engine
from audiences.models import (
    Audience,
    AudienceBuild,
    AudienceStatus,
    AudienceType,
    BuildStatus,
    ContactList,
    ListStatus,
    ListType,
)
from audiences.selectors.audiences import audience_input_path, audience_selection
from audiences.wording import build_error_words
from delivr_admin.errors import ApplicationError

logger = logging.getLogger(__name__)


def _normalized(definition: dict, *, input_path: str, hive: bool) -> dict:
    columns = datasets.dataset_columns(input_path)
    normalized = definitions.definition_normalize(definition, columns)
    definitions.definition_compile(
        normalized, input_path=input_path, columns=columns, hive=hive
    )  # validates SQL
    return normalized


def _enqueue_build(audience_id) -> None:
    from audiences.tasks import audience_build

    audience_build.delay_on_commit(str(audience_id))


def contact_list_check_can_back(contact_list: ContactList) -> None:
    """The one rule: a list can back an audience only if it is a ready (imported) contacts list."""
    if contact_list.type != ListType.CONTACTS or contact_list.status != ListStatus.READY:
        message = "Only a ready contacts list can back an audience."
        raise ApplicationError(message, code="invalid_list", extra={"fields": {"contact_list_id": [message]}})


def audience_create(
    *,
    principal: Principal,
    project_id: object,
    name: str,
    type: str = AudienceType.INTENT,
    definition: dict | None = None,
    input_path: str | None = None,
    contact_list: ContactList | None = None,
) -> Audience:
    """Validates the definition against the dataset, saves the audience in the project named by `project_id`
    (resolved for the caller: a 400 `invalid_project` when missing or not theirs) and queues its first build."""
    project = project_resolve(principal, project_id)
    if not name.strip():
        raise ApplicationError("An audience needs a name.", code="invalid_request")
    if type == AudienceType.LIST and contact_list is None:
        raise ApplicationError("A list audience needs a contact_list_id.", code="invalid_request")
    if contact_list is not None:
        contact_list_check_can_back(contact_list)
    resolved = datasets.input_path_resolve(input_path) if input_path else ""
    audience = Audience(
        organization=project.organization,
        project=project,
        name=name.strip(),
        type=type,
        input_path=resolved,
        contact_list=contact_list,
        created_by=principal.actor,
        build_status=BuildStatus.QUEUED,
        build_requested_at=timezone.now(),
    )
    path, hive = audience_input_path(audience)
    audience.definition = _normalized(definition or {}, input_path=path, hive=hive)
    audience.save()
    _enqueue_build(audience.pk)
    return audience


@transaction.atomic
def audience_update(
    *, audience: Audience, name: str | None = None, definition: dict | None = None
) -> Audience:
    """Changes name and/or definition; a changed definition queues a rebuild (unless the audience is paused)."""
    if name is not None:
        if not name.strip():
            raise ApplicationError("An audience needs a name.", code="invalid_request")
        audience.name = name.strip()
    if definition is not None:
        path, hive = audience_input_path(audience)
        audience.definition = _normalized(definition, input_path=path, hive=hive)
        if audience.status == AudienceStatus.ACTIVE:
            audience.build_status = BuildStatus.QUEUED
            audience.build_requested_at = timezone.now()
            _enqueue_build(audience.pk)
    audience.save()
    return audience


@transaction.atomic
def audience_delete(*, audience: Audience) -> None:
    """Deletes the audience; 409 while something (an export, say) still refers to it."""
    try:
        with transaction.atomic():
            audience.delete()
    except ProtectedError as exc:
        raise ApplicationError(
            "The audience is still used (by an export, for example): remove that first.",
            code="audience_in_use",
            status=409,
        ) from exc


@transaction.atomic
def audience_pause(*, audience: Audience) -> Audience:
    Audience.objects.filter(pk=audience.pk).update(status=AudienceStatus.PAUSED)
    audience.refresh_from_db()
    return audience


@transaction.atomic
def audience_resume(*, audience: Audience) -> Audience:
    Audience.objects.filter(pk=audience.pk).update(status=AudienceStatus.ACTIVE)
    audience.refresh_from_db()
    return audience


@transaction.atomic
def audience_refresh(*, audience: Audience) -> Audience:
    """Queues a rebuild; a paused audience answers 409 with a structured reason (the May 2026 change)."""
    current = Audience.objects.select_for_update().get(pk=audience.pk)
    if current.status == AudienceStatus.PAUSED:
        raise ApplicationError(
            "The audience is paused: resume it before requesting a refresh.",
            code="audience_paused",
            status=409,
            extra={"reason": "audience_paused", "audience_id": str(current.pk), "status": current.status},
        )
    Audience.objects.filter(pk=current.pk).update(
        build_status=BuildStatus.QUEUED, build_requested_at=timezone.now()
    )
    _enqueue_build(current.pk)
    current.refresh_from_db()
    return current


def audience_build(*, audience_id) -> None:
    """Counts records, distinct profiles and suppressed rows through the engine and stores them."""
    audience = Audience.objects.filter(pk=audience_id).first()
    if audience is None:
        return
    requested = audience.build_requested_at
    Audience.objects.filter(pk=audience.pk).update(build_status=BuildStatus.BUILDING)
    try:
        # One scan for records + distinct profiles (a second only when opt-outs apply); a list without a
        # person_id column (an export-generated one, say) has no distinct profile count rather than failing.
        sel = audience_selection(audience)
        summary = engine.engine_for(sel.input_path).count_summary(sel)
        records, distinct, suppressed = summary.records, summary.distinct_profiles, summary.suppressed
    except (engine.EngineError, ApplicationError) as exc:
        Audience.objects.filter(pk=audience.pk).update(
            build_status=BuildStatus.FAILED,
            build_error=build_error_words(exc),
            build_error_detail=str(exc)[:2000],
        )
        logger.warning("audience %s build failed: %s", audience.pk, exc)
        return
    # A newer definition queued another build meanwhile: leave the status (and the history) to that one.
    built_at = timezone.now()
    with transaction.atomic():
        updated = Audience.objects.filter(pk=audience.pk, build_requested_at=requested).update(
            record_count=records,
            distinct_profile_count=distinct,
            suppressed_count=suppressed,
            last_built_at=built_at,
            build_status=BuildStatus.READY,
            build_error="",
            build_error_detail="",
        )
        if updated:
            AudienceBuild.objects.create(
                audience_id=audience.pk,
                built_at=built_at,
                record_count=records,
                distinct_profile_count=distinct,
                suppressed_count=suppressed,
            )
