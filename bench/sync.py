"""Sync modes: a 1M-person audience synced, then re-synced after 1% of people changed and 1% left.

    .venv/bin/python -m bench.sync [--persons 1000000] [--destination file] [--mode mirror]

1. Initial sync (export in `--mode`, default mirror, to a Parquet file): every person is sent.
2. The dataset changes: 1% of people get a new first name, 1% leave (their rows are deleted).
3. Re-sync in `--mode`: the records sent (changed + new, plus removals in mirror) against the audience size
   (goal: <= 2.2%), and the run's wall time.
4. The diff itself, in isolation, over the same data: loading the snapshot (its key hashes ordered), finding
   every current record's key by its two 64-bit hashes, comparing its fingerprint (key + mapped values) with
   its row's, splitting the differing ones into added and changed (their text keys checked), and the rows
   not met for the removals (goal: >= 5M records/s). The current records' fingerprints and first key hashes
   are computed first (validation's work, measured by bench.exports; a run hashes each key once for both).
5. A `full` run over the same changed data for comparison (sends everyone again).

HubSpot pacing: `--destination hubspot [--persons 1000000 --every 100 --limit 100 --window 10
--raised-window 0.25]` runs the same scenario against the HubSpot stand-in (its own process, enforcing the
limit): the initial sync and the `full` run at a raised limit (set-up), the `mirror` re-sync at `--limit`
per `--window` s, timed against the time that limit allows for the requests it sent (see hubspot_pacing).
Hook for rate-limited destinations (HubSpot pacing): `--destination` picks the export's destination from
DESTINATIONS; `scenario(make_export)` runs steps 1-3 and 5 with any export factory and returns the figures
(records sent, seconds), so a paced destination (a stand-in URL, a budget) can be timed the same way.
Data: one row per person (person_id unique), made once in var/bench-sync/; a fresh SQLite database there.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "var" / "bench-sync"

MAPPING = [
    {"source": "email", "target": "Email", "type": "email", "required": True},
    {"source": "first_name", "target": "FirstName", "max_length": 40},
    {"source": "last_name", "target": "LastName", "max_length": 80},
    {"source": "job_title", "target": "JobTitle", "max_length": 60, "truncate": True},
    {"source": "company_name", "target": "Company", "max_length": 255},
    {"source": "country", "target": "Country"},
]
DESTINATIONS = {"file": ("file", {"format": "parquet"}, {})}


def setup() -> None:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{BENCH_DIR / 'db.sqlite3'}")
    os.environ["DELIVR_DEMO_DATA"] = str(BENCH_DIR / "data" / "base")
    os.environ["DELIVR_DATA_ROOTS"] = str(BENCH_DIR / "data")
    os.environ["DELIVR_MEDIA_ROOT"] = str(BENCH_DIR / "media")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "delivr_admin.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def base_dataset(persons: int) -> Path:
    """The generator's tree with person_id made unique per row: `persons` rows, one per person."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from audiences.engine.generator import GenerateParams, generate

    raw, out = BENCH_DIR / "data" / "raw", BENCH_DIR / "data" / "base"
    marker = out / f"_persons_{persons}"
    if marker.exists():
        return out
    shutil.rmtree(raw, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    generate(str(raw), GenerateParams(rows=persons, days=4, prefixes=4, seed=91, start_day="2024-05-01"))
    n = 0
    for path in sorted(raw.rglob("*.parquet")):
        table = pq.read_table(path, partitioning=None)
        ids = pc.cast(pa.array(range(n, n + table.num_rows), pa.int64()), pa.string())
        ids = pc.binary_join_element_wise("p", ids, "")
        table = table.set_column(table.schema.get_field_index("person_id"), "person_id", ids)
        emails = pc.binary_join_element_wise(ids, "@bench.example.com", "")
        table = table.set_column(table.schema.get_field_index("email"), "email", emails)
        target = out / path.relative_to(raw)
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target, compression="zstd")
        n += table.num_rows
    marker.touch()
    shutil.rmtree(raw, ignore_errors=True)
    return out


def working_copy(base: Path) -> Path:
    work = BENCH_DIR / "data" / "work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(base, work)
    return work


def churn(root: Path, every: int = 100) -> tuple[int, int]:
    """1 person in `every` gets a new first name, another 1 in `every` leaves; returns (changed, left)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    changed = left = 0
    for path in sorted(root.rglob("*.parquet")):
        table = pq.read_table(path, partitioning=None)
        number = pc.cast(pc.utf8_slice_codeunits(table.column("person_id"), 1), pa.int64())
        slot = pc.remainder(number, every)
        rename, leave = pc.equal(slot, 1), pc.equal(slot, 2)
        names = pc.if_else(rename, pa.scalar("Renamed"), table.column("first_name"))
        table = table.set_column(table.schema.get_field_index("first_name"), "first_name", names)
        changed += pc.sum(pc.cast(rename, pa.int64())).as_py() or 0
        left += pc.sum(pc.cast(leave, pa.int64())).as_py() or 0
        pq.write_table(table.filter(pc.invert(leave)), path, compression="zstd")
    return changed, left


def _context(root: Path):
    from accounts.models import Membership, Organization, Project, Role, User
    from accounts.selectors import principal_for_user
    from audiences.models import Audience

    org, _ = Organization.objects.get_or_create(name="Bench sync", parent=None)
    project, _ = Project.objects.get_or_create(organization=org, name="Bench")
    user = User.objects.filter(email="bench-sync@example.com").first() or User.objects.create_user(
        email="bench-sync@example.com", password="bench-sync"
    )
    Membership.objects.get_or_create(user=user, organization=org, defaults={"role": Role.ADMIN})
    audience, _ = Audience.objects.get_or_create(
        organization=org, project=project, name="Everyone (sync)", defaults={"definition": {}}
    )
    Audience.objects.filter(pk=audience.pk).update(input_path=str(root))
    audience.refresh_from_db()
    return principal_for_user(user, org.id), project, audience


def export_factory(root: Path, destination: str) -> Callable[[str], object]:
    from exports.services.exports import export_create

    principal, project, audience = _context(root)
    kind, config, credentials = DESTINATIONS[destination]

    def make(mode: str):
        return export_create(
            principal=principal,
            project_id=project.id,
            audience_id=audience.id,
            name=f"Bench sync {mode} {time.time()}",
            destination_type=kind,
            destination_config=dict(config),
            credentials=dict(credentials) or None,
            field_mapping=MAPPING,
            sync_mode=mode,
        )

    return make


def execute(export) -> tuple[object, float]:
    from exports.models import ExportRun
    from exports.services.runs import export_run_execute

    run = ExportRun.objects.create(export=export, organization=export.organization)
    t0 = time.perf_counter()
    export_run_execute(run_id=run.pk)
    took = time.perf_counter() - t0
    run.refresh_from_db()
    assert run.status in ("completed", "completed_with_errors"), (run.status, run.error)
    return run, took


def scenario(make_export: Callable[[str], object], root: Path, mode: str) -> dict:
    """Initial sync, churn, re-sync in `mode`, then a `full` run of the changed data (a fresh export)."""
    from delivr_admin import storage
    from exports.services.runs.snapshot import snapshot_name

    export = make_export(mode)
    first, first_seconds = execute(export)
    before = BENCH_DIR / "snapshot-before.parquet"  # what the re-sync diffs against, for the diff alone
    storage.read_to(snapshot_name(export), str(before))
    changed, left = churn(root)
    second, second_seconds = execute(export)
    full_export = make_export("full")
    full, full_seconds = execute(full_export)
    return {
        "export": export,
        "first": first,
        "first_seconds": first_seconds,
        "changed": changed,
        "left": left,
        "second": second,
        "second_seconds": second_seconds,
        "full": full,
        "full_seconds": full_seconds,
    }


def bench_diff(export, root: Path, repeat: int) -> dict:
    """The diff alone: snapshot loaded (its stored key hashes ordered, a bucket directory built), every
    current record's key looked up (batches of 65,536; its second hash made, both matched) and its
    fingerprint compared with its row's, the keys of the records found with other values compared as text,
    which splits unchanged, added and changed and marks the snapshot rows met; the removals are the rows not
    met. Then, timed apart, the next snapshot written as a run files its batches, and what is left of it at
    the end (the old rows kept, the file closed)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from audiences import engine
    from audiences.selectors.audiences import audience_selection
    from exports.services.runs.keys import KEY_COLUMNS, record_keys
    from exports.services.runs.snapshot import NextSnapshot, Previous, fingerprints, key_hashes
    from exports.services.runs.spool import SPOOL_SCHEMA
    from exports.validation import mapping_parse, mapping_sources, validate_batch_full

    mapping = mapping_parse(MAPPING)
    columns = tuple(dict.fromkeys(mapping_sources(mapping) + list(KEY_COLUMNS)))
    sel = audience_selection(export.audience, columns=columns)
    batches = []
    for batch in engine.engine_for(sel.input_path).iter_batches(sel, batch_size=65536):
        checked = validate_batch_full(batch, mapping)
        keys = record_keys(batch).filter(checked.valid)
        hashes = key_hashes(keys)  # as a run does: hashed once, for the fingerprints and the lookup
        batches.append((keys, fingerprints(keys, checked.table, hashes), hashes))
    current = sum(len(k) for k, _, _ in batches)
    snapshot = BENCH_DIR / "snapshot-before.parquet"
    table = pq.read_table(snapshot)
    best = best_cpu = float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        previous = Previous(str(snapshot), table)
        unchanged = 0
        spools = []
        for keys, prints, hashes in batches:
            rows, held = previous.diff(keys, prints, np.arange(len(keys)), hashes)  # second hash made here
            same = pa.array(held)
            unchanged += int(np.count_nonzero(held))
            # held: every record, as in a run where the destination accepted everything sent
            spool = pa.table({"record_key": keys, "fingerprint": prints, "held": pa.repeat(True, len(keys))})
            spool = spool.append_column("unchanged", same)
            spools.append((spool, previous.meet(spool, rows)))
        removed = previous.departed().num_rows
        took, cpu = time.perf_counter() - t0, time.process_time() - c0
        if took < best:
            best, best_cpu = took, cpu
    t0 = time.perf_counter()
    sink = NextSnapshot(export, previous, datetime.now(UTC))  # as a run files its batches
    for spool, rows in spools:
        size = spool.num_rows
        full = pa.table(
            {
                "record_key": spool.column("record_key"),
                "sent": pa.compute.invert(spool.column("unchanged")),
                "person_id": spool.column("record_key"),
                "email": pa.nulls(size, pa.string()),
                "uid2": pa.nulls(size, pa.string()),
                "fingerprint": spool.column("fingerprint"),
                "held": pa.repeat(True, size),
                "unchanged": spool.column("unchanged"),
            }
        )
        sink.write(full.cast(SPOOL_SCHEMA), rows)
    t1 = time.perf_counter()
    os.unlink(sink.finish(None))  # the old snapshot's rows left at the destination, and the file closed
    end = time.perf_counter()
    return {
        "current": current,
        "snapshot": table.num_rows,
        "unchanged": unchanged,
        "added": previous.added,
        "changed": previous.changed,
        "removed": removed,
        "seconds": best,
        "cpu": best_cpu,
        "rate": current / best,
        "next_seconds": end - t0,
        "next_end_seconds": end - t1,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--destination", choices=sorted(DESTINATIONS) + ["hubspot"], default="file")
    parser.add_argument(
        "--every", type=int, default=100, help="hubspot: 1 person in N changes, 1 in N leaves"
    )
    parser.add_argument("--limit", type=int, default=100, help="hubspot: requests per window")
    parser.add_argument("--window", type=float, default=10.0, help="hubspot: the window in seconds")
    parser.add_argument(
        "--raised-window", type=float, default=0.25, help="hubspot: the set-up's and full run's window"
    )
    parser.add_argument("--mode", choices=("changes", "mirror"), default="mirror")
    parser.add_argument("--repeat", type=int, default=3, help="diff passes (best is reported)")
    args = parser.parse_args()
    if args.destination == "hubspot":
        hubspot_pacing(args.persons, args.every, args.limit, args.window, args.raised_window)
        return
    setup()
    root = working_copy(base_dataset(args.persons))
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")
    r = scenario(export_factory(root, args.destination), root, args.mode)
    first, second, full = r["first"], r["second"], r["full"]
    sent = second.records_exported + second.records_removed
    print(
        f"initial sync ({args.mode}, {args.destination}): {first.records_exported:,} records sent of "
        f"{first.records_total:,} in {r['first_seconds']:.2f} s"
    )
    print(f"churn: {r['changed']:,} people changed, {r['left']:,} left")
    print(
        f"re-sync ({args.mode}): {sent:,} records sent ({second.records_exported:,} upserts: "
        f"{second.records_added:,} new + {second.records_changed:,} changed; {second.records_removed:,} "
        f"removals) = {sent / first.records_total:.2%} of {first.records_total:,} "
        f"(goal <= 2.2%); {second.records_unchanged:,} unchanged not sent; {r['second_seconds']:.2f} s"
    )
    print(
        f"full run of the same data: {full.records_exported:,} records sent "
        f"({full.records_exported / first.records_total:.1%}) in {r['full_seconds']:.2f} s"
    )
    d = bench_diff(r["export"], root, args.repeat)
    print(
        f"diff alone: {d['current']:,} current records against a snapshot of {d['snapshot']:,} "
        f"({d['unchanged']:,} unchanged, {d['added']:,} added, {d['changed']:,} changed, {d['removed']:,} to "
        f"remove) in {d['seconds']:.3f} s ({d['cpu']:.3f} CPU s) = {d['rate']:,.0f} records/s, "
        f"{d['current'] / d['cpu']:,.0f} per CPU second "
        f"(goal >= 5M; best of {args.repeat}); next snapshot written in {d['next_seconds']:.3f} s as the "
        f"batches are filed, of which {d['next_end_seconds']:.3f} s at the end (old rows kept, file closed)"
    )
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    shutil.rmtree(BENCH_DIR / "media", ignore_errors=True)


# --- HubSpot pacing (issue 13 item 4) -------------------------------------------------------------------
HUBSPOT_MAPPING = [
    {"source": "email", "target": "email", "type": "email", "required": True},
    {"source": "first_name", "target": "firstname", "max_length": 40},
    {"source": "last_name", "target": "lastname", "max_length": 80},
]


def _standin_process(conn, limit: int, window: float) -> None:
    """The HubSpot stand-in in its own process (HubSpot's work is not on our CPU).

    Commands: ("stats", first request index) -> the requests since then (count, busiest window, 429s, first
    and last arrival on time.monotonic(), one clock for the machine); ("limit", requests, seconds) -> the
    limit it enforces from now on; "stop".
    """
    from tests.exports.standins.hubspot_standin import HubSpotStandIn

    standin = HubSpotStandIn()
    standin.rate_limit, standin.rate_window = limit, window
    standin.start()
    conn.send((standin.url, standin.token))
    while True:
        command = conn.recv()
        if command == "stop":
            standin.stop()
            return
        with standin.lock:
            if command[0] == "limit":
                standin.rate_limit, standin.rate_window = int(command[1]), float(command[2])
                conn.send(True)
                continue
            since = int(command[1])
            times = [r.at for r in standin.requests[since:]]
            conn.send(
                {
                    "total": len(standin.requests),
                    "requests": len(times),
                    "max": standin.max_in_window,
                    "refused": standin.rate_limited,
                    "first": min(times, default=0.0),
                    "last": max(times, default=0.0),
                }
            )
            standin.max_in_window = standin.rate_limited = 0


def hubspot_pacing(persons: int, every: int, limit: int, window: float, raised_window: float) -> None:
    """The issue's scenario against the HubSpot stand-in: a `mirror` re-sync paced at `limit` / `window`.

    1. Initial sync (set-up, not measured against the limit): a `mirror` export sends everyone, at a raised
       limit (`limit` per `raised_window` seconds, stand-in and export alike) so 1M people do not take 17 min.
    2. Churn: 1 person in `every` gets a new first name, another 1 in `every` leaves.
    3. The bench waits until nothing of the initial sync is left in any window (the pacer's, the stand-in's),
       then the re-sync runs at `limit` per `window` (HubSpot's default 100 / 10 s): upserts of the changed,
       then the removals of those who left from the export's list (a contact-id read by email and a
       memberships remove per 100), every request paced and counted. Allowed time = requests / limit x
       window: the product's pacing books one slot per request, whatever the endpoint.
    4. A `full` run of the same changed data (a fresh export, so everyone is sent again), at the raised
       limit: its requests counted by the stand-in, the time the real limit would allow for them, and its
       measured time at the raised limit.
    """
    os.environ.setdefault("DELIVR_OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")  # the stand-in is on loopback
    setup()
    import multiprocessing

    from django.conf import settings

    from exports.models import Export

    settings.DELIVR_OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    root = working_copy(base_dataset(persons))
    conn, child_conn = multiprocessing.Pipe()
    child = multiprocessing.get_context("spawn").Process(
        target=_standin_process, args=(child_conn, limit, raised_window)
    )
    child.start()
    url, token = conn.recv()
    DESTINATIONS["hubspot"] = ("hubspot", {"host": url}, {"access_token": token})
    MAPPING[:] = HUBSPOT_MAPPING
    make = export_factory(root, "hubspot")
    count = [0]  # requests the stand-in has seen before the run being measured

    def paced(export, seconds: float) -> None:
        config = {"host": url, "rate_limit": limit, "rate_limit_window_seconds": seconds}
        Export.objects.filter(pk=export.pk).update(destination_config=config)  # the window: no form field
        export.refresh_from_db()
        conn.send(("limit", limit, seconds))
        conn.recv()

    def measured(export) -> dict:
        load = os.getloadavg()[0]
        started = time.monotonic()
        run, took = execute(export)
        ended = time.monotonic()
        conn.send(("stats", count[0]))
        stats = conn.recv()
        count[0] = stats["total"]
        return {"run": run, "seconds": took, "started": started, "ended": ended, "load": load, **stats}

    raised = f"{limit} / {raised_window:g} s (set-up, raised)"
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    export = make("mirror")
    paced(export, raised_window)
    first = measured(export)
    changed, left = churn(root, every)
    clear = first["last"] + window * 1.01 + 0.5 - time.monotonic()  # the pacer's window is 1% longer
    if clear > 0:
        time.sleep(clear)  # nothing of the initial sync left in the pacer's or the stand-in's window
    paced(export, window)
    second = measured(export)
    full_export = make("full")
    paced(full_export, raised_window)
    full = measured(full_export)
    conn.send("stop")
    child.join(10)

    rows = [
        ("initial sync (mirror)", raised, first, False),
        ("re-sync (mirror)", f"{limit} / {window:g} s", second, True),
        ("full run, same data", raised, full, False),
    ]
    per_request = window / limit
    print(
        f"{persons:,} people; churn: {changed:,} changed (1 in {every}), {left:,} left; "
        f"the limit allows {per_request:g} s per request at {limit} / {window:g} s"
    )
    head = (
        "| run | paced at | load | upserted | removed | requests | allowed at "
        f"{limit} / {window:g} s | measured | ratio | 429s | busiest window |"
    )
    print(head)
    print("|" + "---|" * head.count(" | ") + "---|")
    for name, pacing_label, r, real in rows:
        run = r["run"]
        allowed = r["requests"] * per_request
        ratio = f"**{r['seconds'] / allowed:.3f}x**" if real else "n/a (raised)"
        print(
            f"| {name} | {pacing_label} | {r['load']:.1f} | {run.records_exported:,} | {run.records_removed:,} | "
            f"{r['requests']:,} | {allowed:,.1f} s | {r['seconds']:.2f} s | {ratio} | {r['refused']} | {r['max']} |"
        )
    allowed = second["requests"] * per_request
    sent = second["run"].records_exported + second["run"].records_removed
    print(
        f"re-sync: {sent:,} records sent ({sent / first['run'].records_total:.2%} of "
        f"{first['run'].records_total:,}; {second['run'].records_changed:,} changed + {second['run'].records_added:,} "
        f"added upserted, {second['run'].records_removed:,} removed) in {second['requests']} requests; "
        f"{second['seconds']:.2f} s measured vs {allowed:.2f} s allowed -> {second['seconds'] / allowed:.3f}x "
        "(goal <= 1.10)"
    )
    offset = time.time() - time.monotonic()
    run = second["run"]
    recorded = (run.finished_at - run.started_at).total_seconds()
    finished = run.finished_at.timestamp() - offset  # on the monotonic clock of the stand-in's times
    print(
        f"re-sync timeline: first request {second['first'] - second['started']:.2f} s after the start, requests "
        f"over {second['last'] - second['first']:.2f} s, the run recorded finished (status {run.status}) "
        f"{finished - second['last']:.2f} s after the last, the worker returned "
        f"{second['ended'] - second['last']:.2f} s after the last; the run's recorded time {recorded:.2f} s -> "
        f"{recorded / allowed:.3f}x"
    )
    full_allowed = full["requests"] * per_request
    print(
        f"full run: {full['requests']:,} requests (measured) = {full_allowed:,.1f} s at {limit} / {window:g} s, "
        f"{full_allowed / second['seconds']:.1f}x the re-sync's measured {second['seconds']:.2f} s and "
        f"{full['requests'] / second['requests']:.1f}x its requests; at the raised limit it took "
        f"{full['seconds']:.1f} s"
    )
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    shutil.rmtree(BENCH_DIR / "media", ignore_errors=True)


if __name__ == "__main__":
    main()
