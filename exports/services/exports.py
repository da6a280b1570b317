"""Export writes: create, update, delete, and test the destination connection."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from accounts.models import Project
from accounts.selectors import Principal, project_resolve
from audiences import engine
from audiences.models import RECORD_LIMIT_MAX, Audience
from audiences.selectors.audiences import audience_get, audience_input_path
from delivr_admin.errors import ApplicationError
from exports.crypto import CredentialError, credentials_decrypt, credentials_encrypt
from exports.destinations.base import Destination, DestinationError, get_destination
from exports.models import ACTIVE_RUN_STATUSES, ConnectionStatus, Export, FailMode, Schedule, SyncMode
from exports.services.connection import export_connection_queue
from exports.validation import MappingError, mapping_parse

_UNSET: Any = object()


def _audience(principal: Principal, audience_id: Any, project: Project) -> Audience:
    if audience_id is None:
        raise ApplicationError("audience_id is required.", code="invalid_audience")
    try:
        audience = audience_get(principal, audience_id)
    except Http404 as exc:
        raise ApplicationError(
            f"audience_id {audience_id} is not an audience of your organization.", code="invalid_audience"
        ) from exc
    if audience.project_id != project.id:
        raise ApplicationError(
            "The audience belongs to another project than the export.", code="invalid_audience"
        )
    return audience


def audience_columns(audience: Audience) -> dict[str, str]:
    """Column -> type of the audience's dataset; a 400 when it has no data to read."""
    from audiences import datasets

    path, _ = audience_input_path(audience)
    try:
        return datasets.dataset_columns(path)
    except engine.EngineError as exc:
        raise ApplicationError(f"The audience's data cannot be read: {exc}", code="invalid_audience") from exc


def mapping_validate(raw: Any, audience: Audience) -> list[dict]:
    try:
        return [spec.as_dict() for spec in mapping_parse(raw, audience_columns(audience))]
    except MappingError as exc:
        raise ApplicationError(str(exc), code="invalid_field_mapping") from exc


def _destination_class(kind: str) -> type[Destination]:
    try:
        return get_destination(kind)
    except DestinationError as exc:
        raise ApplicationError(
            f"destination_type {kind!r} is not a known destination.", code="invalid_destination"
        ) from exc


def _clean_fields(values: Any, allowed: tuple[str, ...], what: str) -> dict:
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ApplicationError(f"{what} must be an object.", code="invalid_destination")
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        names = ", ".join(allowed) or "none"
        raise ApplicationError(
            f"{what}: unknown field(s) {', '.join(unknown)} (allowed: {names}).", code="invalid_destination"
        )
    for key, value in values.items():
        if value is not None and not isinstance(value, str | int | float | bool):
            raise ApplicationError(
                f"{what}.{key} must be a string, number or boolean.", code="invalid_destination"
            )
    return {k: v for k, v in values.items() if v is not None and v != ""}


def _destination_check(cls: type[Destination], config: dict, credentials: dict) -> None:
    check = getattr(cls, "validate_config", None)
    if check is None:
        return
    try:
        check(config, credentials)
    except DestinationError as exc:
        extra = {"field": exc.field} if exc.field else None
        raise ApplicationError(exc.message, code="invalid_destination", extra=extra) from exc


def mapping_targets_check(*, destination_type: str, field_mapping: list[dict]) -> None:
    """Raises when the mapping lacks a target the destination needs (HubSpot: `email`; a mapping to `Email`
    would fail every record at run time while the dry run, which knows no destination, passed them)."""
    cls = _destination_class(destination_type)
    targets = {spec.get("target") for spec in field_mapping if isinstance(spec, dict)}
    missing = [t for t in cls.required_targets if t not in targets]
    if missing:
        raise ApplicationError(
            f"{cls.label or destination_type} needs a field mapped to the target "
            f"{', '.join(repr(t) for t in missing)} (target names are case-sensitive).",
            code="invalid_field_mapping",
        )


RECORD_LIMIT_MESSAGE = f"record_limit.maxRecords must be an integer from 1 to {RECORD_LIMIT_MAX:,}."


def record_limit_parse(value: dict | None) -> tuple[int | None, str]:
    """(maxRecords, failMode) of a record limit; a 400 unless maxRecords is 1..RECORD_LIMIT_MAX."""
    if value is None:
        return None, FailMode.TRUNCATE
    max_records = value.get("maxRecords")
    if (
        isinstance(max_records, bool)
        or not isinstance(max_records, int)
        or not 1 <= max_records <= RECORD_LIMIT_MAX
    ):
        raise ApplicationError(
            RECORD_LIMIT_MESSAGE,
            code="invalid_request",
        )
    fail_mode = value.get("failMode") or FailMode.TRUNCATE
    if fail_mode not in FailMode.values:
        raise ApplicationError('record_limit.failMode must be "truncate" or "fail".', code="invalid_request")
    return max_records, fail_mode


def schedule_next_run(schedule: str, now=None):
    now = now or timezone.now()
    if schedule == Schedule.DAILY:
        return now + timedelta(days=1)
    if schedule == Schedule.WEEKLY:
        return now + timedelta(days=7)
    return None


def sync_modes_for(cls: type[Destination]) -> list[str]:
    """The sync modes a destination can honour: mirror needs one that can take records back."""
    if not getattr(cls, "supports_changes", True):
        return [SyncMode.FULL]
    modes = [SyncMode.CHANGES, SyncMode.FULL]
    if getattr(cls, "supports_removal", False):
        modes.append(SyncMode.MIRROR)
    return modes


def sync_mode_check(cls: type[Destination], sync_mode: str) -> None:
    """400 in words when the mode is unknown or the destination cannot honour it."""
    if sync_mode not in SyncMode.values:
        raise ApplicationError("sync_mode must be full, changes or mirror.", code="invalid_request")
    if sync_mode not in sync_modes_for(cls) and sync_mode != SyncMode.FULL:
        if not getattr(cls, "supports_changes", True):
            raise ApplicationError(
                f'{cls.label} makes a new list on every run, so every run sends every record: choose "full".',
                code="invalid_request",
            )
        raise ApplicationError(
            f"{cls.label} cannot remove records, so it cannot mirror the audience: choose "
            '"changes" (send new and changed records) or "full" (send every record).',
            code="invalid_request",
        )


def _name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ApplicationError("An export needs a name.", code="invalid_request")
    return name.strip()[:255]


@transaction.atomic
def export_create(
    *,
    principal: Principal,
    project_id: Any,
    audience_id: Any,
    name: str,
    destination_type: str,
    destination_config: dict | None = None,
    credentials: dict | None = None,
    field_mapping: list,
    schedule: str = Schedule.MANUAL,
    record_limit: dict | None = None,
    list_name: str | None = None,
    sync_mode: str | None = None,
) -> Export:
    """Validates everything against the audience's dataset and the destination, then saves the export."""
    project = project_resolve(principal, project_id)
    audience = _audience(principal, audience_id, project)
    cls = _destination_class(destination_type)
    config = _clean_fields(destination_config, cls.config_fields, "destination_config")
    secrets = _clean_fields(credentials, cls.credential_fields, "credentials")
    _destination_check(cls, config, secrets)
    if schedule not in Schedule.values:
        raise ApplicationError("schedule must be manual, daily or weekly.", code="invalid_request")
    max_records, fail_mode = record_limit_parse(record_limit)
    mapping = mapping_validate(field_mapping, audience)
    mapping_targets_check(destination_type=destination_type, field_mapping=mapping)
    sync_mode = sync_mode or sync_modes_for(cls)[0]  # changes where the destination can keep in sync
    sync_mode_check(cls, sync_mode)
    export = Export.objects.create(
        organization=project.organization,
        project=project,
        audience=audience,
        name=_name(name),
        destination_type=destination_type,
        destination_config=config,
        credentials_encrypted=credentials_encrypt(secrets),
        credential_names=sorted(secrets),
        field_mapping=mapping,
        schedule=schedule,
        next_run_at=schedule_next_run(schedule),
        record_limit_max=max_records,
        record_limit_fail_mode=fail_mode,
        list_name=(list_name or "").strip()[:255],
        sync_mode=sync_mode,
        created_by=principal.actor,
    )
    # Credentials are checked in the background (a draft without them is saved, marked Not connected).
    return export_connection_queue(export=export)


@transaction.atomic
def export_update(
    *,
    principal: Principal,
    export: Export,
    name: str = _UNSET,
    audience_id: Any = _UNSET,
    destination_type: str = _UNSET,
    destination_config: dict | None = _UNSET,
    credentials: dict | None = _UNSET,
    field_mapping: list = _UNSET,
    schedule: str = _UNSET,
    record_limit: dict | None = _UNSET,
    list_name: str | None = _UNSET,
    sync_mode: str = _UNSET,
) -> Export:
    """Partial update: omitted arguments keep their value; record_limit=None clears the limit.

    Credentials merge into the saved ones (a null value removes that credential), so a form can leave
    secret fields blank to keep them.
    """
    export = Export.objects.select_for_update().get(pk=export.pk)
    if name is not _UNSET:
        export.name = _name(name)
    if audience_id is not _UNSET:
        export.audience = _audience(principal, audience_id, export.project)
    if export.audience is None:
        raise ApplicationError(
            "The export's audience was deleted: choose another one.", code="invalid_audience"
        )
    kind_changed = destination_type is not _UNSET and destination_type != export.destination_type
    if destination_type is not _UNSET:
        export.destination_type = destination_type
    cls = _destination_class(export.destination_type)
    if destination_config is not _UNSET:
        export.destination_config = _clean_fields(destination_config, cls.config_fields, "destination_config")
    elif kind_changed:
        export.destination_config = {}
    saved = _credentials_merge(export, cls, credentials, kind_changed=kind_changed)
    export.credentials_encrypted = credentials_encrypt(saved)
    export.credential_names = sorted(saved)
    _destination_check(cls, export.destination_config, saved)
    if field_mapping is not _UNSET:
        export.field_mapping = mapping_validate(field_mapping, export.audience)
    elif audience_id is not _UNSET:
        export.field_mapping = mapping_validate(export.field_mapping, export.audience)
    if schedule is not _UNSET:
        _schedule_set(export, schedule)
    if record_limit is not _UNSET:
        export.record_limit_max, export.record_limit_fail_mode = record_limit_parse(record_limit)
    if list_name is not _UNSET:
        export.list_name = (list_name or "").strip()[:255]
    mapping_targets_check(destination_type=export.destination_type, field_mapping=export.field_mapping)
    if kind_changed:
        export.field_catalog = {}
    if sync_mode is not _UNSET:
        export.sync_mode = sync_mode
    sync_mode_check(cls, export.sync_mode)
    export.save()
    reconnect = kind_changed or destination_config is not _UNSET or credentials is not _UNSET
    if reconnect or export.connection_status == ConnectionStatus.UNCHECKED:
        return export_connection_queue(export=export)
    return export


def _credentials_merge(export: Export, cls: type, credentials: Any, *, kind_changed: bool) -> dict:
    """The export's credentials after an update: `credentials` merged into the saved ones (None removes one);
    nothing is kept from another destination type or from credentials that no longer decrypt."""
    try:
        saved = {} if kind_changed else credentials_decrypt(export.credentials_encrypted)
    except CredentialError:
        saved = {}
    if credentials is _UNSET:
        return saved
    if credentials is not None and not isinstance(credentials, dict):
        raise ApplicationError("credentials must be an object.", code="invalid_destination")
    removed = {k for k, v in (credentials or {}).items() if v is None}
    saved = {k: v for k, v in saved.items() if k not in removed and k in cls.credential_fields}
    saved.update(_clean_fields(credentials, cls.credential_fields, "credentials"))
    return saved


def _schedule_set(export: Export, schedule: str) -> None:
    if schedule not in Schedule.values:
        raise ApplicationError("schedule must be manual, daily or weekly.", code="invalid_request")
    if schedule != export.schedule:
        export.next_run_at = schedule_next_run(schedule)
    export.schedule = schedule


@transaction.atomic
def export_delete(*, export: Export) -> None:
    if export.runs.filter(status__in=ACTIVE_RUN_STATUSES).exists():
        raise ApplicationError(
            "The export has a run in progress: wait for it to finish before deleting.",
            code="run_in_progress",
            status=409,
        )
    export.delete()


def export_destination(export: Export) -> Destination:
    """The export's destination with its decrypted credentials (raises DestinationError, CredentialError)."""
    cls = get_destination(export.destination_type)
    return cls(dict(export.destination_config), credentials_decrypt(export.credentials_encrypted))
