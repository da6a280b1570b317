"""Object storage for the engine: pyarrow filesystems for ``s3://``/``gs://``, pruned hive listings, datasets.

DuckDB's own remote reader (the httpfs extension) is downloaded from the internet by ``INSTALL httpfs``,
which locked-down hosts (and this build's network) cannot do, so remote trees are read through pyarrow's
S3/GCS filesystems, which ship inside the pyarrow wheel. The listing prunes by directory: only the
``day=`` folders a selection wants are listed (and only the wanted ``prefix=`` folders under them when
prefixes are given). The chosen files become one ``pyarrow.dataset.FileSystemDataset`` with the hive
columns as typed partition expressions, which DuckDB scans with projection and filter pushdown.

Nothing here knows about Django: credentials come from the engine's ``configure(storage_options=...)``.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

if TYPE_CHECKING:
    import pyarrow.dataset as ds

HIVE_TYPES = {"day": pa.date32(), "prefix": pa.string(), "score": pa.string()}
LIST_THREADS = 8  # listings are network round trips: overlap them, the CPU cost is nil
_FRAGMENT_CACHE_SIZE = 4096  # fragments keep their Parquet footer once read; keyed by path, size and mtime

_lock = threading.Lock()
_filesystems: dict[tuple, pafs.FileSystem] = {}
_pid = os.getpid()
_fragments: OrderedDict[tuple, ds.ParquetFileFragment] = OrderedDict()


def _ds():
    """``pyarrow.dataset``, imported on the first remote read: it imports pandas when pandas is installed
    (~45 MB of private memory in every web and worker process), and only remote trees need it."""
    import pyarrow.dataset

    return pyarrow.dataset


@functools.cache
def _parquet_format():
    return _ds().ParquetFileFormat()


class RemoteError(RuntimeError):
    """Object storage refused or failed a request (credentials, missing bucket, network)."""


def split_uri(uri: str) -> tuple[str, str]:
    """``("s3", "bucket/key/prefix")`` for ``s3://bucket/key/prefix`` (trailing slashes dropped)."""
    scheme, _, rest = uri.partition("://")
    return scheme, rest.strip("/")


def reset() -> None:
    """Forget built filesystems and cached fragments (after new credentials or in a forked child)."""
    with _lock:
        _filesystems.clear()
        _fragments.clear()


def _truthy(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _endpoint(value: str | None, use_ssl: bool) -> tuple[str | None, str]:
    """(host[:port] or None, "http"/"https") from an endpoint given with or without its scheme."""
    if not value:
        return None, "https" if use_ssl else "http"
    if "://" in value:
        parts = urlsplit(value)
        return parts.netloc, parts.scheme or "https"
    return value.rstrip("/"), "https" if use_ssl else "http"


def _timeouts(opts: Mapping[str, Any]) -> dict[str, float]:
    return {
        "connect_timeout": float(opts.get("connect_timeout") or 5),
        "request_timeout": float(opts.get("request_timeout") or 60),
    }


def _s3(opts: Mapping[str, Any], bucket: str) -> pafs.FileSystem:
    host, scheme = _endpoint(opts.get("s3_endpoint"), _truthy(opts.get("s3_use_ssl"), True))
    region = opts.get("s3_region") or None
    if region is None and host is None:
        # AWS itself: a client signed for the wrong region gets redirects, so ask the bucket where it lives
        try:
            region = pafs.resolve_s3_region(bucket)
        except (OSError, pa.ArrowException):
            region = "us-east-1"
    kwargs: dict[str, Any] = {
        "region": region or "us-east-1",
        "scheme": scheme,
        "endpoint_override": host,
        "force_virtual_addressing": str(opts.get("s3_url_style") or "").lower() == "vhost",
        "allow_bucket_creation": False,
        "allow_bucket_deletion": False,
        **_timeouts(opts),
    }
    if _truthy(opts.get("s3_anonymous"), False):
        kwargs["anonymous"] = True
    elif opts.get("s3_key_id"):
        kwargs.update(
            access_key=opts["s3_key_id"],
            secret_key=opts.get("s3_secret") or "",
            session_token=opts.get("s3_session_token") or None,
        )
    # else: the AWS default chain (environment, shared config, instance or task role)
    return pafs.S3FileSystem(**kwargs)


def _gcs(opts: Mapping[str, Any]) -> pafs.FileSystem:
    host, scheme = _endpoint(opts.get("gcs_endpoint"), True)
    if opts.get("gcs_key_id"):
        # HMAC keys are only accepted by GCS's S3-compatible XML API, so speak S3 to it.
        return pafs.S3FileSystem(
            access_key=opts["gcs_key_id"],
            secret_key=opts.get("gcs_secret") or "",
            region=opts.get("gcs_region") or "auto",
            scheme=scheme,
            endpoint_override=host or "storage.googleapis.com",
            allow_bucket_creation=False,
            allow_bucket_deletion=False,
            **_timeouts(opts),
        )
    kwargs: dict[str, Any] = {
        "scheme": scheme,
        "endpoint_override": host,
        "retry_time_limit": dt.timedelta(seconds=float(opts.get("request_timeout") or 60)),
    }
    if opts.get("gcs_project"):
        kwargs["project_id"] = opts["gcs_project"]
    if _truthy(opts.get("gcs_anonymous"), False):
        kwargs["anonymous"] = True
    elif opts.get("gcs_access_token"):
        kwargs["access_token"] = opts["gcs_access_token"]
        kwargs["credential_token_expiration"] = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    # else: Google application default credentials (GOOGLE_APPLICATION_CREDENTIALS, metadata server)
    return pafs.GcsFileSystem(**kwargs)


def filesystem(uri: str, opts: Mapping[str, Any]) -> pafs.FileSystem:
    """The pyarrow filesystem for ``uri``'s scheme (and bucket, for AWS region lookup), built once."""
    scheme, path = split_uri(uri)
    bucket = path.split("/", 1)[0]
    needs_bucket = scheme == "s3" and not opts.get("s3_region") and not opts.get("s3_endpoint")
    key = (scheme, bucket if needs_bucket else "")
    global _pid
    with _lock:
        if _pid != os.getpid():  # AWS/Google SDK clients do not survive fork: build new ones in the child
            _filesystems.clear()
            _fragments.clear()
            _pid = os.getpid()
        fs = _filesystems.get(key)
    if fs is not None:
        return fs
    if scheme == "s3":
        fs = _s3(opts, bucket)
    elif scheme == "gs":
        fs = _gcs(opts)
    else:
        raise RemoteError(f"unsupported object-storage scheme in {uri!r}")
    with _lock:
        return _filesystems.setdefault(key, fs)


# ---------------------------------------------------------------------------------------------------------
# listing


def _visible(name: str) -> bool:
    return not name.startswith(("_", "."))


def _list(fs: pafs.FileSystem, base: str, recursive: bool) -> list[pafs.FileInfo]:
    return fs.get_file_info(pafs.FileSelector(base, allow_not_found=True, recursive=recursive))


def _parquet_below(infos: Sequence[pafs.FileInfo], base: str) -> list[tuple[str, pafs.FileInfo]]:
    """(path relative to ``base``, info) of visible ``.parquet`` files whose folders are all visible too."""
    out = []
    start = len(base) + 1
    for info in infos:
        if info.type != pafs.FileType.File or not info.path.endswith(".parquet"):
            continue
        rel = info.path[start:]
        if all(_visible(seg) for seg in rel.split("/")):
            out.append((rel, info))
    return out


def _days(fs: pafs.FileSystem, base: str) -> list[str]:
    # not allow_not_found: that would also turn a missing bucket into an empty tree
    try:
        top = fs.get_file_info(pafs.FileSelector(base, recursive=False))
    except FileNotFoundError:
        return []
    return sorted(
        info.base_name[4:]
        for info in top
        if info.type == pafs.FileType.Directory and info.base_name.startswith("day=")
    )


def _collect(
    fs: pafs.FileSystem, base: str, targets: Sequence[str], wanted: Callable[[str, str], bool], key_re: Any
) -> dict[str, list[pafs.FileInfo]]:
    if len(targets) > 1:
        with ThreadPoolExecutor(max_workers=min(LIST_THREADS, len(targets))) as pool:
            listings = list(pool.map(lambda t: _list(fs, t, recursive=True), targets))
    else:
        listings = [_list(fs, t, recursive=True) for t in targets]
    layout: dict[str, list[pafs.FileInfo]] = {}
    for infos in listings:
        for rel, info in _parquet_below(infos, base):
            directory = rel.rpartition("/")[0]
            m = key_re.fullmatch(directory)
            if m and all(wanted(k, m.group(k)) for k in HIVE_TYPES):
                layout.setdefault(directory, []).append(info)
    return {k: sorted(v, key=lambda i: i.path) for k, v in sorted(layout.items())}


def _flat(fs: pafs.FileSystem, base: str) -> list[pafs.FileInfo]:
    return [info for _, info in sorted(_parquet_below(_list(fs, base, recursive=True), base))]


def list_tree(
    fs: pafs.FileSystem,
    base: str,
    wanted: Callable[[str, str], bool],
    prefixes: Sequence[str],
    key_re: Any,
) -> tuple[bool, dict[str, list[pafs.FileInfo]]]:
    """(is_hive, {``day=../prefix=../score=..``: file infos}) of the wanted partitions under ``base``.

    ``wanted(key, value)`` decides each hive folder; ``key_re`` matches a partition folder path. With
    ``prefixes`` given, only the ``prefix=`` folders of those values are listed under each wanted day (one
    recursive listing each), otherwise each wanted day is listed recursively; listings run concurrently.
    A tree without ``day=`` folders is non-hive: every visible ``.parquet`` under it, key ``""``.
    ``_``/``.``-prefixed files and folders (``_SUCCESS``, ``_manifest.json``, ``_temporary``) are skipped.
    """
    base = base.rstrip("/")
    days = _days(fs, base)
    if not days:
        files = _flat(fs, base)
        return False, ({"": files} if files else {})
    direct = bool(prefixes) and all(p and "/" not in p and p not in (".", "..") for p in prefixes)
    targets = [
        f"{base}/day={day}/prefix={p}" if direct else f"{base}/day={day}"
        for day in days
        if wanted("day", day)
        for p in (sorted(set(prefixes)) if direct else [""])
    ]
    return True, _collect(fs, base, targets, wanted, key_re)


def file_info(path: str, size: int) -> pafs.FileInfo:
    """The listing entry of a file known from an earlier listing (path inside its filesystem, bytes)."""
    return pafs.FileInfo(path, pafs.FileType.File, size=size)


def first_file(fs: pafs.FileSystem, base: str, key_re: Any) -> tuple[bool, dict[str, list[pafs.FileInfo]]]:
    """(is_hive, {key: [the first Parquet file]}) listing as little as possible (day by day)."""
    base = base.rstrip("/")
    days = _days(fs, base)
    if not days:
        files = _flat(fs, base)
        return False, ({"": files[:1]} if files else {})
    for day in days:
        layout = _collect(fs, base, [f"{base}/day={day}"], lambda k, v: True, key_re)
        for key, infos in layout.items():
            return True, {key: infos[:1]}
    return True, {}


# ---------------------------------------------------------------------------------------------------------
# datasets


def _fragment(
    fs: pafs.FileSystem, info: pafs.FileInfo, expression: ds.Expression | None
) -> ds.ParquetFileFragment:
    key = (id(fs), info.path, info.size, info.mtime_ns)
    with _lock:
        frag = _fragments.get(key)
        if frag is not None:
            _fragments.move_to_end(key)
            return frag
    # the size from the listing spares a HEAD request per file
    frag = _parquet_format().make_fragment(
        info.path, fs, partition_expression=expression, file_size=info.size
    )
    with _lock:
        _fragments[key] = frag
        while len(_fragments) > _FRAGMENT_CACHE_SIZE:
            _fragments.popitem(last=False)
    return frag


def _partition_expression(key: str) -> ds.Expression:
    parts = dict(item.split("=", 1) for item in key.split("/"))
    try:
        values = {
            "day": dt.date.fromisoformat(parts["day"]),
            "prefix": parts["prefix"],
            "score": parts["score"],
        }
    except ValueError:
        raise RemoteError(f"partition folder day={parts['day']} is not a date") from None
    expr = None
    for name, value in values.items():
        term = _ds().field(name) == pa.scalar(value, HIVE_TYPES[name])
        expr = term if expr is None else expr & term
    return expr


def dataset(fs: pafs.FileSystem, layout: Mapping[str, Sequence[pafs.FileInfo]], hive: bool) -> ds.Dataset:
    """One Arrow dataset over the listed files (hive columns typed day DATE, prefix/score VARCHAR).

    The schema is the first file's (read from its footer) plus the hive columns, as DuckDB's
    ``read_parquet`` does for the local fast path.
    """
    fragments = []
    for key in sorted(layout):
        expr = _partition_expression(key) if hive else None
        fragments.extend(_fragment(fs, info, expr) for info in layout[key])
    if not fragments:
        raise RemoteError("no Parquet files in the selection")
    physical = fragments[0].physical_schema
    if hive:
        kept = [f for f in physical if f.name not in HIVE_TYPES]
        schema = pa.schema(kept + [pa.field(n, t) for n, t in HIVE_TYPES.items()])
    else:
        schema = physical
    return _ds().FileSystemDataset(fragments, schema, _parquet_format(), fs)
