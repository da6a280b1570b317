"""Login flood: another organization's API latency while 32 threads send failed sign-ins (issue 12).

gunicorn as `make run` starts it (2 workers x 4 threads, gthread) on the embedded default: a fresh SQLite
database in var/bench-login-flood/, no CACHE_URL, so the limits live in the shared SQLite store. Organization
A has a user the flood targets (wrong passwords, half on A's email, half on unknown emails); organization B
calls GET /api/v1/projects with its API key, paced at 20 requests/s (under its 25/s limit), first idle, then
during the flood. The flood runs in its own process (its threads would otherwise share the measuring
process's GIL) at nice 19 by default: on this one machine the attacker's client would otherwise take the
server's CPU, which a remote attacker's does not (--flood-nice 0 measures it that way too). Goal: B's
median during the flood within 2x its idle median.

`--modes protected,healthz,unprotected` adds the floor (the same flood on GET /healthz) and the figure
without protection (sign-in limits and the per-worker hash cap out of reach). Traffic only to
127.0.0.1; bounded: each phase stops after --samples requests of B, the flood after --max-seconds.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "var" / "bench-login-flood"
PASSWORD = "bench-flood-correct-horse"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(unprotected: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("CACHE_URL", "DATABASE_URL")}
    env.update(
        DATABASE_URL=f"sqlite:///{BENCH_DIR / 'db.sqlite3'}",
        DELIVR_RATELIMIT_DB=str(BENCH_DIR / "ratelimit.sqlite3"),
        DJANGO_SETTINGS_MODULE="delivr_admin.settings",
        DELIVR_LOG_LEVEL="WARNING",
    )
    if unprotected:
        env.update(
            DELIVR_LOGIN_FAILURES_PER_ACCOUNT="1000000",
            DELIVR_LOGIN_FAILURES_PER_ADDRESS="1000000",
            DELIVR_SIGNIN_HASHES_PER_PROCESS="1000",
            DELIVR_RATE_LIMIT_PER_SECOND="1000000",  # the per-address limit of anonymous calls, too
            DELIVR_RATE_LIMIT_BURST="1000000",
        )
    return env


def _setup() -> tuple[str, str, str]:
    """Fresh database: organization A's user (flood target) and organization B's API key and secret."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from accounts.models import Membership, Organization, Role, User
    from accounts.selectors import principal_for_user
    from accounts.services import api_client_create

    call_command("migrate", verbosity=0)
    victim = User.objects.create_user(email="victim@example.com", password=PASSWORD)
    Membership.objects.create(
        user=victim, organization=Organization.objects.create(name="A"), role=Role.ADMIN
    )
    owner = User.objects.create_user(email="owner-b@example.com", password=PASSWORD)
    org_b = Organization.objects.create(name="B")
    Membership.objects.create(user=owner, organization=org_b, role=Role.ADMIN)
    _, key, secret = api_client_create(principal=principal_for_user(owner, org_b.id), name="bench")
    connection.close()
    return victim.email, key, secret


def _flood(
    port: int, email: str, threads: int, max_seconds: float, stop, counts, nice: int, healthz: bool
) -> None:
    """One process, `threads` keep-alive connections sending wrong passwords until `stop` or the deadline."""
    os.nice(nice)
    deadline = time.monotonic() + max_seconds
    lock = threading.Lock()
    local: dict[int, int] = {}

    def run(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        i = 0
        while not stop.is_set() and time.monotonic() < deadline:
            target = email if i % 2 else f"nobody-{n}-{i}@example.com"
            body = json.dumps({"email": target, "password": f"guess-{uuid.uuid4().hex[:8]}"})
            try:
                if healthz:  # the floor: the same flood on the cheapest endpoint there is
                    conn.request("GET", "/healthz")
                else:
                    conn.request("POST", "/auth/v1/login", body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                status = response.status
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                status = 0
            with lock:
                local[status] = local.get(status, 0) + 1
            i += 1

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    counts.put(local)


def _measure(
    port: int, key: str, secret: str, samples: int, seconds: float = 600.0
) -> tuple[list[float], dict]:
    """B's latencies (ms) over `samples` requests paced at 20/s (at most `seconds`), and its status counts."""
    deadline = time.monotonic() + seconds
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"X-API-Key": key, "X-Api-Secret": secret}
    latencies, statuses = [], {}
    for _ in range(samples):
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        conn.request("GET", "/api/v1/projects", headers=headers)
        response = conn.getresponse()
        response.read()
        elapsed = time.perf_counter() - started
        latencies.append(elapsed * 1000)
        statuses[response.status] = statuses.get(response.status, 0) + 1
        time.sleep(max(0.0, 0.05 - elapsed))
    conn.close()
    return latencies, statuses


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _start_server(port: int, env: dict) -> subprocess.Popen:
    log = open(BENCH_DIR / "gunicorn.log", "a")  # noqa: SIM115 - lives as long as the server
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "delivr_admin.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--threads", "4", "--worker-class", "gthread", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/healthz")
            c.getresponse().read()
            return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"gunicorn did not start; see {BENCH_DIR / 'gunicorn.log'}") from None
            time.sleep(0.2)


def run(mode: str, samples: int, threads: int, max_seconds: float, nice: int) -> dict:
    shutil.rmtree(BENCH_DIR, ignore_errors=True)
    BENCH_DIR.mkdir(parents=True)
    env = _env(mode == "unprotected")
    setup = subprocess.run(
        [sys.executable, "-c", "import json, bench.login_flood as b; print(json.dumps(b._setup()))"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    email, key, secret = json.loads(setup.stdout.strip().splitlines()[-1])
    port = _free_port()
    server = _start_server(port, env)
    try:
        _measure(port, key, secret, 20)  # warm-up: imports, connections
        idle, idle_statuses = _measure(port, key, secret, samples)
        ctx = multiprocessing.get_context("spawn")
        stop, counts = ctx.Event(), ctx.Queue()
        flood = ctx.Process(
            target=_flood, args=(port, email, threads, max_seconds, stop, counts, nice, mode == "healthz")
        )
        started = time.monotonic()
        flood.start()
        time.sleep(1.0)  # let the flood reach full speed before measuring
        during, during_statuses = _measure(port, key, secret, samples, max_seconds - 1)
        stop.set()
        flood_counts = counts.get(timeout=max_seconds + 60)
        flood_seconds = time.monotonic() - started
        flood.join(60)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    return {
        "idle": idle,
        "during": during,
        "statuses": (idle_statuses, during_statuses),
        "flood": flood_counts,
        "flood_seconds": flood_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=400, help="B's requests per phase (20/s)")
    parser.add_argument("--threads", type=int, default=32, help="failed-login threads")
    parser.add_argument(
        "--max-seconds", type=float, default=60.0, help="flood stops after this at the latest"
    )
    parser.add_argument(
        "--modes",
        default="protected",
        help="comma-separated: protected (the product), healthz (the same flood on GET /healthz: the floor "
        "of any flood), unprotected (sign-in limits and the hash cap out of reach: the issue's finding)",
    )
    parser.add_argument(
        "--flood-nice",
        type=int,
        default=19,
        help="niceness of the flood's client process: a real attacker's CPU is not the server's; 0 puts "
        "the attacker's 32 Python threads on the server's cores at equal priority",
    )
    opts = parser.parse_args()
    print(f"gunicorn 2 workers x 4 threads on SQLite (embedded default); cpus={os.cpu_count()}; "
          f"load average {os.getloadavg()[0]:.1f}; flood client at nice {opts.flood_nice}")  # fmt: skip
    for mode in opts.modes.split(","):
        r = run(mode, opts.samples, opts.threads, opts.max_seconds, opts.flood_nice)
        idle_med, during_med = statistics.median(r["idle"]), statistics.median(r["during"])
        total = sum(r["flood"].values())
        hashed = r["flood"].get(401, 0) if mode != "healthz" else 0
        label = {
            "protected": "with sign-in limits",
            "unprotected": "WITHOUT sign-in limits",
            "healthz": "floor, GET /healthz flood instead of sign-ins",
        }[mode]
        print(
            f"{label}: org B GET /api/v1/projects median idle {idle_med:.1f} ms (p90 {_pct(r['idle'], 0.9):.1f}), "
            f"during flood {during_med:.1f} ms (p90 {_pct(r['during'], 0.9):.1f}) = {during_med / idle_med:.2f}x "
            f"idle [goal <= 2x: {'met' if during_med <= 2 * idle_med else 'NOT met'}]; B statuses "
            f"{r['statuses'][1]}; flood {total} requests in {r['flood_seconds']:.1f}s "
            f"({total / r['flood_seconds']:.0f}/s) statuses {dict(sorted(r['flood'].items()))} "
            f"-> {hashed} reached the password hasher"
        )


if __name__ == "__main__":
    main()
