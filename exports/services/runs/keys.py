"""Record keys and their deduplication across a run: vectorised (Arrow and polars), never per record.

A record's key is its person_id, else its email (lower-cased, trimmed); null when it has neither. The dry run
uses the same functions so that it counts duplicates exactly as a run does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

KEY_COLUMNS = ("person_id", "email")


def _key_part(name: str, col: pa.Array) -> pa.Array:
    col = pc.cast(col, pa.string()) if not pa.types.is_string(col.type) else col
    col = pc.utf8_trim_whitespace(col)
    if name == "email":
        col = pc.utf8_lower(col)
    blank = pc.equal(pc.binary_length(col), 0)
    if not pc.any(blank).as_py():
        return col
    return pc.if_else(blank, pa.scalar(None, pa.string()), col)


def record_keys(batch: pa.RecordBatch) -> pa.Array:
    """person_id, else email (lower-cased, trimmed); null when a record has neither.

    The email is only read for the records without a person_id (usually none).
    """
    key = None
    for name in KEY_COLUMNS:
        if name not in batch.schema.names:
            continue
        col = batch.column(batch.schema.get_field_index(name))
        if key is None:
            key = _key_part(name, col)
            continue
        if not key.null_count:
            break
        missing = pc.is_null(key)
        key = pc.replace_with_mask(key, missing, _key_part(name, col.filter(missing)))
    return key if key is not None else pa.nulls(batch.num_rows, pa.string())


def key_hashes(keys: pa.Array) -> pl.Series:
    """64-bit hashes of string keys (polars; stable within a process, which is all they are used for)."""
    return pl.from_arrow(keys).hash(seed=0)


class SeenKeys:
    """The record keys a run has met (Arrow strings, one chunk per batch) and their 64-bit hashes.

    Membership tests stay vectorised and cheap as the set grows: the seen hashes are probed against the
    batch's (a hash table over the batch, not over everything seen), and only the seen keys whose hash
    matched are compared as strings, so the answer is exact (a hash collision only adds a comparison).
    """

    def __init__(self) -> None:
        self._chunks: list[pa.Array] = []
        self._hashes: pl.Series | None = None
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, keys: pa.Array, hashes: pl.Series | None = None) -> None:
        if not len(keys):
            return
        hashes = key_hashes(keys) if hashes is None else hashes
        self._chunks.append(keys)
        self._hashes = hashes if self._hashes is None else self._hashes.append(hashes)
        self._size += len(keys)

    def array(self) -> pa.Array:
        if len(self._chunks) != 1:
            self._chunks = [pa.concat_arrays(self._chunks) if self._chunks else pa.array([], pa.string())]
        return self._chunks[0]

    def known(self, candidates: pa.Array, hashes: pl.Series | None = None) -> pa.Array | None:
        """Mask over distinct non-null candidates: True for the keys met already (None when there are none)."""
        if not self._size or not len(candidates):
            return None
        hashes = key_hashes(candidates) if hashes is None else hashes
        hit = self._hashes.is_in(hashes.implode())
        if not hit.any():
            return None
        hit = hit.to_arrow()
        if isinstance(hit, pa.ChunkedArray):
            hit = hit.combine_chunks()
        matched, offset = [], 0
        for chunk in self._chunks:
            part = chunk.filter(hit.slice(offset, len(chunk)))
            offset += len(chunk)
            if len(part):
                matched.append(part)
        known = pc.is_in(candidates, value_set=pa.concat_arrays(matched))
        return known if known.true_count else None

    def remember(self, candidates: pa.Array) -> pa.Array | None:
        """Adds the distinct non-null candidates not met yet; returns known() of them."""
        hashes = key_hashes(candidates) if len(candidates) else None
        known = self.known(candidates, hashes)
        if known is not None:
            fresh = pc.invert(known)
            candidates, hashes = candidates.filter(fresh), hashes.filter(pl.from_arrow(fresh))
        self.add(candidates, hashes)
        return known


def first_occurrences(keys: pa.Array, seen: SeenKeys) -> pa.Array:
    """Boolean mask: rows whose (non-null) key appears for the first time in this run (and remembers them)."""
    n = len(keys)
    if n == keys.null_count:
        return pa.repeat(pa.scalar(False), n)
    series = pl.from_arrow(keys)
    first = series.is_first_distinct()
    if keys.null_count:
        first = first & series.is_not_null()
    mask = first.to_arrow()
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    known = seen.remember(keys.filter(mask))  # the batch's distinct keys, in order of first appearance
    if known is not None:
        mask = pc.replace_with_mask(mask, mask, pc.invert(known))
    return mask


def coalesce(batches: Iterable[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """Record batches of about `size` rows (the engine cuts them at file boundaries, often much smaller)."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        pending.append(batch)
        rows += batch.num_rows
        if rows >= size:
            yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)
            pending, rows = [], 0
    if pending:
        yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)


def column_or_null(batch: pa.RecordBatch, name: str) -> pa.Array:
    """The column as strings, or nulls when the batch lacks it."""
    if name not in batch.schema.names:
        return pa.nulls(batch.num_rows, pa.string())
    col = batch.column(batch.schema.get_field_index(name))
    return col if pa.types.is_string(col.type) else pc.cast(col, pa.string())
