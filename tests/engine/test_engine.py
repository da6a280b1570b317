import csv
import io
import json
import os
import shutil

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from audiences import engine
from audiences.engine import EngineError, Selection, Suppression
from audiences.engine.generator import GenerateParams, generate
from delivr_admin.emails import email_sha256

DUCKDB = engine.DuckDBEngine()  # the embedded backend these tests exercise

HIVE = ds.partitioning(
    pa.schema([("day", pa.string()), ("prefix", pa.string()), ("score", pa.string())]), flavor="hive"
)
BIG = ("201-500", "501-1000", "1001-5000", "5001-10000", "10001+")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("engine") / "tree")
    generate(root, GenerateParams(rows=20_000, days=3, prefixes=3, seed=3))
    with open(os.path.join(root, "_manifest.json")) as fh:
        return root, json.load(fh)


@pytest.fixture(scope="module")
def table(tree):
    """The whole tree read independently with pyarrow.dataset (20k rows)."""
    return ds.dataset(tree[0], format="parquet", partitioning=HIVE).to_table()


@pytest.fixture(scope="module")
def columns(tree):
    return DUCKDB.dataset_columns(tree[0])


def _where(columns, expr):
    return engine.validate_where(expr, columns)


def _mask(table, days=(), prefixes=(), scores=()):
    m = pc.equal(pc.utf8_length(table["person_id"]), pc.utf8_length(table["person_id"]))
    for col, vals in (("day", days), ("prefix", prefixes), ("score", scores)):
        if vals:
            m = pc.and_(m, pc.is_in(table[col], pa.array(list(vals))))
    return m


def test_dataset_columns_when_hive_then_includes_partition_columns(columns):
    assert columns["day"] == "DATE" and columns["prefix"] == "VARCHAR" and columns["score"] == "VARCHAR"
    assert columns["intent_frequency"] == "INTEGER" and columns["person_id"] == "VARCHAR"


def test_list_partitions_when_filtered_then_only_matching_keys(tree):
    root, manifest = tree
    assert DUCKDB.list_partitions(Selection(root)) == sorted(manifest["partitions"])
    keys = DUCKDB.list_partitions(
        Selection(root, days=("2024-05-02",), prefixes=("4eyes_101",), scores=("high", "medium"))
    )
    assert keys == [
        "day=2024-05-02/prefix=4eyes_101/score=high",
        "day=2024-05-02/prefix=4eyes_101/score=medium",
    ]
    assert not any("_SUCCESS" in k or "_manifest" in k for k in DUCKDB.list_partitions(Selection(root)))


@pytest.mark.parametrize(
    "sel_kwargs",
    [
        {},
        {"days": ("2024-05-01",)},
        {"prefixes": ("4eyes_100", "4eyes_102"), "scores": ("high",)},
        {"days": ("20240502", "2024-05-03"), "scores": ("medium", "low")},
    ],
)
def test_count_when_selection_then_equals_manifest_and_pyarrow(tree, table, sel_kwargs):
    root, manifest = tree
    sel = Selection(root, **sel_kwargs)
    keys = DUCKDB.list_partitions(sel)
    assert DUCKDB.count(sel) == sum(manifest["partitions"][k] for k in keys)
    days = tuple(f"{d[:4]}-{d[4:6]}-{d[6:]}" if "-" not in d else d for d in sel_kwargs.get("days", ()))
    mask = _mask(table, days, sel_kwargs.get("prefixes", ()), sel_kwargs.get("scores", ()))
    assert DUCKDB.count(sel) == pc.sum(mask).as_py()
    assert DUCKDB.count_distinct(sel) == len(pc.unique(table.filter(mask)["person_id"]))
    for key in keys[:3]:
        assert DUCKDB.count(sel, partition=key) == manifest["partitions"][key]


def test_count_when_partition_outside_selection_then_error(tree):
    with pytest.raises(EngineError):
        DUCKDB.count(
            Selection(tree[0], scores=("high",)), partition="day=2024-05-01/prefix=4eyes_100/score=low"
        )


@pytest.mark.parametrize(
    ("expr", "pa_filter"),
    [
        ("score >= 'medium'", lambda t: pc.is_in(t["score"], pa.array(["medium", "high"]))),
        (
            "score > 'low' AND intent_frequency >= 10",
            lambda t: pc.and_(
                pc.is_in(t["score"], pa.array(["medium", "high"])),
                pc.greater_equal(t["intent_frequency"], 10),
            ),
        ),
        ("company_employee_count > '51-200'", lambda t: pc.is_in(t["company_employee_count"], pa.array(BIG))),
        (
            "company_employee_count >= '51-200'",
            lambda t: pc.is_in(t["company_employee_count"], pa.array(("51-200",) + BIG)),
        ),
        (
            "company_employee_count < '201-500'",
            lambda t: pc.is_in(t["company_employee_count"], pa.array(["1-10", "11-50", "51-200"])),
        ),
        (
            "company_employee_count <= '51-200'",
            lambda t: pc.is_in(t["company_employee_count"], pa.array(["1-10", "11-50", "51-200"])),
        ),
        (
            "company_employee_count BETWEEN '11-50' AND '201-500'",
            lambda t: pc.is_in(t["company_employee_count"], pa.array(["11-50", "51-200", "201-500"])),
        ),
        ("company_employee_count >= 200", lambda t: pc.is_in(t["company_employee_count"], pa.array(BIG))),
        (
            "company_employee_count < 500",
            lambda t: pc.is_in(t["company_employee_count"], pa.array(["1-10", "11-50", "51-200"])),
        ),
        ("company_employee_count <= 10", lambda t: pc.equal(t["company_employee_count"], "1-10")),
        (
            "company_employee_count BETWEEN 11 AND 200",
            lambda t: pc.is_in(t["company_employee_count"], pa.array(["11-50", "51-200"])),
        ),
        (
            "NOT company_employee_count > 1000 AND country IN ('US', 'CA')",
            lambda t: pc.and_(
                pc.invert(pc.is_in(t["company_employee_count"], pa.array(BIG[2:]))),
                pc.is_in(t["country"], pa.array(["US", "CA"])),
            ),
        ),
        (
            "email ILIKE '%@BLUE%' OR job_title = 'CEO'",
            lambda t: pc.or_(
                pc.match_like(t["email"], "%@blue%", ignore_case=True), pc.equal(t["job_title"], "CEO")
            ),
        ),
        (
            "day = '2024-05-02' AND prefix <> '4eyes_100'",
            lambda t: pc.and_(pc.equal(t["day"], "2024-05-02"), pc.not_equal(t["prefix"], "4eyes_100")),
        ),
        ("email = '' OR email IS NULL", lambda t: pc.equal(t["email"], "")),
    ],
)
def test_where_when_filtered_then_equals_pyarrow(tree, table, columns, expr, pa_filter):
    sel = Selection(tree[0], where_sql=_where(columns, expr))
    expected = table.filter(pa_filter(table))
    assert expected.num_rows > 0
    assert DUCKDB.count(sel) == expected.num_rows
    assert DUCKDB.count_distinct(sel) == len(pc.unique(expected["person_id"]))


def test_where_when_not_validated_sql_then_refused_by_engine(tree):
    with pytest.raises(engine.UnsafeExpression):
        DUCKDB.count(Selection(tree[0], where_sql="person_id IN (SELECT * FROM read_csv('/etc/passwd'))"))


def test_selection_when_day_folder_missing_then_no_crash(tree, tmp_path):
    root = str(tmp_path / "copy")
    shutil.copytree(tree[0], root)
    shutil.rmtree(os.path.join(root, "day=2024-05-02"))
    with open(os.path.join(root, "day=2024-05-01", "notes.txt"), "w") as fh:
        fh.write("not data")
    open(os.path.join(root, "day=2024-05-01", "prefix=4eyes_100", "score=low", "_SUCCESS"), "w").close()
    sel = Selection(root, days=("2024-05-01", "2024-05-02"))
    keys = DUCKDB.list_partitions(sel)
    assert keys and all(k.startswith("day=2024-05-01/") for k in keys)
    assert DUCKDB.count(sel) == sum(tree[1]["partitions"][k] for k in keys)
    empty = Selection(root, days=("2024-05-02",))
    assert DUCKDB.list_partitions(empty) == [] and DUCKDB.count(empty) == 0
    assert DUCKDB.preview(empty, 5) == []
    assert b"".join(DUCKDB.write_csv_stream(empty)).startswith(b'"person_id"')
    buf = io.BytesIO()
    assert DUCKDB.unload(empty, None, "parquet", buf) == 0
    assert pq.read_table(io.BytesIO(buf.getvalue())).num_rows == 0


def test_preview_when_limited_then_json_friendly_rows(tree):
    rows = DUCKDB.preview(Selection(tree[0], columns=("person_id", "day", "seen_at", "intent_frequency")), 7)
    assert len(rows) == 7
    assert set(rows[0]) == {"person_id", "day", "seen_at", "intent_frequency"}
    assert isinstance(rows[0]["day"], str) and rows[0]["seen_at"].startswith(rows[0]["day"])
    json.dumps(rows)


def test_sample_when_grouped_then_equals_pyarrow_group_by(tree, table, columns):
    sel = Selection(tree[0], scores=("high",), where_sql=_where(columns, "intent_frequency > 5"))
    rows = DUCKDB.sample(sel, 50)
    sub = table.filter(pc.and_(pc.equal(table["score"], "high"), pc.greater(table["intent_frequency"], 5)))
    agg = sub.group_by("person_id").aggregate([("person_id", "count"), ("impression_count", "sum")])
    expected = {r["person_id"]: r for r in agg.to_pylist()}
    assert len(rows) == 50 and [r["person_id"] for r in rows] == sorted(expected)[:50]
    for r in rows:
        assert r["intent_frequency"] == expected[r["person_id"]]["person_id_count"]
        assert r["impression_count"] == expected[r["person_id"]]["impression_count_sum"]
        assert {"email", "uid2", "first_name", "last_name", "company_name"} <= set(r)
    json.dumps(rows)


def _suppressed(table):
    """Four people and a Suppression naming each through a different identifier."""
    counts = table.group_by("person_id").aggregate([("person_id", "count")]).sort_by("person_id")
    valid = table.filter(pc.match_like(table["email"], "%@%"))
    people = [p for p in pc.unique(valid["person_id"]).to_pylist()][:4]
    rows = {p: valid.filter(pc.equal(valid["person_id"], p)).slice(0, 1).to_pylist()[0] for p in people}
    sup = Suppression(
        person_ids=[people[0]],
        uid2s=[rows[people[1]]["uid2"]],
        emails=["  " + rows[people[2]]["email"].upper() + " "],
        email_sha256=[email_sha256(rows[people[3]]["email"])],
    )
    n = sum(r["person_id_count"] for r in counts.to_pylist() if r["person_id"] in people)
    return people, sup, n


def test_suppression_when_identifiers_match_then_rows_removed_everywhere(tree, table, tmp_path):
    people, sup, removed = _suppressed(table)
    sel = Selection(tree[0], suppression=sup)
    total = table.num_rows
    assert removed > 4
    assert DUCKDB.count(sel) == total - removed
    assert DUCKDB.count_with_suppressed(sel) == (total - removed, removed)
    assert DUCKDB.count_with_suppressed(Selection(tree[0])) == (total, 0)
    assert DUCKDB.count_distinct(sel) == len(pc.unique(table["person_id"])) - 4

    def ids(values):
        return set(values) & set(people)

    narrow = Selection(tree[0], suppression=sup, columns=("person_id",))
    assert not ids(r["person_id"] for r in DUCKDB.preview(narrow, total))
    assert not ids(r["person_id"] for r in DUCKDB.sample(sel, total))
    batches = list(DUCKDB.iter_batches(sel, batch_size=4096))
    assert sum(b.num_rows for b in batches) == total - removed
    assert max(b.num_rows for b in batches) <= 4096
    assert not ids(v for b in batches for v in b.column("person_id").to_pylist())
    out = str(tmp_path / "s.parquet")
    assert DUCKDB.unload(sel, None, "parquet", out) == total - removed
    assert not ids(pq.read_table(out)["person_id"].to_pylist())
    buf = io.BytesIO()
    assert DUCKDB.unload(sel, None, "csv", buf) == total - removed
    assert not ids(pacsv.read_csv(io.BytesIO(buf.getvalue()))["person_id"].to_pylist())
    streamed = b"".join(DUCKDB.write_csv_stream(sel, batch_size=5000))
    reader = list(csv.DictReader(io.StringIO(streamed.decode())))
    assert len(reader) == total - removed and not ids(r["person_id"] for r in reader)


def test_unload_when_parquet_then_zstd_projection_and_limit(tree, tmp_path):
    root, manifest = tree
    key = "day=2024-05-03/prefix=4eyes_102/score=low"
    sel = Selection(root, columns=("person_id", "EMAIL", "topic_id", "score"))
    path = str(tmp_path / "p.parquet")
    assert DUCKDB.unload(sel, key, "parquet", path) == manifest["partitions"][key]
    pf = pq.ParquetFile(path)
    assert pf.metadata.num_rows == manifest["partitions"][key]
    assert pf.schema_arrow.names == ["person_id", "email", "topic_id", "score"]
    assert pf.metadata.row_group(0).column(0).compression == "ZSTD"
    buf = io.BytesIO()
    assert DUCKDB.unload(sel, None, "parquet", buf, limit=123) == 123
    assert pq.read_table(io.BytesIO(buf.getvalue())).num_rows == 123


def test_unload_when_csv_then_header_rows_and_limit(tree, tmp_path):
    root, manifest = tree
    key = "day=2024-05-01/prefix=4eyes_101/score=medium"
    path = str(tmp_path / "p.csv")
    assert DUCKDB.unload(Selection(root), key, "csv", path) == manifest["partitions"][key]
    assert pacsv.read_csv(path).num_rows == manifest["partitions"][key]
    chunks = list(DUCKDB.write_csv_stream(Selection(root, columns=("person_id", "day")), limit=10))
    lines = b"".join(chunks).decode().splitlines()
    assert lines[0] == '"person_id","day"' and len(lines) == 11
    with pytest.raises(ValueError):
        DUCKDB.unload(Selection(root), key, "xlsx", io.BytesIO())
