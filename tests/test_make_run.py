"""`make run` as a newcomer sees it: steps, a banner only once the server answers, no worker chatter in the
console, and Ctrl-C ending cleanly: bin/run stops everything ("Stopped.") and make prints no error
(`make: *** ... Interrupt` or `Error`)."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.worker
def test_make_run_when_started_and_interrupted_prints_banner_after_server_answers_and_ends_without_error(
    tmp_path,
):
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "CELERY_FS_ROOT", "DELIVR_TEST_RUN"}
    }
    env.update(PORT=str(port), DELIVR_VAR_DIR=str(tmp_path / "var"))
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        start_new_session=True,  # its own process group, like a terminal's foreground job
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    console: list[str] = []
    answered_at_banner = None
    try:
        # Hang guards only (what is proven is the order: banner after the answer). A first run migrates, seeds
        # the 600,000-row demo tree (beside the starting server): ~25 s of CPU, 107 s at load 17, 6 min at load 25.
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            console.append(line)
            if "is running at" in line:
                # The banner is printed only after the server answered: it must answer right now.
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=30) as response:
                    answered_at_banner = response.status
            if "Press Ctrl-C" in line:
                break
        assert answered_at_banner == 200, "".join(console)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=30) as response:
            assert json.load(response)["status"] == "ready"
        # Two gunicorn workers and the Celery worker write metrics to one folder; /metrics adds them up.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
            metrics = response.read().decode()
        assert 'route="healthz"' in metrics and "delivr_queue_depth" in metrics
        # The worker starts beside the web server; its "ready" line must land in its log, not the console.
        worker_log = tmp_path / "var" / "log" / "worker.log"
        deadline = time.monotonic() + 300
        while "ready." not in worker_log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "ready." in worker_log.read_text()
        # The demo's data is seeded beside the starting servers; its last line says the seed finished.
        seed_log = tmp_path / "var" / "log" / "seed.log"
        deadline = time.monotonic() + 600
        while "Demo organization:" not in seed_log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "Demo organization: Acme Demo Co" in seed_log.read_text()
        assert (tmp_path / "var" / "data" / "intent" / "_SUCCESS").exists()
        # ... and the console says so once the seeding process has ended (a line that follows at once).
        while not any(line.startswith("  Demo data: ready") for line in console):
            line = proc.stdout.readline()
            assert line and "seeding failed" not in line, "".join(console) + line
            console.append(line)
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        rest, _ = proc.communicate(timeout=90)
    console.append(rest)
    text = "".join(console)
    # bin/run traps Ctrl-C and exits 0; make, sent the same SIGINT as in a terminal, then ends by that signal
    # as a foreground job does (the shell prints no error), having printed none itself
    assert proc.returncode in (0, -signal.SIGINT), text
    assert "Stopped." in text and "make: ***" not in text and "Interrupt" not in text
    # The worker's, beat's and gunicorn's own chatter goes to the log files, not the console.
    # Nor does the seed's (kombu's "No hostname was supplied" when it queues a task on the filesystem broker).
    for chatter in (
        "celery@",
        "beat: Starting",
        "Booting worker",
        "Listening at",
        "[tasks]",
        "WARNING",
        "kombu",
    ):
        assert chatter not in text, text
    assert (tmp_path / "var" / "log" / "web.log").exists()
