"""Audience engine: the only code that reads audience rows (DuckDB over hive-partitioned Parquet; other
backends behind the same contract).

Callers get an engine for a dataset root with :func:`engine_for` and call its methods (see
:mod:`audiences.engine.contract`). Modules: ``contract`` (the Engine protocol, DuckDBEngine, engine_for),
``selection`` (what to read, partition listing), ``plan`` (files and columns of a read, its base SELECT),
``sql`` (SQL text from sqlglot identifiers and bound parameters), ``suppression`` (opt-out anti-joins),
``reads`` (the DuckDB operations), ``connection`` (the DuckDB instance, settings, operation wrapper),
``sqlsafety``/``buckets`` (the user filter allow-list), ``paths`` (allowed roots), ``remote`` (object
storage), ``generator`` (synthetic data).
"""

from audiences.engine.buckets import EMPLOYEE_BUCKETS, SCORES, employee_buckets_in_range, score_buckets
from audiences.engine.connection import configure, observe_timings
from audiences.engine.contract import (
    DuckDBEngine,
    Engine,
    WritesOutputs,
    engine_for,
    register_backend,
    route_engines,
)
from audiences.engine.errors import EngineError, UnreadableFileError
from audiences.engine.paths import InputPathError, resolve_input_path
from audiences.engine.reads import IDENTITY_COLUMNS, Summary
from audiences.engine.selection import Selection
from audiences.engine.sqlsafety import UnsafeExpression, validate_select, validate_where
from audiences.engine.suppression import Suppression

__all__ = [
    "EMPLOYEE_BUCKETS",
    "IDENTITY_COLUMNS",
    "SCORES",
    "DuckDBEngine",
    "Engine",
    "EngineError",
    "InputPathError",
    "Selection",
    "Summary",
    "Suppression",
    "UnreadableFileError",
    "UnsafeExpression",
    "WritesOutputs",
    "configure",
    "employee_buckets_in_range",
    "engine_for",
    "observe_timings",
    "register_backend",
    "resolve_input_path",
    "route_engines",
    "score_buckets",
    "validate_select",
    "validate_where",
]
