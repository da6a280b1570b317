"""Where audience data may be read from: user-supplied ``input_path`` values checked against allowed roots."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence

REMOTE_SCHEMES = ("s3://", "gs://")


class InputPathError(ValueError):
    """An input path outside the allowed roots, malformed or missing."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def is_remote(path: str) -> bool:
    """True for ``s3://`` and ``gs://`` paths (also ``gcs://`` is refused elsewhere, not treated remote)."""
    return path.startswith(REMOTE_SCHEMES)


def _normalize_remote(path: str) -> str:
    scheme, rest = path.split("://", 1)
    segments = rest.split("/")
    if any(seg in ("..", ".") for seg in segments) or "\\" in rest or not segments[0]:
        raise InputPathError(f"invalid object-storage path: {path!r}")
    clean = posixpath.normpath("/" + rest).lstrip("/")
    return f"{scheme}://{clean}".rstrip("/")


def resolve_input_path(path: str, roots: Sequence[str]) -> str:
    """Return the canonical form of ``path`` if it lies under one of ``roots``, else raise InputPathError.

    Local paths are resolved with ``realpath`` (symlinks followed) and must be an existing directory inside a
    local root (roots are realpath'd too). ``s3://``/``gs://`` paths must start with a remote root on a
    segment boundary and contain no ``.``/``..`` segments. Any other scheme (``file://``, ``http://``...) is
    refused.
    """
    if not isinstance(path, str) or not path.strip():
        raise InputPathError("input path is empty")
    if "\x00" in path:
        raise InputPathError("input path contains a NUL byte")
    path = path.strip()
    if is_remote(path):
        target = _normalize_remote(path)
        for root in roots:
            if not is_remote(root):
                continue
            base = _normalize_remote(root)
            if target == base or target.startswith(base + "/"):
                return target
        raise InputPathError(f"input path {path!r} is not under an allowed storage root")
    if "://" in path or path.lower().startswith("file:"):
        raise InputPathError(f"unsupported scheme in input path {path!r}")
    if not os.path.isabs(path):
        raise InputPathError(f"input path must be absolute: {path!r}")
    real = os.path.realpath(path)
    for root in roots:
        if is_remote(root) or "://" in root:
            continue
        base = os.path.realpath(root)
        if real == base or real.startswith(base.rstrip(os.sep) + os.sep):
            if not os.path.isdir(real):
                raise InputPathError(f"input path does not exist or is not a directory: {path!r}")
            return real
    raise InputPathError(f"input path {path!r} is not under an allowed data root")
