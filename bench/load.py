"""Load test: gunicorn on PostgreSQL + Redis, load from separate client processes on loopback.

    .venv/bin/python -m bench.load [--seconds 20] [--clients 4] [--workers 4] [--threads 2] [--smoke]

The script sets everything up itself: a PostgreSQL database `delivr_load` (dropped, created, migrated),
Redis db 9 (flushed) for the cache and the rate limits, a seeded organization (API client, a completed task
with count and unload jobs, audiences, a pixel source), then gunicorn on a free loopback port. Each target
is loaded for --seconds by --clients processes, each with one keep-alive http.client connection and one
request in flight (so the concurrency is --clients). Printed per target: requests/s, p50/p95/p99 latency,
status counts, and the CPU seconds the clients and the server used (clients and gunicorn share the 2 cores).

Throughput runs raise the per-organization and per-source limits and allow-list 127.0.0.1 for the UID2
webhook; the last run restarts gunicorn with the default limit (25/s, burst 50) and checks the limiter
answers 429, never 5xx.

--smoke (CI): ~5 s per target, two client processes; exit 1 on any 5xx or connection error, or when the
rate-limit run saw no 429. It does not enforce the throughput target (CI machines vary).

Environment: LOAD_DATABASE_URL (default postgres://delivr:delivr@127.0.0.1:5432/delivr_load; the role
needs CREATEDB), LOAD_REDIS_URL (default redis://127.0.0.1:6379/9).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("LOAD_DATABASE_URL", "postgres://delivr:delivr@127.0.0.1:5432/delivr_load")
REDIS_URL = os.environ.get("LOAD_REDIS_URL", "redis://127.0.0.1:6379/9")
HIGH_LIMIT = "1000000"
STATUS_TARGET_RPS = 300
STATUS_TARGET_P99_MS = 200


# ---------------------------------------------------------------------------------------------- setup


def database_recreate() -> None:
    import psycopg

    url = urlsplit(DATABASE_URL)
    name = url.path.lstrip("/")
    admin = url._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def redis_flush() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def server_env(*, high_limits: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "delivr_admin.settings",
            "DATABASE_URL": DATABASE_URL,
            "CACHE_URL": REDIS_URL,
            "CELERY_BROKER_URL": REDIS_URL,
            "DJANGO_DEBUG": "false",
            "DELIVR_LOG_LEVEL": "WARNING",
            "DELIVR_UID2_ALLOWED_IPS": "127.0.0.1/32",
        }
    )
    for name in ("DELIVR_RATE_LIMIT_PER_SECOND", "DELIVR_RATE_LIMIT_BURST"):
        env.pop(name, None)
    if high_limits:
        env.update(
            {
                "DELIVR_RATE_LIMIT_PER_SECOND": HIGH_LIMIT,
                "DELIVR_RATE_LIMIT_BURST": HIGH_LIMIT,
                "DELIVR_PIXEL_RATE_LIMIT_PER_SECOND": HIGH_LIMIT,
                "DELIVR_PIXEL_RATE_LIMIT_BURST": HIGH_LIMIT,
            }
        )
    return env


@dataclass
class Seed:
    api_key: str
    api_secret: str
    task_id: str
    organization_id: str
    pixel_id: str
    audiences: bool


def seed(*, audiences: int, partitions: int) -> Seed:
    """Migrates the load database and seeds one organization; runs in this process through the ORM."""
    os.environ.update({k: v for k, v in server_env(high_limits=True).items() if k in ("DATABASE_URL",)})
    os.environ["CACHE_URL"] = REDIS_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "delivr_admin.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections
    from django.utils import timezone

    call_command("migrate", "--noinput", verbosity=0)

    from accounts import services as account_services
    from accounts.models import Membership, Organization, Project, Role, User
    from accounts.selectors import principal_for_user
    from audiences.models import Job, JobKind, JobStatus, Task, TaskKind, TaskStatus

    org = Organization.objects.create(name="Load Org")
    project = Project.objects.create(organization=org, name="Default")
    user = User.objects.create_user(email="load@example.com", password="load-test-password")
    Membership.objects.create(user=user, organization=org, role=Role.ADMIN)
    principal = principal_for_user(user, org.id)
    _, api_key, api_secret = account_services.api_client_create(principal=principal, name="load")

    now = timezone.now()
    task = Task.objects.create(
        organization=org,
        project=project,
        kind=TaskKind.INTENT_HIVE,
        status=TaskStatus.COMPLETED,
        input_path="/data/intent",
        days=["2024-05-01"],
        topic_id_prefixes=["4eyes_100"],
        scores=["high", "medium", "low"],
        total_jobs=2 * partitions,
        completed_jobs=2 * partitions,
        total_count=1000 * partitions,
        counted_at=now,
        completed_at=now,
        expires_at=now + timedelta(days=7),
        created_by="load",
    )
    jobs = []
    for i in range(partitions):
        part = f"day=2024-05-{1 + i // 3:02d}/prefix=4eyes_100/score={('high', 'medium', 'low')[i % 3]}"
        jobs.append(Job(task=task, kind=JobKind.COUNT, partition=part, status=JobStatus.DONE, count=1000))
        jobs.append(
            Job(
                task=task,
                kind=JobKind.UNLOAD,
                partition=part,
                status=JobStatus.DONE,
                count=1000,
                output_name=f"tasks/{org.id}/{task.id}/{part}/part-0.parquet",
            )
        )
    Job.objects.bulk_create(jobs)

    from django.urls import Resolver404, resolve

    try:
        resolve("/api/v1/audiences")
        has_audiences = True
    except Resolver404:
        has_audiences = False
    if has_audiences:
        from audiences.models import Audience

        Audience.objects.bulk_create(
            [
                Audience(
                    organization=org,
                    project=project,
                    name=f"Load audience {i:03d}",
                    definition={"topic_id_prefixes": ["4eyes_100"], "scores": ["high"], "lookback_days": 30},
                    record_count=1000 + i,
                    distinct_profile_count=900 + i,
                    suppressed_count=0,
                    build_status="ready",
                    last_built_at=now,
                )
                for i in range(audiences)
            ]
        )

    from pixels import services as pixel_services

    pixel = pixel_services.pixel_create(
        organization=org, name="Load pixel", custom_fields=[{"name": "plan", "type": "string"}]
    )
    seeded = Seed(
        api_key=api_key,
        api_secret=api_secret,
        task_id=str(task.id),
        organization_id=str(org.id),
        pixel_id=str(pixel.id),
        audiences=has_audiences,
    )
    connections.close_all()
    return seeded


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn (gthread workers, so keep-alive works) in its own process group."""

    def __init__(self, *, workers: int, threads: int, high_limits: bool, log_path: Path):
        self.port = free_port()
        self.log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "delivr_admin.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--worker-class",
                "gthread",
                "--keep-alive",
                "30",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=server_env(high_limits=high_limits),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited: {log_path.read_text()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status < 500:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit("gunicorn did not answer within 60 s")
        # Warm every worker (imports, first connections) before measuring.
        for _ in range(workers * threads * 4):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                conn.close()
            except OSError:
                pass

    def cpu_seconds(self) -> float:
        """User + system CPU of gunicorn's master and workers (from /proc)."""
        total = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        pids = [self.proc.pid]
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            pids += [int(p) for p in children]
        except OSError:
            pass
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
            except (OSError, IndexError, ValueError):
                pass
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()


# ---------------------------------------------------------------------------------------------- clients


@dataclass
class Target:
    name: str
    method: str
    path: str  # may hold {n}: a per-request counter, for unique opt-outs
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


def client_run(args: tuple) -> dict:
    """One client process: requests on one keep-alive connection until the deadline or the request cap."""
    port, target, deadline, max_requests, worker_no = args
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started_cpu = time.process_time()
    n = 0
    while time.time() < deadline and n < max_requests:
        path = target.path.replace("{n}", f"{worker_no}-{n}")
        t0 = time.perf_counter()
        try:
            conn.request(target.method, path, body=target.body, headers=target.headers)
            response = conn.getresponse()
            response.read()
            key = str(response.status)
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
        except (OSError, http.client.HTTPException) as exc:
            key = f"error:{type(exc).__name__}"
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies.append(time.perf_counter() - t0)
        statuses[key] = statuses.get(key, 0) + 1
        n += 1
    conn.close()
    return {"latencies": latencies, "statuses": statuses, "cpu": time.process_time() - started_cpu}


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[index]


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    statuses: dict[str, int]
    client_cpu: float
    server_cpu: float

    @property
    def server_errors(self) -> int:
        return sum(n for k, n in self.statuses.items() if k.startswith("5") or k.startswith("error"))

    def line(self) -> str:
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        return (
            f"{self.name:<28} {self.requests:>7} req in {self.seconds:5.1f} s = {self.rps:7.1f} req/s  "
            f"p50 {self.p50_ms:6.1f} ms  p95 {self.p95_ms:6.1f} ms  p99 {self.p99_ms:6.1f} ms  "
            f"[{codes}]  cpu client {self.client_cpu:.1f} s / server {self.server_cpu:.1f} s"
        )


def load(server: Server, target: Target, *, clients: int, seconds: float, max_requests: int) -> Result:
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(clients) as pool:
        pool.map(int, range(clients))  # the processes exist before the clock starts
        cpu0 = server.cpu_seconds()
        started = time.time()
        deadline = started + seconds
        parts = pool.map(
            client_run, [(server.port, target, deadline, max_requests, i) for i in range(clients)]
        )
        elapsed = time.time() - started
        server_cpu = server.cpu_seconds() - cpu0
    latencies = sorted(x for part in parts for x in part["latencies"])
    statuses: dict[str, int] = {}
    for part in parts:
        for key, n in part["statuses"].items():
            statuses[key] = statuses.get(key, 0) + n
    return Result(
        name=target.name,
        requests=len(latencies),
        seconds=elapsed,
        rps=len(latencies) / elapsed if elapsed else 0.0,
        p50_ms=percentile(latencies, 50) * 1000,
        p95_ms=percentile(latencies, 95) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        statuses=statuses,
        client_cpu=sum(part["cpu"] for part in parts),
        server_cpu=server_cpu,
    )


def targets(s: Seed, *, batch: int) -> list[Target]:
    auth = {"X-API-Key": s.api_key, "X-Api-Secret": s.api_secret}
    events = {
        "events": [
            {
                "pixel_id": s.pixel_id,
                "organization_id": s.organization_id,
                "event_type": "page_view",
                "event_data": {
                    "content": {"title": "Pricing", "url": "https://example.com/pricing"},
                    "device": {"type": "desktop", "os": "Linux", "browser": "Chromium"},
                    "plan": "pro",
                },
                "visitor_id": f"v-{i}",
            }
            for i in range(batch)
        ]
    }
    out = [Target("GET /api/v1/status/{id}", "GET", f"/api/v1/status/{s.task_id}", auth)]
    if s.audiences:
        out.append(Target("GET /api/v1/audiences", "GET", "/api/v1/audiences", auth))
    out.append(
        Target(
            "GET /api/v1/uid2/optout",
            "GET",
            "/api/v1/uid2/optout?user=load-uid2-{n}-" + uuid.uuid4().hex[:8] + "&optouttime=1714550400",
        )
    )
    out.append(
        Target(
            f"POST send-event ({batch}/req)",
            "POST",
            "/pixel/core/api/send-event",
            {"Content-Type": "application/json"},
            json.dumps(events).encode(),
        )
    )
    return out


# ---------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="per target (default 20; smoke 5)")
    parser.add_argument("--clients", type=int, default=None, help="client processes (default 4; smoke 2)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=2, help="threads per gunicorn worker")
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap per client process")
    parser.add_argument("--batch", type=int, default=50, help="pixel events per send-event request")
    parser.add_argument("--smoke", action="store_true", help="CI: short, tiny seed, exit 1 on 5xx/no 429")
    opts = parser.parse_args(argv)
    seconds = opts.seconds if not opts.smoke or opts.seconds != 20.0 else 5.0
    clients = opts.clients or (2 if opts.smoke else 4)
    logs = ROOT / "var"
    logs.mkdir(exist_ok=True)

    t0 = time.monotonic()
    database_recreate()
    redis_flush()
    s = seed(audiences=5 if opts.smoke else 25, partitions=3 if opts.smoke else 12)
    print(f"setup (database, migrations, seed): {time.monotonic() - t0:.1f} s", flush=True)
    if not s.audiences:
        print("GET /api/v1/audiences: skipped (the audiences API is not installed)")
    print(
        f"gunicorn {opts.workers} workers x {opts.threads} threads (gthread), {clients} client processes, "
        f"{seconds:.0f} s per target, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    failures: list[str] = []
    results: list[Result] = []
    server = Server(
        workers=opts.workers, threads=opts.threads, high_limits=True, log_path=logs / "load-gunicorn.log"
    )
    try:
        for target in targets(s, batch=opts.batch if not opts.smoke else 10):
            result = load(server, target, clients=clients, seconds=seconds, max_requests=opts.max_requests)
            results.append(result)
            print(result.line(), flush=True)
            if result.server_errors:
                failures.append(f"{target.name}: {result.server_errors} 5xx or connection errors")
            if not any(k.startswith("2") for k in result.statuses):
                failures.append(f"{target.name}: no successful response ({result.statuses})")
    finally:
        server.stop()

    # The limiter with its default (25/s, burst 50): more clients than the budget allows.
    server = Server(
        workers=opts.workers, threads=opts.threads, high_limits=False, log_path=logs / "load-gunicorn-rl.log"
    )
    try:
        redis_flush()
        rl_target = targets(s, batch=1)[0]
        rl_target.name = "rate limit (default 25/s)"
        result = load(server, rl_target, clients=clients, seconds=min(seconds, 6.0), max_requests=100_000)
        results.append(result)
        print(result.line(), flush=True)
        ok = result.statuses.get("200", 0)
        print(
            f"  allowed {ok / result.seconds:.1f} req/s (limit 25/s, burst 50), 429s: {result.statuses.get('429', 0)}"
        )
        if not result.statuses.get("429"):
            failures.append("rate limit run: no 429 seen")
        if result.server_errors:
            failures.append(f"rate limit run: {result.server_errors} 5xx or connection errors")
    finally:
        server.stop()

    status = results[0]
    if not opts.smoke:
        met = status.rps >= STATUS_TARGET_RPS and status.p99_ms < STATUS_TARGET_P99_MS
        print(
            f"status endpoint target (>= {STATUS_TARGET_RPS} req/s, p99 < {STATUS_TARGET_P99_MS} ms): "
            f"{'met' if met else 'NOT met'}"
        )
    for failure in failures:
        print(f"FAIL: {failure}")
    print(f"total {time.monotonic() - t0:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
