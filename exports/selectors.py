"""Reads of exports and their runs, scoped to the caller's organization (and its sub-organizations)."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.http import Http404

from accounts.selectors import Principal
from audiences import datasets, engine
from audiences.definitions import field_label
from audiences.models import Audience
from audiences.selectors.audiences import audience_input_path
from delivr_admin.errors import ApplicationError
from delivr_admin.selectors import one_or_404
from delivr_admin.signed_links import INVALID, signed_link_read, signed_link_token
from delivr_admin.templatetags.ui import dt
from exports.destinations.base import destination_kinds, get_destination
from exports.models import ConnectionCheck, Export, ExportRun


def export_list(principal: Principal, *, project_id: uuid.UUID | None = None) -> QuerySet[Export]:
    qs = Export.objects.filter(organization_id__in=principal.organization_ids).select_related(
        "audience", "project"
    )
    if project_id is not None:
        qs = qs.filter(project_id=project_id)
    return qs.order_by("-created_at", "id")


def export_get(principal: Principal, export_id: uuid.UUID | str) -> Export:
    return one_or_404(export_list(principal), "Export not found.", pk=export_id)


def export_run_list(export: Export) -> QuerySet[ExportRun]:
    return ExportRun.objects.filter(export=export).order_by("-queued_at", "-id")


def export_run_get(export: Export, run_id: uuid.UUID | str) -> ExportRun:
    return one_or_404(export_run_list(export), "Export run not found.", pk=run_id)


def export_last_runs(exports: list[Export]) -> dict:
    """export id -> its newest run (one query)."""
    out: dict = {}
    for run in ExportRun.objects.filter(export__in=exports).order_by("export_id", "-queued_at"):
        out.setdefault(run.export_id, run)
    return out


def destination_options() -> list[dict]:
    """Registered destinations with their config and credential field names (for forms and docs)."""
    options = []
    for kind, label in destination_kinds():
        cls = get_destination(kind)
        options.append(
            {
                "kind": kind,
                "label": label,
                "config_fields": list(cls.config_fields),
                "credential_fields": list(cls.credential_fields),
            }
        )
    return options


def connection_check_get(export: Export, check_id: uuid.UUID | str) -> ConnectionCheck:
    """A connection check of `export` (already scoped to the caller by `export_get`); 404 otherwise."""
    return one_or_404(
        ConnectionCheck.objects.filter(export=export), "Connection check not found.", pk=check_id
    )


def connection_check_latest(export: Export) -> ConnectionCheck | None:
    return ConnectionCheck.objects.filter(export=export).order_by("-created_at").first()


def optout_ledger(*, organization_ids, identifier_type: str, identifier_value: str) -> list[dict]:
    """Where an opted-out identifier had been sent and when it was taken back, in words, newest first."""
    from exports.models import OptOutRemoval

    rows = OptOutRemoval.objects.filter(
        organization_id__in=organization_ids,
        identifier_type=identifier_type,
        identifier_value=identifier_value,
    ).order_by("-recorded_at")
    out = []
    for row in rows:
        where = f"{row.destination_label} (export “{row.export_name}”"
        where += f", list “{row.list_name}”)" if row.list_name else ")"
        sent = f"Sent to {where}" + (f" on {dt(row.sent_at)}" if row.sent_at else "")
        if row.removed_at:
            words = f"{sent}, removed on {dt(row.removed_at)}"
            words += f" ({row.message})." if row.message else "."
        else:
            words = f"{sent}; not removed yet: {row.message}"
        out.append(
            {
                "export_id": row.export_id,
                "destination": row.destination_label,
                "list_name": row.list_name,
                "sent_at": row.sent_at,
                "removed_at": row.removed_at,
                "status": row.status,
                "message": row.message,
                "summary": words,
            }
        )
    return out


_RUN_FILE_SALT = "exports.run-file"
RUN_FILES = {"output": "file_name", "removals": "removals_file_name"}


def export_run_file_links(run: ExportRun) -> dict[str, str]:
    """{"output": url, "removals": url} for the files a run wrote, like task output links: presigned URLs of
    the object store where it signs them (S3, GCS), else links signed by Delivr (the same TimestampSigner);
    both expire after DELIVR_SIGNED_LINK_TTL_SECONDS (15 minutes). One token per run and organization."""
    import posixpath

    from django.urls import reverse

    from delivr_admin import storage

    details = run.details or {}
    names = {kind: details[key] for kind, key in RUN_FILES.items() if details.get(key)}
    presigned = storage.presign_many([(name, posixpath.basename(name)) for name in names.values()])
    if presigned is not None:
        return dict(zip(names, presigned, strict=True))
    token = signed_link_token(salt=_RUN_FILE_SALT, object_id=run.pk, organization_id=run.organization_id)
    url = reverse("exports:export-run-file", kwargs={"export_id": run.export_id, "run_id": run.pk})
    return {kind: f"{url}?file={kind}&token={token}" for kind, key in RUN_FILES.items() if details.get(key)}


def export_run_file_resolve(principal: Principal, export_id, run_id, *, kind: str, token: str) -> str:
    """The storage name a signed run-file link opens, if the link is intact, fresh and the caller's org owns
    the run; Http404 in words otherwise."""
    expired = "This download link has expired; open the run's page for a fresh one."
    signed_run, signed_org = signed_link_read(token, salt=_RUN_FILE_SALT, expired=expired)
    run = export_run_get(export_get(principal, export_id), run_id)
    if signed_run != str(run.pk) or signed_org != str(run.organization_id) or kind not in RUN_FILES:
        raise Http404(INVALID)
    name = (run.details or {}).get(RUN_FILES[kind])
    if not name:
        raise Http404("This run wrote no such file.")
    return name


def audience_source_columns(audience: Audience | None) -> list[tuple[str, str]]:
    """The columns an export of ``audience`` can map from, as (column, words) pairs for the mapping form's
    suggestions; empty when the audience's data cannot be read now (the form still takes a typed column)."""
    if audience is None:
        return []
    try:
        path, _hive = audience_input_path(audience)
        columns = datasets.dataset_columns(path)
    except (ApplicationError, engine.EngineError):
        return []
    return [(name, field_label(name)) for name in columns]
