"""The engine contract on generated data: every backend gives the same answers to the same selections.

Counts, distinct profiles and opt-outs are checked against the tree read independently with pyarrow; the
shaped answers (sample rows, CSV text, value suggestions) against the DuckDB engine, the reference.
"""

import hashlib
import io
import os
import shutil

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from audiences.engine import (
    Engine,
    EngineError,
    Selection,
    Suppression,
    UnreadableFileError,
    WritesOutputs,
    validate_where,
)
from delivr_admin.storage import LocalStore

WHERE = "company_employee_count BETWEEN '11-50' AND '201-500' AND score >= 'medium' AND job_title <> 'CEO'"
DAY = "2024-05-02"
PREFIXES = ("4eyes_100", "4eyes_101")


def _truth(table: pa.Table, *, day: str | None = DAY, where: bool = True) -> pa.Table:
    """The rows of the day matching WHERE, computed with pyarrow alone (buckets spelled out)."""
    mask = pc.is_valid(table["person_id"])
    if day:
        mask = pc.and_(mask, pc.equal(table["day"], day))
    if where:
        sizes = pa.array(["11-50", "51-200", "201-500"])
        mask = pc.and_(mask, pc.is_in(table["company_employee_count"], sizes))
        mask = pc.and_(mask, pc.is_in(table["score"], pa.array(["medium", "high"])))
        mask = pc.and_(mask, pc.not_equal(table["job_title"], "CEO"))
    return table.filter(mask)


def _sel(root: str, types, **extra) -> Selection:
    return Selection(root, days=(DAY,), prefixes=PREFIXES, where_sql=validate_where(WHERE, types), **extra)


@pytest.fixture(scope="module")
def columns(contract_tree, reference):
    return reference.dataset_columns(contract_tree[0])


@pytest.fixture(scope="module")
def opted_out(contract_tree):
    """Four people of the selection opted out four ways: person id, uid2, a plain email (written in another
    case, with spaces) and an email that arrived hashed."""
    truth = _truth(contract_tree[2]).sort_by("person_id").to_pylist()
    people = {}
    for row in truth:
        people.setdefault(row["person_id"], row)
    a, b, c, d = list(people.values())[:4]
    sup = Suppression(
        person_ids=[a["person_id"]],
        uid2s=[b["uid2"]],
        emails=[f"  {c['email'].upper()} "],
        email_sha256=[hashlib.sha256(d["email"].lower().encode()).hexdigest()],
    )
    return sup, {r["person_id"] for r in (a, b, c, d)}, {r["uid2"] for r in (a, b, c, d)}


def test_backend_when_checked_then_implements_the_engine_protocol(backend):
    assert isinstance(backend, Engine)


def test_dataset_columns_when_read_then_same_names_and_types_as_duckdb(backend, reference, contract_tree):
    assert backend.dataset_columns(contract_tree[0]) == reference.dataset_columns(contract_tree[0])


def test_count_when_partitions_where_and_buckets_then_rows_and_profiles_match_the_tree(
    backend, contract_tree, columns
):
    root, _, table = contract_tree
    truth = _truth(table)
    sel = _sel(root, columns)

    assert backend.count(sel) == truth.num_rows > 0
    assert backend.count_distinct(sel) == len(pc.unique(truth["person_id"]))


def test_whole_tree_when_counted_then_the_manifest(backend, contract_tree):
    root, manifest, _ = contract_tree
    summary = backend.count_summary(Selection(root))
    assert (summary.records, summary.distinct_profiles) == (
        manifest["total_rows"],
        manifest["distinct_persons"],
    )


def test_opt_outs_when_suppressed_then_counts_exclude_them_and_no_read_returns_them(
    backend, contract_tree, columns, opted_out
):
    root, _, table = contract_tree
    sup, persons, uid2s = opted_out
    truth = _truth(table)
    kept = truth.filter(pc.invert(pc.is_in(truth["person_id"], pa.array(sorted(persons)))))
    sel = _sel(root, columns, suppression=sup)

    assert backend.count_with_suppressed(sel) == (kept.num_rows, truth.num_rows - kept.num_rows)
    summary = backend.count_summary(sel)
    assert (summary.records, summary.suppressed) == (kept.num_rows, truth.num_rows - kept.num_rows)
    assert summary.distinct_profiles == len(pc.unique(truth["person_id"])) - 4
    read = pa.Table.from_batches(list(backend.iter_batches(sel, batch_size=500)))
    assert read.num_rows == kept.num_rows
    assert not set(read["person_id"].to_pylist()) & persons
    assert not set(read["uid2"].to_pylist()) & uid2s


def test_count_partitions_when_suppressed_then_per_partition_kept_and_removed(
    backend, contract_tree, columns, opted_out
):
    root, _, table = contract_tree
    sup, persons, _ = opted_out
    sel = _sel(root, columns, suppression=sup)
    keys = backend.list_partitions(sel)
    truth = _truth(table)
    expected = {}
    for key in keys:
        day, prefix, score = (part.split("=", 1)[1] for part in key.split("/"))
        rows = truth.filter(pc.and_(pc.equal(truth["prefix"], prefix), pc.equal(truth["score"], score)))
        removed = int(pc.sum(pc.is_in(rows["person_id"], pa.array(sorted(persons)))).as_py() or 0)
        expected[key] = (rows.num_rows - removed, removed)

    assert len(keys) == 6  # 2 prefixes x 3 scores of one day
    assert backend.count_partitions(sel, keys) == expected
    assert backend.count(sel, keys[-1]) == expected[keys[-1]][0]


def test_preview_when_limited_and_projected_then_limit_rows_of_the_selection(backend, contract_tree, columns):
    sel = _sel(contract_tree[0], columns, columns=("person_id", "day", "score", "seen_at"))
    rows = backend.preview(sel, 5)

    assert len(rows) == 5
    assert all(list(r) == ["person_id", "day", "score", "seen_at"] for r in rows)
    assert {r["day"] for r in rows} == {DAY} and {r["score"] for r in rows} <= {"medium", "high"}
    assert all(r["seen_at"].startswith(DAY) for r in rows)


def test_sample_when_suppressed_then_same_people_and_figures_as_duckdb(
    backend, reference, contract_tree, columns, opted_out
):
    sel = _sel(contract_tree[0], columns, suppression=opted_out[0])
    rows = backend.sample(sel, 7)

    assert rows == reference.sample(sel, 7)
    assert len(rows) == 7 and not {r["person_id"] for r in rows} & opted_out[1]


def _csv_lines(data: bytes) -> tuple[str, list[str]]:
    lines = data.decode().splitlines()
    return lines[0], sorted(lines[1:])


def test_unload_when_csv_and_parquet_then_same_rows_as_duckdb(
    backend, reference, contract_tree, columns, opted_out, tmp_path
):
    sel = _sel(contract_tree[0], columns, suppression=opted_out[0])
    out, ref = io.BytesIO(), io.BytesIO()

    written = backend.unload(sel, None, "csv", out)
    assert written == reference.unload(sel, None, "csv", ref) == backend.count(sel)
    assert _csv_lines(out.getvalue()) == _csv_lines(ref.getvalue())

    path = str(tmp_path / "part.parquet")
    assert backend.unload(sel, None, "parquet", path, limit=10) == 10
    unloaded = pq.read_table(path)
    assert unloaded.schema == pq.read_schema(_reference_parquet(reference, sel, tmp_path))
    assert not set(unloaded["person_id"].to_pylist()) & opted_out[1]


def test_unload_folder_when_the_cluster_writes_then_the_file_unload_writes(
    backend, reference, contract_tree, columns, opted_out, tmp_path
):
    if not isinstance(backend, WritesOutputs):
        pytest.skip(f"{backend.name} streams unloads through the worker (unload above)")
    sel = _sel(contract_tree[0], columns, suppression=opted_out[0])
    store, ref = LocalStore(str(tmp_path / "store")), io.BytesIO()

    written = store.write_from_folder(
        "t/a.csv", lambda folder: backend.unload_folder(sel, None, "csv", folder)
    )
    assert written == reference.unload(sel, None, "csv", ref) == backend.count(sel)
    with store.open("t/a.csv") as fh:
        assert _csv_lines(fh.read()) == _csv_lines(ref.getvalue())

    empty = Selection(contract_tree[0], days=("2030-01-01",), columns=("person_id", "email"))
    assert store.write_from_folder("t/e.csv", lambda f: backend.unload_folder(empty, None, "csv", f)) == 0
    assert open(store.local_path("t/e.csv"), "rb").read() == b'"person_id","email"\n'

    part = f"day={DAY}/prefix={PREFIXES[0]}/score=high"
    assert store.write_from_folder(
        "t/p.parquet", lambda folder: backend.unload_folder(sel, part, "parquet", folder, limit=10)
    ) == min(10, backend.count(sel, part))
    unloaded = pq.read_table(store.local_path("t/p.parquet"))
    assert _types(unloaded.schema) == _types(pq.read_schema(_reference_parquet(reference, sel, tmp_path)))
    assert not set(unloaded["person_id"].to_pylist()) & opted_out[1]
    assert sorted(os.listdir(tmp_path / "store")) == [".staging", "t"] and not os.listdir(
        tmp_path / "store/.staging"
    )


def _types(schema: pa.Schema) -> list[tuple[str, str]]:
    """Names and types; an instant's zone by meaning (Spark's Parquet reads back as "UTC", DuckDB's "Etc/UTC")."""
    return [(f.name, str(f.type).replace("Etc/UTC", "UTC")) for f in schema]


def _reference_parquet(reference, sel, tmp_path) -> str:
    path = str(tmp_path / "reference.parquet")
    reference.unload(sel, None, "parquet", path, limit=1)
    return path


def test_csv_stream_when_people_then_same_text_as_duckdb(
    backend, reference, contract_tree, columns, opted_out
):
    sel = _sel(contract_tree[0], columns, suppression=opted_out[0])
    got = b"".join(backend.write_csv_stream(sel, rows="people", batch_size=100))

    assert _csv_lines(got) == _csv_lines(b"".join(reference.write_csv_stream(sel, rows="people")))
    assert not any(p.encode() in got for p in opted_out[1])


def test_value_counts_by_day_when_asked_then_same_suggestions_as_duckdb(backend, reference, contract_tree):
    sel = Selection(contract_tree[0], prefixes=PREFIXES[:1])
    assert backend.value_counts_by_day(sel, "job_title", 3) == reference.value_counts_by_day(
        sel, "job_title", 3
    )


def test_empty_selection_when_read_then_zero_rows_and_a_header(backend, contract_tree):
    sel = Selection(contract_tree[0], days=("2030-01-01",), columns=("person_id", "email"))
    out = io.BytesIO()

    assert backend.count(sel) == 0
    assert backend.unload(sel, None, "csv", out) == 0
    assert pacsv.read_csv(io.BytesIO(out.getvalue())).column_names == ["person_id", "email"]


def test_partition_when_not_in_the_selection_then_engine_error(backend, contract_tree):
    sel = Selection(contract_tree[0], days=(DAY,))
    with pytest.raises(EngineError):
        backend.count(sel, "day=2024-05-01/prefix=4eyes_100/score=high")


@pytest.fixture(scope="module")
def broken_tree(contract_tree, tmp_path_factory):
    """A copy of the tree whose one file is truncated (a half-written upload)."""
    root = str(tmp_path_factory.mktemp("engine-contract-broken") / "tree")
    shutil.copytree(contract_tree[0], root)
    bad = os.path.join(root, f"day={DAY}", f"prefix={PREFIXES[0]}", "score=high", "part-0.parquet")
    os.truncate(bad, 300)
    return root


def test_unreadable_file_when_read_then_unreadable_file_error_naming_it_in_the_dataset(backend, broken_tree):
    with pytest.raises(UnreadableFileError) as caught:
        backend.count(Selection(broken_tree, days=(DAY,), where_sql='"intent_frequency" > 0'))
    assert caught.value.file == f"day={DAY}/prefix={PREFIXES[0]}/score=high/part-0.parquet"


def test_missing_tree_when_read_then_engine_error(backend, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EngineError):
        backend.dataset_columns(str(empty))


def test_values_present_when_asked_in_any_case_then_the_existing_ones_lower_cased(backend, contract_tree):
    titles = sorted(set(contract_tree[2]["job_title"].to_pylist()))[:2]
    sel = Selection(contract_tree[0], days=(DAY,))

    found = backend.values_present(sel, "job_title", [titles[0].upper(), f" {titles[1]} ", "No Such Title"])

    assert found == {titles[0].lower(), titles[1].lower()}


def test_value_counts_sample_when_partition_rows_known_then_same_estimate_as_duckdb(
    backend, reference, contract_tree
):
    root, manifest, _ = contract_tree
    sel = Selection(root)
    rows = manifest["partitions"]

    estimate = backend.value_counts_sample(sel, "country", max_files=4, partition_rows=rows)

    assert estimate == reference.value_counts_sample(sel, "country", max_files=4, partition_rows=rows)
    assert estimate and abs(sum(estimate.values()) - manifest["total_rows"]) < manifest["total_rows"] * 0.2
    assert backend.value_counts_sample(sel, "country", max_files=40, partition_rows=rows) is None


def test_value_counts_sample_when_only_files_known_then_the_same_files_scaled_by_bytes(
    backend, reference, contract_tree
):
    root, manifest, _ = contract_tree
    sel = Selection(root, days=(DAY,))

    estimate = backend.value_counts_sample(sel, "country", max_files=4)

    assert estimate and estimate == reference.value_counts_sample(sel, "country", max_files=4)
    truth = sum(n for k, n in manifest["partitions"].items() if k.startswith(f"day={DAY}/"))
    assert abs(sum(estimate.values()) - truth) <= 0.25 * truth  # 4 of 6 files, scaled by their bytes
    assert backend.value_counts_sample(sel, "country", max_files=50) is None  # no read to save


def test_reads_when_fetched_in_chunks_then_the_same_rows_and_people_as_duckdb(
    backend, reference, contract_tree, columns, opted_out, monkeypatch
):
    """Rows fetched by the cluster's public toArrow() a chunk at a time (Spark): chunks of half the
    selection's bytes give two queries or more and the same answers as one (each costs a Spark job: ~25 s
    here at three chunks, so two)."""
    if backend.name != "spark":
        pytest.skip("DuckDB streams its results")
    from audiences.engine import spark

    sel = Selection(contract_tree[0], days=(DAY,), suppression=opted_out[0])
    monkeypatch.setattr(spark, "CHUNK_BYTES", sum(reference.partition_sizes(sel).values()) // 2 + 1)
    assert len(backend._chunks(sel, None, people=False)) >= 2
    assert len(backend._chunks(sel, None, people=True)) == 2

    def rows(engine, **kw) -> list[tuple]:
        table = pa.Table.from_batches(list(engine.iter_batches(sel, 50, **kw)))
        return sorted(tuple(r.values()) for r in table.to_pylist())

    assert rows(backend) == rows(reference)
    assert len(rows(backend, limit=7)) == 7
    got = b"".join(backend.write_csv_stream(sel, rows="people", batch_size=100))
    assert _csv_lines(got) == _csv_lines(b"".join(reference.write_csv_stream(sel, rows="people")))


def test_unload_partitioned_folder_when_the_cluster_writes_then_each_partition_file_unload_writes(
    backend, reference, contract_tree, columns, opted_out, tmp_path
):
    if not isinstance(backend, WritesOutputs):
        pytest.skip(f"{backend.name} writes partitioned unloads in this process (unload_partitioned)")
    where = validate_where("score = 'high' AND intent_frequency > 2", columns)
    sel = Selection(
        contract_tree[0],
        days=(DAY,),
        columns=("person_id", "email", "seen_at"),
        where_sql=where,
        suppression=opted_out[0],
    )
    keys = [f"day={DAY}/prefix={p}/score={s}" for p in PREFIXES for s in ("high", "low")]  # low: no row left
    store, found = LocalStore(str(tmp_path / "store")), {}

    def produce(folder: str) -> dict[str, str]:
        found.update(backend.unload_partitioned_folder(sel, keys, "csv", folder, limit=40))
        return {f"t/{k}.csv": sub for k, (_, sub) in found.items() if sub is not None}

    store.place_from_folder(produce)

    assert set(found) == set(keys)
    for key in keys:
        ref = io.BytesIO()
        rows = reference.unload(sel, key, "csv", ref, limit=40)
        assert found[key][0] == rows
        if key.endswith("low"):
            assert rows == 0 and found[key][1] is None
            continue
        assert 0 < rows <= 40
        with store.open(f"t/{key}.csv") as fh:
            got = _csv_lines(fh.read())
        assert got[0] == _csv_lines(ref.getvalue())[0] and len(got[1]) == rows
        if rows < 40:  # not cut by the limit: the very rows DuckDB writes
            assert got == _csv_lines(ref.getvalue())
    assert not os.listdir(tmp_path / "store/.staging")

    parquet = backend.unload_partitioned_folder(sel, keys[:1], "parquet", str(tmp_path / "pq"))
    ((rows, sub),) = parquet.values()
    assert (
        rows == reference.count(sel, keys[0]) and pq.read_table(str(tmp_path / "pq" / sub)).num_rows == rows
    )
