"""The Spark engine against the DuckDB engine on the same selections, through the engine contract.

    python -m bench.spark --remote sc://127.0.0.1:15002 [--root /tmp/bench_intent_spark] [--rows 1000000]
                          [--repeat 2] [--only "export read,unload"]

Generates the tree once (10 days x 10 prefixes x 3 scores) if ``--root`` has no ``_SUCCESS``; then, on a
5-day x 3-prefix x high+medium selection with a where_expr and 100 opted-out people, times each operation on
both engines (best of ``--repeat``, after one warm-up query that starts Spark's executor), checks that the
answers are equal and prints both times and the ratio. Spark runs on whatever cluster ``--remote`` names
(`bin/spark start` gives a one-machine cluster: the ratio then shows Spark's fixed cost per query, not what a
real cluster does with data one worker cannot hold).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Callable

import pyarrow.dataset as ds

from audiences.engine import Selection, Suppression, WritesOutputs, validate_where
from audiences.engine.contract import DuckDBEngine
from audiences.engine.generator import GenerateParams, generate
from audiences.engine.spark import SparkEngine
from delivr_admin.storage import LocalStore

DAYS = tuple(f"2024-05-{d:02d}" for d in range(3, 8))
PREFIXES = ("4eyes_101", "4eyes_104", "4eyes_107")
SCORES = ("high", "medium")
WHERE = "company_employee_count >= '51-200' AND intent_frequency >= 3"


def _best(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def _operations(sel: Selection, keys: list[str], out: str) -> dict[str, Callable]:
    four = dataclasses.replace(sel, columns=("person_id", "uid2", "email", "topic_id"))
    return {
        "count (where, opt-outs)": lambda e: e.count_with_suppressed(sel),
        "builder estimate (summary)": lambda e: e.count_summary(sel),
        "count per partition": lambda e: e.count_partitions(sel, keys),
        "preview 100": lambda e: len(e.preview(sel, 100)),
        "sample 100": lambda e: e.sample(sel, 100),
        "unload parquet (4 cols)": lambda e: e.unload(four, None, "parquet", f"{out}/{e.name}.parquet"),
        "unload csv (all cols)": lambda e: e.unload(sel, None, "csv", f"{out}/{e.name}.csv"),
        "export read (iter_batches)": lambda e: sum(b.num_rows for b in e.iter_batches(sel)),
        "people CSV download": lambda e: len(b"".join(e.write_csv_stream(sel, rows="people")).splitlines()),
        "task unload parquet (4 cols)": lambda e: _task_unload(e, four, "parquet", out),
        "task unload csv (all cols)": lambda e: _task_unload(e, sel, "csv", out),
    }


def _task_unload(engine: object, sel: Selection, fmt: str, out: str) -> int:
    """A task's unload as the worker runs it: the cluster writes the file itself where the engine can
    (WritesOutputs), else the rows stream to this process; rows written."""
    store = LocalStore(os.path.join(out, "store"))
    name = f"t/{engine.name}.{fmt}"
    if isinstance(engine, WritesOutputs):
        return store.write_from_folder(name, lambda folder: engine.unload_folder(sel, None, fmt, folder))
    return store.write_with(name, lambda path: engine.unload(sel, None, fmt, path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--remote", default=os.environ.get("DELIVR_SPARK_REMOTE", "sc://127.0.0.1:15002"))
    parser.add_argument("--root", default="/tmp/bench_intent_spark")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated parts of operation names to run")
    args = parser.parse_args()
    if not os.path.exists(os.path.join(args.root, "_SUCCESS")):
        generate(args.root, GenerateParams(rows=args.rows, days=10, prefixes=10, seed=7))
    duck, spark = DuckDBEngine(), SparkEngine(args.remote)
    people = ds.dataset(args.root, format="parquet", partitioning="hive").head(100, columns=["person_id"])
    sel = Selection(
        args.root,
        days=DAYS,
        prefixes=PREFIXES,
        scores=SCORES,
        where_sql=validate_where(WHERE, duck.dataset_columns(args.root)),
        suppression=Suppression(person_ids=people["person_id"].to_pylist()),
    )
    keys = duck.list_partitions(sel)
    t0 = time.perf_counter()
    spark.count(Selection(args.root, days=DAYS[:1]))
    kept, removed = duck.count_with_suppressed(sel)
    print(f"Spark warm-up (session + executor): {time.perf_counter() - t0:.1f} s")
    print(f"selection: {len(keys)} partitions, {kept:,} rows after where_expr ({removed} opted out)")
    out = tempfile.mkdtemp(prefix="bench_spark_")
    try:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        for name, op in _operations(sel, keys, out).items():
            if wanted and not any(w in name for w in wanted):
                continue
            d_t, d_r = _best(lambda op=op: op(duck), args.repeat)
            s_t, s_r = _best(lambda op=op: op(spark), args.repeat)
            same = "same answer" if d_r == s_r else f"DIFFERENT: duckdb {d_r!r:.80} spark {s_r!r:.80}"
            print(f"{name:30s} duckdb {d_t:7.2f} s   spark {s_t:7.2f} s   ratio {s_t / d_t:6.1f}x   {same}")
    finally:
        shutil.rmtree(out, ignore_errors=True)
        spark.close()


if __name__ == "__main__":
    main()
