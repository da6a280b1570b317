"""Reads of exports and their runs, scoped to the caller's organization (and its sub-organizations)."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404

from accounts.selectors import Principal
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
    try:
        return export_list(principal).get(pk=export_id)
    except (Export.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise Http404("Export not found.") from exc


def export_run_list(export: Export) -> QuerySet[ExportRun]:
    return ExportRun.objects.filter(export=export).order_by("-queued_at", "-id")


def export_run_get(export: Export, run_id: uuid.UUID | str) -> ExportRun:
    try:
        return export_run_list(export).get(pk=run_id)
    except (ExportRun.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise Http404("Export run not found.") from exc


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
    try:
        return ConnectionCheck.objects.get(export=export, pk=check_id)
    except (ConnectionCheck.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise Http404("Connection check not found.") from exc


def connection_check_latest(export: Export) -> ConnectionCheck | None:
    return ConnectionCheck.objects.filter(export=export).order_by("-created_at").first()
