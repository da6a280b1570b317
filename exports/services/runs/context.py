"""The typed state a run carries from step to step, its counters, and its guarded writes to the run row.

Every write is conditional on (status = running, attempts = this attempt): an attempt that lost the run to
the reaper writes nothing (RunLost).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from django.utils import timezone

from audiences.engine import Selection
from exports.destinations.base import BatchContext, BatchResult, Destination, ObjectResult, RecordError
from exports.models import Export, ExportRun, RunStatus, SyncMode
from exports.services.runs.errors import RunLost
from exports.services.runs.keys import SeenKeys
from exports.services.runs.snapshot import NextSnapshot, Previous
from exports.services.runs.spool import ListSink
from exports.validation import FieldSpec

if TYPE_CHECKING:
    from exports.services.runs.parts import Presend


def objects_json(objects: dict[str, ObjectResult]) -> dict:
    """Per-object results as stored on the run (and in a write's progress part)."""
    out = {}
    for name, obj in objects.items():
        data = obj.as_dict()
        data["errors"] = [{"key": e.key, "code": e.code, "message": e.message} for e in obj.errors]
        out[name] = data
    return out


def objects_from_json(stored: dict) -> dict[str, ObjectResult]:
    """The per-object results `objects_json` stored."""
    objects = {}
    for name, data in stored.items():
        objects[name] = ObjectResult(
            object_type=data.get("object_type", name),
            operation=data.get("operation", "upsert"),
            records_created=data.get("records_created", 0),
            records_updated=data.get("records_updated", 0),
            records_failed=data.get("records_failed", 0),
            records_skipped=data.get("records_skipped", 0),
            error_message=data.get("error_message", ""),
            errors=[RecordError(e["key"], e["code"], e["message"]) for e in data.get("errors", [])],
        )
    return objects


class Progress:
    """The counts a run accumulates, loaded from and saved to its checkpoint."""

    def __init__(self, run: ExportRun, object_type: str):
        self.total = run.records_total
        self.exported = run.records_exported
        self.failed = run.records_failed
        self.duplicated = run.records_duplicated
        self.added = run.records_added
        self.changed = run.records_changed
        self.unchanged = run.records_unchanged
        self.removed = run.records_removed
        self.object_type = object_type
        self.objects: dict[str, ObjectResult] = objects_from_json(run.object_type_results or {})
        self.summary: dict[str, dict[str, int]] = {
            k: dict(v) for k, v in (run.validation_summary or {}).items()
        }

    def merge(self, result: BatchResult) -> None:
        for name, obj in result.objects.items():
            if name not in self.objects:
                self.objects[name] = ObjectResult(object_type=obj.object_type, operation=obj.operation)
            self.objects[name].merge(obj)
            self.objects[name].failed_keys = []  # needed per write only: not held for the whole run
            if obj.operation == "remove":
                continue  # removals have their own count (records_removed)
            if name == self.object_type:  # a record counts once: HubSpot's companies and events have own rows
                self.exported += obj.records_created + obj.records_updated
                self.failed += obj.records_failed

    def results_json(self) -> dict:
        return objects_json(self.objects)

    def fields(self) -> dict[str, Any]:
        return {
            "records_total": self.total,
            "records_exported": self.exported,
            "records_failed": self.failed,
            "records_duplicated": self.duplicated,
            "records_added": self.added,
            "records_changed": self.changed,
            "records_unchanged": self.unchanged,
            "records_removed": self.removed,
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
    committed: int = 0  # batches_done at the last commit: the progress parts written since follow it
    parts: int = 0  # progress parts written since that commit (earlier attempts' included)
    presend: Presend | None = None  # the records an earlier attempt's answered writes took (or refused)
    follow_ups: dict[str, list] = field(default_factory=dict)  # follow-up work an earlier attempt still owed
    spools: list[pa.Table] = field(default_factory=list)  # committed batches of an earlier attempt
    progress: Progress | None = None
    seen: SeenKeys = field(default_factory=SeenKeys)
    previous: Previous | None = None  # the export's snapshot: what the destination holds
    destination: Destination | None = None
    details: dict[str, Any] = field(default_factory=dict)
    list_sink: ListSink | None = None
    next_snapshot: NextSnapshot | None = None  # written as the batches are filed
    removed_path: str | None = None  # the removals the destination accepted (local Parquet)
    mapped_schema: pa.Schema | None = None  # the mapped records' columns, from the first batch read

    def batch_context(self, index: int, idempotency_keys: list[str] | None = None) -> BatchContext:
        return BatchContext(
            run_id=self.run_id,
            export_id=str(self.export.pk),
            batch_index=index,
            list_name=self.list_name,
            idempotency_keys=idempotency_keys or [],
            organization_id=str(self.export.organization_id),
        )

    @property
    def sync_mode(self) -> str:
        return self.export.sync_mode

    @property
    def sends_unchanged(self) -> bool:
        return self.sync_mode == SyncMode.FULL

    @property
    def removes_departed(self) -> bool:
        return self.sync_mode == SyncMode.MIRROR

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
