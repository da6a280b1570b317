"""Export runs: start, execute (stream -> limit -> dedupe -> validate -> destination), reap, schedule.

A run is claimed with a conditional update (queued -> running, attempts + 1), so a duplicate delivery does
nothing. After every batch the run commits a checkpoint: batches_done, the accumulated counts and per-object
results, and a small spool file with the batch's record keys. A retried attempt reloads those keys and skips
the records they name, so it resumes after the last committed batch (whatever order the engine streams in);
the batch in flight when a worker died is sent again with the same idempotency keys (`<run_id>:<record_key>`),
which the destination uses to never create a record twice. Destinations that cannot resume (a file built
locally) declare `resumable = False`, and their runs restart from zero instead: they write no spools and
commit their progress every CHECKPOINT_SECONDS rather than per batch.

Records are deduplicated by key across the run with Arrow hash lookups (no per-record Python); the identities
of the records sent stream into the export-generated list's Parquet file as the batches go.

A heartbeat thread touches heartbeat_at while a long batch is in flight; the reaper requeues runs whose
heartbeat went stale (their worker died) until DELIVR_EXPORT_MAX_ATTEMPTS, then fails them, so no run stays
`running`.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from audiences import engine
from audiences.selectors.audiences import audience_selection
from delivr_admin.errors import ApplicationError
from exports.crypto import CredentialError, credentials_decrypt
from exports.destinations.base import (
    MAX_RECORD_ERRORS,
    BatchContext,
    BatchResult,
    Destination,
    DestinationError,
    ObjectResult,
    RecordError,
    get_destination,
)
from exports.destinations.file import BackgroundWriter
from exports.models import ACTIVE_RUN_STATUSES, Export, ExportRun, FailMode, FailureKind, RunStatus
from exports.validation import MappingError, mapping_parse, mapping_sources, validate_batch_full

logger = logging.getLogger(__name__)

KEY_COLUMNS = ("person_id", "email")
HEARTBEAT_INTERVAL_SECONDS = 10.0
CHECKPOINT_SECONDS = 5.0  # how often a run that cannot resume commits its progress (others: every batch)
SPOOL_SCHEMA = pa.schema(
    [("record_key", pa.string()), ("sent", pa.bool_()), ("person_id", pa.string()), ("email", pa.string())]
)
LIST_SCHEMA = pa.schema([("person_id", pa.string()), ("email", pa.string())])


class RunRetry(Exception):
    """A transient failure: the run went back to `queued` (checkpoint kept); the task retries it later."""


class RunLost(Exception):
    """The run is no longer ours (the reaper requeued or failed it): stop without writing anything."""


class RunFailed(Exception):
    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.message = message
        self.kind = kind


# ---------------------------------------------------------------------------------------------------------
# start


def _enqueue(run_id) -> None:
    from exports.tasks import export_run_execute

    transaction.on_commit(lambda: export_run_execute.delay(str(run_id)))


@transaction.atomic
def export_run_start(*, export: Export, trigger: str = "manual", actor: str = "") -> ExportRun:
    """Queues a run (409 when one is already queued or running, 400 when the audience is gone)."""
    export = Export.objects.select_for_update().get(pk=export.pk)
    if export.audience_id is None:
        raise ApplicationError(
            "The export's audience was deleted: choose another audience first.", code="invalid_audience"
        )
    if export.runs.filter(status__in=ACTIVE_RUN_STATUSES).exists():
        raise ApplicationError(
            "A run of this export is already in progress.", code="run_in_progress", status=409
        )
    run = ExportRun.objects.create(
        export=export, organization=export.organization, trigger=trigger, created_by=actor
    )
    _enqueue(run.pk)
    return run


# ---------------------------------------------------------------------------------------------------------
# spool: the committed batches' record keys (and the identities of the records sent, for the list)


def _spool_name(run_id, index: int) -> str:
    return f"export-runs/{run_id}/batch-{index:06d}.parquet"


def _spool_write(run_id, index: int, table: pa.Table) -> None:
    name = _spool_name(run_id, index)
    if default_storage.exists(name):
        default_storage.delete(name)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    default_storage.save(name, ContentFile(buf.getvalue()))


def _spool_read(run_id, batches: int) -> list[pa.Table] | None:
    """The committed batches' spools; None when one is missing (another machine's local disk)."""
    tables = []
    for index in range(batches):
        name = _spool_name(run_id, index)
        if not default_storage.exists(name):
            return None
        with default_storage.open(name, "rb") as fh:
            tables.append(pq.read_table(io.BytesIO(fh.read())))
    return tables


def _spool_clear(run_id, keep: int = 0) -> None:
    directory = f"export-runs/{run_id}"
    try:
        _, files = default_storage.listdir(directory)
    except (FileNotFoundError, NotImplementedError, OSError):
        return
    for name in files:
        if name.startswith("batch-") and int(name[6:12]) >= keep:
            default_storage.delete(f"{directory}/{name}")


# ---------------------------------------------------------------------------------------------------------
# heartbeat


class _Heartbeat(threading.Thread):
    """Touches heartbeat_at every interval while the run's attempt is alive (long batches included)."""

    def __init__(self, run_id, attempt: int, interval: float):
        super().__init__(daemon=True, name=f"export-heartbeat-{run_id}")
        self.run_id, self.attempt, self.interval = run_id, attempt, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                try:
                    ExportRun.objects.filter(
                        pk=self.run_id, attempts=self.attempt, status=RunStatus.RUNNING
                    ).update(heartbeat_at=timezone.now())
                except Exception:  # noqa: BLE001 - a missed heartbeat only risks a requeue
                    logger.warning("export run %s: heartbeat failed", self.run_id, exc_info=True)
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()


# ---------------------------------------------------------------------------------------------------------
# execute


def _key_part(name: str, col: pa.Array) -> pa.Array:
    col = pc.cast(col, pa.string()) if not pa.types.is_string(col.type) else col
    col = pc.utf8_trim_whitespace(col)
    if name == "email":
        col = pc.utf8_lower(col)
    blank = pc.equal(pc.binary_length(col), 0)
    if not pc.any(blank).as_py():
        return col
    return pc.if_else(blank, pa.scalar(None, pa.string()), col)


def _record_keys(batch: pa.RecordBatch) -> pa.Array:
    """person_id, else email (lower-cased, trimmed); null when a record has neither.

    The email is only read for the records without a person_id (usually none).
    """
    key = None
    for name in KEY_COLUMNS:
        if name not in batch.schema.names:
            continue
        col = batch.column(batch.schema.get_field_index(name))
        if key is None:
            key = _key_part(name, col)
            continue
        if not key.null_count:
            break
        missing = pc.is_null(key)
        key = pc.replace_with_mask(key, missing, _key_part(name, col.filter(missing)))
    return key if key is not None else pa.nulls(batch.num_rows, pa.string())


def _hashes(keys: pa.Array) -> pl.Series:
    """64-bit hashes of string keys (polars; stable within a process, which is all they are used for)."""
    return pl.from_arrow(keys).hash(seed=0)


class SeenKeys:
    """The record keys a run has met (Arrow strings, one chunk per batch) and their 64-bit hashes.

    Membership tests stay vectorised and cheap as the set grows: the seen hashes are probed against the
    batch's (a hash table over the batch, not over everything seen), and only the seen keys whose hash
    matched are compared as strings, so the answer is exact (a hash collision only adds a comparison).
    """

    def __init__(self) -> None:
        self._chunks: list[pa.Array] = []
        self._hashes: pl.Series | None = None
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, keys: pa.Array, hashes: pl.Series | None = None) -> None:
        if not len(keys):
            return
        hashes = _hashes(keys) if hashes is None else hashes
        self._chunks.append(keys)
        self._hashes = hashes if self._hashes is None else self._hashes.append(hashes)
        self._size += len(keys)

    def array(self) -> pa.Array:
        if len(self._chunks) != 1:
            self._chunks = [pa.concat_arrays(self._chunks) if self._chunks else pa.array([], pa.string())]
        return self._chunks[0]

    def known(self, candidates: pa.Array, hashes: pl.Series | None = None) -> pa.Array | None:
        """Mask over distinct non-null candidates: True for the keys met already (None when there are none)."""
        if not self._size or not len(candidates):
            return None
        hashes = _hashes(candidates) if hashes is None else hashes
        hit = self._hashes.is_in(hashes.implode())
        if not hit.any():
            return None
        hit = hit.to_arrow()
        if isinstance(hit, pa.ChunkedArray):
            hit = hit.combine_chunks()
        matched, offset = [], 0
        for chunk in self._chunks:
            part = chunk.filter(hit.slice(offset, len(chunk)))
            offset += len(chunk)
            if len(part):
                matched.append(part)
        known = pc.is_in(candidates, value_set=pa.concat_arrays(matched))
        return known if known.true_count else None

    def remember(self, candidates: pa.Array) -> pa.Array | None:
        """Adds the distinct non-null candidates not met yet; returns known() of them."""
        hashes = _hashes(candidates) if len(candidates) else None
        known = self.known(candidates, hashes)
        if known is not None:
            fresh = pc.invert(known)
            candidates, hashes = candidates.filter(fresh), hashes.filter(pl.from_arrow(fresh))
        self.add(candidates, hashes)
        return known


def _first_occurrences(keys: pa.Array, seen: SeenKeys) -> pa.Array:
    """Boolean mask: rows whose (non-null) key appears for the first time in this run (and remembers them)."""
    n = len(keys)
    if n == keys.null_count:
        return pa.repeat(pa.scalar(False), n)
    series = pl.from_arrow(keys)
    first = series.is_first_distinct()
    if keys.null_count:
        first = first & series.is_not_null()
    mask = first.to_arrow()
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    known = seen.remember(keys.filter(mask))  # the batch's distinct keys, in order of first appearance
    if known is not None:
        mask = pc.replace_with_mask(mask, mask, pc.invert(known))
    return mask


def _coalesce(batches, size: int):
    """Record batches of about `size` rows (the engine cuts them at file boundaries, often much smaller)."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        pending.append(batch)
        rows += batch.num_rows
        if rows >= size:
            yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)
            pending, rows = [], 0
    if pending:
        yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)


class _Progress:
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


def _checkpoint(run: ExportRun, attempt: int, **fields) -> None:
    updated = ExportRun.objects.filter(pk=run.pk, attempts=attempt, status=RunStatus.RUNNING).update(
        heartbeat_at=timezone.now(), **fields
    )
    if not updated:
        raise RunLost(str(run.pk))


def _finish(run: ExportRun, attempt: int | None, status: str, **fields) -> bool:
    qs = ExportRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING)
    if attempt is not None:
        qs = qs.filter(attempts=attempt)
    return bool(qs.update(status=status, finished_at=timezone.now(), **fields))


def export_run_execute(*, run_id: uuid.UUID | str) -> str:
    """Claims and executes a queued run; returns its final status (or "skipped" if it was not queued).

    Raises RunRetry after putting the run back to `queued` on a transient failure (the task retries).
    """
    now = timezone.now()
    claimed = ExportRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, attempts=F("attempts") + 1, heartbeat_at=now, error="", failure_kind=""
    )
    if not claimed:
        return "skipped"
    ExportRun.objects.filter(pk=run_id, started_at__isnull=True).update(started_at=now)
    run = ExportRun.objects.select_related("export", "export__audience", "export__project").get(pk=run_id)
    attempt = run.attempts
    heartbeat = _Heartbeat(run.pk, attempt, HEARTBEAT_INTERVAL_SECONDS)
    heartbeat.start()
    try:
        return _execute(run, attempt)
    except RunLost:
        logger.warning("export run %s: attempt %s lost ownership; stopping", run.pk, attempt)
        return "lost"
    except RunFailed as exc:
        _finish(run, attempt, RunStatus.FAILED, error=exc.message, failure_kind=exc.kind)
        return RunStatus.FAILED
    except (DestinationError, OperationalError) as exc:
        retryable = isinstance(exc, OperationalError) or exc.retryable
        message = exc.message if isinstance(exc, DestinationError) else f"database unavailable: {exc}"
        if retryable and attempt < settings.DELIVR_EXPORT_MAX_ATTEMPTS:
            ExportRun.objects.filter(pk=run.pk, attempts=attempt, status=RunStatus.RUNNING).update(
                status=RunStatus.QUEUED, error=f"retrying: {message}"
            )
            raise RunRetry(message) from exc
        kind = (
            FailureKind.USER if isinstance(exc, DestinationError) and exc.user_error else FailureKind.SYSTEM
        )
        _finish(run, attempt, RunStatus.FAILED, error=message, failure_kind=kind)
        return RunStatus.FAILED
    except Exception as exc:
        from celery.exceptions import SoftTimeLimitExceeded

        if isinstance(exc, SoftTimeLimitExceeded):
            _finish(
                run,
                attempt,
                RunStatus.FAILED,
                error="The run took longer than its time limit.",
                failure_kind=FailureKind.TIMEOUT,
            )
            return RunStatus.FAILED
        logger.exception("export run %s failed", run.pk)
        _finish(
            run,
            attempt,
            RunStatus.FAILED,
            error=f"Internal error: {exc.__class__.__name__}: {exc}"[:2000],
            failure_kind=FailureKind.SYSTEM,
        )
        return RunStatus.FAILED
    finally:
        heartbeat.stop()


def _user_error(message: str) -> RunFailed:
    return RunFailed(message, FailureKind.USER)


def _execute(run: ExportRun, attempt: int) -> str:
    export = run.export
    audience = export.audience
    if audience is None:
        raise _user_error("The export's audience was deleted.")
    try:
        cls = get_destination(export.destination_type)
        credentials = credentials_decrypt(export.credentials_encrypted)
        mapping = mapping_parse(export.field_mapping)
    except (DestinationError, CredentialError, MappingError) as exc:
        raise _user_error(str(exc)) from exc

    resumable = getattr(cls, "resumable", True)
    done = run.batches_done
    spools: list[pa.Table] = []
    if done:
        loaded = _spool_read(run.pk, done) if resumable else None
        if loaded is None:  # restart from the first record (idempotency keys keep the destination clean)
            _checkpoint(
                run,
                attempt,
                batches_done=0,
                records_total=0,
                records_exported=0,
                records_failed=0,
                records_duplicated=0,
                object_type_results={},
                validation_summary={},
            )
            run.refresh_from_db()
            done = 0
        else:
            spools = loaded
    _spool_clear(run.pk, keep=done)

    try:
        sel = audience_selection(audience, columns=())
        columns = engine.dataset_columns(sel.input_path)
    except (engine.EngineError, ApplicationError) as exc:
        raise _user_error(f"The audience's data cannot be read: {exc}") from exc
    key_columns = [c for c in KEY_COLUMNS if c in columns]
    wanted = list(dict.fromkeys(mapping_sources(mapping) + key_columns))
    sel = audience_selection(audience, columns=tuple(wanted))
    limit = export.record_limit_max
    must_count = sel.suppression or (limit is not None and export.record_limit_fail_mode == FailMode.FAIL)
    kept, suppressed = engine.count_with_suppressed(sel) if must_count else (0, 0)
    if limit is not None and export.record_limit_fail_mode == FailMode.FAIL and kept > limit:
        raise _user_error(
            f"The audience has {kept:,} records, more than the record limit of {limit:,} "
            f'(failMode "fail"): nothing was sent.'
        )
    from privacy.services import suppression_record

    suppression_record(
        organization=export.organization,
        output_kind="export_run",
        output_id=str(run.pk),
        suppressed_count=suppressed,
    )
    _checkpoint(run, attempt, suppressed_count=suppressed)

    progress = _Progress(run, cls.object_types[0] if cls.object_types else "Record")
    seen = SeenKeys()
    for table in spools:
        seen.add(table.column("record_key").combine_chunks().drop_null())
        progress.sent_rows += pc.sum(pc.cast(table.column("sent"), pa.int64())).as_py() or 0
    committed = seen.array() if len(seen) else None

    destination: Destination = cls(dict(export.destination_config), credentials)
    list_name = export.effective_list_name
    context = BatchContext(
        run_id=str(run.pk), export_id=str(export.pk), batch_index=done, list_name=list_name
    )
    sink = _ListSink(run.pk)
    try:
        for table in spools:  # the committed batches' records come first in the list, as they were sent
            sink.write(table)
        spools = []
        destination.open(context)
        try:
            batch_size = int(getattr(cls, "batch_size", 0) or settings.DELIVR_EXPORT_BATCH_SIZE)
            truncate_at = limit if limit is not None else None
            # The engine's LIMIT is only right on a fresh start; a resumed run counts against what it has done.
            stream_limit = truncate_at if committed is None and progress.total == 0 else None
            index = done
            # Resumed: rows whose key a committed batch holds were handled already. Those rows are the
            # committed batches' own rows (their keyed part) plus later duplicates of their keys, which count
            # as duplicates.
            keyed_committed = progress.total - progress.summary.get("REQUIRED_FIELD_MISSING", {}).get(
                "person_id", 0
            )
            known_rows = extra = 0
            # A resumable run commits every batch (a retry resends at most the batch in flight); one that
            # restarts from zero anyway commits its progress every few seconds, without key spools.
            last_commit = time.monotonic()
            uncommitted = False
            for batch in _coalesce(
                engine.iter_batches(sel, batch_size=batch_size, limit=stream_limit), batch_size
            ):
                keys = _record_keys(batch)
                if committed is not None:
                    known = pc.is_in(keys, value_set=committed).fill_null(False)
                    known_rows += known.true_count
                    late = max(0, known_rows - keyed_committed) - extra
                    if late:
                        extra += late
                        progress.total += late
                        progress.duplicated += late
                    batch, keys = batch.filter(pc.invert(known)), keys.filter(pc.invert(known))
                if truncate_at is not None:
                    room = truncate_at - progress.total
                    if room <= 0:
                        break
                    if batch.num_rows > room:
                        batch, keys = batch.slice(0, room), keys.slice(0, room)
                if batch.num_rows == 0:
                    continue
                spool = _process_batch(
                    run, destination, mapping, batch, keys, seen, progress, index, list_name
                )
                sink.write(spool)
                index += 1
                if resumable:
                    _spool_write(run.pk, index - 1, spool)
                if resumable or time.monotonic() - last_commit >= CHECKPOINT_SECONDS:
                    _checkpoint(run, attempt, batches_done=index, **progress.fields())
                    last_commit, uncommitted = time.monotonic(), False
                else:
                    uncommitted = True
            if uncommitted:
                _checkpoint(run, attempt, batches_done=index, **progress.fields())
        except BaseException:
            _close_quietly(destination, run, export, list_name)
            raise
        details = destination.close(
            BatchContext(
                run_id=str(run.pk), export_id=str(export.pk), batch_index=index, list_name=list_name
            ),
            success=True,
        )
        sink.close()
        contact_list = _record_list(run, export, sink)
    finally:
        sink.discard()

    status = RunStatus.COMPLETED_WITH_ERRORS if progress.failed else RunStatus.COMPLETED
    finished = _finish(
        run, attempt, status, details=details or {}, contact_list=contact_list, **progress.fields()
    )
    if not finished:
        raise RunLost(str(run.pk))
    _spool_clear(run.pk)
    return status


def _close_quietly(destination: Destination, run: ExportRun, export: Export, list_name: str) -> dict:
    try:
        return destination.close(
            BatchContext(run_id=str(run.pk), export_id=str(export.pk), batch_index=0, list_name=list_name),
            success=False,
        )
    except Exception:  # noqa: BLE001 - the original failure is the one to report
        logger.warning("export run %s: destination close failed", run.pk, exc_info=True)
        return {}


def _add_errors(obj: ObjectResult, examples: list[tuple[str, str, str]], count: int) -> None:
    """What `count` calls of obj.add_error do, the first ones with these (key, code, message) examples.

    Only the first MAX_RECORD_ERRORS are kept, so the rest are counted, and the last one's message kept,
    without building their keys; `examples` ends with the last error when it is shorter than `count`.
    """
    room = max(0, MAX_RECORD_ERRORS - len(obj.errors))
    for key, code, message in examples[:room]:
        obj.add_error(key, code, message)
    rest = count - min(room, len(examples))
    if rest > 0:
        _, code, message = examples[-1]
        obj.records_failed += rest
        obj.error_message = f"{code}: {message}" if code else message


def _process_batch(
    run: ExportRun,
    destination: Destination,
    mapping,
    batch: pa.RecordBatch,
    keys: pa.Array,
    seen: SeenKeys,
    progress: _Progress,
    index: int,
    list_name: str,
) -> pa.Table:
    """Dedupes, validates and sends one batch; returns its spool (record keys, sent, identities)."""
    progress.total += batch.num_rows
    first = _first_occurrences(keys, seen)
    n_missing = keys.null_count
    progress.duplicated += batch.num_rows - n_missing - first.true_count
    result = BatchResult()
    primary = result.object(progress.object_type)
    if n_missing:
        missing = ("", "REQUIRED_FIELD_MISSING", "person_id or email is required to identify a record")
        _add_errors(primary, [missing] * min(n_missing, MAX_RECORD_ERRORS), n_missing)
        summary = progress.summary.setdefault("REQUIRED_FIELD_MISSING", {})
        summary["person_id"] = summary.get("person_id", 0) + n_missing
    if first.true_count == batch.num_rows:  # nothing to drop: no copy
        unique, unique_keys = batch, keys
    else:
        unique, unique_keys = batch.filter(first), keys.filter(first)
    checked = validate_batch_full(unique, mapping)
    prefix = f"{run.pk}:"
    failed_rows, shown = checked.failing(MAX_RECORD_ERRORS)  # a record fails once, with its first error
    if failed_rows:
        shown_keys = unique_keys.take(pa.array([row for row, _, _ in shown], pa.int64())).to_pylist()
        examples = [
            (f"{prefix}{key}", code, message)
            for key, (_, code, message) in zip(shown_keys, shown, strict=True)
        ]
        _add_errors(primary, examples, failed_rows)
        for (code, target), count in checked.error_counts.items():
            summary = progress.summary.setdefault(code, {})
            summary[target] = summary.get(target, 0) + count
    if checked.table.num_rows:
        if getattr(destination, "uses_idempotency_keys", True):
            idempotency = pc.binary_join_element_wise(
                prefix, unique_keys.filter(checked.valid), ""
            ).to_pylist()
        else:
            idempotency = []
        to_send = checked.table.combine_chunks().to_batches()[0]
        context = BatchContext(
            run_id=str(run.pk),
            export_id=str(run.export_id),
            batch_index=index,
            list_name=list_name,
            idempotency_keys=idempotency,
        )
        result_sent = destination.write_batch(to_send, context)
        for name, obj in result_sent.objects.items():
            result.object(name, obj.operation).merge(obj)
            result.objects[name].operation = obj.operation
        progress.sent_rows += checked.table.num_rows
    progress.merge(result)
    return pa.table(
        {
            "record_key": unique_keys,
            "sent": checked.valid,
            "person_id": _column_or_null(unique, "person_id"),
            "email": _column_or_null(unique, "email"),
        },
        schema=SPOOL_SCHEMA,
    )


def _column_or_null(batch: pa.RecordBatch, name: str) -> pa.Array:
    if name not in batch.schema.names:
        return pa.nulls(batch.num_rows, pa.string())
    col = batch.column(batch.schema.get_field_index(name))
    return col if pa.types.is_string(col.type) else pc.cast(col, pa.string())


class _ListSink:
    """The identities (person_id, email) of the records sent, streamed into a local Parquet file.

    The export-generated list is this file: written as the batches go, never read back from the spools.
    """

    def __init__(self, run_id) -> None:
        tmp_dir = settings.VAR_DIR / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, self.path = tempfile.mkstemp(prefix=f"export-list-{run_id}-", suffix=".parquet", dir=tmp_dir)
        os.close(fd)
        self.rows = 0
        self._writer: BackgroundWriter | None = None

    def write(self, spool: pa.Table) -> None:
        sent = spool.select(["person_id", "email"])
        if not pc.all(spool.column("sent")).as_py():
            sent = sent.filter(spool.column("sent"))
        if not sent.num_rows:
            return
        if self._writer is None:
            # identities are (nearly) all distinct: dictionary pages would only be built to be dropped
            writer = pq.ParquetWriter(self.path, LIST_SCHEMA, compression="zstd", use_dictionary=False)
            self._writer = BackgroundWriter(writer, name=f"export-list-{self.path}")
        self._writer.write(sent)
        self.rows += sent.num_rows

    def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()

    def discard(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - only reached when the run failed already
            logger.warning("export list file %s: close failed", self.path, exc_info=True)
        finally:
            if os.path.exists(self.path):
                os.unlink(self.path)


def _record_list(run: ExportRun, export: Export, sink: _ListSink):
    """The export-generated list of the records sent (identities only), or None when nothing was sent."""
    if not sink.rows:
        return None
    from audiences.services.lists import contact_list_record_export

    name = f"{export.effective_list_name or export.name} (export {timezone.now():%Y-%m-%d %H:%M})"
    return contact_list_record_export(
        project=export.project,
        name=name,
        parquet_path=sink.path,
        row_count=sink.rows,
        created_by=run.created_by,
    )


# ---------------------------------------------------------------------------------------------------------
# reaper and schedule


def export_runs_reap(*, timeout_seconds: int | None = None) -> dict:
    """Requeues runs whose worker went silent (or fails them after the last attempt); re-sends lost queued runs.

    Returns {"requeued": n, "failed": n, "resent": n}.
    """
    timeout = (
        timeout_seconds if timeout_seconds is not None else settings.DELIVR_EXPORT_HEARTBEAT_TIMEOUT_SECONDS
    )
    cutoff = timezone.now() - timedelta(seconds=timeout)
    out = {"requeued": 0, "failed": 0, "resent": 0}
    stale = ExportRun.objects.filter(status=RunStatus.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)
    )
    for run in stale:
        base = ExportRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING, attempts=run.attempts)
        if run.attempts < settings.DELIVR_EXPORT_MAX_ATTEMPTS:
            with transaction.atomic():
                if base.update(
                    status=RunStatus.QUEUED,
                    error=f"The worker stopped responding (no heartbeat for {timeout} s); resuming.",
                ):
                    out["requeued"] += 1
                    _enqueue(run.pk)
        elif base.update(
            status=RunStatus.FAILED,
            finished_at=timezone.now(),
            failure_kind=FailureKind.SYSTEM,
            error=(
                f"The worker stopped responding (no heartbeat for {timeout} s) on attempt {run.attempts} of "
                f"{settings.DELIVR_EXPORT_MAX_ATTEMPTS}: the run was stopped."
            ),
        ):
            out["failed"] += 1
    # A queued run whose message was lost (a broker without redelivery) is sent again; the claim makes a
    # duplicate message harmless.
    for run_id in ExportRun.objects.filter(status=RunStatus.QUEUED, queued_at__lt=cutoff).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            _enqueue(run_id)
        out["resent"] += 1
    return out


def export_schedule_due(*, now=None) -> int:
    """Starts a run of every scheduled export whose next_run_at has passed; returns how many started."""
    from exports.services.exports import _next_run

    now = now or timezone.now()
    started = 0
    for export in Export.objects.filter(next_run_at__lte=now).exclude(schedule="manual"):
        following = _next_run(export.schedule, export.next_run_at)
        while following is not None and following <= now:  # skip missed slots: one run, not a backlog
            following = _next_run(export.schedule, following)
        moved = Export.objects.filter(pk=export.pk, next_run_at=export.next_run_at).update(
            next_run_at=following
        )
        if not moved:
            continue  # another scheduler took it
        try:
            export_run_start(export=export, trigger="schedule", actor="schedule")
            started += 1
        except ApplicationError as exc:
            logger.info("scheduled export %s not started: %s", export.pk, exc.message)
    return started
