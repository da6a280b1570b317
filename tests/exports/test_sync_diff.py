"""The sync diff's key matching: two independent 64-bit key hashes (128 bits), and the text keys of the
records that would be sent as changes, so a collision can neither drop a removal nor turn an added record
into a changed one."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from exports.services.runs.snapshot import SNAPSHOT_SCHEMA, Previous, key_checks, key_hashes


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
    """A snapshot in key-hash order (as written before 1ec59c8): used as it is, no sort at load."""
    from exports.services.runs.snapshot import SNAPSHOT_FILE_SCHEMA

    keys = [f"k{n}" for n in range(50)]
    hashes = key_hashes(pa.array(keys)).to_numpy().astype(np.uint64)
    order = np.argsort(hashes)
    table = _snapshot(keys).take(pa.array(order))
    checks = key_checks(pa.array(keys)).to_numpy().astype(np.uint64)
    table = table.append_column("key_hash", pa.array(hashes[order]))
    table = table.append_column("key_check", pa.array(checks[order])).cast(SNAPSHOT_FILE_SCHEMA)
    previous = Previous(None, table)
    assert previous._key_order is None  # used as stored
    wanted = pa.array(["k7", "nope", "k49", "k0"])
    rows = previous.lookup(wanted)
    found = [table.column("record_key")[int(r)].as_py() if r >= 0 else None for r in rows]
    assert found == ["k7", None, "k49", "k0"]
    prints = pa.array([107, 5, 1, 100], pa.uint64())  # k7 and k0 as held, k49 changed
    assert previous.unchanged(prints, rows).tolist() == [True, False, False, True]


def test_keys_sharing_both_hashes_are_told_apart_when_they_would_be_sent() -> None:
    """Both 64-bit hashes forced equal for every key (a 128-bit collision): the records found with other
    values are compared as text before they count as changed, so a new key is not taken for another's row
    and a changed record finds its own row."""
    snapshot = _snapshot(["k1", "k2", "k3"])
    previous = Previous(None, snapshot, hash_keys=_all_collide, check_keys=_all_collide)
    keys = pa.array(["k3", "k9", "k2"])
    prints = pa.array([5, 6, 101], pa.uint64())  # k3 changed, k9 new, k2 as held (row 1's fingerprint)
    rows, same = previous.diff(keys, prints, np.arange(3))
    assert rows.tolist() == [2, -1, 1]
    assert same.tolist() == [False, False, True]
    previous.meet(_spool(["k3", "k9", "k2"], same.tolist()), rows)
    assert (previous.added, previous.changed) == (1, 1)
    assert previous.departed().column("record_key").to_pylist() == ["k1"]


def test_only_the_first_hash_colliding_needs_no_text_key() -> None:
    """Keys sharing the first hash are told apart by the second alone: unchanged records are found too."""
    snapshot = _snapshot(["k1", "k2", "k3", "k4"])
    previous = Previous(None, snapshot, hash_keys=_all_collide)
    rows, same = previous.diff(pa.array(["k4", "k2", "k7"]), pa.array([103, 0, 1], pa.uint64()), np.arange(3))
    assert rows.tolist() == [3, 1, -1]
    assert same.tolist() == [True, False, False]


def test_a_snapshot_written_before_the_second_hash_is_read_as_it_was() -> None:
    """A snapshot file with the key hash but no key check (written by the previous version): the check
    hashes are made at load, the rows found the same (no export resends everything after the upgrade)."""
    from exports.services.runs.snapshot import stored_schema

    keys = [f"k{n}" for n in range(40)]
    hashes = key_hashes(pa.array(keys)).to_numpy().astype(np.uint64)
    order = np.argsort(hashes)
    table = _snapshot(keys).take(pa.array(order)).append_column("key_hash", pa.array(hashes[order]))
    table = table.cast(stored_schema(table.schema.names))
    assert "key_check" not in table.schema.names
    previous = Previous(None, table)
    assert previous._key_order is None
    rows = previous.lookup(pa.array(["k3", "k39", "zz"]))
    assert [table.column("record_key")[int(r)].as_py() if r >= 0 else None for r in rows] == [
        "k3",
        "k39",
        None,
    ]


def test_a_snapshot_in_the_order_its_batches_were_filed_is_ordered_at_load() -> None:
    """The snapshot as a run writes it (rows as filed, both hashes stored): the load orders the hashes, and
    rows come back as the table's own rows."""
    keys = [f"k{n}" for n in range(60)]
    table = _snapshot(keys)
    table = table.append_column("key_hash", key_hashes(pa.array(keys)).to_arrow())
    table = table.append_column("key_check", key_checks(pa.array(keys)).to_arrow())
    previous = Previous(None, table)
    assert previous._key_order is not None
    wanted = pa.array(["k59", "k0", "nope", "k31"])
    prints = pa.array([159, 1, 2, 131], pa.uint64())  # k59 and k31 as held, k0 changed
    rows, same = previous.diff(wanted, prints, np.arange(4))
    assert rows.tolist() == [59, 0, -1, 31]
    assert same.tolist() == [True, False, False, True]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hash_order_is_an_argsort_also_when_high_bits_tie(seed: int) -> None:
    """The packed sort orders by the hash's high bits and the position; runs of equal high bits (forced
    here: many hashes differ only in their low bits) still come out in full-hash order."""
    from exports.services.runs.snapshot import hash_order

    rng = np.random.default_rng(seed)
    high = rng.integers(0, 50, 3000, dtype=np.uint64) << np.uint64(40)  # 50 values of high bits for 3,000
    hashes = high | rng.integers(0, 1 << 12, 3000, dtype=np.uint64)  # low bits below the position's 12
    order = hash_order(hashes)
    assert sorted(order.tolist()) == list(range(3000))
    assert (np.diff(hashes[order].astype(np.float64)) >= 0).all()
    assert (hashes[order] == np.sort(hashes)).all()
    plain = rng.integers(0, 2**63, 5000, dtype=np.uint64) * np.uint64(2)
    assert (plain[hash_order(plain)] == np.sort(plain)).all()
