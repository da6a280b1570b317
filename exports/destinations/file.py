"""File destination: the run's records as one CSV or Parquet file, written through Django's storage API.

The file is built locally while batches arrive and handed to the storage at close (moved into place on a
local FileSystemStorage, uploaded on S3/GCS backends), so a failed or restarted run never leaves a partial
file behind. Not resumable: a retried run starts the file again from the first record.
"""

from __future__ import annotations

import os
import re
import tempfile
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from .base import BatchContext, BatchResult, Destination, DestinationError, register

FORMATS = ("csv", "parquet")
PREFIX_RE = re.compile(r"^[A-Za-z0-9_\-./]{0,200}$")


class _LocalFile(File):
    """A finished local file; FileSystemStorage moves it into place instead of copying it."""

    def temporary_file_path(self) -> str:
        return self.file.name


@register
class FileDestination(Destination):
    kind = "file"
    label = "File (CSV or Parquet, object storage)"
    config_fields = ("format", "path_prefix")
    credential_fields = ()
    object_types = ("Record",)
    resumable: ClassVar[bool] = False
    uses_idempotency_keys: ClassVar[bool] = False  # a new file per run: nothing to upsert
    batch_size: ClassVar[int] = 65536

    @classmethod
    def validate_config(cls, config: dict[str, Any], credentials: dict[str, Any]) -> None:
        if config.get("format", "csv") not in FORMATS:
            raise DestinationError("format must be csv or parquet.", user_error=True)
        prefix = config.get("path_prefix", "") or ""
        if (
            not isinstance(prefix, str)
            or not PREFIX_RE.match(prefix)
            or ".." in prefix
            or prefix.startswith("/")
        ):
            raise DestinationError(
                "path_prefix may hold letters, digits, '-', '_', '.', '/' (no '..', not absolute).",
                user_error=True,
            )

    @property
    def format(self) -> str:
        return self.config.get("format") or "csv"

    def _name(self, context: BatchContext) -> str:
        prefix = (self.config.get("path_prefix") or "exports").strip("/")
        return f"{prefix}/{context.export_id}/{context.run_id}.{self.format}"

    def test_connection(self) -> None:
        self.validate_config(self.config, self.credentials)
        probe = f"{(self.config.get('path_prefix') or 'exports').strip('/')}/.delivr-connection-test"
        try:
            from django.core.files.base import ContentFile

            saved = default_storage.save(probe, ContentFile(b"ok"))
            default_storage.delete(saved)
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

    def write_batch(self, batch: pa.RecordBatch, context: BatchContext) -> BatchResult:
        if self._writer is None:
            self._schema = batch.schema
            if self.format == "parquet":
                self._writer = pq.ParquetWriter(self._path, batch.schema, compression="zstd")
            else:
                self._writer = pacsv.CSVWriter(self._path, batch.schema)
        if batch.schema != self._schema:
            batch = batch.cast(self._schema)
        self._writer.write_batch(batch)
        self._rows += batch.num_rows
        result = BatchResult()
        result.object("Record", "write").records_created = batch.num_rows
        return result

    def close(self, context: BatchContext, *, success: bool) -> dict[str, Any]:
        if self._writer is not None:
            self._writer.close()
        try:
            if not success:
                return {}
            if self._writer is None:  # nothing was sent: still leave a valid (empty) file
                open(self._path, "wb").close()
            name = self._name(context)
            if default_storage.exists(name):
                default_storage.delete(name)
            with open(self._path, "rb") as fh:
                stored = default_storage.save(name, _LocalFile(fh, name=os.path.basename(name)))
            return {"file_name": stored, "format": self.format, "rows": self._rows}
        finally:
            if os.path.exists(self._path):
                os.unlink(self._path)
