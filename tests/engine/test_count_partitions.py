import json
import os

import pytest

from audiences import engine
from audiences.engine import EngineError, Selection, Suppression
from audiences.engine.generator import GenerateParams, generate

DUCKDB = engine.DuckDBEngine()  # the embedded backend these tests exercise


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("grouped") / "tree")
    generate(root, GenerateParams(rows=12_000, days=3, prefixes=3, seed=5))
    with open(os.path.join(root, "_manifest.json")) as fh:
        return root, json.load(fh)


def test_count_partitions_when_grouped_then_equal_per_partition_counts(tree):
    root, manifest = tree
    columns = DUCKDB.dataset_columns(root)
    sel = Selection(input_path=root, where_sql=engine.validate_where("country = 'US'", columns))
    keys = DUCKDB.list_partitions(sel)
    grouped = DUCKDB.count_partitions(sel, keys)
    assert set(grouped) == set(keys)
    for key in keys:
        assert grouped[key] == DUCKDB.count_with_suppressed(sel, key)
    plain = DUCKDB.count_partitions(Selection(input_path=root), keys)
    assert {k: v[0] for k, v in plain.items()} == manifest["partitions"]


def test_count_partitions_when_suppressed_then_reports_removed_rows(tree):
    root, _ = tree
    first = DUCKDB.preview(Selection(input_path=root), 1)[0]
    sel = Selection(input_path=root, suppression=Suppression(person_ids=[first["person_id"]]))
    keys = DUCKDB.list_partitions(sel)
    grouped = DUCKDB.count_partitions(sel, keys)
    for key in keys:
        assert grouped[key] == DUCKDB.count_with_suppressed(sel, key)
    assert sum(removed for _, removed in grouped.values()) >= 1


def test_count_partitions_when_partition_not_in_selection_then_error(tree):
    root, _ = tree
    with pytest.raises(EngineError):
        DUCKDB.count_partitions(
            Selection(input_path=root, scores=("high",)), ["day=2024-05-01/prefix=4eyes_100/score=low"]
        )


def test_count_partitions_when_handed_the_planned_listing_then_nothing_is_listed_again(tree, monkeypatch):
    root, manifest = tree
    columns = DUCKDB.dataset_columns(root)
    plain, where = (
        Selection(input_path=root),
        Selection(input_path=root, where_sql=engine.validate_where("country = 'US'", columns)),
    )
    listing = DUCKDB.partition_files(plain)
    keys = sorted(listing)
    assert all(
        files == [("part-0.parquet", os.path.getsize(os.path.join(root, k, "part-0.parquet")))]
        for k, files in listing.items()
    )
    expected = {"plain": DUCKDB.count_partitions(plain, keys), "where": DUCKDB.count_partitions(where, keys)}

    def no_listing(*args, **kwargs):
        raise AssertionError("the unit listed its folders again")

    monkeypatch.setattr("audiences.engine.plan.layout", no_listing)
    monkeypatch.setattr("audiences.engine.plan.local_partitions_layout", no_listing)
    monkeypatch.setattr("audiences.engine.selection.os.listdir", no_listing)
    assert DUCKDB.count_partitions(plain, keys, listing=listing) == expected["plain"]
    assert {k: n for k, (n, _) in expected["plain"].items()} == manifest["partitions"]
    assert DUCKDB.count_partitions(where, keys[:4], listing=listing) == {
        k: expected["where"][k] for k in keys[:4]
    }


@pytest.mark.parametrize(
    "files",
    [[("../../other/part-0.parquet", 10)], [("/etc/passwd", 10)], [("a/./b.parquet", 1)], []],
)
def test_count_partitions_when_a_listing_leaves_its_folder_or_is_empty_then_error(tree, files):
    root, _ = tree
    key = DUCKDB.list_partitions(Selection(input_path=root))[0]
    with pytest.raises(EngineError):
        DUCKDB.count_partitions(Selection(input_path=root), [key], listing={key: files})


def test_count_partitions_when_the_listed_partition_is_outside_the_selection_then_error(tree):
    root, _ = tree
    listing = DUCKDB.partition_files(Selection(input_path=root))
    key = next(k for k in listing if k.endswith("score=low"))
    with pytest.raises(EngineError):
        DUCKDB.count_partitions(Selection(input_path=root, scores=("high",)), [key], listing=listing)


def test_count_partitions_when_a_listed_file_was_removed_since_then_error_naming_it(tmp_path):
    root = str(tmp_path / "tree")
    generate(root, GenerateParams(rows=600, days=1, prefixes=1, seed=2))
    sel = Selection(input_path=root)
    listing = DUCKDB.partition_files(sel)
    key = sorted(listing)[-1]
    os.remove(os.path.join(root, key, listing[key][0][0]))
    with pytest.raises(EngineError, match=f"{key}/part-0.parquet was removed"):
        DUCKDB.count_partitions(sel, sorted(listing), listing=listing)


def test_count_partitions_when_a_file_is_rewritten_after_a_count_then_the_new_rows(tmp_path):
    import pyarrow.parquet as pq

    root = str(tmp_path / "tree")
    generate(root, GenerateParams(rows=900, days=1, prefixes=1, seed=4))
    sel = Selection(input_path=root)
    keys = DUCKDB.list_partitions(sel)
    first = DUCKDB.count_partitions(sel, keys)  # footers read once and remembered...
    path = os.path.join(root, keys[0], "part-0.parquet")
    table = pq.read_table(path, partitioning=None)
    pq.write_table(table.slice(0, 7), path)  # ...until a file is written again
    again = DUCKDB.count_partitions(sel, keys, listing=DUCKDB.partition_files(sel))
    assert again == {**first, keys[0]: (7, 0)} and first[keys[0]] != (7, 0)
