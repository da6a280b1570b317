"""Audience engine: the only code that reads audience rows (DuckDB over hive-partitioned Parquet).

Import from here; submodules are implementation details except ``generator``, ``sqlsafety``, ``paths`` and
``buckets``, which other apps use directly.
"""

from audiences.engine.buckets import EMPLOYEE_BUCKETS, SCORES, employee_buckets_in_range, score_buckets
from audiences.engine.contract import DuckDBEngine, Engine, engine_for, register_backend, route_engines
from audiences.engine.core import (
    IDENTITY_COLUMNS,
    EngineError,
    Selection,
    Suppression,
    UnreadableFileError,
    configure,
    count,
    count_distinct,
    count_partitions,
    count_with_suppressed,
    dataset_columns,
    iter_batches,
    list_partitions,
    observe_timings,
    preview,
    sample,
    unload,
    write_csv_stream,
)
from audiences.engine.paths import InputPathError, resolve_input_path
from audiences.engine.sqlsafety import UnsafeExpression, validate_select, validate_where
from audiences.engine.summary import (
    Summary,
    count_summary,
    value_counts_by_day,
    value_counts_sample,
    values_present,
)

__all__ = [
    "IDENTITY_COLUMNS",
    "EMPLOYEE_BUCKETS",
    "DuckDBEngine",
    "Engine",
    "engine_for",
    "register_backend",
    "route_engines",
    "SCORES",
    "EngineError",
    "InputPathError",
    "Selection",
    "Summary",
    "Suppression",
    "UnreadableFileError",
    "UnsafeExpression",
    "configure",
    "observe_timings",
    "count",
    "count_distinct",
    "count_partitions",
    "count_summary",
    "count_with_suppressed",
    "dataset_columns",
    "employee_buckets_in_range",
    "iter_batches",
    "list_partitions",
    "preview",
    "resolve_input_path",
    "sample",
    "score_buckets",
    "unload",
    "validate_select",
    "validate_where",
    "value_counts_by_day",
    "value_counts_sample",
    "values_present",
    "write_csv_stream",
]
