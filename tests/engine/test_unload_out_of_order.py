"""The one-pass unload when the engine does not keep each partition's rows together: a partition whose rows
come in two runs is written again on its own, so every file still holds exactly its partition's rows."""

import json
import os

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from audiences import engine
from audiences.engine import Selection, partitioned
from audiences.engine.generator import GenerateParams, generate

DUCKDB = engine.DuckDBEngine()


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("out_of_order") / "tree")
    generate(root, GenerateParams(rows=6_000, days=2, prefixes=2, seed=3))
    with open(os.path.join(root, "_manifest.json")) as fh:
        return root, json.load(fh)


class _Interleaved:
    """A real DuckDB cursor whose one-pass scan comes back ordered by a hash of the row, not by partition:
    what a parallel scan may do. Everything else is the cursor's own."""

    def __init__(self, con):
        self._con = con

    def sql(self, query, params=None):
        return self._con.sql(
            f"SELECT * FROM ({query}) ORDER BY hash(person_id, email, topic_id, seen_at)", params=params
        )

    def __getattr__(self, name):
        return getattr(self._con, name)


def _rows(path: str, fmt: str) -> list[tuple]:
    table = pq.read_table(path, partitioning=None) if fmt == "parquet" else pacsv.read_csv(path)
    return sorted(tuple(str(v) for v in row.values()) for row in table.to_pylist())


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_unload_partitioned_when_rows_come_out_of_order_then_split_partitions_rewritten_whole(
    tree, tmp_path, monkeypatch, fmt
):
    root, manifest = tree
    real_connect = partitioned.connect
    monkeypatch.setattr(partitioned, "connect", lambda: _Interleaved(real_connect()))
    rewritten = []
    real_each = partitioned.unload_each

    def unload_each(unload, sel, keys, *args, **kwargs):
        rewritten.extend(keys)
        return real_each(unload, sel, keys, *args, **kwargs)

    monkeypatch.setattr(partitioned, "unload_each", unload_each)
    sel = Selection(root, columns=("person_id", "email", "topic_id", "seen_at"))
    keys = sorted(manifest["partitions"])
    finished: dict[str, list[str]] = {}
    out = str(tmp_path / "out")
    rows = partitioned.unload_partitioned(
        sel, keys, fmt, out, batch_size=64, on_file=lambda k, p: finished.setdefault(k, []).append(p)
    )

    assert len(rewritten) == len(set(rewritten)) > 0  # the path under test ran, once per split partition
    assert rows == manifest["partitions"]
    assert sorted(finished) == keys
    for key in keys:
        path = partitioned.partition_file(out, key, fmt)
        assert finished[key][-1] == path  # the last file announced is the whole one
        assert len(finished[key]) == (2 if key in rewritten else 1)
        one = str(tmp_path / f"one.{fmt}")
        assert DUCKDB.unload(sel, key, fmt, one) == rows[key]
        assert _rows(path, fmt) == _rows(one, fmt)
