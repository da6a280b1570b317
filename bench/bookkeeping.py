"""Task bookkeeping at engine speed (issue 14 item 2): product through the API vs bare DuckDB, per stack.

    python -m bench.bookkeeping [--stack embedded|pg|both] [--partitions-100k] [--no-full-tree]
                                [--no-unloads] [--repeat 3] [--repeat-tree 2] [--status-gets 10]

For each stack (embedded: SQLite + filesystem broker; pg: PostgreSQL database ``delivr_bench14``, re-created,
+ Redis db 4 as broker and cache, flushed) a child process starts the stack of ``bench.tasks`` (gunicorn and a
Celery worker, ``--concurrency 2``, as subprocesses), registers a user and an API client, and times through
the public API only (POST /api/v1/intent_hive_tasks, GET /api/v1/status/{id}, POST /api/v1/tasks/{id}/unload):

- on the 42-partition selection of /tmp/bench_intent_20m (7 days x 3 prefixes x high+medium) and, unless
  ``--no-full-tree``, on the whole tree (30 days x 20 prefixes x 3 scores, 1,800 partitions, 20M rows):
  count (POST -> counted), count + where_expr, distinct profiles (no task computes them: an audience of the
  same selection is created through POST /api/v1/audiences and timed until GET /api/v1/audiences/{id} shows
  its build ``ready``; the build counts records and distinct profiles in one scan, opt-outs looked up), unload
  of 4 columns to Parquet and to CSV (POST /unload after counted -> completed);
- with ``--partitions-100k``, a tree of 365 days x 100 prefixes x 3 scores of small files (/tmp/bench_100k,
  made once from a few generated days copied across the year): count, and the status response time (p50 and
  max of ``--status-gets`` GETs of the counted task, to the last byte).

Bare DuckDB (2 threads, 512 MB) runs the same files and the same rewritten WHERE, interleaved with the product
in the same run; each figure is the best of ``--repeat`` (``--repeat-tree`` on the whole tree, 1 at 100k).
Goals: product <= 1.3 x bare + 0.5 s (+ 1 s at 100k); status <= 100 ms; the worker's process tree (worker +
pool children, summed VmRSS sampled every 50 ms) < 1 GiB over the whole stack run; the POST creating a task
<= 200 ms (a worker plans it). The summed PSS is shown beside the RSS: the RSS sum counts the pages the pool
children share with the parent they were forked from once per process, the PSS sum once. The status is
polled as a client that wants the answer soon would (every 20 ms at first, backing off to 250 ms; see
``bench.tasks.POLL``; ``BENCH_POLL_MAX=0.02`` polls every 20 ms throughout as before); the web server's CPU
seconds over each stack run are printed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

from bench.tasks import (
    DAYS,
    GIB,
    POLL,
    POLL_GROWTH,
    POLL_MAX,
    PREFIXES,
    PY,
    ROOT,
    SCORES,
    UNLOAD_COLUMNS,
    WHERE,
    Api,
    Bare,
    RssSampler,
    Stack,
    _django,
    _postgres_and_redis,
    _timed,
    tree_cpu_seconds,
)

ROOT_20M = "/tmp/bench_intent_20m"
ROOT_100K = "/tmp/bench_100k"
DATABASE = "delivr_bench14"
REDIS = "redis://127.0.0.1:6379/4"
STACKS = {"embedded": "SQLite + filesystem broker", "pg": "PostgreSQL 15 + Redis broker/cache"}
STATUS_GOAL = 0.1
CREATE_GOAL = 0.2  # the POST of a task answers without listing the tree (a worker plans it)


# ---------------------------------------------------------------------------------------------------------
# results and the table


@dataclass
class Row:
    """One line of the table. ``kind``: "time" (seconds vs bare), "status" (p50 vs goal), "memory" (MB)."""

    label: str
    product: float
    bare: float | None = None
    slack: float = 0.5
    kind: str = "time"
    note: str = ""

    def goal(self) -> float:
        if self.kind == "status":
            return STATUS_GOAL
        if self.kind == "create":
            return CREATE_GOAL
        if self.kind == "memory":
            return GIB / (1 << 20)
        return 1.3 * (self.bare or 0.0) + self.slack

    def met(self) -> bool:
        return self.product <= self.goal() if self.kind != "memory" else self.product < self.goal()


def format_table(stack: str, rows: list[Row]) -> list[str]:
    """Markdown lines: product, bare, ratio, goal and whether it is met, for one stack."""
    lines = [
        f"stack: {stack}",
        "| operation | product | bare DuckDB | ratio | goal | met | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        met = "yes" if r.met() else "NO"
        if r.kind == "memory":
            lines.append(f"| {r.label} | {r.product:.0f} MB | | | < {r.goal():.0f} MB | {met} | {r.note} |")
        elif r.kind in ("status", "create"):
            lines.append(
                f"| {r.label} | {r.product * 1000:.0f} ms | | | <= {r.goal() * 1000:.0f} ms | {met} | {r.note} |"
            )
        else:
            ratio = f"{r.product / r.bare:.1f}x" if r.bare else ""
            lines.append(
                f"| {r.label} | {r.product:.3f} s | {r.bare:.3f} s | {ratio} | {r.goal():.3f} s | {met} "
                f"| {r.note} |"
            )
    return lines


# ---------------------------------------------------------------------------------------------------------
# the 100,000-partition tree


def tree_100k(
    root: str,
    *,
    days: int = 365,
    prefixes: int = 100,
    template_days: int = 4,
    rows_per_file: int = 10,
    seed: int = 11,
    start_day: str = "2024-01-01",
) -> dict:
    """Make (or reuse) a tree of ``days`` x ``prefixes`` x 3 scores of small files; return its manifest.

    Generating 100,000 files one by one costs ~2.5 ms each, so ``template_days`` days are generated with
    ``audiences.engine.generator`` and their files copied to every day of the year (day i gets template day
    i mod ``template_days``; the day is in the path, not in the file). Reused when ``_SUCCESS`` is there and
    the manifest's shape matches.
    """
    from audiences.engine.generator import GenerateParams, generate

    shape = {
        "days": days,
        "prefixes": prefixes,
        "template_days": template_days,
        "rows_per_file": rows_per_file,
    }
    shape |= {"seed": seed, "start_day": start_day}
    manifest_path = os.path.join(root, "_manifest.json")
    if os.path.exists(os.path.join(root, "_SUCCESS")):
        with open(manifest_path) as fh:
            manifest = json.load(fh)
        if manifest.get("shape") == shape:
            return manifest
    shutil.rmtree(root, ignore_errors=True)
    template = tempfile.mkdtemp(prefix="bench_100k_template_", dir=os.path.dirname(root) or None)
    try:
        params = GenerateParams(
            rows=template_days * prefixes * 3 * rows_per_file,
            days=template_days,
            prefixes=prefixes,
            seed=seed,
            start_day=start_day,
        )
        generate(template, params, workers=1)
        with open(os.path.join(template, "_manifest.json")) as fh:
            template_parts: dict[str, int] = json.load(fh)["partitions"]
        partitions = _copy_year(template, template_parts, root, days=days, template_days=template_days)
    finally:
        shutil.rmtree(template, ignore_errors=True)
    manifest = {"partitions": partitions, "total_rows": sum(partitions.values()), "shape": shape}
    with open(manifest_path, "w") as fh:
        json.dump(manifest, fh, sort_keys=True)
    with open(os.path.join(root, "_SUCCESS"), "w"):
        pass
    return manifest


def _copy_year(
    template: str, template_parts: dict[str, int], root: str, *, days: int, template_days: int
) -> dict[str, int]:
    """Copy the template's day folders to ``days`` consecutive days under ``root``; rows per partition."""
    template_day_names = sorted({key.split("/", 1)[0] for key in template_parts})
    first = date.fromisoformat(template_day_names[0][len("day=") :])
    partitions: dict[str, int] = {}
    for i in range(days):
        source_day = template_day_names[i % template_days]
        day = f"day={(first + timedelta(days=i)).isoformat()}"
        for key, rows in template_parts.items():
            src_day, rest = key.split("/", 1)
            if src_day != source_day:
                continue
            target = os.path.join(root, day, *rest.split("/"))
            os.makedirs(target, exist_ok=True)
            shutil.copyfile(
                os.path.join(template, key, "part-0.parquet"), os.path.join(target, "part-0.parquet")
            )
            partitions[f"{day}/{rest}"] = rows
    return partitions


def _axes(partitions: dict[str, int]) -> dict[str, list[str]]:
    """The days, prefixes and scores present in a manifest's partition keys, as the task API takes them."""
    values: dict[str, set[str]] = {"day": set(), "prefix": set(), "score": set()}
    for key in partitions:
        for part in key.split("/"):
            name, value = part.split("=", 1)
            values[name].add(value)
    return {
        "days": sorted(values["day"]),
        "prefixes": sorted(values["prefix"]),
        "scores": sorted(values["score"]),
    }


# ---------------------------------------------------------------------------------------------------------
# one stack


@dataclass
class Scope:
    """A selection timed on both sides: the task API's axes and bare DuckDB's files (a list or a glob)."""

    name: str
    root: str
    axes: dict[str, list[str]]
    files: list[str] | str | None  # None: bench.tasks' selection
    partitions: int
    slack: float = 0.5
    times: dict[str, list[float]] = field(default_factory=dict)

    def note(self, name: str, seconds: float) -> None:
        self.times.setdefault(name, []).append(seconds)

    def best(self, name: str) -> float:
        return min(self.times[name])


def _distinct(api: Api, scope: Scope) -> tuple[float, int]:
    """(seconds, distinct profiles) through the public API, the way a client gets them: POST
    /api/v1/audiences with the scope as a definition (its prefixes, scores and days as a date range; the
    whole tree: no prefixes or scores) queues the audience's build, which a worker runs (records and
    distinct profiles in one scan, opt-outs looked up); timed until GET /api/v1/audiences/{id} says
    ``ready``, polled as a task's status is (see ``bench.tasks.POLL``)."""
    definition: dict = {"date_from": min(scope.axes["days"]), "date_to": max(scope.axes["days"])}
    if scope.files is None:  # the 42-partition selection; the whole tree takes every prefix and score
        definition |= {"topic_id_prefixes": scope.axes["prefixes"], "scores": scope.axes["scores"]}
    if not hasattr(api, "project_id"):
        api.project_id = api.call("GET", "/api/v1/projects")[0]["id"]
    body = {"project_id": api.project_id, "name": f"bench {scope.name}", "definition": definition}
    t0 = time.perf_counter()
    audience_id = api.call("POST", "/api/v1/audiences", body | {"input_path": scope.root})["id"]
    pause = POLL
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        data = api.call("GET", f"/api/v1/audiences/{audience_id}")
        if data["build_status"] == "ready":
            return time.perf_counter() - t0, data["distinct_profile_count"]
        if data["build_status"] == "failed":
            raise RuntimeError(f"audience {audience_id} build failed: {data.get('build_error')}")
        time.sleep(pause)
        pause = min(POLL_MAX, pause * POLL_GROWTH)
    raise RuntimeError(f"audience {audience_id} not built after 1800 s")


def _task_api_axes(scope: Scope) -> dict[str, list[str]]:
    return {"days": scope.axes["days"], "prefixes": scope.axes["prefixes"], "scores": scope.axes["scores"]}


def time_scope(api: Api, scope: Scope, bare: Bare, repeat: int, formats=("parquet", "csv")) -> list[Row]:
    """Counts (plain, where_expr), distinct profiles and 4-column unloads (``formats``), bare and product
    interleaved."""
    kw = _task_api_axes(scope)
    select = ", ".join(UNLOAD_COLUMNS)
    expect = {"count": bare.count(), "where": bare.count_where(), "distinct": bare.distinct()}
    for rep in range(repeat):
        for name, bare_fn, where in (("count", bare.count, None), ("where", bare.count_where, WHERE)):
            t, n = _timed(bare_fn)
            scope.note(f"bare {name}", t)
            t, data = api.count_task(scope.root, **kw, where=where)
            _check(data["total_count"], expect[name], n, f"{scope.name} {name}")
            scope.note(name, t)
            scope.note("created", api.created_in)
        t, n = _timed(bare.distinct)
        scope.note("bare distinct", t)
        t, n2 = _distinct(api, scope)
        _check(n2, expect["distinct"], n, f"{scope.name} distinct")
        scope.note("distinct", t)
        for fmt in formats:
            t, _ = _timed(bare.parquet if fmt == "parquet" else bare.csv)
            scope.note(f"bare {fmt}", t)
            _, data = api.count_task(scope.root, **kw, select=select, fmt=fmt)
            t, data = api.unload(data["task_id"])
            _check(data["total_count"], expect["count"], expect["count"], f"{scope.name} unload {fmt}")
            scope.note(fmt, t)
        done = ", ".join(f"{k} {v[-1]:.3f}" for k, v in scope.times.items())
        print(f"  {scope.name}, repetition {rep + 1}: {done}", flush=True)
    labels = [
        ("count", "count"),
        ("where", "count + where_expr"),
        ("distinct", "distinct profiles (audience build through the API)"),
        ("parquet", "unload 4 columns Parquet"),
        ("csv", "unload 4 columns CSV"),
    ]
    note = f"{scope.partitions:,} partitions, {expect['count']:,} rows"
    created = scope.times["created"]
    return [
        Row(f"{scope.name}: {label}", scope.best(k), scope.best(f"bare {k}"), scope.slack, note=note)
        for k, label in labels
        if k in scope.times
    ] + [
        Row(
            f"{scope.name}: task created (POST answered, median)",
            statistics.median(created),
            kind="create",
            note=f"max {max(created) * 1000:.0f} ms of {len(created)}",
        )
    ]


def _check(product: int, expected: int, bare: int, what: str) -> None:
    if not product == expected == bare:
        raise AssertionError(f"{what}: product {product}, bare {bare}, expected {expected}")


def timed_get(stack: Stack, path: str, headers: dict) -> tuple[float, int, dict]:
    """(seconds from request to the last byte, bytes, parsed body) of one GET."""
    con = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=300)
    try:
        t0 = time.perf_counter()
        con.request("GET", path, headers=headers)
        resp = con.getresponse()
        raw = resp.read()
        seconds = time.perf_counter() - t0
    finally:
        con.close()
    if resp.status != 200:
        raise RuntimeError(f"GET {path} -> {resp.status}: {raw[:300]!r}")
    return seconds, len(raw), json.loads(raw)


def time_100k(api: Api, scope: Scope, bare: Bare, gets: int) -> list[Row]:
    """Count of the 100k tree (once each side: minutes on the product today) and the status response time.

    When the status pages its partitions (``partitions_total`` in the body), the last page is timed too.
    """
    t_bare, n = _timed(bare.count)
    t, data = api.count_task(scope.root, **_task_api_axes(scope))
    _check(data["total_count"], n, n, "100k count")
    path = f"/api/v1/status/{data['task_id']}"
    rows = [
        Row("100k partitions: count", t, t_bare, 1.0, note=f"{scope.partitions:,} partitions, {n:,} rows"),
        Row("100k partitions: task created (POST answered)", api.created_in, kind="create"),
    ]
    first = status_row(api, path, gets, "100k partitions: status GET")
    rows.append(first[0])
    total = first[1].get("partitions_total")
    if total:
        shown = len(first[1].get("counts", {}))
        last = f"{path}?counts_offset={max(0, total - shown)}&counts_limit={shown}"
        rows.append(status_row(api, last, gets, "100k partitions: status GET, last page")[0])
    return rows


def status_row(api: Api, path: str, gets: int, label: str) -> tuple[Row, dict]:
    """A status row: p50 of ``gets`` timed GETs of ``path`` (max, body size and partitions shown in the note)."""
    samples = [timed_get(api.stack, path, api.headers) for _ in range(gets)]
    seconds = [s for s, _, _ in samples]
    size, body = samples[-1][1], samples[-1][2]
    shown = len(body.get("counts", {}))
    total = body.get("partitions_total")
    note = f"p50 of {gets} GETs; max {max(seconds) * 1000:.0f} ms; {size / 1e6:.2f} MB body, {shown:,} counts"
    note += f" of {total:,} (paged)" if total else ""
    return Row(label, statistics.median(seconds), kind="status", note=note), body


def run_stack(kind: str, args) -> list[Row]:
    """Start one stack, time every scope, stop it; rows of the table (memory last)."""
    work = tempfile.mkdtemp(prefix="bench_bookkeeping_")
    stack = Stack(use_pg=kind == "pg", work=work, database=DATABASE, broker=REDIS, cache=REDIS)
    print(f"stack: {STACKS[kind]}; load average before: {os.getloadavg()}", flush=True)
    rows: list[Row] = []
    try:
        stack.start()
        api = Api(stack)
        _django(stack)
        from audiences import datasets

        where_sql = datasets.where_validate(WHERE, datasets.dataset_columns(args.root))
        sampler = RssSampler(stack.worker.pid).start()
        for scope, repeat in _scopes(args):
            bare = Bare(scope.root, where_sql, work, files=scope.files)
            if scope.name.startswith("100k"):
                rows += time_100k(api, scope, bare, args.status_gets)
            else:
                rows += time_scope(api, scope, bare, repeat, () if args.no_unloads else ("parquet", "csv"))
            bare.con.close()
        sampler.stop()
        rows.append(Row("worker peak RSS (worker + pool, summed)", sampler.peak_sum_kb / 1024, kind="memory"))
        rows.append(
            Row("worker peak PSS (shared pages counted once)", sampler.peak_pss_kb / 1024, kind="memory")
        )
        print("worker memory: " + sampler.summary(), flush=True)
        print(f"web server CPU over the stack run: {tree_cpu_seconds(stack.web.pid):.1f} s", flush=True)
    finally:
        stack.stop()
        print(f"load average after: {os.getloadavg()}", flush=True)
        shutil.rmtree(stack.media, ignore_errors=True)
        for name in ("bare.parquet", "bare.csv"):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(work, name))
        if rows and rows[-1].kind == "memory":
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"stack failed: logs kept in {work}", flush=True)
    return rows


def _scopes(args) -> list[tuple[Scope, int]]:
    sel_axes = {"days": DAYS, "prefixes": PREFIXES, "scores": SCORES}
    n_sel = len(DAYS) * len(PREFIXES) * len(SCORES)
    scopes = [(Scope("42 partitions", args.root, sel_axes, None, n_sel), args.repeat)]
    if not args.no_full_tree:
        with open(os.path.join(args.root, "_manifest.json")) as fh:
            parts = json.load(fh)["partitions"]
        glob = os.path.join(args.root, "day=*", "prefix=*", "score=*", "*.parquet")
        scopes.append((Scope("whole tree", args.root, _axes(parts), glob, len(parts)), args.repeat_tree))
    if args.partitions_100k:
        with open(os.path.join(args.root_100k, "_manifest.json")) as fh:  # made by the parent
            parts = json.load(fh)["partitions"]
        glob = os.path.join(args.root_100k, "day=*", "prefix=*", "score=*", "*.parquet")
        scopes.append((Scope("100k partitions", args.root_100k, _axes(parts), glob, len(parts), 1.0), 1))
    return scopes


# ---------------------------------------------------------------------------------------------------------
# command


def _child(kind: str, args, out: str) -> list[Row] | None:
    """Runs one stack in a fresh interpreter (Django is configured once per process); None if it failed."""
    cmd = [PY, "-m", "bench.bookkeeping", "--stack", kind, "--rows-json", out, *_passed(args)]
    code = subprocess.call(cmd, cwd=ROOT)
    if code:
        print(f"{kind} stack: exit {code} (see above)", flush=True)
        return None
    with open(out) as fh:
        return [Row(**r) for r in json.load(fh)]


def _passed(args) -> list[str]:
    flags = ["--root", args.root, "--root-100k", args.root_100k, "--repeat", str(args.repeat)]
    flags += ["--repeat-tree", str(args.repeat_tree), "--status-gets", str(args.status_gets)]
    flags += ["--no-full-tree"] * args.no_full_tree + ["--partitions-100k"] * args.partitions_100k
    flags += ["--no-unloads"] * args.no_unloads
    return flags


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", choices=["embedded", "pg", "both"], default="both")
    parser.add_argument("--partitions-100k", action="store_true", help="add the 100,000-partition tree")
    parser.add_argument("--no-full-tree", action="store_true", help="skip the whole 20M-row tree")
    parser.add_argument("--no-unloads", action="store_true", help="counts and distinct profiles only (quick)")
    parser.add_argument("--root", default=ROOT_20M)
    parser.add_argument("--root-100k", default=ROOT_100K)
    parser.add_argument("--repeat", type=int, default=3, help="best of N on the 42-partition selection")
    parser.add_argument("--repeat-tree", type=int, default=2, help="best of N on the whole tree")
    parser.add_argument("--status-gets", type=int, default=10)
    parser.add_argument("--rows-json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not os.path.exists(os.path.join(args.root, "_SUCCESS")):
        sys.exit(f"{args.root} has no _SUCCESS: run python -m bench.engines first to generate it")
    if args.partitions_100k and not args.rows_json:  # made once here; each stack's child reuses it
        t0 = time.perf_counter()
        n = len(tree_100k(args.root_100k)["partitions"])
        print(f"100k tree: {n:,} partitions at {args.root_100k} ({time.perf_counter() - t0:.1f} s)")
    if args.rows_json:  # child: one stack
        rows = run_stack(args.stack, args)
        with open(args.rows_json, "w") as fh:
            json.dump([asdict(r) for r in rows], fh)
        return
    kinds = ["embedded", "pg"] if args.stack == "both" else [args.stack]
    if "pg" in kinds and not _postgres_and_redis():
        sys.exit("PostgreSQL or Redis unreachable: run with --stack embedded")
    out_dir = tempfile.mkdtemp(prefix="bench_bookkeeping_rows_")
    try:
        tables = {k: _child(k, args, os.path.join(out_dir, f"{k}.json")) for k in kinds}
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    print()
    for kind, rows in tables.items():
        print("\n".join(format_table(STACKS[kind], rows)) + "\n" if rows else f"{STACKS[kind]}: FAILED\n")
    print(f"load average at the end: {os.getloadavg()}")
    if not all(tables.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
