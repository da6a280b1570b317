"""The typed state a run carries from step to step, its counters, and its guarded writes to the run row.

Every write is conditional on (status = running, attempts = this attempt): an attempt that lost the run to
the reaper writes nothing (RunLost).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from django.utils import timezone

from audiences.engine import Selection
from exports.destinations.base import BatchResult, Destination, ObjectResult, RecordError
from exports.models import Export, ExportRun, RunStatus
from exports.services.runs.errors import RunLost
from exports.services.runs.keys import SeenKeys
from exports.validation import FieldSpec


class Progress:
    """The counts a run accumulates, loaded from and saved to its checkpoint."""

    def __init__(self, run: ExportRun, object_type: str):
        self.total = run.records_total
        self.exported = run.records_exported
        self.failed = run.records_failed
        self.duplicated = run.records_duplicated
        self.sent_rows = 0
        self.object_type = object_type
        self.objects: dict[str, ObjectResult] = {}
        for name, data in (run.object_type_results or {}).items():
            obj = ObjectResult(
                object_type=data.get("object_type", name),
                operation=data.get("operation", "upsert"),
                records_created=data.get("records_created", 0),
                records_updated=data.get("records_updated", 0),
                records_failed=data.get("records_failed", 0),
                records_skipped=data.get("records_skipped", 0),
                error_message=data.get("error_message", ""),
                errors=[RecordError(e["key"], e["code"], e["message"]) for e in data.get("errors", [])],
            )
            self.objects[name] = obj
        self.summary: dict[str, dict[str, int]] = {
            k: dict(v) for k, v in (run.validation_summary or {}).items()
        }

    def merge(self, result: BatchResult) -> None:
        for name, obj in result.objects.items():
            if name not in self.objects:
                self.objects[name] = ObjectResult(object_type=obj.object_type, operation=obj.operation)
            self.objects[name].merge(obj)
            if name == self.object_type:  # a record counts once: HubSpot's companies and events have own rows
                self.exported += obj.records_created + obj.records_updated
                self.failed += obj.records_failed

    def results_json(self) -> dict:
        out = {}
        for name, obj in self.objects.items():
            data = obj.as_dict()
            data["errors"] = [{"key": e.key, "code": e.code, "message": e.message} for e in obj.errors]
            out[name] = data
        return out

    def fields(self) -> dict[str, Any]:
        return {
            "records_total": self.total,
            "records_exported": self.exported,
            "records_failed": self.failed,
            "records_duplicated": self.duplicated,
            "object_type_results": self.results_json(),
            "validation_summary": self.summary,
        }


@dataclass
class RunContext:
    """Everything the steps of one attempt share; built by the read step, extended by send and finish."""

    run: ExportRun
    attempt: int
    export: Export
    destination_cls: type[Destination]
    credentials: dict[str, Any]
    mapping: list[FieldSpec]
    selection: Selection
    resumable: bool
    limit: int | None
    batches_done: int = 0
    spools: list[pa.Table] = field(default_factory=list)  # committed batches of an earlier attempt
    progress: Progress | None = None
    seen: SeenKeys = field(default_factory=SeenKeys)
    destination: Destination | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return str(self.run.pk)

    @property
    def list_name(self) -> str:
        return self.export.effective_list_name

    @property
    def batch_size(self) -> int:
        from django.conf import settings

        return int(getattr(self.destination_cls, "batch_size", 0) or settings.DELIVR_EXPORT_BATCH_SIZE)


def checkpoint(run: ExportRun, attempt: int, **fields: Any) -> None:
    """Saves fields on the run and touches its heartbeat; RunLost when the attempt no longer owns it."""
    updated = ExportRun.objects.filter(pk=run.pk, attempts=attempt, status=RunStatus.RUNNING).update(
        heartbeat_at=timezone.now(), **fields
    )
    if not updated:
        raise RunLost(str(run.pk))


def finish_update(run: ExportRun, attempt: int | None, status: str, **fields: Any) -> bool:
    """Moves a running run to its final status; False when it was not ours (or not running) any more."""
    qs = ExportRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING)
    if attempt is not None:
        qs = qs.filter(attempts=attempt)
    return bool(qs.update(status=status, finished_at=timezone.now(), **fields))
