"""The engine contract on a tree without hive folders (a contact list): people known by email or uid2 only,
read whole, with the same counts, profiles, samples and opt-outs on every backend."""

import io
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audiences.engine import Selection, Suppression


@pytest.fixture(scope="module")
def list_tree(tmp_path_factory):
    """Two files in nested folders: 60 rows, people by email (some written twice in another case), some by
    uid2 only; a _SUCCESS marker that is not data."""
    root = tmp_path_factory.mktemp("engine-contract-list") / "list"
    (root / "sub").mkdir(parents=True)
    emails = [f"Person{i}@Example.com" if i % 3 else f" person{i}@example.com " for i in range(40)]
    first = pa.table(
        {
            "email": emails + [None] * 10,
            "uid2": [None] * 40 + [f"uid-{i}" for i in range(10)],
            "first_name": [f"N{i}" for i in range(50)],
        }
    )
    second = pa.table(
        {
            "email": [f"PERSON{i}@example.com" for i in range(5)] + [None] * 5,
            "uid2": [None] * 5 + [f"uid-{i}" for i in range(5)],
            "first_name": [f"M{i}" for i in range(10)],
        }
    )
    pq.write_table(first, root / "part-0.parquet")
    pq.write_table(second, root / "sub" / "part-1.parquet")
    (root / "_SUCCESS").write_text("")
    return str(root)


def test_list_when_counted_then_rows_and_people_by_email_or_uid2(backend, list_tree):
    summary = backend.count_summary(Selection(list_tree))
    assert (summary.records, summary.distinct_profiles, summary.suppressed) == (60, 50, 0)
    assert backend.list_partitions(Selection(list_tree)) == []
    assert backend.count_partitions(Selection(list_tree), [""]) == {"": (60, 0)}


def test_list_when_opted_out_by_email_and_uid2_then_removed_everywhere(backend, reference, list_tree):
    sup = Suppression(emails=["person1@EXAMPLE.com"], uid2s=["uid-2"])
    sel = Selection(list_tree, suppression=sup)

    assert backend.count_with_suppressed(sel) == (56, 4)  # person1 twice, uid-2 twice
    assert backend.sample(sel, 5) == reference.sample(sel, 5)
    out = io.BytesIO()
    backend.unload(sel, None, "csv", out)
    text = out.getvalue().decode().lower()
    assert "person1@example.com" not in text and "uid-2" not in text
    people = b"".join(backend.write_csv_stream(sel, rows="people")).decode().splitlines()
    assert len(people) == 1 + 48


def test_list_when_read_then_no_marker_file_is_data(backend, list_tree):
    assert os.path.exists(os.path.join(list_tree, "_SUCCESS"))
    assert backend.count(Selection(list_tree)) == 60
