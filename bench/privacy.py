"""UID2 opt-out webhook requests/s and pixel ingestion events/s under gunicorn, with a lost-entry check.

    .venv/bin/python -m bench.privacy [--requests 6000] [--clients 16] [--workers 3] [--batches 40]

Uses DATABASE_URL when set (PostgreSQL), else a fresh SQLite file in var/bench-privacy/. Starts gunicorn
(gthread workers, keep-alive) on a free 127.0.0.1 port; the load comes from separate processes (threads with
http.client keep-alive connections), allow-listed by DELIVR_UID2_ALLOWED_IPS=127.0.0.1/32. Like the UID2
operator, a client retries on 429/5xx. Afterwards every opt-out sent is counted in the registry and audit log.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "var" / "bench-privacy"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    env = dict(os.environ)
    if not env.get("DATABASE_URL"):
        shutil.rmtree(BENCH_DIR, ignore_errors=True)
        BENCH_DIR.mkdir(parents=True)
        env["DATABASE_URL"] = f"sqlite:///{BENCH_DIR / 'db.sqlite3'}"
    env.update(
        DELIVR_UID2_ALLOWED_IPS="127.0.0.1/32",
        DELIVR_PIXEL_RATE_LIMIT_PER_SECOND="100000",
        DELIVR_PIXEL_RATE_LIMIT_BURST="100000",
        DJANGO_SETTINGS_MODULE="delivr_admin.settings",
        DELIVR_LOG_LEVEL="WARNING",
    )
    return env


def _worker(args: tuple) -> dict:
    """One load process: `threads` keep-alive connections sending its share of requests."""
    port, method, items, threads = args
    lock = threading.Lock()
    stats = {"ok": 0, "retries": 0, "failed": 0, "latencies": []}

    def run(chunk):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for path, body in chunk:
            for attempt in range(20):
                started = time.perf_counter()
                try:
                    if body is None:
                        conn.request(method, path)
                    else:
                        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    status = 599
                elapsed = time.perf_counter() - started
                if status < 300:
                    with lock:
                        stats["ok"] += 1
                        stats["latencies"].append(elapsed)
                    break
                with lock:
                    stats["retries"] += 1
                if status not in (429,) and status < 500:
                    with lock:
                        stats["failed"] += 1
                    break
                time.sleep(min(0.05 * (attempt + 1), 1.0))
            else:
                with lock:
                    stats["failed"] += 1
        conn.close()

    chunks = [items[i::threads] for i in range(threads)]
    pool = [threading.Thread(target=run, args=(c,)) for c in chunks]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return stats


def _load(port: int, method: str, items: list, processes: int, threads: int) -> tuple[float, dict]:
    shares = [(port, method, items[i::processes], threads) for i in range(processes)]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.map(_worker, shares)
    elapsed = time.perf_counter() - started
    total = {"ok": 0, "retries": 0, "failed": 0, "latencies": []}
    for r in results:
        for key in ("ok", "retries", "failed"):
            total[key] += r[key]
        total["latencies"].extend(r["latencies"])
    return elapsed, total


def _group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) used so far by every live process of a process group (gunicorn and workers)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after "comm)": state ppid pgrp ... utime(11) stime(12)
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--clients", type=int, default=16, help="concurrent keep-alive connections")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--batches", type=int, default=40, help="pixel batches of 500 events")
    opts = parser.parse_args()

    env = _env()
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from accounts.models import Organization
    from pixels.models import PixelEvent
    from pixels.services import pixel_create
    from privacy.models import AuditEvent, OptOut

    run = uuid.uuid4().hex[:8]
    org = Organization.objects.create(name=f"bench {run}")
    pixel = pixel_create(organization=org, name="bench", custom_fields=[{"name": "plan", "type": "string"}])
    connection.close()

    port = _free_port()
    log = open(ROOT / "var" / "bench-privacy-gunicorn.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "delivr_admin.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(opts.workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(opts.threads),
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/healthz")
                c.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("gunicorn did not start; see var/bench-privacy-gunicorn.log") from None
                time.sleep(0.2)

        vendor = connection.vendor
        db_label = "PostgreSQL" if vendor == "postgresql" else "SQLite (WAL)"
        print(
            f"database: {db_label}; gunicorn {opts.workers} workers x {opts.threads} threads; cpus={os.cpu_count()}"
        )

        # Warm-up (imports, connections) outside the timing.
        _load(
            port,
            "GET",
            [
                (
                    f"/api/v1/uid2/optout?{urlencode({'user': f'warm-{run}-{i}', 'optouttime': 1772600767})}",
                    None,
                )
                for i in range(50)
            ],
            1,
            4,
        )

        load_before = os.getloadavg()[0]
        epoch = int(time.time())
        items = [
            (f"/api/v1/uid2/optout?{urlencode({'user': f'bench-{run}-{i}', 'optouttime': epoch - i})}", None)
            for i in range(opts.requests)
        ]
        processes = 2
        cpu_before = _group_cpu_seconds(server.pid)
        elapsed, stats = _load(port, "GET", items, processes, max(1, opts.clients // processes))
        entries = OptOut.objects.filter(value__startswith=f"bench-{run}-").count()
        events = AuditEvent.objects.filter(identifier_value__startswith=f"bench-{run}-").count()
        rps = stats["ok"] / elapsed
        cpu_ms = (_group_cpu_seconds(server.pid) - cpu_before) * 1000 / max(1, stats["ok"])
        print(
            f"uid2 webhook: {opts.requests} opt-outs in {elapsed:.2f}s = {rps:.0f} req/s "
            f"(p50 {_pct(stats['latencies'], 0.5):.1f} ms, p99 {_pct(stats['latencies'], 0.99):.1f} ms); "
            f"retries {stats['retries']}, failed {stats['failed']}; registry {entries}/{opts.requests}, "
            f"audit {events}/{opts.requests} -> lost {opts.requests - entries}; "
            f"server CPU {cpu_ms:.2f} ms/request (= {1000 / cpu_ms:.0f} req/s per dedicated core); "
            f"load average before {load_before:.1f}"
        )

        batch = lambda b: json.dumps(  # noqa: E731
            {
                "events": [
                    {
                        "pixel_id": str(pixel.id),
                        "organization_id": str(org.id),
                        "event_type": "page_view",
                        "event_data": {
                            "geo": {"country": "US", "city": "Austin", "coordinates": [30.27, -97.74]},
                            "device": {"type": "desktop", "os": "Linux", "browser": "Firefox"},
                            "content": {"title": "Pricing", "url": f"https://example.com/p/{b}/{i}"},
                            "pricing": {"price": 49.0, "currency": "USD"},
                            "plan": "pro",
                        },
                    }
                    for i in range(500)
                ]
            }
        )
        items = [("/pixel/core/api/send-event", batch(b)) for b in range(opts.batches)]
        cpu_before = _group_cpu_seconds(server.pid)
        elapsed, stats = _load(port, "POST", items, 2, 2)
        cpu_s = _group_cpu_seconds(server.pid) - cpu_before
        stored = PixelEvent.objects.filter(pixel_id=pixel.id).count()
        sent = opts.batches * 500
        print(
            f"pixel ingestion: {sent} events in {opts.batches} batches of 500 in {elapsed:.2f}s = "
            f"{sent / elapsed:.0f} events/s (p50 batch {_pct(stats['latencies'], 0.5):.0f} ms); "
            f"failed batches {stats['failed']}; stored {stored}/{sent}; server CPU "
            f"{cpu_s * 1e6 / sent:.0f} us/event (= {sent / max(cpu_s, 1e-9):.0f} events/s per dedicated core)"
        )
    finally:
        os.killpg(server.pid, 15)
        server.wait(20)
        log.close()


if __name__ == "__main__":
    sys.exit(main())
