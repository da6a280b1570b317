"""The cost of CSV formula neutralisation (delivr_admin.csvsafe) on an engine CSV unload.

    python -m bench.csvsafe [--rows 1000000] [--repeat 3]

Generates an intent tree once (in a temporary folder), then unloads every row and column to CSV with and
without the neutralising projection; the median of ``--repeat`` alternated runs is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from audiences.engine import plan, reads
from audiences.engine.generator import GenerateParams, generate
from audiences.engine.selection import Selection


def _unload(sel: Selection, path: str, *, csv_safe: bool) -> int:
    import pyarrow.csv as pacsv

    rows = 0
    with reads.arrow_reader(sel, csv_safe=csv_safe) as reader:
        with pacsv.CSVWriter(path, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "intent")
        generate(root, GenerateParams(rows=args.rows, days=3, prefixes=3, seed=7))
        sel = Selection(input_path=root)
        out = os.path.join(tmp, "out.csv")
        timings: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.repeat):  # alternated, so that load from other processes hits both alike
            for safe in (False, True):
                start = time.perf_counter()
                rows = _unload(sel, out, csv_safe=safe)
                timings[safe].append(time.perf_counter() - start)
        plain, safe = statistics.median(timings[False]), statistics.median(timings[True])
        print(f"rows: {rows:,}, columns: {len(plan.dataset_columns(root))}")
        print(f"CSV unload, plain:       {plain:.2f} s")
        print(f"CSV unload, neutralised: {safe:.2f} s  ({(safe / plain - 1) * 100:+.1f}%)")


if __name__ == "__main__":
    main()
