import filecmp
import io
import json
import os

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from audiences.engine.buckets import EMPLOYEE_BUCKETS, SCORES
from audiences.engine.generator import GenerateParams, generate, partition_counts
from audiences.engine.reads import IDENTITY_COLUMNS

PARAMS = GenerateParams(rows=20_000, days=3, prefixes=3, seed=11)
HIVE = ds.partitioning(
    pa.schema([("day", pa.string()), ("prefix", pa.string()), ("score", pa.string())]), flavor="hive"
)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("gen") / "tree")
    generate(root, PARAMS)
    with open(os.path.join(root, "_manifest.json")) as fh:
        return root, json.load(fh)


def _files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def test_generate_when_same_seed_then_same_manifest_and_bytes(tree, tmp_path):
    root, manifest = tree
    again = str(tmp_path / "again")
    generate(again, PARAMS)
    with open(os.path.join(again, "_manifest.json")) as fh:
        assert json.load(fh) == manifest
    assert _files(again) == _files(root)
    for rel in _files(root):
        assert filecmp.cmp(os.path.join(root, rel), os.path.join(again, rel), shallow=False), rel


def test_generate_when_other_seed_then_different_data(tree, tmp_path):
    root, manifest = tree
    other = str(tmp_path / "other")
    generate(other, GenerateParams(rows=20_000, days=3, prefixes=3, seed=12))
    with open(os.path.join(other, "_manifest.json")) as fh:
        assert json.load(fh)["partitions"] != manifest["partitions"]


def test_manifest_when_generated_then_true_counts(tree):
    root, manifest = tree
    assert os.path.exists(os.path.join(root, "_SUCCESS"))
    assert manifest["total_rows"] == PARAMS.rows == sum(manifest["partitions"].values())
    assert manifest["params"]["seed"] == PARAMS.seed
    assert len(manifest["partitions"]) == 27
    for key, n in manifest["partitions"].items():
        assert key.startswith("day=2024-05-0") and "/prefix=4eyes_10" in key and "/score=" in key
        assert pq.ParquetFile(os.path.join(root, key, "part-0.parquet")).metadata.num_rows == n
    table = ds.dataset(root, format="parquet", partitioning=HIVE).to_table()
    assert table.num_rows == PARAMS.rows
    assert manifest["distinct_persons"] == len(pc.unique(table["person_id"]))


def test_generated_rows_when_read_then_schema_and_shape_as_documented(tree):
    root, _ = tree
    path = os.path.join(root, "day=2024-05-02", "prefix=4eyes_101", "score=high", "part-0.parquet")
    meta = pq.ParquetFile(path)
    assert meta.metadata.row_group(0).column(0).compression == "ZSTD"
    schema = meta.schema_arrow
    assert schema.field("intent_frequency").type == pa.int32()
    assert schema.field("impression_count").type == pa.int32()
    assert schema.field("seen_at").type == pa.timestamp("us", tz="UTC")
    assert "day" not in schema.names and "score" not in schema.names
    table = ds.dataset(root, format="parquet", partitioning=HIVE).to_table()
    persons = len(pc.unique(table["person_id"]))
    assert persons < table.num_rows / 2  # people repeat across days and topics
    assert set(pc.unique(table["company_employee_count"]).to_pylist()) <= set(EMPLOYEE_BUCKETS)
    by_score = {s: pc.sum(pc.equal(table["score"], s)).as_py() for s in SCORES}
    assert by_score["low"] > by_score["medium"] > by_score["high"] > 0
    pairs = table.group_by("person_id").aggregate([("uid2", "count_distinct"), ("email", "count_distinct")])
    assert pc.max(pairs["uid2_count_distinct"]).as_py() == 1
    assert pc.max(pairs["email_count_distinct"]).as_py() == 1
    assert len(pc.unique(table["uid2"])) == persons
    emails = pc.unique(table["email"]).to_pylist()
    assert "" in emails and any("@" not in e for e in emails if e)
    topic_ok = pc.starts_with(table["topic_id"], "4eyes_1")
    assert pc.all(topic_ok).as_py()
    day_start = pc.strptime(table["day"], format="%Y-%m-%d", unit="us")
    delta = pc.subtract(
        pc.cast(pc.cast(table["seen_at"], pa.timestamp("us")), pa.int64()), pc.cast(day_start, pa.int64())
    )
    assert pc.min(delta).as_py() >= 0 and pc.max(delta).as_py() < 86_400_000_000


def test_generated_files_when_read_then_identity_attributes_and_topic_dictionary_encoded(tree):
    root, _ = tree
    path = os.path.join(root, "day=2024-05-02", "prefix=4eyes_101", "score=high", "part-0.parquet")
    group = pq.ParquetFile(path).metadata.row_group(0)
    chunks = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    encoded = {name for name, chunk in chunks.items() if chunk.dictionary_page_offset is not None}
    assert encoded == set(IDENTITY_COLUMNS) - {"uid2", "email"} | {"topic_id"}


def test_partition_counts_when_tiny_rows_then_exact_total():
    counts = partition_counts(GenerateParams(rows=7, days=2, prefixes=2, seed=1))
    assert sum(counts.values()) == 7 and len(counts) == 12


def test_generate_when_zero_rows_then_empty_manifest(tmp_path):
    res = generate(str(tmp_path / "z"), GenerateParams(rows=0, days=1, prefixes=1))
    assert res.total_rows == 0 and res.partitions == 0


def test_command_when_called_then_writes_tree_and_summary(tmp_path):
    pytest.importorskip("django")
    from audiences.management.commands.generate_intent_data import Command

    out = io.StringIO()
    cmd = Command(stdout=out)
    parser = cmd.create_parser("manage.py", "generate_intent_data")
    opts = vars(
        parser.parse_args(
            [
                "--out",
                str(tmp_path / "t"),
                "--rows",
                "500",
                "--days",
                "2",
                "--prefixes",
                "2",
                "--seed",
                "5",
                "--start-day",
                "2024-06-01",
            ]
        )
    )
    cmd.handle(**opts)
    assert "wrote 500 rows" in out.getvalue()
    with open(tmp_path / "t" / "_manifest.json") as fh:
        manifest = json.load(fh)
    assert manifest["params"]["start_day"] == "2024-06-01"
    assert all(k.startswith("day=2024-06-0") for k in manifest["partitions"])


def test_generate_when_two_worker_processes_then_identical_bytes(tmp_path, monkeypatch):
    import audiences.engine.generator as gen

    monkeypatch.setattr(gen, "CHUNK_ROWS", 5_000)  # several chunks even for a small tree
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    gen.generate(one, PARAMS, workers=1)
    gen.generate(two, PARAMS, workers=2)
    assert _files(one) == _files(two)
    for rel in _files(one):
        assert filecmp.cmp(os.path.join(one, rel), os.path.join(two, rel), shallow=False), rel
