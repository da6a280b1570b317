"""The sync diff's key matching: 64-bit key hashes first, then the keys themselves, so a hash collision can
neither drop a removal nor turn an added record into a changed one."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pyarrow as pa
import pytest

from exports.services.runs.snapshot import SNAPSHOT_SCHEMA, Previous, key_hashes


def _snapshot(keys: list[str]) -> pa.Table:
    n = len(keys)
    return pa.table(
        {
            "record_key": keys,
            "fingerprint": pa.array(range(100, 100 + n), pa.uint64()),
            "person_id": keys,
            "email": [None] * n,
            "uid2": [None] * n,
            "sent_at": [datetime(2026, 11, 1, tzinfo=UTC)] * n,
        },
        schema=SNAPSHOT_SCHEMA,
    )


def _spool(keys: list[str], unchanged: list[bool]) -> pa.Table:
    return pa.table(
        {
            "record_key": pa.array(keys, pa.string()),
            "fingerprint": pa.array(range(len(keys)), pa.uint64()),
            "held": [True] * len(keys),
            "unchanged": unchanged,
        }
    )


def _all_collide(keys: pa.Array) -> pl.Series:
    return pl.repeat(0, len(keys), dtype=pl.UInt64, eager=True)


def _two_groups(keys: pa.Array) -> pl.Series:
    """Keys ending in an even digit share one hash, the others another: collisions inside both sides."""
    last = pl.from_arrow(keys).str.slice(-1).cast(pl.UInt64)
    return last % 2


@pytest.mark.parametrize("hash_keys", [key_hashes, _all_collide, _two_groups], ids=["real", "one", "two"])
def test_diff_is_exact_whatever_the_key_hashes(hash_keys) -> None:
    snapshot = _snapshot(["k1", "k2", "k3", "k4", "k6"])
    previous = Previous(None, snapshot, hash_keys=hash_keys)
    # batch 1: k2 unchanged, k3 changed, k5 new; batch 2: k8 new, k6 changed; k1 and k4 left
    rows1 = previous.meet(_spool(["k2", "k3", "k5"], [True, False, False]))
    rows2 = previous.meet(_spool(["k8", "k6"], [False, False]))
    assert rows1.to_pylist() == [1, 2, None]
    assert rows2.to_pylist() == [None, 4]
    assert (previous.added, previous.changed) == (2, 2)
    assert sorted(previous.departed().column("record_key").to_pylist()) == ["k1", "k4"]
    assert previous.held.tolist() == [False, True, True, False, True]


def test_new_keys_only_when_the_snapshot_is_empty() -> None:
    previous = Previous(None, None)
    rows = previous.meet(_spool(["a", "b"], [False, False]))
    assert rows.null_count == 2
    assert (previous.added, previous.changed) == (2, 0)
    assert previous.departed().num_rows == 0


def test_snapshot_in_key_hash_order_when_loaded_finds_rows_and_unchanged_fingerprints() -> None:
    """The snapshot as written (sorted by its stored key hashes): no sort at load, the same answers."""
    import numpy as np

    from exports.services.runs.snapshot import SNAPSHOT_FILE_SCHEMA

    keys = [f"k{n}" for n in range(50)]
    hashes = key_hashes(pa.array(keys)).to_numpy().astype(np.uint64)
    order = np.argsort(hashes)
    table = _snapshot(keys).take(pa.array(order))
    table = table.append_column("key_hash", pa.array(hashes[order])).cast(SNAPSHOT_FILE_SCHEMA)
    previous = Previous(None, table)
    assert previous._key_order is None  # used as stored
    wanted = pa.array(["k7", "nope", "k49", "k0"])
    rows = previous.lookup(wanted)
    found = [table.column("record_key")[int(r)].as_py() if r >= 0 else None for r in rows]
    assert found == ["k7", None, "k49", "k0"]
    prints = pa.array([107, 5, 1, 100], pa.uint64())  # k7 and k0 as held, k49 changed
    assert previous.unchanged(prints, rows).to_list() == [True, False, False, True]
