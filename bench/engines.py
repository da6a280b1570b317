"""Bare DuckDB vs polars on the intent hive tree: the measurement behind the engine choice.

    python -m bench.engines [--root /tmp/bench_intent_20m] [--rows 20000000] [--repeat 3]

Generates the tree once (30 days x 20 prefixes x 3 scores) if ``--root`` has no ``_SUCCESS``, then times, on
a 7-day x 3-prefix x high+medium selection given to both engines as an explicit file list: count, count
distinct person_id, preview 100 rows, unload 4 columns to zstd Parquet, unload all columns to CSV. Both
engines get two threads; best of ``--repeat`` runs is printed.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable

import duckdb
import polars as pl

from audiences.engine.generator import GenerateParams, generate

DAYS = [f"2024-05-{d:02d}" for d in range(3, 10)]
PREFIXES = ["4eyes_101", "4eyes_105", "4eyes_110"]
SCORES = ["high", "medium"]
UNLOAD_COLUMNS = ["person_id", "uid2", "email", "topic_id"]


def _files(root: str) -> list[str]:
    return [
        os.path.join(root, f"day={d}", f"prefix={p}", f"score={s}", "part-0.parquet")
        for d in DAYS
        for p in PREFIXES
        for s in SCORES
    ]


def _best(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def run(root: str, repeat: int, out_dir: str) -> dict[str, dict[str, float]]:
    files = [f for f in _files(root) if os.path.exists(f)]
    con = duckdb.connect(config={"threads": 2, "memory_limit": "512MB"})
    src = f"read_parquet({files!r}, hive_partitioning = true)"
    lazy = lambda: pl.scan_parquet(files, hive_partitioning=True)  # noqa: E731

    def d_count() -> int:
        return con.execute(f"SELECT count(*) FROM {src}").fetchall()[0][0]

    def d_distinct() -> int:
        return con.execute(f"SELECT count(DISTINCT person_id) FROM {src}").fetchall()[0][0]

    def d_preview() -> int:
        return len(con.sql(f"SELECT * FROM {src} LIMIT 100").to_arrow_table())

    def d_parquet() -> None:
        cols = ", ".join(UNLOAD_COLUMNS)
        con.execute(
            f"COPY (SELECT {cols} FROM {src}) TO '{out_dir}/d.parquet' (FORMAT parquet, COMPRESSION zstd)"
        )

    def d_csv() -> None:
        con.execute(f"COPY (SELECT * FROM {src}) TO '{out_dir}/d.csv' (FORMAT csv, HEADER)")

    def p_count() -> int:
        return lazy().select(pl.len()).collect().item()

    def p_distinct() -> int:
        return lazy().select(pl.col("person_id").n_unique()).collect().item()

    def p_preview() -> int:
        return len(lazy().head(100).collect())

    def p_parquet() -> None:
        lazy().select(UNLOAD_COLUMNS).sink_parquet(f"{out_dir}/p.parquet", compression="zstd")

    def p_csv() -> None:
        lazy().sink_csv(f"{out_dir}/p.csv")

    glob = os.path.join(root, "day=*", "prefix=*", "score=*", "*.parquet")
    full = f"read_parquet('{glob}', hive_partitioning = true)"
    where = "company_employee_count IN ('201-500', '501-1000') AND intent_frequency >= 10"

    def d_full_distinct() -> int:
        return con.execute(f"SELECT count(DISTINCT person_id) FROM {full} WHERE {where}").fetchall()[0][0]

    def p_full_distinct() -> int:
        return (
            pl.scan_parquet(glob, hive_partitioning=True)
            .filter(
                pl.col("company_employee_count").is_in(["201-500", "501-1000"])
                & (pl.col("intent_frequency") >= 10)
            )
            .select(pl.col("person_id").n_unique())
            .collect()
            .item()
        )

    ops = {
        "count": (d_count, p_count),
        "count distinct person_id": (d_distinct, p_distinct),
        "preview 100": (d_preview, p_preview),
        "unload parquet (4 cols, zstd)": (d_parquet, p_parquet),
        "unload csv (all cols)": (d_csv, p_csv),
        "full tree: distinct with filter": (d_full_distinct, p_full_distinct),
    }
    results: dict[str, dict[str, float]] = {}
    for name, (d_fn, p_fn) in ops.items():
        d_t, d_r = _best(d_fn, repeat)
        p_t, p_r = _best(p_fn, repeat)
        if d_r is not None and d_r != p_r:
            raise AssertionError(f"{name}: duckdb {d_r} != polars {p_r}")
        results[name] = {"duckdb": d_t, "polars": p_t}
        print(f"{name:32s} duckdb {d_t * 1000:8.1f} ms   polars {p_t * 1000:8.1f} ms   result {d_r}")
    rows = d_count()
    print(f"selection: {len(files)} files, {rows} rows, {d_distinct()} distinct persons")
    return results


def run_engine_api(root: str, repeat: int, out_dir: str) -> dict[str, float]:
    """The same operations through audiences.engine (DuckDB + validation + listing + Arrow streaming)."""
    from audiences import engine

    sel = engine.Selection(root, days=tuple(DAYS), prefixes=tuple(PREFIXES), scores=tuple(SCORES))
    four = engine.Selection(
        root, days=tuple(DAYS), prefixes=tuple(PREFIXES), scores=tuple(SCORES), columns=tuple(UNLOAD_COLUMNS)
    )
    eng = engine.engine_for(root)
    where = engine.validate_where(
        "company_employee_count >= 201 AND company_employee_count <= '501-1000' AND intent_frequency >= 10",
        eng.dataset_columns(root),
    )
    full = engine.Selection(root, where_sql=where)
    ops: dict[str, Callable[[], object]] = {
        "count": lambda: eng.count(sel),
        "count distinct person_id": lambda: eng.count_distinct(sel),
        "preview 100": lambda: len(eng.preview(sel, 100)),
        "unload parquet (4 cols, zstd)": lambda: eng.unload(four, None, "parquet", f"{out_dir}/e.parquet"),
        "unload csv (all cols)": lambda: eng.unload(sel, None, "csv", f"{out_dir}/e.csv"),
        "csv stream (all cols)": lambda: sum(len(c) for c in eng.write_csv_stream(sel)),
        "sample 100 (group by person)": lambda: len(eng.sample(sel, 100)),
        "full tree: distinct with filter": lambda: eng.count_distinct(full),
    }
    results = {}
    for name, fn in ops.items():
        t, r = _best(fn, repeat)
        results[name] = t
        print(f"engine API {name:32s} {t * 1000:8.1f} ms   result {r}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default="/tmp/bench_intent_20m")
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not os.path.exists(os.path.join(args.root, "_SUCCESS")):
        res = generate(args.root, GenerateParams(rows=args.rows, days=30, prefixes=20, seed=args.seed))
        rate = res.total_rows / res.seconds
        print(f"generated {res.total_rows} rows in {res.seconds:.1f}s ({rate:,.0f} rows/s)")
    out_dir = tempfile.mkdtemp(prefix="bench_engines_")
    try:
        run(args.root, args.repeat, out_dir)
        run_engine_api(args.root, args.repeat, out_dir)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of this process: {peak:.0f} MB")
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
