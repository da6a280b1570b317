"""Tenant storage: every file the product writes for an organization lives under `<area>/<organization id>/`.

A user-supplied part (an export's `path_prefix`) is normalised and joined below that folder; whatever it says
(`../`, an absolute path, another organization's id), the result cannot leave it.
"""

import posixpath
import re
import uuid

AREAS = ("tasks", "lists", "exports")
_PART_RE = re.compile(r"^[A-Za-z0-9_\-.]{1,100}$")
MAX_PREFIX_LENGTH = 200


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
