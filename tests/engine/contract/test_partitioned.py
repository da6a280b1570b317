"""The engine contract's work-planning operations on generated data, on every backend: bytes per partition,
and unloads that write one file per partition from one pass (same rows as one unload per partition)."""

import os

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from audiences.engine import Selection, Suppression, validate_where
from audiences.engine.partitioned import partition_file

WHERE = "company_employee_count BETWEEN '11-50' AND '201-500' AND job_title <> 'CEO'"


@pytest.fixture(scope="module")
def columns(contract_tree, reference):
    return reference.dataset_columns(contract_tree[0])


@pytest.fixture(scope="module")
def opted_out(contract_tree):
    """Two people opted out, one by person id and one by email: (suppression, their person ids)."""
    rows = contract_tree[2].sort_by("person_id").slice(0, 40).to_pylist()
    a, b = rows[0], next(r for r in rows if r["person_id"] != rows[0]["person_id"])
    return Suppression(person_ids=[a["person_id"]], emails=[b["email"]]), {a["person_id"], b["person_id"]}


def _rows(path: str, fmt: str) -> list[tuple]:
    table = pq.read_table(path, partitioning=None) if fmt == "parquet" else pacsv.read_csv(path)
    return sorted(tuple(str(v) for v in row.values()) for row in table.to_pylist())


def test_partition_sizes_when_listed_then_bytes_of_each_partitions_files(backend, contract_tree):
    root, manifest, _ = contract_tree
    sizes = backend.partition_sizes(Selection(root))
    assert set(sizes) == set(manifest["partitions"])
    for key, size in sizes.items():
        folder = os.path.join(root, *key.split("/"))
        assert size == sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)) > 0
    assert backend.partition_sizes(Selection(root, days=("2030-01-01",))) == {}


def test_partition_files_when_listed_then_each_partitions_files_in_its_folder_with_bytes(
    backend, contract_tree
):
    root, manifest, _ = contract_tree
    listing = backend.partition_files(Selection(root, scores=("high",)))
    assert set(listing) == {k for k in manifest["partitions"] if k.endswith("score=high")}
    for key, files in listing.items():
        folder = os.path.join(root, *key.split("/"))
        assert files == [
            (name, os.path.getsize(os.path.join(folder, name))) for name in sorted(os.listdir(folder))
        ]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_unload_partitioned_when_filtered_and_suppressed_then_each_file_as_its_own_unload(
    backend, reference, contract_tree, columns, opted_out, tmp_path, fmt
):
    root = contract_tree[0]
    where = validate_where(WHERE, columns)
    sel = Selection(root, where_sql=where, suppression=opted_out[0], columns=("person_id", "email"))
    assert backend.count_with_suppressed(Selection(root, suppression=opted_out[0]))[1] > 0
    keys = backend.list_partitions(sel)
    finished = []
    rows = backend.unload_partitioned(
        sel, keys, fmt, str(tmp_path / "out"), on_file=lambda key, path: finished.append((key, path))
    )
    assert sorted(rows) == sorted(keys) == sorted(k for k, _ in finished)
    assert sum(rows.values()) == backend.count(sel) > 0
    for key, path in finished:
        assert path == partition_file(str(tmp_path / "out"), key, fmt)
        one = str(tmp_path / f"one.{fmt}")
        assert reference.unload(sel, key, fmt, one) == rows[key]
        assert _rows(path, fmt) == _rows(one, fmt)
        assert not {r[0] for r in _rows(path, fmt)} & opted_out[1]


def test_unload_partitioned_when_a_partition_keeps_no_row_then_an_empty_file(
    backend, contract_tree, columns, tmp_path
):
    root, manifest, _ = contract_tree
    sel = Selection(root, where_sql=validate_where("score = 'high'", columns), columns=("person_id",))
    keys = sorted(manifest["partitions"])
    rows = backend.unload_partitioned(sel, keys, "parquet", str(tmp_path))
    for key in keys:
        table = pq.read_table(partition_file(str(tmp_path), key, "parquet"), partitioning=None)
        assert table.num_rows == rows[key]
        assert table.column_names == ["person_id"]
        assert (rows[key] == 0) == (not key.endswith("score=high"))


def test_unload_partitioned_when_limited_then_at_most_limit_rows_per_partition(
    backend, contract_tree, tmp_path
):
    root, manifest, _ = contract_tree
    keys = sorted(manifest["partitions"])[:3]
    rows = backend.unload_partitioned(Selection(root), keys, "csv", str(tmp_path), limit=7)
    assert rows == {k: min(7, manifest["partitions"][k]) for k in keys}
    assert all(len(_rows(partition_file(str(tmp_path), k, "csv"), "csv")) == rows[k] for k in keys)
