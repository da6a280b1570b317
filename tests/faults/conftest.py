"""Fault tests: real worker processes, a real Redis of our own, real PostgreSQL backends terminated."""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from audiences.engine.generator import GenerateParams, generate
from audiences.models import Task
from tests.conftest import wait_for

# 8 days x 4 prefixes x 3 scores = 96 partitions: on one worker process (concurrency 1) the count takes
# several seconds, long enough to kill the worker or restart Redis in the middle.
FAULT_PARAMS = GenerateParams(
    rows=20_000, days=6, prefixes=4, seed=5, start_day="2024-05-01", first_prefix=100
)


@pytest.fixture(scope="session")
def fault_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fault-data") / "intent"
    generate(str(root), FAULT_PARAMS)
    return root


@pytest.fixture
def fault_manifest(fault_root) -> dict:
    return json.loads((fault_root / "_manifest.json").read_text())


@pytest.fixture
def fault_settings(settings, fault_root, tmp_path):
    settings.DELIVR_DEMO_DATA = fault_root
    settings.DELIVR_DATA_ROOTS = [str(fault_root.parent)]
    settings.MEDIA_ROOT = tmp_path / "media"
    # One partition per work unit (one Celery message each): many messages are in flight, so a fault hits
    # queued, prefetched and running work at once.
    settings.DELIVR_TASK_UNITS = 1000
    settings.DELIVR_TASK_UNIT_MIN_BYTES = 1
    settings.DELIVR_TASK_UNIT_MIN_FILES = 1  # counts read from footers are planned by files
    return settings


def count_task_create(tenant) -> str:
    """A count-only task over the whole fault tree, through the API, once a worker planned it; its id."""
    days = [f"2024-05-0{d}" for d in range(1, 1 + FAULT_PARAMS.days)]
    prefixes = [f"4eyes_{100 + i}" for i in range(FAULT_PARAMS.prefixes)]
    r = tenant.key().post(
        "/api/v1/intent_hive_tasks",
        {
            "days": days,
            "topic_id_prefixes": prefixes,
            "scores": ["low", "medium", "high"],
            "perform_unload": False,
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    task_id = r.json()["task_id"]
    # A worker plans the task (lists the tree, creates its units) before any unit runs.
    wait_for(lambda: Task.objects.filter(pk=task_id, planned_at__isnull=False).exists(), timeout=90)
    return task_id


def reap_as_if_stale() -> dict:
    """Runs the reaper as its beat entry would once the dead worker's heartbeats and messages went stale."""
    from audiences.models import Job, JobStatus
    from audiences.services.tasks import JOB_STALE_AFTER, QUEUED_RESEND_AFTER, task_jobs_reap

    past = timezone.now() - max(JOB_STALE_AFTER, QUEUED_RESEND_AFTER) - timedelta(seconds=5)
    Job.objects.filter(status=JobStatus.RUNNING).update(heartbeat_at=past)
    Job.objects.filter(status=JobStatus.QUEUED).update(queued_at=past)
    return task_jobs_reap()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnRedis:
    """A private redis-server on a free loopback port (no persistence), restartable on the same port."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="fault-redis-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "OwnRedis":
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60  # a loaded machine starts processes slowly
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("own redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def own_redis():
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    redis = OwnRedis().start()
    yield redis
    redis.cleanup()
