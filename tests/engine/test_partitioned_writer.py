"""The one-pass partitioned unload's plumbing: files written flat in the destination (no folder per partition),
the scan read ahead on a thread of its own while the caller writes, rows told apart by their file's hash."""

import json
import os
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audiences import engine
from audiences.engine import Selection
from audiences.engine.connection import connect
from audiences.engine.generator import GenerateParams, generate
from audiences.engine.partitioned import partition_file, read_ahead
from audiences.engine.plan import file_hashes, plan_for

DUCKDB = engine.DuckDBEngine()  # the embedded backend these tests exercise


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("flat") / "tree")
    generate(root, GenerateParams(rows=3_000, days=2, prefixes=2, seed=11))
    with open(os.path.join(root, "_manifest.json")) as fh:
        return root, json.load(fh)


def _batches(n: int) -> list[pa.RecordBatch]:
    return [pa.record_batch([pa.array([i, i])], names=["n"]) for i in range(n)]


def _reader(batches) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(pa.schema([("n", pa.int64())]), batches)


def _read_ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "unload-read-ahead"]


def test_partition_file_when_keys_differ_then_distinct_names_directly_in_the_folder():
    keys = [
        "day=2024-05-01/prefix=a/score=high",
        "day=2024-05-01/prefix=a%2Fprefix=b/score=high",  # a prefix spelling another key's encoding
        "day=2024-05-01/prefix=a%252F/score=high",
        "",
    ]
    paths = [partition_file("/out", key, "csv") for key in keys]
    assert len(set(paths)) == len(keys)
    assert all(os.path.dirname(p) == "/out" for p in paths)
    assert paths[0] == "/out/day=2024-05-01%2Fprefix=a%2Fscore=high.csv"
    assert paths[-1] == "/out/_all.csv"
    assert partition_file("/out", keys[0], "parquet").endswith("score=high.parquet")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_unload_partitioned_when_many_partitions_then_only_files_in_the_destination(tree, tmp_path, fmt):
    root, manifest = tree
    keys = sorted(manifest["partitions"])
    assert len(keys) > 3
    out = tmp_path / "out"
    rows = DUCKDB.unload_partitioned(Selection(root, columns=("person_id",)), keys, fmt, str(out))
    assert rows == manifest["partitions"]
    assert sorted(os.listdir(out)) == sorted(os.path.basename(partition_file(str(out), k, fmt)) for k in keys)
    assert all((out / name).is_file() for name in os.listdir(out))


def test_read_ahead_when_read_to_the_end_then_every_batch_in_order():
    got = [b.column(0)[0].as_py() for b in read_ahead(_reader(_batches(25)), depth=2)]
    assert got == list(range(25))
    assert not _read_ahead_threads()


def test_read_ahead_when_the_reader_fails_then_the_error_is_raised_to_the_caller():
    def failing():
        yield from _batches(3)
        raise pa.ArrowInvalid("a file could not be read")

    got = []
    with pytest.raises(pa.ArrowInvalid, match="could not be read"):
        for batch in read_ahead(_reader(failing()), depth=1):
            got.append(batch.column(0)[0].as_py())
    assert got == [0, 1, 2]
    assert not _read_ahead_threads()


def test_read_ahead_when_the_caller_stops_early_then_its_thread_ends():
    def endless():
        i = 0
        while True:
            yield pa.record_batch([pa.array([i])], names=["n"])
            i += 1

    batches = read_ahead(_reader(endless()), depth=1)
    assert next(batches).column(0)[0].as_py() == 0
    batches.close()  # the caller left (a write failed): the thread is told and joined
    assert not _read_ahead_threads()


def _plan_hashes(sel: Selection, keys: list[str]) -> dict[int, str] | None:
    con = connect()
    try:
        return file_hashes(con, sel, plan_for(sel, partitions=keys))
    finally:
        con.close()


def test_unload_partitioned_when_local_files_then_rows_told_apart_by_file_hash(tree, tmp_path):
    root, manifest = tree
    keys = sorted(manifest["partitions"])
    sel = Selection(root, where_sql=engine.validate_where("score = 'high'", DUCKDB.dataset_columns(root)))
    hashes = _plan_hashes(sel, keys)
    assert hashes is not None and sorted(set(hashes.values())) == keys  # one integer per file names its key
    rows = DUCKDB.unload_partitioned(sel, keys, "csv", str(tmp_path / "out"))
    for key in keys:  # the WHERE prunes whole files: rows still land in their own partition's file
        assert rows[key] == (manifest["partitions"][key] if key.endswith("score=high") else 0)


def test_unload_partitioned_when_data_has_a_filename_column_then_hive_columns_name_partitions(tmp_path):
    root = tmp_path / "tree"
    keys = ["day=2024-05-01/prefix=a/score=high", "day=2024-05-01/prefix=b/score=low"]
    for i, key in enumerate(keys):
        folder = root / key
        folder.mkdir(parents=True)
        table = pa.table({"person_id": [f"p{i}-{n}" for n in range(3 + i)], "filename": ["x.csv"] * (3 + i)})
        pq.write_table(table, folder / "part-0.parquet")
    sel = Selection(str(root), columns=("person_id", "filename"))
    assert _plan_hashes(sel, keys) is None  # DuckDB's filename would be the data's: not used
    rows = DUCKDB.unload_partitioned(sel, keys, "csv", str(tmp_path / "out"))
    assert rows == {keys[0]: 3, keys[1]: 4}
    first = (tmp_path / "out" / os.path.basename(partition_file("", keys[0], "csv"))).read_text()
    assert first.splitlines() == ['"person_id","filename"'] + [f'"p0-{n}","x.csv"' for n in range(3)]


def test_runs_when_values_are_null_then_a_null_next_to_a_value_starts_a_run():
    from audiences.engine.partitioned import _runs

    batch = pa.record_batch([pa.array([1, 1, None, None, 2, 2, None])], names=["k"])
    # a null beside anything counts as a change (nulls are never merged into a run with their neighbour)
    assert _runs(batch, ["k"]) == [(0, 2), (2, 3), (3, 4), (4, 6), (6, 7)]
    assert _runs(batch.slice(0, 1), ["k"]) == [(0, 1)]


def test_unload_in_a_worker_process_when_pandas_is_installed_then_it_is_not_imported(tree, tmp_path):
    """pandas (installed beside the Spark client) costs ~45 MB of private memory per process once imported;
    a worker's local count and unload must not import it (pyarrow does on a Python-to-Arrow conversion)."""
    import subprocess
    import sys

    pytest.importorskip("pandas")
    root, manifest = tree
    keys = sorted(manifest["partitions"])
    script = f"""
import sys
from audiences import engine
from audiences.engine import Selection
sel = Selection({root!r}, columns=("person_id", "email"))
eng = engine.DuckDBEngine()
for fmt in ("csv", "parquet"):
    eng.unload_partitioned(sel, {keys!r}, fmt, {str(tmp_path / "out")!r} + fmt)
eng.count_partitions(sel, {keys!r})
print("pandas" in sys.modules, "pyarrow.dataset" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "False"]
