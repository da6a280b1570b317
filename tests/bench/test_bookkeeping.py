"""The pure helpers of bench/bookkeeping.py: the 100k-partition tree maker, the axes it gives the API, the table."""

import os

import duckdb

from bench.bookkeeping import Row, _axes, format_table, tree_100k


def test_tree_100k_when_tiny_shape_every_day_has_the_template_partitions(tmp_path):
    root = str(tmp_path / "tree")

    manifest = tree_100k(root, days=5, prefixes=2, template_days=2, rows_per_file=40, start_day="2024-12-30")

    parts = manifest["partitions"]
    assert len(parts) == 5 * 2 * 3
    assert _axes(parts) == {
        "days": ["2024-12-30", "2024-12-31", "2025-01-01", "2025-01-02", "2025-01-03"],
        "prefixes": ["4eyes_100", "4eyes_101"],
        "scores": ["high", "low", "medium"],
    }
    # day i holds template day i mod 2: same rows per prefix/score two days apart
    assert (
        parts["day=2025-01-01/prefix=4eyes_101/score=low"]
        == parts["day=2024-12-30/prefix=4eyes_101/score=low"]
    )
    glob = os.path.join(root, "day=*", "prefix=*", "score=*", "*.parquet")
    rows, days = (
        duckdb.connect()
        .execute(
            f"SELECT count(*), count(DISTINCT day) FROM read_parquet('{glob}', hive_partitioning = true)"
        )
        .fetchall()[0]
    )
    assert (rows, days) == (manifest["total_rows"], 5)
    assert sum(parts.values()) == manifest["total_rows"]


def test_tree_100k_when_present_with_same_shape_is_reused_and_other_shape_rebuilt(tmp_path):
    root = str(tmp_path / "tree")
    tree_100k(root, days=2, prefixes=1, template_days=1, rows_per_file=30)
    marker = os.path.join(root, "marker")
    open(marker, "w").close()

    again = tree_100k(root, days=2, prefixes=1, template_days=1, rows_per_file=30)
    assert os.path.exists(marker) and len(again["partitions"]) == 6

    other = tree_100k(root, days=3, prefixes=1, template_days=1, rows_per_file=30)
    assert not os.path.exists(marker) and len(other["partitions"]) == 9


def test_format_table_when_rows_of_each_kind_shows_goal_and_met():
    rows = [
        Row("count", 0.6, 0.1, note="42 partitions"),
        Row("100k count", 5.0, 2.0, 1.0),
        Row("status", 0.25, kind="status"),
        Row("worker RSS", 700.0, kind="memory"),
    ]

    lines = format_table("SQLite", rows)

    assert lines[0] == "stack: SQLite"
    assert lines[3] == "| count | 0.600 s | 0.100 s | 6.0x | 0.630 s | yes | 42 partitions |"
    assert lines[4] == "| 100k count | 5.000 s | 2.000 s | 2.5x | 3.600 s | NO |  |"
    assert lines[5] == "| status | 250 ms | | | <= 100 ms | NO |  |"
    assert lines[6] == "| worker RSS | 700 MB | | | < 1024 MB | yes |  |"
