"""File destination: the run's records as one CSV or Parquet file, in the output store (delivr_admin.storage).

The file is built locally while batches arrive and handed to the store at close (moved into place on a
local folder, uploaded to S3/GCS), so a failed or restarted run never leaves a partial
file behind. Not resumable: a retried run starts the file again from the first record.

Batches are encoded and written on a background thread (`BackgroundWriter`; Arrow releases the GIL), so the
run validates the next batch while the previous one is compressed: one writer per run, one row group per batch.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from django.conf import settings

from delivr_admin import csvsafe, storage

from .base import BatchContext, BatchResult, Destination, DestinationError, Setting, register

FORMATS = ("csv", "parquet")


class BackgroundWriter:
    """Feeds an Arrow file writer (Parquet, CSV: anything with write_batch/write_table and close) from a
    thread, a couple of batches behind the caller. A write error is raised by the next write() or by close().
    """

    _DONE = object()

    def __init__(self, writer, *, depth: int = 2, name: str = "export-writer"):
        self._writer = writer
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is self._DONE:
                return
            if self._error is not None:
                continue  # keep draining so that the caller never blocks on a full queue
            try:
                if isinstance(item, pa.Table):
                    self._writer.write_table(item)
                else:
                    self._writer.write_batch(item)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, data: pa.RecordBatch | pa.Table) -> None:
        self._raise()
        self._queue.put(data)

    def close(self) -> None:
        """Waits for the queued batches, closes the file writer; raises the first write error."""
        if self._thread.is_alive():
            self._queue.put(self._DONE)
            self._thread.join()
        try:
            self._writer.close()
        finally:
            self._raise()


@register
class FileDestination(Destination):
    kind = "file"
    label = "File (CSV or Parquet, object storage)"
    config_fields = ("format", "path_prefix")
    credential_fields = ()
    form_settings = {
        "format": Setting("Format", "", choices=(("csv", "CSV"), ("parquet", "Parquet"))),
        "path_prefix": Setting("Folder", "Where the files go in the storage (letters, digits, - _ . /)."),
    }
    object_types = ("Record",)
    resumable: ClassVar[bool] = False
    uses_idempotency_keys: ClassVar[bool] = False  # a new file per run: nothing to upsert
    batch_size: ClassVar[int] = 65536
    supports_removal: ClassVar[bool] = True  # a removals file next to the output

    @classmethod
    def validate_config(cls, config: dict[str, Any], credentials: dict[str, Any]) -> None:
        if config.get("format", "csv") not in FORMATS:
            raise DestinationError("format must be csv or parquet.", user_error=True)
        try:
            storage.user_prefix(config.get("path_prefix", "") or "")
        except storage.StoragePathError as exc:
            raise DestinationError(
                f"path_prefix {exc}; it is a folder inside your organization's export folder.",
                user_error=True,
            ) from exc

    @property
    def format(self) -> str:
        return self.config.get("format") or "csv"

    def _name(self, context: BatchContext) -> str:
        """exports/<organization id>/<path_prefix>/<export id>/<run id>.<format>: the prefix only picks a
        folder inside the organization's own (storage.tenant_path refuses anything that would leave it)."""
        if not context.organization_id:
            raise DestinationError("The export run has no organization: nothing was written.")
        prefix = storage.user_prefix(self.config.get("path_prefix") or "")
        return storage.tenant_path(
            "exports", context.organization_id, prefix, context.export_id, f"{context.run_id}.{self.format}"
        )

    def test_connection(self) -> None:
        self.validate_config(self.config, self.credentials)
        probe = "exports/.delivr-connection-test"  # a write anywhere tells whether storage accepts writes
        try:
            storage.write_bytes(probe, b"ok")
            storage.delete(probe)
        except Exception as exc:  # noqa: BLE001 - any storage failure is reported to the user as is
            raise DestinationError(f"The storage refused a test write: {exc}", user_error=True) from exc

    def open(self, context: BatchContext) -> None:
        self.validate_config(self.config, self.credentials)
        tmp_dir = settings.VAR_DIR / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, self._path = tempfile.mkstemp(
            prefix=f"export-{context.run_id}-", suffix=f".{self.format}", dir=tmp_dir
        )
        os.close(fd)
        self._writer = None
        self._schema: pa.Schema | None = None
        self._rows = 0
        self._removed: list[pa.RecordBatch] = []

    def write_batch(self, batch: pa.RecordBatch, context: BatchContext) -> BatchResult:
        if self._writer is None:
            self._schema = batch.schema
            if self.format == "parquet":
                writer = pq.ParquetWriter(self._path, batch.schema, compression="zstd")
            else:
                writer = pacsv.CSVWriter(self._path, batch.schema)
            self._writer = BackgroundWriter(writer, name=f"export-file-{context.run_id}")
        if batch.schema != self._schema:
            batch = batch.cast(self._schema)
        if self.format == "csv":  # text cells from the audience (names, titles) must not run as formulas
            batch = csvsafe.arrow_batch(batch)
        self._writer.write(batch)
        self._rows += batch.num_rows
        result = BatchResult()
        result.object("Record", "write").records_created = batch.num_rows
        return result

    def close(self, context: BatchContext, *, success: bool) -> dict[str, Any]:
        try:
            if self._writer is not None:
                self._writer.close()
            if not success:
                return {}
            if self._writer is None:  # nothing was sent: still a valid file, with the columns when known
                self._write_empty(context.schema)
            stored = storage.move_file(self._name(context), self._path)
            details = {"file_name": stored, "format": self.format, "rows": self._rows}
            if self._removed:
                details.update(self._store_removals(context))
            return details
        finally:
            if os.path.exists(self._path):
                os.unlink(self._path)

    def _write_empty(self, schema: pa.Schema | None) -> None:
        """A file of no records: the header (CSV) or the schema (Parquet) of the mapped columns."""
        schema = schema if schema is not None else pa.schema([])
        if self.format == "parquet":
            pq.write_table(schema.empty_table(), self._path, compression="zstd")
        elif len(schema):
            pacsv.write_csv(schema.empty_table(), self._path)
        else:  # no column known (the audience had no record): an empty text file
            open(self._path, "wb").close()

    def remove_batch(self, batch: pa.RecordBatch, context: BatchContext) -> BatchResult:
        """Collects the keys of the records that left: written at close as `<run_id>-removals.<format>`."""
        self._removed.append(batch.select(["record_key"]))
        result = BatchResult()
        result.object("Record", "remove").records_updated = batch.num_rows
        return result

    def _store_removals(self, context: BatchContext) -> dict[str, Any]:
        table = pa.Table.from_batches(self._removed)
        name = self._name(context).rsplit(".", 1)[0] + f"-removals.{self.format}"
        fd, path = tempfile.mkstemp(prefix=f"export-removals-{context.run_id}-", dir=settings.VAR_DIR / "tmp")
        os.close(fd)
        try:
            if self.format == "parquet":
                pq.write_table(table, path, compression="zstd")
            else:
                pacsv.write_csv(table, path)
            stored = storage.move_file(name, path)
        finally:
            if os.path.exists(path):  # the storage may have moved it into place
                os.unlink(path)
        return {"removals_file_name": stored, "removed_rows": table.num_rows}
