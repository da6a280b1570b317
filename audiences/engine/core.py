"""DuckDB-backed reads of hive-partitioned audience Parquet: the only code that touches audience rows.

Every call works on its own cursor of one process-wide DuckDB instance (threads and memory capped, Parquet
footers cached; see :func:`configure`; rebuilt after fork), so functions are safe from Django request threads
and Celery workers alike. Partition pruning is done by us:
the directory listing picks the partitions of the selection and DuckDB receives only their files. Results
stream as Arrow record batches; nothing unbounded is fetched into Python.

Local trees are read by DuckDB's ``read_parquet`` over the file list. ``s3://``/``gs://`` trees are listed
and opened through pyarrow's filesystems (see :mod:`audiences.engine.remote`) and DuckDB scans the resulting
Arrow dataset in place, so every query below is the same SQL for both.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import functools
import hashlib
import inspect
import io
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from audiences.engine import remote
from audiences.engine.paths import is_remote
from audiences.engine.sqlsafety import validate_where
from delivr_admin import csvsafe

HIVE_KEYS = ("day", "prefix", "score")
IDENTITY_COLUMNS = (
    "uid2",
    "email",
    "first_name",
    "last_name",
    "job_title",
    "company_name",
    "company_domain",
    "company_employee_count",
    "country",
    "state",
    "city",
)
_KEY_RE = re.compile(r"day=(?P<day>[^/]+)/prefix=(?P<prefix>[^/]+)/score=(?P<score>[^/]+)$")


class EngineError(RuntimeError):
    """The dataset cannot be read as asked (no files, unknown partition or column)."""


class UnreadableFileError(EngineError):
    """A file of the dataset is not readable Parquet (truncated, corrupt); ``file`` is its path inside the
    dataset (``day=…/prefix=…/score=…/part-0.parquet``), safe to show to admins and support."""

    def __init__(self, file: str):
        super().__init__(f"unreadable Parquet file: {file}")
        self.file = file


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


# ---------------------------------------------------------------------------------------------------------
# configuration


@dataclass
class _Config:
    memory_limit: str = "512MB"
    threads: int = 2
    temp_directory: str | None = None
    storage_options: dict[str, Any] = field(default_factory=dict)


_config = _Config()
_config_lock = threading.Lock()


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
        global _db
        _db = None  # next call builds an instance with the new settings


def _lit(value: Any) -> str:
    """SQL literal for a trusted Python value (paths, settings): strings single-quoted with quotes doubled."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


_db: duckdb.DuckDBPyConnection | None = None
_db_pid = 0


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
                config["temp_directory"] = _config.temp_directory
            _db, _db_pid = duckdb.connect(config=config), os.getpid()
        return _db


def _connect(remote: bool = False) -> duckdb.DuckDBPyConnection:
    """A cursor (own connection, shared instance and caches) for one call; close it when done.

    ``remote`` is accepted for callers of the old signature; remote trees need nothing from the connection.

    DuckDB's httpfs extension is not used: ``INSTALL httpfs`` downloads it from the internet, which locked-down
    hosts cannot do, and a second remote stack would be a second thing to prove. Remote trees go through
    pyarrow's S3/GCS filesystems instead (see :mod:`audiences.engine.remote`).
    """
    return _database().cursor()


def _remote_errors(func):
    """Turn object-storage failures of a remote selection into EngineError (credentials, bucket, network).

    Local failures keep their own types (a full disk while unloading is not the dataset's fault), except a
    file the reader cannot parse: UnreadableFileError naming it.
    """

    def _is_remote(args: tuple, kwargs: dict) -> bool:
        first = args[0] if args else kwargs.get("sel", kwargs.get("input_path"))
        path = first.input_path if isinstance(first, Selection) else first
        return isinstance(path, str) and is_remote(path)

    def _convert(exc: Exception, args: tuple, kwargs: dict) -> EngineError | None:
        if isinstance(exc, EngineError):
            return None
        if not _is_remote(args, kwargs):
            first = args[0] if args else kwargs.get("sel", kwargs.get("input_path"))
            return _unreadable_file(exc, first.input_path if isinstance(first, Selection) else first)
        if isinstance(exc, remote.RemoteError | OSError | pa.ArrowException | duckdb.IOException):
            return EngineError(f"object storage: {exc}")
        if isinstance(exc, duckdb.Error) and ("AWS Error" in str(exc) or "GCS" in str(exc)):
            return EngineError(f"object storage: {exc}")
        return None

    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def gen_wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                yield from func(*args, **kwargs)
            except Exception as exc:
                converted = _convert(exc, args, kwargs)
                if converted is None:
                    raise
                raise converted from exc
            finally:
                _report_timing(func.__name__, time.perf_counter() - started)

        return gen_wrapper

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            converted = _convert(exc, args, kwargs)
            if converted is None:
                raise
            raise converted from exc
        finally:
            _report_timing(func.__name__, time.perf_counter() - started)

    return wrapper


_timing_observers: list[Callable[[str, float], None]] = []


def observe_timings(callback: Callable[[str, float], None]) -> None:
    """Calls ``callback(operation, seconds)`` after every public engine operation (metrics hook in here)."""
    if callback not in _timing_observers:
        _timing_observers.append(callback)


def _report_timing(operation: str, seconds: float) -> None:
    for callback in _timing_observers:
        callback(operation, seconds)


# ---------------------------------------------------------------------------------------------------------
# selection and suppression


def _as_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if re.fullmatch(r"\d{8}", text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return dt.date.fromisoformat(text)


HASHED_EMAIL_COLUMNS = ("email_sha256", "sha256_email", "hashed_email", "email_hash")


class Suppression:
    """Identifiers that must never leave the system; rows matching any of them are removed from every output.

    Emails are compared lower-cased and trimmed; ``email_sha256`` holds hex SHA-256 digests of such emails
    (opt-outs that arrived hashed). Built once per export or request; its Arrow arrays are built once too and
    anti-joined inside DuckDB, so a million-entry registry costs its hash probes, not Python work per query.
    """

    def __init__(
        self,
        person_ids: Iterable[str] = (),
        uid2s: Iterable[str] = (),
        emails: Iterable[str] = (),
        email_sha256: Iterable[str] = (),
    ) -> None:
        self.person_ids = frozenset(p for p in person_ids if p)
        self.uid2s = frozenset(u for u in uid2s if u)
        self.emails = frozenset(e.strip().lower() for e in emails if e and e.strip())
        self.email_sha256 = frozenset(h.strip().lower() for h in email_sha256 if h and h.strip())
        self._arrays: dict[str, pa.Array] = {}
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.person_ids or self.uid2s or self.emails or self.email_sha256)

    def __repr__(self) -> str:
        return (
            f"Suppression(person_ids={len(self.person_ids)}, uid2s={len(self.uid2s)}, "
            f"emails={len(self.emails)}, email_sha256={len(self.email_sha256)})"
        )

    @staticmethod
    def hash_email(email: str) -> str:
        """Hex SHA-256 of the trimmed, lower-cased email (the form stored in ``email_sha256``)."""
        return hashlib.sha256(email.strip().lower().encode()).hexdigest()

    def all_email_hashes_present(self) -> bool:
        return bool(self.email_sha256 or self.emails)

    def array(self, kind: str) -> pa.Array:
        """The identifiers of `kind` as an Arrow string array, built on first use and kept.

        Kinds: person_ids, uid2s, emails, email_sha256, and all_email_hashes (the hashed opt-outs plus the
        hashes of the plain ones, for datasets that carry hashed emails only).
        """
        with self._lock:
            if kind not in self._arrays:
                if kind == "all_email_hashes":
                    values = self.email_sha256 | {self.hash_email(e) for e in self.emails}
                else:
                    values = getattr(self, kind)
                self._arrays[kind] = pa.array(list(values), pa.string())
            return self._arrays[kind]


@dataclass(frozen=True)
class Selection:
    """What to read: a hive tree root plus partition filters, an already-validated WHERE and a projection.

    ``days`` accepts dates or ``YYYY-MM-DD``/``YYYYMMDD`` strings; empty tuples mean "all".
    ``where_sql`` must come from :func:`validate_where` (it is re-validated here as defence in depth).
    """

    input_path: str
    days: tuple[dt.date, ...] = ()
    prefixes: tuple[str, ...] = ()
    scores: tuple[str, ...] = ()
    where_sql: str | None = None
    columns: tuple[str, ...] = ()
    suppression: Suppression | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "days", tuple(sorted({_as_date(d) for d in self.days})))
        object.__setattr__(self, "prefixes", tuple(self.prefixes))
        object.__setattr__(self, "scores", tuple(s.lower() for s in self.scores))
        object.__setattr__(self, "columns", tuple(self.columns))
        if self.where_sql is not None and not self.where_sql.strip():
            object.__setattr__(self, "where_sql", None)


# ---------------------------------------------------------------------------------------------------------
# partition listing


def _parquet_files(directory: str) -> list[str]:
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(
        os.path.join(directory, n) for n in names if n.endswith(".parquet") and not n.startswith((".", "_"))
    )


def _subdirs(directory: str, key: str) -> list[str]:
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    prefix = key + "="
    return sorted(
        n[len(prefix) :] for n in names if n.startswith(prefix) and os.path.isdir(os.path.join(directory, n))
    )


def _wanted(sel: Selection, key: str, value: str) -> bool:
    if key == "day":
        if not sel.days:
            return True
        try:
            return _as_date(value) in sel.days
        except ValueError:
            return False
    allowed = sel.prefixes if key == "prefix" else sel.scores
    return not allowed or (value.lower() if key == "score" else value) in allowed


def _remote(root: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path inside it) of an ``s3://``/``gs://`` root."""
    with _config_lock:
        opts = dict(_config.storage_options)
    return remote.filesystem(root, opts), remote.split_uri(root)[1]


def _remote_layout(sel: Selection) -> tuple[bool, dict[str, list]]:
    fs, base = _remote(sel.input_path)
    return remote.list_tree(fs, base, lambda k, v: _wanted(sel, k, v), sel.prefixes, _KEY_RE)


def _layout(sel: Selection) -> tuple[bool, dict[str, list]]:
    """(is_hive, {partition key: files}) for the selection; non-hive trees give one key ``""``.

    Local files are paths; remote ones pyarrow ``FileInfo`` objects (path and size from the listing).
    """
    root = sel.input_path
    if is_remote(root):
        return _remote_layout(sel)
    if not os.path.isdir(root):
        raise EngineError(f"input path is not a directory: {root}")
    days = _subdirs(root, "day")
    if not days:
        files = sorted(
            os.path.join(d, f)
            for d, _, names in os.walk(root)
            for f in names
            if f.endswith(".parquet") and not f.startswith((".", "_"))
        )
        return False, ({"": files} if files else {})
    out = {}
    for day in days:
        if not _wanted(sel, "day", day):
            continue
        day_dir = os.path.join(root, f"day={day}")
        for prefix in _subdirs(day_dir, "prefix"):
            if not _wanted(sel, "prefix", prefix):
                continue
            prefix_dir = os.path.join(day_dir, f"prefix={prefix}")
            for score in _subdirs(prefix_dir, "score"):
                if not _wanted(sel, "score", score):
                    continue
                files = _parquet_files(os.path.join(prefix_dir, f"score={score}"))
                if files:
                    out[f"day={day}/prefix={prefix}/score={score}"] = files
    return True, out


@_remote_errors
def list_partitions(sel: Selection) -> list[str]:
    """Sorted keys ``day=.../prefix=.../score=...`` of existing partitions (with Parquet files) in ``sel``.

    Missing day folders are simply absent; ``_SUCCESS``/``_manifest.json`` and other non-Parquet files are
    ignored. A tree without hive folders has no partitions (read it with ``partition=None``).
    """
    hive, layout = _layout(sel)
    return sorted(layout) if hive else []


# ---------------------------------------------------------------------------------------------------------
# SQL building


def _source(con: duckdb.DuckDBPyConnection, plan: _Plan) -> str:
    """The FROM source of a plan: ``read_parquet`` over local files, or the registered remote Arrow dataset."""
    if plan.dataset is not None:
        # once per cursor: a second register() fails while an earlier result is still being fetched
        if id(con) not in plan.registered:
            con.register("_remote_src", plan.dataset)
            plan.registered.add(id(con))
        return "_remote_src"
    return _read_parquet(plan.files, plan.hive)


def _read_parquet(files: Sequence[str], hive: bool) -> str:
    listing = "[" + ", ".join(_lit(f) for f in files) + "]"
    if not hive:
        return f"read_parquet({listing})"
    return (
        f"read_parquet({listing}, hive_partitioning = true, "
        "hive_types = {'day': DATE, 'prefix': VARCHAR, 'score': VARCHAR})"
    )


@dataclass
class _Plan:
    hive: bool
    files: list[str]
    columns: dict[str, str]
    remote: bool
    dataset: Any = None  # remote only: the pyarrow dataset DuckDB scans
    registered: set[int] = field(default_factory=set)  # ids of the cursors the dataset is registered in


def _local_partitions_layout(sel: Selection, keys: Sequence[str]) -> dict[str, list]:
    """{key: files} for named partitions of a local hive tree, listing only their folders (not the tree)."""
    out = {}
    for key in keys:
        m = _KEY_RE.fullmatch(key)
        if not m or not all(_wanted(sel, k, m.group(k)) for k in HIVE_KEYS):
            raise EngineError(f"partition {key!r} is not in the selection")
        files = _parquet_files(os.path.join(sel.input_path, *key.split("/")))
        if not files:
            raise EngineError(f"partition {key!r} is not in the selection")
        out[key] = files
    return out


def _plan(sel: Selection, partition: str | None = None, partitions: Sequence[str] | None = None) -> _Plan:
    wanted = [partition] if partition is not None else partitions
    if wanted and "" not in wanted and not is_remote(sel.input_path):
        # A job names its partitions: list just those folders, so 1,800 jobs don't each list 1,800 folders.
        layout = _local_partitions_layout(sel, wanted)
        files = [f for key in wanted for f in layout[key]]
        return _Plan(hive=True, files=files, columns=dataset_columns(sel.input_path), remote=False)
    hive, layout = _layout(sel)
    if wanted is not None:
        missing = [p for p in wanted if p not in layout]
        if missing:
            raise EngineError(f"partition {missing[0]!r} is not in the selection")
        layout = {p: layout[p] for p in wanted}
    if is_remote(sel.input_path):
        if not layout:
            return _Plan(hive=hive, files=[], columns=dataset_columns(sel.input_path), remote=True)
        data = remote.dataset(_remote(sel.input_path)[0], layout, hive)
        files = [info.path for key in sorted(layout) for info in layout[key]]
        return _Plan(hive=hive, files=files, columns=_arrow_columns(data), remote=True, dataset=data)
    files = [f for key in sorted(layout) for f in layout[key]]
    return _Plan(hive=hive, files=files, columns=dataset_columns(sel.input_path), remote=False)


def _arrow_columns(data: Any) -> dict[str, str]:
    """Column name -> DuckDB type of an Arrow dataset (its schema only; nothing is scanned)."""
    con = _connect()
    try:
        con.register("_remote_src", data)
        return {r[0]: r[1] for r in con.execute("DESCRIBE SELECT * FROM _remote_src").fetchall()}
    finally:
        con.close()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _resolve_column(name: str, columns: Mapping[str, str]) -> str:
    lookup = {c.lower(): c for c in columns}
    try:
        return lookup[name.lower()]
    except KeyError:
        raise EngineError(f"unknown column {name!r}") from None


def profile_key_sql(columns: Mapping[str, str], hive: bool) -> str | None:
    """SQL (unqualified columns) naming the person a row belongs to; None when nothing identifies one.

    An intent tree carries person_id on every row. A list (not hive) may hold rows known only by email or
    uid2 (an email-only upload), so its key falls back to the normalized email, then the uid2: records,
    distinct profiles, sample and per-person downloads then agree on who a person is.
    """
    lookup = {c.lower(): c for c in columns}
    if hive and "person_id" in lookup:
        return _quote(lookup["person_id"])
    parts = []
    if "person_id" in lookup:
        parts.append(f"nullif(trim({_quote(lookup['person_id'])}), '')")
    if "email" in lookup:
        parts.append(f"nullif(lower(trim({_quote(lookup['email'])})), '')")
    if "uid2" in lookup:
        parts.append(f"nullif(trim({_quote(lookup['uid2'])}), '')")
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def _register_suppression(
    con: duckdb.DuckDBPyConnection, sup: Suppression | None, columns: Mapping[str, str]
) -> list[str]:
    """Register the identifier sets that can match this dataset's columns; return their anti-join clauses.

    Kinds the dataset has no column for are skipped: no row can carry them. Rows are hashed (sha256 per
    row) only for opt-outs that arrived hashed against a dataset with plain emails.
    """
    if not sup:
        return []
    lookup = {c.lower(): c for c in columns}
    specs = []
    if "person_id" in lookup:
        specs.append(("person_ids", f"t.{_quote(lookup['person_id'])}"))
    if "uid2" in lookup:
        specs.append(("uid2s", f"t.{_quote(lookup['uid2'])}"))
    if "email" in lookup:
        email = f"lower(trim(t.{_quote(lookup['email'])}))"
        specs.append(("emails", email))
        specs.append(("email_sha256", f"sha256({email})"))
    hashed = next((lookup[c] for c in HASHED_EMAIL_COLUMNS if c in lookup), None)
    if hashed is not None:
        specs.append(("all_email_hashes", f"lower(trim(t.{_quote(hashed)}))"))
    joins = []
    for kind, expr in specs:
        source = sup.all_email_hashes_present() if kind == "all_email_hashes" else getattr(sup, kind)
        if not source:
            continue
        table = f"_sup_{kind}"
        con.register(table, pa.table({"v": sup.array(kind)}))
        joins.append(f"ANTI JOIN {table} ON {expr} = {table}.v")
    return joins


def _query(
    con: duckdb.DuckDBPyConnection,
    sel: Selection,
    plan: _Plan,
    *,
    project: bool = True,
    suppress: bool = True,
    limit: int | None = None,
    csv_safe: bool = False,
) -> str:
    """SELECT over the plan's files with the WHERE, suppression anti-joins, projection and limit.

    `csv_safe` (CSV outputs): text columns that start like a spreadsheet formula get a leading quote.
    """
    if csv_safe:
        return _csv_safe_query(
            _query(con, sel, plan, project=project, suppress=suppress, limit=limit), sel, plan
        )
    if project and sel.columns:
        cols = ", ".join("t." + _quote(_resolve_column(c, plan.columns)) for c in sel.columns)
    else:
        cols = "t.*"
    if not plan.files:
        return f"SELECT {cols} FROM (SELECT {_empty_projection(plan.columns)}) t WHERE false"
    joins = _register_suppression(con, sel.suppression, plan.columns) if suppress else []
    sql = f"SELECT {cols} FROM {_source(con, plan)} t " + " ".join(joins)
    if sel.where_sql:
        sql += f" WHERE ({validate_where(sel.where_sql, plan.columns)})"
    if limit is not None:
        sql += f" LIMIT {max(0, int(limit))}"
    return sql


def _csv_safe_query(sql: str, sel: Selection, plan: _Plan) -> str:
    """`sql` with its VARCHAR output columns neutralised by delivr_admin.csvsafe (in the projection: the
    engine does it vectorised, no Python per cell); numeric columns stay numbers."""
    names = [_resolve_column(c, plan.columns) for c in sel.columns] if sel.columns else list(plan.columns)
    text = [n for n in names if str(plan.columns.get(n, "")).upper() == "VARCHAR"]
    if not text:
        return sql
    replace = ", ".join(f"{csvsafe.sql_text(_quote(n))} AS {_quote(n)}" for n in text)
    return f"SELECT * REPLACE ({replace}) FROM ({sql}) csv_q"


def _empty_projection(columns: Mapping[str, str]) -> str:
    return ", ".join(f"CAST(NULL AS {typ}) AS {_quote(name)}" for name, typ in columns.items())


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    rows = con.execute(sql).fetchall()  # one row by construction
    return rows[0][0]


# ---------------------------------------------------------------------------------------------------------
# public reads


def _first_file(root: str) -> tuple[bool, str | None]:
    """(is_hive, first Parquet file) without listing the whole tree."""
    if not os.path.isdir(root):
        raise EngineError(f"input path is not a directory: {root}")
    days = _subdirs(root, "day")
    if not days:
        for directory, dirs, names in os.walk(root):
            dirs.sort()
            found = sorted(n for n in names if n.endswith(".parquet") and not n.startswith((".", "_")))
            if found:
                return False, os.path.join(directory, found[0])
        return False, None
    for day in days:
        day_dir = os.path.join(root, f"day={day}")
        for prefix in _subdirs(day_dir, "prefix"):
            prefix_dir = os.path.join(day_dir, f"prefix={prefix}")
            for score in _subdirs(prefix_dir, "score"):
                files = _parquet_files(os.path.join(prefix_dir, f"score={score}"))
                if files:
                    return True, files[0]
    return True, None


@_remote_errors
def dataset_columns(input_path: str) -> dict[str, str]:
    """Column name -> DuckDB type of the dataset (from one file's footer), including day/prefix/score."""
    if is_remote(input_path):
        fs, base = _remote(input_path)
        hive, layout = remote.first_file(fs, base, _KEY_RE)
        if not layout:
            raise EngineError(f"no Parquet files under {input_path}")
        return _arrow_columns(remote.dataset(fs, layout, hive))
    hive, first = _first_file(input_path)
    if first is None:
        raise EngineError(f"no Parquet files under {input_path}")
    return dict(_describe_file(first, os.stat(first).st_mtime_ns, hive))


@functools.lru_cache(maxsize=256)
def _describe_file(path: str, mtime_ns: int, hive: bool) -> tuple[tuple[str, str], ...]:
    """A file's column types, cached per path and modification time (every job asks for them)."""
    con = _connect()
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {_read_parquet([path], hive)}").fetchall()
    finally:
        con.close()
    return tuple((r[0], r[1]) for r in rows)


@_remote_errors
def count(sel: Selection, partition: str | None = None) -> int:
    """Rows of the selection (or of one of its partitions) after the WHERE and suppression."""
    return count_with_suppressed(sel, partition)[0] if sel.suppression else _count(sel, partition, True)


def _count(sel: Selection, partition: str | None, suppress: bool) -> int:
    plan = _plan(sel, partition)
    if plan.dataset is not None and not sel.where_sql and not (suppress and sel.suppression):
        return int(plan.dataset.count_rows())  # row counts from the Parquet footers: no column is fetched
    con = _connect()
    try:
        return int(
            _scalar(con, f"SELECT count(*) FROM ({_query(con, sel, plan, project=False, suppress=suppress)})")
        )
    finally:
        con.close()


@_remote_errors
def count_with_suppressed(sel: Selection, partition: str | None = None) -> tuple[int, int]:
    """(rows after suppression, rows removed by suppression) for the selection or one partition."""
    if not sel.suppression:
        return _count(sel, partition, True), 0
    plan = _plan(sel, partition)
    con = _connect()
    try:
        if plan.dataset is not None and not sel.where_sql:
            total = int(plan.dataset.count_rows())
        else:
            total = int(
                _scalar(
                    con, f"SELECT count(*) FROM ({_query(con, sel, plan, project=False, suppress=False)})"
                )
            )
        kept = int(_scalar(con, f"SELECT count(*) FROM ({_query(con, sel, plan, project=False)})"))
    finally:
        con.close()
    return kept, total - kept


@_remote_errors
def count_partitions(sel: Selection, partitions: Sequence[str]) -> dict[str, tuple[int, int]]:
    """{partition key: (rows after suppression, rows removed by suppression)} in one grouped scan.

    The same figures as count_with_suppressed per partition, for many partitions at the cost of one query.
    Keys of a tree without hive folders: the single key "".
    """
    partitions = list(partitions)
    if not partitions:
        return {}
    if partitions == [""]:
        return {"": count_with_suppressed(sel, None)}
    plan = _plan(sel, partitions=partitions)
    if not plan.hive:
        raise EngineError("grouped counts need a hive-partitioned tree")
    if not plan.remote and not sel.where_sql and not sel.suppression:
        return _footer_counts(plan.files, partitions)
    con = _connect()
    try:

        def grouped(suppress: bool) -> dict[str, int]:
            inner = _query(con, sel, plan, project=False, suppress=suppress)
            rows = con.execute(f"SELECT day, prefix, score, count(*) FROM ({inner}) GROUP BY ALL").fetchall()
            return {f"day={_as_date(d).isoformat()}/prefix={p}/score={s}": int(n) for d, p, s, n in rows}

        kept = grouped(True)
        total = grouped(False) if sel.suppression else kept
    finally:
        con.close()
    return {key: (kept.get(key, 0), total.get(key, 0) - kept.get(key, 0)) for key in partitions}


def _footer_counts(files: Sequence[str], partitions: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Row counts per partition from the local files' Parquet footers alone (no filter, nothing suppressed)."""
    con = _connect()
    try:
        rows = con.execute(
            "SELECT file_name, num_rows FROM parquet_file_metadata(?)", [list(files)]
        ).fetchall()
    finally:
        con.close()
    counts = dict.fromkeys(partitions, 0)
    for name, num_rows in rows:
        key = "/".join(name.split("/")[-4:-1])  # .../day=D/prefix=P/score=S/part-0.parquet
        counts[key] += int(num_rows)
    return {key: (n, 0) for key, n in counts.items()}


@_remote_errors
def count_distinct(sel: Selection, column: str = "person_id") -> int:
    """Distinct non-null values of ``column`` (default: distinct profiles) after WHERE and suppression."""
    plan = _plan(sel)
    name = _quote(_resolve_column(column, plan.columns))
    con = _connect()
    try:
        return int(
            _scalar(con, f"SELECT count(DISTINCT {name}) FROM ({_query(con, sel, plan, project=False)})")
        )
    finally:
        con.close()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    table = con.sql(sql).to_arrow_table()
    return [{k: _jsonable(v) for k, v in row.items()} for row in table.to_pylist()]


@_remote_errors
def preview(sel: Selection, limit: int) -> list[dict]:
    """Up to ``limit`` rows (projection applied) as JSON-friendly dicts: dates/timestamps as ISO strings."""
    plan = _plan(sel)
    con = _connect()
    try:
        return _rows(con, _query(con, sel, plan, limit=limit))
    finally:
        con.close()


@_remote_errors
def sample(sel: Selection, limit: int) -> list[dict]:
    """One row per contact (person), ordered by the person key, at most ``limit``.

    ``intent_frequency`` is the number of rows of the person in the selection, ``impression_count`` the sum of
    their impressions; identity fields (uid2, email, names, company, location) are taken from their rows.
    A person is person_id, or for lists without one the normalized email (see :func:`profile_key_sql`).
    """
    plan = _plan(sel)
    key = profile_key_sql(plan.columns, plan.hive)
    if key is None:
        raise EngineError("sample needs a person_id, email or uid2 column")
    idents = [c for c in IDENTITY_COLUMNS if c in plan.columns]
    aggs = [f"min({_quote(c)}) AS {_quote(c)}" for c in idents]
    aggs.append("count(*) AS intent_frequency")
    if "impression_count" in plan.columns:
        aggs.append('CAST(coalesce(sum("impression_count"), 0) AS BIGINT) AS impression_count')
    con = _connect()
    try:
        inner = _query(con, sel, plan, project=False)
        # Pick the first persons on the key alone, then aggregate only their rows: aggregating every
        # column for every person of a large selection would spill and take minutes.
        if key == '"person_id"':
            sql = (
                f"WITH base AS NOT MATERIALIZED ({inner}), picked AS (SELECT DISTINCT person_id FROM base "
                f"WHERE person_id IS NOT NULL ORDER BY person_id LIMIT {max(0, int(limit))}) "
                f"SELECT person_id, {', '.join(aggs)} FROM base SEMI JOIN picked USING (person_id) "
                f"GROUP BY person_id ORDER BY person_id"
            )
        else:
            person = 'min("person_id")' if "person_id" in plan.columns else "CAST(NULL AS VARCHAR)"
            sql = (
                f"WITH base AS NOT MATERIALIZED (SELECT *, {key} AS _profile FROM ({inner})), "
                f"picked AS (SELECT DISTINCT _profile FROM base WHERE _profile IS NOT NULL "
                f"ORDER BY _profile LIMIT {max(0, int(limit))}) "
                f"SELECT {person} AS person_id, {', '.join(aggs)} FROM base SEMI JOIN picked USING (_profile) "
                f"GROUP BY _profile ORDER BY _profile"
            )
        return _rows(con, sql)
    finally:
        con.close()


def _people_sql(inner: str, plan: _Plan, limit: int | None) -> str:
    """One row per person over ``inner``: the newest record's attributes plus per-person aggregates.

    Attributes come from the person's most recent record (by seen_at, then day; any record when the data
    has neither); intent_frequency is the number of the person's records in the audience (the sample's
    figure), impression_count their sum, last_seen_at the newest seen_at.
    """
    key = profile_key_sql(plan.columns, plan.hive)
    if key is None:
        raise EngineError("one row per person needs a person_id, email or uid2 column")
    lower = {c.lower(): c for c in plan.columns}
    order = next((lower[c] for c in ("seen_at", "day") if c in lower), None)
    skip = {"person_id", "intent_frequency", "impression_count"}
    attrs = [c for c in plan.columns if c.lower() not in skip]
    pick = (
        (lambda c: f"arg_max({_quote(c)}, {_quote(order)})")
        if order
        else (lambda c: f"any_value({_quote(c)})")
    )
    cols = ['min("person_id") AS person_id' if "person_id" in lower else "CAST(NULL AS VARCHAR) AS person_id"]
    cols += [f"{pick(c)} AS {_quote(c)}" for c in attrs]
    cols.append("count(*) AS intent_frequency")
    if "impression_count" in lower:
        cols.append(
            f"CAST(coalesce(sum({_quote(lower['impression_count'])}), 0) AS BIGINT) AS impression_count"
        )
    if "seen_at" in lower:
        cols.append(f"max({_quote(lower['seen_at'])}) AS last_seen_at")
    sql = (
        f"SELECT {', '.join(cols)} FROM (SELECT *, {key} AS _profile FROM ({inner})) "
        "WHERE _profile IS NOT NULL GROUP BY _profile"
    )
    return sql + (f" LIMIT {max(0, int(limit))}" if limit is not None else "")


def _reader(
    sel: Selection,
    partition: str | None,
    limit: int | None,
    batch_size: int,
    *,
    csv_safe: bool = False,
    people: bool = False,
) -> Iterator[pa.RecordBatchReader]:
    plan = _plan(sel, partition)
    con = _connect()
    try:
        if people:
            sql = _people_sql(_query(con, sel, plan, project=False), plan, limit)
            sql = _csv_safe_query(sql, sel, plan) if csv_safe else sql
        else:
            sql = _query(con, sel, plan, limit=limit, csv_safe=csv_safe)
        yield con.sql(sql).to_arrow_reader(batch_size)
    finally:
        con.close()


@_remote_errors
def iter_batches(
    sel: Selection, batch_size: int = 65536, *, partition: str | None = None, limit: int | None = None
) -> Iterator[pa.RecordBatch]:
    """Stream the selection (projection, WHERE, suppression applied) as Arrow record batches."""
    for reader in _reader(sel, partition, limit, batch_size):
        for batch in reader:
            if batch.num_rows:
                yield batch


@_remote_errors
def unload(
    sel: Selection,
    partition: str | None,
    fmt: Literal["parquet", "csv"],
    out: BinaryIO | str,
    limit: int | None = None,
    *,
    batch_size: int = 65536,
) -> int:
    """Write the selection (or one partition) to ``out`` (path or writable binary file); return rows written.

    Parquet is zstd-compressed; CSV has a header. An empty result still writes a valid file (schema/header).
    """
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"unsupported format {fmt!r}")
    rows = 0
    for reader in _reader(sel, partition, limit, batch_size, csv_safe=fmt == "csv"):
        schema = reader.schema
        if fmt == "parquet":
            with pq.ParquetWriter(out, schema, compression="zstd") as writer:
                for batch in reader:
                    writer.write_batch(batch)
                    rows += batch.num_rows
        else:
            with pacsv.CSVWriter(out, schema) as writer:
                for batch in reader:
                    writer.write_batch(batch)
                    rows += batch.num_rows
    return rows


@_remote_errors
def write_csv_stream(
    sel: Selection,
    limit: int | None = None,
    *,
    batch_size: int = 65536,
    rows: Literal["records", "people"] = "records",
) -> Iterator[bytes]:
    """CSV of the selection in chunks (header first) for a streaming HTTP response; ``None`` = no limit.

    ``rows="people"`` writes one row per person (see :func:`_people_sql`); ``limit`` then counts people.
    """
    for reader in _reader(sel, None, limit, batch_size, csv_safe=True, people=rows == "people"):
        buf = io.BytesIO()
        with pacsv.CSVWriter(buf, reader.schema) as writer:  # writes the header at once
            for batch in reader:
                writer.write_batch(batch)
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        rest = buf.getvalue()  # the header alone when nothing matched
        if rest:
            yield rest
