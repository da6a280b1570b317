"""The engine contract: what the product asks of an engine, the DuckDB implementation, and how one is chosen.

Callers get an engine with :func:`engine_for` (by the dataset root they read) and call its methods; they never
pick a backend themselves. Every backend answers the same questions on the same :class:`Selection` with the
same figures: partition pruning by day/prefix/score, the allow-listed WHERE (``sqlsafety``), the projection,
limits, and the opt-out :class:`Suppression` (an opted-out identity never comes back from any method).

Backends other than DuckDB register a factory under a name (:func:`register_backend`); the deployment routes
dataset roots to backend names (:func:`route_engines`, fed from Django settings by ``audiences.datasets``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import BinaryIO, Literal, Protocol, runtime_checkable

import pyarrow as pa

from audiences.engine import partitioned, plan, reads
from audiences.engine.errors import EngineError
from audiences.engine.partitioned import OnFile
from audiences.engine.reads import Summary
from audiences.engine.selection import Listing, Selection
from audiences.engine.suppression import Suppression

__all__ = [
    "DuckDBEngine",
    "Engine",
    "EngineError",
    "Selection",
    "Summary",
    "Suppression",
    "WritesOutputs",
    "engine_for",
    "register_backend",
    "route_engines",
]

UnloadFormat = Literal["parquet", "csv"]


@runtime_checkable
class Engine(Protocol):
    """The operations the product runs on audience data. ``sel.input_path`` says which tree is read."""

    name: str

    def dataset_columns(self, input_path: str) -> dict[str, str]:
        """Column name -> DuckDB type name (``VARCHAR``, ``BIGINT``, ``DATE``...), day/prefix/score included."""
        ...

    def list_partitions(self, sel: Selection) -> list[str]:
        """Sorted ``day=D/prefix=P/score=S`` keys of existing partitions of the selection (none if not hive)."""
        ...

    def count(self, sel: Selection, partition: str | None = None) -> int:
        """Rows of the selection (or one partition) after WHERE and suppression."""
        ...

    def count_with_suppressed(self, sel: Selection, partition: str | None = None) -> tuple[int, int]:
        """(rows kept, rows removed by suppression) for the selection or one partition."""
        ...

    def count_partitions(
        self, sel: Selection, partitions: Sequence[str], *, listing: Listing | None = None
    ) -> dict[str, tuple[int, int]]:
        """{partition key: (rows kept, rows suppressed)} for many partitions at once ("" = non-hive tree).
        ``listing``: their files as :meth:`partition_files` gave them to the planner (read, not listed again;
        a backend that reads folders may ignore it)."""
        ...

    def partition_files(self, sel: Selection) -> dict[str, list[tuple[str, int]]]:
        """The selection's files from one listing, to plan work and hand each unit its files: {partition key:
        [(path relative to the partition's folder, bytes)]} (``""`` for a tree without hive folders, ``{}``
        when nothing is selected)."""
        ...

    def partition_sizes(self, sel: Selection) -> dict[str, int]:
        """{partition key: bytes of its files} of the selection from one listing, to plan work of even size
        (``{"": bytes}`` for a tree without hive folders, ``{}`` when nothing is selected)."""
        ...

    def counts_from_footers(self, sel: Selection) -> bool:
        """True when :meth:`count_partitions` of this selection reads only the files' footers (its cost is a
        footer per file, whatever their bytes), so a planner sizes count work by files."""
        ...

    def unload_partitioned(
        self,
        sel: Selection,
        partitions: Sequence[str],
        fmt: UnloadFormat,
        dest_dir: str,
        limit: int | None = None,
        *,
        on_file: OnFile | None = None,
        listing: Listing | None = None,
    ) -> dict[str, int]:
        """Write each of ``partitions`` to its own file ``partitioned.partition_file(dest_dir, key, fmt)`` (in
        the local folder ``dest_dir``; ``_all`` for the key "" of a tree without hive folders) in one
        engine statement or pass; {partition: rows written}. Every partition gets a file, an empty one when no
        row is left; ``limit`` caps rows per partition; WHERE, projection and suppression as ``unload``.
        ``on_file(partition, path)`` is called once a partition's file is complete (it may move it away).
        ``listing`` as for :meth:`count_partitions`."""
        ...

    def count_distinct(self, sel: Selection, column: str = "person_id") -> int:
        """Distinct non-null values of ``column`` after WHERE and suppression."""
        ...

    def count_summary(self, sel: Selection, distinct_column: str = "person_id") -> Summary:
        """The builder's estimate: records, distinct profiles and suppressed rows."""
        ...

    def value_counts_by_day(
        self, sel: Selection, column: str, per_day: int = 2000
    ) -> dict[str, dict[str, int]]:
        """{day ISO (or ""): {value: rows}} of a text column, top ``per_day`` per day (value suggestions)."""
        ...

    def value_counts_sample(
        self,
        sel: Selection,
        column: str,
        max_files: int = 24,
        partition_rows: Mapping[str, int] | None = None,
    ) -> dict[str, int] | None:
        """{value: estimated rows} from a bounded sample of files or partitions (``partition_rows``: rows per
        partition key, counted earlier, to scale by); None when sampling would not save a read."""
        ...

    def values_present(self, sel: Selection, column: str, values: list[str]) -> set[str]:
        """Which of ``values`` (lower-cased, compared ignoring case) occur in the column (no suppression)."""
        ...

    def preview(self, sel: Selection, limit: int) -> list[dict]:
        """Up to ``limit`` rows, projection applied, JSON-friendly values."""
        ...

    def sample(self, sel: Selection, limit: int) -> list[dict]:
        """One row per person ordered by the person key, at most ``limit``."""
        ...

    def iter_batches(
        self,
        sel: Selection,
        batch_size: int = 65536,
        *,
        partition: str | None = None,
        limit: int | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """The selection as Arrow record batches (export reads)."""
        ...

    def unload(
        self,
        sel: Selection,
        partition: str | None,
        fmt: UnloadFormat,
        out: BinaryIO | str,
        limit: int | None = None,
        *,
        batch_size: int = 65536,
    ) -> int:
        """Write the selection (or one partition) as Parquet/CSV to a path or binary file; rows written."""
        ...

    def write_csv_stream(
        self,
        sel: Selection,
        limit: int | None = None,
        *,
        batch_size: int = 65536,
        rows: Literal["records", "people"] = "records",
    ) -> Iterator[bytes]:
        """CSV chunks (header first) of the selection, records or one row per person."""
        ...


@runtime_checkable
class WritesOutputs(Protocol):
    """An engine whose cluster writes unload files itself, so no row passes through the worker (Spark)."""

    def unload_folder(
        self,
        sel: Selection,
        partition: str | None,
        fmt: UnloadFormat,
        folder: str,
        limit: int | None = None,
    ) -> int:
        """Write the selection (or one partition) as ONE Parquet/CSV file, with the content :meth:`Engine.unload`
        writes, into the new folder ``folder`` (a path or ``s3://`` URL: see ``storage.write_from_folder``,
        which puts the file in place); rows written."""
        ...

    def unload_partitioned_folder(
        self,
        sel: Selection,
        partitions: Sequence[str],
        fmt: UnloadFormat,
        folder: str,
        limit: int | None = None,
    ) -> dict[str, tuple[int, str | None]]:
        """``unload_partitioned`` written by the cluster into ``folder`` in one job: {partition: (rows, the
        sub-folder of ``folder`` holding its one file, or None when no row is left and no file was written:
        the caller writes that partition's empty file with ``unload``)}; see ``storage.place_from_folder``."""
        ...


class DuckDBEngine:
    """The embedded engine: DuckDB in this process over local or object-storage hive trees."""

    name = "duckdb"

    def dataset_columns(self, input_path: str) -> dict[str, str]:
        return plan.dataset_columns(input_path)

    def list_partitions(self, sel: Selection) -> list[str]:
        return reads.list_partitions(sel)

    def count(self, sel: Selection, partition: str | None = None) -> int:
        return reads.count(sel, partition)

    def count_with_suppressed(self, sel: Selection, partition: str | None = None) -> tuple[int, int]:
        return reads.count_with_suppressed(sel, partition)

    def count_partitions(
        self, sel: Selection, partitions: Sequence[str], *, listing: Listing | None = None
    ) -> dict[str, tuple[int, int]]:
        return reads.count_partitions(sel, partitions, listing=listing)

    def partition_files(self, sel: Selection) -> dict[str, list[tuple[str, int]]]:
        return partitioned.partition_files(sel)

    def partition_sizes(self, sel: Selection) -> dict[str, int]:
        return partitioned.partition_sizes(sel)

    def counts_from_footers(self, sel: Selection) -> bool:
        return reads.counts_from_footers(sel)

    def unload_partitioned(
        self,
        sel: Selection,
        partitions: Sequence[str],
        fmt: UnloadFormat,
        dest_dir: str,
        limit: int | None = None,
        *,
        on_file: OnFile | None = None,
        listing: Listing | None = None,
    ) -> dict[str, int]:
        return partitioned.unload_partitioned(
            sel, partitions, fmt, dest_dir, limit, on_file=on_file, listing=listing
        )

    def count_distinct(self, sel: Selection, column: str = "person_id") -> int:
        return reads.count_distinct(sel, column)

    def count_summary(self, sel: Selection, distinct_column: str = "person_id") -> Summary:
        return reads.count_summary(sel, distinct_column)

    def value_counts_by_day(
        self, sel: Selection, column: str, per_day: int = 2000
    ) -> dict[str, dict[str, int]]:
        return reads.value_counts_by_day(sel, column, per_day)

    def value_counts_sample(
        self,
        sel: Selection,
        column: str,
        max_files: int = 24,
        partition_rows: Mapping[str, int] | None = None,
    ) -> dict[str, int] | None:
        return reads.value_counts_sample(sel, column, max_files, partition_rows)

    def values_present(self, sel: Selection, column: str, values: list[str]) -> set[str]:
        return reads.values_present(sel, column, values)

    def preview(self, sel: Selection, limit: int) -> list[dict]:
        return reads.preview(sel, limit)

    def sample(self, sel: Selection, limit: int) -> list[dict]:
        return reads.sample(sel, limit)

    def iter_batches(
        self,
        sel: Selection,
        batch_size: int = 65536,
        *,
        partition: str | None = None,
        limit: int | None = None,
    ) -> Iterator[pa.RecordBatch]:
        return reads.iter_batches(sel, batch_size, partition=partition, limit=limit)

    def unload(
        self,
        sel: Selection,
        partition: str | None,
        fmt: UnloadFormat,
        out: BinaryIO | str,
        limit: int | None = None,
        *,
        batch_size: int = 65536,
    ) -> int:
        return reads.unload(sel, partition, fmt, out, limit, batch_size=batch_size)

    def write_csv_stream(
        self,
        sel: Selection,
        limit: int | None = None,
        *,
        batch_size: int = 65536,
        rows: Literal["records", "people"] = "records",
    ) -> Iterator[bytes]:
        return reads.write_csv_stream(sel, limit, batch_size=batch_size, rows=rows)


# ---------------------------------------------------------------------------------------------------------
# choosing an engine

_lock = threading.Lock()
_factories: dict[str, Callable[[], Engine]] = {"duckdb": DuckDBEngine}
_instances: dict[str, Engine] = {}
_default = "duckdb"
_roots: tuple[tuple[str, str], ...] = ()  # (root prefix, backend name), longest prefix first


def register_backend(name: str, factory: Callable[[], Engine]) -> None:
    """Make backend ``name`` available to :func:`route_engines`; ``factory`` runs once, on first use."""
    with _lock:
        _factories[name] = factory
        _instances.pop(name, None)


def route_engines(*, default: str = "duckdb", roots: Mapping[str, str] | None = None) -> None:
    """Route every dataset to ``default`` except roots under a prefix of ``roots`` ({prefix: backend name}).

    Prefixes match on a path-segment boundary (``s3://big`` covers ``s3://big/day=...``, not ``s3://bigger``).
    Unknown names fail here, at configuration time, not on the first read.
    """
    global _default, _roots
    names = {default, *(roots or {}).values()}
    with _lock:
        unknown = sorted(n for n in names if n not in _factories)
        if unknown:
            raise ValueError(f"unknown engine backend(s): {', '.join(unknown)}; known: {sorted(_factories)}")
        _default = default
        _roots = tuple(
            sorted(((p.rstrip("/"), n) for p, n in (roots or {}).items()), key=lambda r: -len(r[0]))
        )


def _under(root: str, prefix: str) -> bool:
    return root == prefix or root.startswith(prefix + "/")


def engine_for(root: str) -> Engine:
    """The engine that reads the dataset at ``root`` (a local folder or ``s3://``/``gs://`` URL)."""
    with _lock:
        name = next((n for p, n in _roots if _under(root.rstrip("/"), p)), _default)
        instance = _instances.get(name)
        if instance is None:
            instance = _instances[name] = _factories[name]()
        return instance
