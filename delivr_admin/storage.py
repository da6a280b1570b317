"""Storage of every output: where files live (the output store) and under which names (tenant folders).

Every file the product writes for an organization lives under `<area>/<organization id>/`.

A user-supplied part (an export's `path_prefix`) is normalised and joined below that folder; whatever it says
(`../`, an absolute path, another organization's id), the result cannot leave it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import os
import posixpath
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from django.conf import settings

AREAS = ("tasks", "lists", "exports")
_PART_RE = re.compile(r"^[A-Za-z0-9_\-.]{1,100}$")
MAX_PREFIX_LENGTH = 200
T = TypeVar("T")


class StoragePathError(ValueError):
    """A user-supplied path part that would leave the organization's folder or is not a plain path."""


def user_prefix(prefix: str | None) -> str:
    """`prefix` as a relative folder of plain names (`a/b`), or "" when empty; StoragePathError for
    parent references, absolute paths, backslashes, control characters or names of other characters."""
    if prefix is None or prefix == "":
        return ""
    if not isinstance(prefix, str) or len(prefix) > MAX_PREFIX_LENGTH:
        raise StoragePathError(f"at most {MAX_PREFIX_LENGTH} characters")
    if prefix.startswith("/") or "\\" in prefix:
        raise StoragePathError("must be relative (no leading '/' or '\\')")
    parts = [p for p in prefix.split("/") if p not in ("", ".")]
    for part in parts:
        if part == "..":
            raise StoragePathError("may not contain '..'")
        if not _PART_RE.match(part):
            raise StoragePathError("may hold letters, digits, '-', '_', '.' and '/'")
    return "/".join(parts)


def tenant_path(area: str, organization_id: uuid.UUID | str, *parts: str) -> str:
    """`<area>/<organization id>/<parts...>`, normalised; StoragePathError if it would leave that folder."""
    if area not in AREAS:
        raise StoragePathError(f"unknown storage area {area!r}")
    org = str(uuid.UUID(str(organization_id)))  # a real id, never a path
    root = f"{area}/{org}"
    joined = posixpath.normpath(posixpath.join(root, *[p.strip("/") for p in parts if p]))
    if joined != root and not joined.startswith(root + "/"):
        raise StoragePathError("leaves the organization's folder")
    return joined


# ---------------------------------------------------------------------------------------------------------
# The output store: every file the product writes (task unloads, export files and removals, list uploads,
# rows and import reports, export run spools and snapshots) goes through the functions below, by its
# relative name (`tasks/<org>/...`). DELIVR_OUTPUT_URL picks where those names live:
#   file:///abs/folder (or empty: MEDIA_ROOT)  a local folder; one machine only
#   s3://bucket/prefix                         S3 or any S3-compatible server (DELIVR_S3_ENDPOINT)
#   gs://bucket/prefix                         Google Cloud Storage through its S3 API (HMAC keys)
# Writes replace (a retried job or run overwrites its file; a local write is a rename into place, so a reader
# sees the old or the new file); reads stream; `presign` gives a time-limited direct link where the store
# can sign one (S3, GCS), else None and the caller serves the file through the product's own signed link.


class OutputStoreError(OSError):
    """The object store refused or failed a request (credentials, missing bucket, network)."""


@contextlib.contextmanager
def _s3_errors(name: str):
    """botocore's errors as OutputStoreError (an OSError, like a local disk's); a missing object as
    FileNotFoundError."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("NoSuchKey", "404", "NotFound"):
            raise FileNotFoundError(name) from exc
        raise OutputStoreError(f"the object store refused {name!r}: {code or exc}") from exc
    except BotoCoreError as exc:
        raise OutputStoreError(f"the object store failed on {name!r}: {exc}") from exc


class OutputStore:
    """Where outputs live. Names are relative, `/`-separated, without `.`/`..` parts."""

    scheme = ""

    def uri(self, name: str) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def write_with(self, name: str, produce: Callable[[str], T]) -> T:  # pragma: no cover - interface
        raise NotImplementedError

    def place_from_folder(self, produce: Callable[[str], Mapping[str, str]]) -> None:  # pragma: no cover
        raise NotImplementedError

    def write_from_folder(self, name: str, produce: Callable[[str], T]) -> T:
        result = []

        def one(folder: str) -> dict[str, str]:
            result.append(produce(folder))
            return {name: ""}

        self.place_from_folder(one)
        return result[0]

    def open(self, name: str) -> BinaryIO:  # pragma: no cover - interface
        raise NotImplementedError

    def exists(self, name: str) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def delete(self, name: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def list(self, folder: str) -> list[str]:  # pragma: no cover - interface
        raise NotImplementedError

    def presign(self, name: str, *, filename: str, ttl: int) -> str | None:
        return None

    def presign_many(self, items: list[tuple[str, str]], *, ttl: int) -> list[str] | None:
        """`presign` for many (name, filename) pairs, in their order; None where the store signs none."""
        return None

    def local_path(self, name: str) -> str | None:
        return None


STAGING = ".staging"  # top-level folder where another system writes a file before it is put in place


def written_file(name: str, folder: str, names: list[str]) -> str:
    """The one data file a writer such as Spark left in ``folder`` (it adds ``_SUCCESS`` and ``.crc``
    files); OutputStoreError when there is none (the writer could not reach the folder) or several."""
    found = [
        n for n in names if n and "/" not in n and not n.startswith(("_", ".")) and not n.endswith(".crc")
    ]
    if len(found) != 1:
        what = "no file" if not found else f"{len(found)} files"
        raise OutputStoreError(
            f"{what} written for {name!r} in {folder}: the writer must see this folder and write one file there"
        )
    return found[0]


def _names_in(folder: str) -> list[str]:
    return os.listdir(folder) if os.path.isdir(folder) else []


def _clean(name: str) -> str:
    """`name` as a store key; StoragePathError for absolute names, `..`, backslashes or NUL bytes."""
    if not isinstance(name, str) or not name or name.startswith("/") or "\\" in name or "\x00" in name:
        raise StoragePathError(f"not a relative storage name: {name!r}")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise StoragePathError(f"not a relative storage name: {name!r}")
    return "/".join(parts)


class LocalStore(OutputStore):
    """A folder on this machine's disk (the embedded default: MEDIA_ROOT)."""

    scheme = "file"

    def __init__(self, root: str):
        self.root = os.path.abspath(root)

    def local_path(self, name: str) -> str:
        return os.path.join(self.root, *_clean(name).split("/"))

    def uri(self, name: str) -> str:
        return Path(self.local_path(name)).as_uri()

    def write_with(self, name: str, produce: Callable[[str], T]) -> T:
        final = self.local_path(name)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(final), prefix=".part-")
        os.close(fd)
        try:
            result = produce(tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)  # atomic on one filesystem: readers see the old file or the new one
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return result

    def place_from_folder(self, produce: Callable[[str], Mapping[str, str]]) -> None:
        staging = os.path.join(self.root, STAGING, uuid.uuid4().hex)  # same filesystem: renames below
        try:
            placed = produce(staging)
            for name, sub in placed.items():
                where = os.path.join(staging, sub) if sub else staging
                part = os.path.join(where, written_file(name, where, _names_in(where)))
                final = self.local_path(name)
                os.makedirs(os.path.dirname(final), exist_ok=True)
                os.chmod(part, 0o644)
                os.replace(part, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def open(self, name: str) -> BinaryIO:
        return open(self.local_path(name), "rb")  # noqa: SIM115 - the caller closes it

    def exists(self, name: str) -> bool:
        return os.path.isfile(self.local_path(name))

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.local_path(name))

    def list(self, folder: str) -> list[str]:
        base = self.local_path(folder)
        found = []
        for directory, dirs, files in os.walk(base):
            dirs[:] = [d for d in dirs if not d.startswith(".staging-")]  # files still being written
            rel = os.path.relpath(directory, self.root).replace(os.sep, "/")
            found.extend(f"{rel}/{f}" for f in files if not f.startswith(".part-"))
        return sorted(found)


class _BodyReader(io.RawIOBase):
    """An S3 object body (botocore StreamingBody) as a raw binary stream: buffered, it serves TextIOWrapper,
    FileResponse and shutil.copyfileobj without reading the whole object into memory."""

    def __init__(self, body):
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._body.close()
        super().close()


class S3Store(OutputStore):
    """A bucket (and key prefix) on S3, on an S3-compatible server, or on GCS through its S3 API."""

    def __init__(self, scheme: str, bucket: str, prefix: str, *, client_options: dict):
        import boto3
        from botocore.config import Config

        self.scheme, self.bucket, self.prefix = scheme, bucket, prefix.strip("/")
        endpoint = client_options.pop("endpoint_url", None)
        style = client_options.pop("addressing_style", None) or ("path" if endpoint else "auto")
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": style},
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
        )
        self._session = boto3.session.Session()
        self._keys = tuple(client_options.get(k) for k in ("aws_access_key_id", "aws_secret_access_key"))
        self._token = client_options.get("aws_session_token")
        self.client = self._session.client("s3", endpoint_url=endpoint, config=config, **client_options)

    def key(self, name: str) -> str:
        name = _clean(name)
        return f"{self.prefix}/{name}" if self.prefix else name

    def uri(self, name: str) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key(name)}"

    def write_with(self, name: str, produce: Callable[[str], T]) -> T:
        key = self.key(name)
        fd, tmp = tempfile.mkstemp(prefix="delivr-out-")
        os.close(fd)
        try:
            result = produce(tmp)
            with _s3_errors(name):
                self.client.upload_file(tmp, self.bucket, key)  # multipart past 8 MB: bounded memory
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return result

    def place_from_folder(self, produce: Callable[[str], Mapping[str, str]]) -> None:
        base = self.key(f"{STAGING}/{uuid.uuid4().hex}")
        try:
            placed = produce(f"{self.scheme}://{self.bucket}/{base}")
            with _s3_errors(base):
                keys = self._keys_under(base + "/")
            for name, sub in placed.items():
                where = f"{base}/{sub}" if sub else base
                part = written_file(
                    name, self.uri(where), [k[len(where) + 1 :] for k in keys if k.startswith(where + "/")]
                )
                with _s3_errors(name):  # a copy inside the store (multipart past 8 MB): no byte comes here
                    self.client.copy(
                        {"Bucket": self.bucket, "Key": f"{where}/{part}"}, self.bucket, self.key(name)
                    )
        finally:
            with contextlib.suppress(Exception):  # leftovers are harmless: the staging folder is never listed
                keys = self._keys_under(base + "/")
                for i in range(0, len(keys), 1000):
                    objects = [{"Key": k} for k in keys[i : i + 1000]]
                    self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})

    def _keys_under(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def open(self, name: str) -> BinaryIO:
        with _s3_errors(name):
            body = self.client.get_object(Bucket=self.bucket, Key=self.key(name))["Body"]
        return io.BufferedReader(_BodyReader(body), buffer_size=1024 * 1024)

    def exists(self, name: str) -> bool:
        try:
            with _s3_errors(name):
                self.client.head_object(Bucket=self.bucket, Key=self.key(name))
        except FileNotFoundError:
            return False
        return True

    def delete(self, name: str) -> None:
        with _s3_errors(name):
            self.client.delete_object(Bucket=self.bucket, Key=self.key(name))

    def list(self, folder: str) -> list[str]:
        base = self.key(folder) + "/"
        strip = len(self.prefix) + 1 if self.prefix else 0
        found = []
        with _s3_errors(folder):
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base
            ):
                found.extend(item["Key"][strip:] for item in page.get("Contents", []))
        return sorted(found)

    def presign(self, name: str, *, filename: str, ttl: int) -> str | None:
        params = {
            "Bucket": self.bucket,
            "Key": self.key(name),
            "ResponseContentDisposition": f'attachment; filename="{filename}"',
        }
        with _s3_errors(name):
            return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl)

    def presign_many(self, items: list[tuple[str, str]], *, ttl: int) -> list[str] | None:
        """boto3 signs the first link (several milliseconds: its event machinery); the others reuse what that
        link fixes (endpoint, addressing, credential scope, date) and cost one SHA-256 and one HMAC each, so a
        task status with thousands of outputs stays fast. Checked equal to boto3's own links in the tests."""
        if not items:
            return []
        first = self.presign(items[0][0], filename=items[0][1], ttl=ttl)
        signer = _QuerySigner.from_url(first, self.key(items[0][0]), self._credentials())
        if signer is None:  # credentials moved under us (a refresh): boto3 signs every link
            return [first] + [self.presign(n, filename=f, ttl=ttl) for n, f in items[1:]]
        return [first] + [signer.sign(self.key(n), f) for n, f in items[1:]]

    def _credentials(self):
        """The client's credentials: its explicit keys, else boto3's chain on the session it was built from."""
        from botocore.credentials import Credentials

        if self._keys[0]:
            return Credentials(*self._keys, self._token).get_frozen_credentials()
        found = self._session.get_credentials()
        return found.get_frozen_credentials() if found is not None else None


def _uri_quote(value: str, safe: str = "-_.~") -> str:
    return quote(value, safe=safe)


class _QuerySigner:
    """AWS Signature Version 4 in the query string (presigned GET), for one endpoint, scope and date: the
    canonical request, string to sign and signing key of the SigV4 specification, with an unsigned payload."""

    def __init__(
        self, base: str, host: str, path_prefix: str, params: dict[str, str], key: bytes, scope: str
    ):
        self.base, self.host, self.path_prefix, self.params = base, host, path_prefix, params
        self.signing_key, self.scope = key, scope
        # the canonical query is sorted by name: every X-Amz-* (upper case) before response-content-disposition
        self.fixed_query = "&".join(f"{_uri_quote(k)}={_uri_quote(v)}" for k, v in sorted(params.items()))

    @classmethod
    def from_url(cls, url: str, object_key: str, credentials) -> _QuerySigner | None:
        """A signer for further links like `url` (a boto3 presigned link of `object_key`); None when the
        link's access key is not the credentials' (they were refreshed in between)."""
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        quoted_key = _uri_quote(object_key, "-_.~/")
        if credentials is None or not parts.path.endswith(quoted_key):
            return None
        access_key, _, scope = query["X-Amz-Credential"].partition("/")
        if access_key != credentials.access_key or scope.count("/") != 3:
            return None
        day, region, service, _ = scope.split("/")
        key = ("AWS4" + credentials.secret_key).encode()
        for part in (day, region, service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        params = {k: v for k, v in query.items() if k.startswith("X-Amz-") and k != "X-Amz-Signature"}
        base = f"{parts.scheme}://{parts.netloc}"
        return cls(base, parts.netloc, parts.path[: -len(quoted_key)], params, key, scope)

    def sign(self, object_key: str, filename: str) -> str:
        path = self.path_prefix + _uri_quote(object_key, "-_.~/")
        disposition = _uri_quote(f'attachment; filename="{filename}"')
        query = f"{self.fixed_query}&response-content-disposition={disposition}"
        canonical = f"GET\n{path}\n{query}\nhost:{self.host}\n\nhost\nUNSIGNED-PAYLOAD"
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        to_sign = f"AWS4-HMAC-SHA256\n{self.params['X-Amz-Date']}\n{self.scope}\n{digest}"
        signature = hmac.digest(self.signing_key, to_sign.encode(), "sha256").hex()
        return f"{self.base}{path}?{query}&X-Amz-Signature={signature}"


def _s3_client_options(scheme: str, options: dict) -> dict:
    """boto3 client arguments for the output store from DELIVR_STORAGE_OPTIONS (the same credentials and
    endpoints the engine reads data with, so the engine can read list rows in place)."""
    if scheme == "gs":
        endpoint = options.get("gcs_endpoint") or "https://storage.googleapis.com"
        out = {"endpoint_url": endpoint, "region_name": options.get("gcs_region") or "auto"}
        if options.get("gcs_key_id"):
            out |= {
                "aws_access_key_id": options["gcs_key_id"],
                "aws_secret_access_key": options.get("gcs_secret"),
            }
        return out
    endpoint = options.get("s3_endpoint") or None
    if endpoint and "://" not in endpoint:
        endpoint = f"https://{endpoint}"
    out = {"endpoint_url": endpoint, "region_name": options.get("s3_region") or None}
    if options.get("s3_key_id"):
        out |= {
            "aws_access_key_id": options["s3_key_id"],
            "aws_secret_access_key": options.get("s3_secret"),
            "aws_session_token": options.get("s3_session_token") or None,
        }
    if str(options.get("s3_url_style") or "").lower() == "vhost":
        out["addressing_style"] = "virtual"
    return out  # no keys: boto3's default chain (environment, shared config, instance or task role)


_stores: dict[tuple, OutputStore] = {}
_stores_lock = threading.Lock()


def output_url() -> str:
    """The configured output location: DELIVR_OUTPUT_URL, else the local MEDIA_ROOT as a file:// URL."""
    url = settings.DELIVR_OUTPUT_URL.strip()
    return url or Path(os.path.abspath(settings.MEDIA_ROOT)).as_uri()


def store() -> OutputStore:
    """The output store for the current settings (built once per process and configuration)."""
    url = output_url()
    options = {k: v for k, v in settings.DELIVR_STORAGE_OPTIONS.items() if v}
    key = (url, tuple(sorted(options.items())), os.getpid())  # a forked worker builds its own client
    found = _stores.get(key)
    if found is not None:
        return found
    with _stores_lock:
        if key not in _stores:
            _stores[key] = _build(url, options)
        return _stores[key]


def _build(url: str, options: dict) -> OutputStore:
    scheme, _, rest = url.partition("://")
    if scheme == "file":
        return LocalStore(unquote(urlsplit(url).path))
    if scheme in ("s3", "gs"):
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise StoragePathError(f"DELIVR_OUTPUT_URL needs a bucket: {url!r}")
        return S3Store(scheme, bucket, prefix, client_options=_s3_client_options(scheme, options))
    raise StoragePathError(f"DELIVR_OUTPUT_URL must be file://, s3:// or gs://, not {url!r}")


def uri(name: str) -> str:
    """The stored file's URL as users see it: `s3://bucket/prefix/<name>`, `gs://...` or `file:///...`."""
    return store().uri(name)


def name_of(url: str) -> str:
    """The store name of a URL `uri` gave (the inverse of `uri`); StoragePathError for a URL elsewhere."""
    root = store().uri("x")[:-1]
    if not url.startswith(root):
        raise StoragePathError(f"not in the output store: {url!r}")
    rest = url[len(root) :]
    return _clean(unquote(rest) if root.startswith("file:") else rest)


def write_with(name: str, produce: Callable[[str], T]) -> T:
    """Calls `produce(local_path)` to write the file, then puts it in place as `name` (replacing any file of
    that name); returns what `produce` returned. The local file is removed whatever happens."""
    return store().write_with(name, produce)


def write_from_folder(name: str, produce: Callable[[str], T]) -> T:
    """Calls `produce(folder)` where another system (a Spark cluster) writes a folder holding one file, then puts
    that file in place as `name` without its bytes passing through this process (a rename in a local folder,
    a copy inside the bucket); returns what `produce` returned. `folder` is a path on a local store, an
    `s3://`/`gs://` URL in a bucket, under a top-level `.staging/` folder that is removed whatever happens."""
    return store().write_from_folder(name, produce)


def place_from_folder(produce: Callable[[str], Mapping[str, str]]) -> None:
    """`write_from_folder` for many files: `produce(folder)` has another system write them under `folder`
    and returns {store name: sub-folder of `folder` ("" = itself) holding that name's one file}; each is put
    in place without its bytes passing through this process, and the folder is removed whatever happens."""
    store().place_from_folder(produce)


def write_file(name: str, path: str) -> str:
    """Copies the local file at `path` to `name` (replacing it); returns `name`."""
    store().write_with(name, lambda tmp: shutil.copyfile(path, tmp))
    return name


def move_file(name: str, path: str) -> str:
    """Moves the finished local file at `path` to `name` (replacing it): a rename on a local store on the same
    filesystem, else a copy or an upload; `path` is gone afterwards. Returns `name`."""
    found = store()
    target = found.local_path(name)
    if target is not None:
        try:
            _readable(path)
            _replace(path, target)
            return name
        except OSError:  # another filesystem: copy below
            pass
    try:
        found.write_with(name, lambda tmp: shutil.copyfile(path, tmp))
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    return name


def _readable(path: str) -> None:
    """Makes the file readable by all (0644) unless it already is (a file made by open() usually is): one
    stat instead of a metadata write per file of a 1,800-file unload."""
    if os.stat(path).st_mode & 0o777 != 0o644:
        os.chmod(path, 0o644)


def _replace(path: str, target: str) -> None:
    """Renames ``path`` to ``target``, making ``target``'s folders only when the rename says they are missing
    (the common case of many files into few folders costs one rename each)."""
    try:
        os.replace(path, target)
    except FileNotFoundError:
        if not os.path.exists(path):
            raise
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(path, target)


@contextlib.contextmanager
def staging_dir(folder: str) -> Iterator[str]:
    """A private local folder to write files in before `move_file` puts them in place under `folder`: inside
    the store's own folder on a local store (so a move is a rename), a temporary folder otherwise. Removed
    with whatever is left in it when the block ends."""
    base = store().local_path(folder)
    if base is not None:
        os.makedirs(base, exist_ok=True)
    path = tempfile.mkdtemp(prefix=".staging-", dir=base)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_bytes(name: str, data: bytes) -> str:
    """Writes `data` as `name` (replacing it); returns `name`."""
    store().write_with(name, lambda tmp: Path(tmp).write_bytes(data))
    return name


def write_stream(name: str, source: BinaryIO) -> str:
    """Copies a readable binary stream (an upload) to `name` (replacing it); returns `name`."""

    def copy(tmp: str) -> None:
        with open(tmp, "wb") as out:
            shutil.copyfileobj(source, out, 1024 * 1024)

    store().write_with(name, copy)
    return name


def open_read(name: str) -> BinaryIO:
    """The stored file as a readable binary stream (close it); FileNotFoundError when there is none."""
    return store().open(name)


def read_to(name: str, path: str) -> None:
    """Copies the stored file to the local file `path` (FileNotFoundError when there is none)."""
    with store().open(name) as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst, 1024 * 1024)


def exists(name: str) -> bool:
    return store().exists(name)


def delete(name: str) -> None:
    """Deletes the stored file; nothing happens when there is none."""
    store().delete(name)


def list_folder(folder: str) -> list[str]:
    """The names of every file under `folder` (recursively), sorted."""
    return store().list(folder)


def presign(name: str, *, filename: str, ttl: int | None = None) -> str | None:
    """A direct, time-limited download link (DELIVR_SIGNED_LINK_TTL_SECONDS) where the store signs one, else
    None: the caller then links to the product's own signed download."""
    ttl = ttl or settings.DELIVR_SIGNED_LINK_TTL_SECONDS
    return store().presign(name, filename=filename, ttl=ttl)


def presign_many(items: list[tuple[str, str]], *, ttl: int | None = None) -> list[str] | None:
    """`presign` for many (name, download file name) pairs, in their order, fast; None on a local store."""
    ttl = ttl or settings.DELIVR_SIGNED_LINK_TTL_SECONDS
    return store().presign_many(items, ttl=ttl)


def engine_path(name: str) -> str:
    """How the engine reads a stored file or folder: a local path, or the object's s3:// / gs:// URL."""
    found = store()
    return found.local_path(name) or found.uri(name)


def probe() -> None:
    """Writes, reads back and deletes a small file: raises when the store cannot do its work."""
    name = f"readyz/{uuid.uuid4().hex}"
    write_bytes(name, b"ok")
    try:
        with open_read(name) as fh:
            if fh.read() != b"ok":
                raise OSError("the output store returned other bytes than written")
    finally:
        delete(name)
