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
