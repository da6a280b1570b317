"""The process-wide DuckDB instance, its settings and object-storage credentials, and the wrapper every public
engine operation runs in (timings for metrics, object-storage failures turned into EngineError).

Every call works on its own cursor of one DuckDB instance (threads and memory capped, Parquet footers cached;
rebuilt after fork or :func:`configure`), so operations are safe from Django request threads and Celery
workers alike.

DuckDB's httpfs extension is not used: ``INSTALL httpfs`` downloads it from the internet, which locked-down
hosts cannot do, and a second remote stack would be a second thing to prove. Remote trees go through pyarrow's
S3/GCS filesystems instead (see :mod:`audiences.engine.remote`).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from audiences.engine import remote
from audiences.engine.errors import EngineError, UnreadableFileError
from audiences.engine.paths import is_remote


@dataclass
class _Config:
    memory_limit: str = "512MB"
    threads: int = 2
    temp_directory: str | None = None
    storage_options: dict[str, Any] = field(default_factory=dict)


_config = _Config()
_config_lock = threading.Lock()
_db: duckdb.DuckDBPyConnection | None = None
_db_pid = 0


def configure(
    *,
    memory_limit: str | None = None,
    threads: int | None = None,
    temp_directory: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> None:
    """Set engine limits and object-storage credentials for every later call (Django settings feed this).

    ``storage_options`` keys: ``s3_key_id``, ``s3_secret``, ``s3_region``, ``s3_session_token``,
    ``s3_endpoint`` (``http://host:port`` or a host), ``s3_url_style`` (``path``/``vhost``), ``s3_use_ssl``,
    ``s3_anonymous``; ``gcs_key_id``/``gcs_secret`` (HMAC keys, read through GCS's S3-compatible API),
    ``gcs_endpoint``, ``gcs_access_token``, ``gcs_anonymous``, ``gcs_project``; ``connect_timeout`` and
    ``request_timeout`` in seconds. Without keys the SDKs' default credential chains apply.
    """
    global _db
    with _config_lock:
        if memory_limit is not None:
            _config.memory_limit = memory_limit
        if threads is not None:
            _config.threads = int(threads)
        if temp_directory is not None:
            _config.temp_directory = temp_directory
        if storage_options is not None:
            _config.storage_options = dict(storage_options)
            remote.reset()
        _db = None  # next call builds an instance with the new settings


def _database() -> duckdb.DuckDBPyConnection:
    """The process-wide DuckDB instance (recreated after fork or :func:`configure`)."""
    global _db, _db_pid
    with _config_lock:
        if _db is None or _db_pid != os.getpid():
            config: dict[str, Any] = {
                "threads": _config.threads,
                "memory_limit": _config.memory_limit,
                # keeps Parquet footers between calls: repeated counts on a tree skip re-reading metadata
                "enable_object_cache": True,
            }
            if _config.temp_directory:
                # one folder per process, so no process reads or removes another's spill files
                os.makedirs(_config.temp_directory, exist_ok=True)
                config["temp_directory"] = os.path.join(_config.temp_directory, str(os.getpid()))
            _db, _db_pid = duckdb.connect(config=config), os.getpid()
        return _db


def engine_threads() -> int:
    """The threads one engine call may use (DuckDB's ``threads``; footer reads in a pool of this size)."""
    with _config_lock:
        return max(1, _config.threads)


def connect() -> duckdb.DuckDBPyConnection:
    """A cursor (own connection, shared instance and caches) for one call; close it when done."""
    return _database().cursor()


def storage_filesystem(root: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path inside it) of an ``s3://``/``gs://`` root, with the configured credentials."""
    with _config_lock:
        opts = dict(_config.storage_options)
    return remote.filesystem(root, opts), remote.split_uri(root)[1]


# ---------------------------------------------------------------------------------------------------------
# the wrapper of public operations

_timing_observers: list[Callable[[str, float, str], None]] = []


def observe_timings(callback: Callable[[str, float, str], None]) -> None:
    """Calls ``callback(operation, seconds, engine)`` after every public operation of any engine backend
    (``engine`` is the backend's name: "duckdb", "spark"); metrics hook in here."""
    if callback not in _timing_observers:
        _timing_observers.append(callback)


def report_timing(operation: str, seconds: float, engine: str = "duckdb") -> None:
    """Tells the observers that ``engine`` spent ``seconds`` in ``operation`` (backends call this)."""
    for callback in _timing_observers:
        callback(operation, seconds, engine)


def _root(args: tuple, kwargs: dict) -> str | None:
    first = args[0] if args else kwargs.get("sel", kwargs.get("input_path"))
    path = getattr(first, "input_path", first)  # a Selection or a root
    return path if isinstance(path, str) else None


def _unreadable_file(exc: Exception, root: str | None) -> UnreadableFileError | None:
    """The UnreadableFileError for a reader failure that names a local Parquet file, else None."""
    if not isinstance(exc, duckdb.InvalidInputException | duckdb.IOException | pa.ArrowInvalid):
        return None
    m = re.search(r"'([^']+\.parquet)'", str(exc))
    if not m:
        return None
    path = m.group(1)
    base = os.path.abspath(root) if root else ""
    inside = bool(base) and os.path.commonpath([os.path.abspath(path), base]) == base
    return UnreadableFileError(os.path.relpath(path, root) if inside else os.path.basename(path))


def _storage_error(exc: Exception, args: tuple, kwargs: dict) -> EngineError | None:
    """EngineError for an object-storage failure of a remote read (credentials, bucket, network), else None.

    Local failures keep their own types (a full disk while unloading is not the dataset's fault), except a
    file the reader cannot parse: UnreadableFileError naming it.
    """
    if isinstance(exc, EngineError):
        return None
    root = _root(args, kwargs)
    if root is None or not is_remote(root):
        return _unreadable_file(exc, root)
    if isinstance(exc, remote.RemoteError | OSError | pa.ArrowException | duckdb.IOException):
        return EngineError(f"object storage: {exc}")
    if isinstance(exc, duckdb.Error) and ("AWS Error" in str(exc) or "GCS" in str(exc)):
        return EngineError(f"object storage: {exc}")
    return None


F = TypeVar("F", bound=Callable[..., Any])


@contextlib.contextmanager
def _operation_scope(name: str, args: tuple, kwargs: dict) -> Iterator[None]:
    """Times the body for the observers and turns an object-storage failure inside it into EngineError."""
    started = time.perf_counter()
    try:
        yield
    except Exception as exc:
        converted = _storage_error(exc, args, kwargs)
        if converted is None:
            raise
        raise converted from exc
    finally:
        report_timing(name, time.perf_counter() - started)


def operation(func: F) -> F:
    """Wrap a public engine operation (plain or generator): report its time, convert storage failures.

    A generator is timed from the first item asked for until it is exhausted or closed."""
    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def gen_wrapper(*args, **kwargs):
            with _operation_scope(func.__name__, args, kwargs):
                yield from func(*args, **kwargs)

        return gen_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with _operation_scope(func.__name__, args, kwargs):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
