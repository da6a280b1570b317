import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.models import Role
from accounts.selectors import principal_for_user
from delivr_admin.celery import app as celery_app
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory

ROOT = Path(__file__).resolve().parent.parent

# Fixture modules shared by several test folders (pytest loads plugins from the top conftest only).
pytest_plugins = ["tests.exports.standins.fixtures", "tests.e2e.journey_support"]


@pytest.fixture(autouse=True)
def _celery_eager(request):
    """Tasks run in-process unless the test starts a real worker (marked `worker`)."""
    eager = request.node.get_closest_marker("worker") is None
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = eager
    yield
    celery_app.conf.task_always_eager = previous


# The suite's stand-ins listen on 127.0.0.1, an internal address the outbound guard refuses by default; the
# tests that attack the guard set the allow-list back to empty themselves.
TEST_OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]


@pytest.fixture(autouse=True)
def _outbound_allow_standins(settings):
    settings.DELIVR_OUTBOUND_ALLOWED_HOSTS = list(TEST_OUTBOUND_ALLOWED_HOSTS)
    yield


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    from delivr_admin.ratelimit import rate_limit_reset_all

    cache.clear()
    rate_limit_reset_all()  # the limiter's buckets live outside the cache on the embedded default
    yield


class CommitAPIClient(APIClient):
    """Runs transaction.on_commit callbacks when each request ends, as a real request's commit would.

    pytest-django wraps non-transactional tests in one transaction that never commits, so without this,
    work queued on commit (Celery jobs, in eager mode) would never run.
    """

    def request(self, **kwargs):
        from django.db import connection
        from django.test import TestCase

        if not connection.in_atomic_block:
            return super().request(**kwargs)
        with TestCase.captureOnCommitCallbacks(execute=True):
            return super().request(**kwargs)


@pytest.fixture
def api() -> APIClient:
    return CommitAPIClient()


@dataclass
class Tenant:
    """An organization with an admin user, a project, a JWT and an API key + secret."""

    org: object
    project: object
    user: object
    token: str
    api_key: str
    api_secret: str
    client_id: str

    @property
    def principal(self):
        return principal_for_user(self.user, self.org.id)

    def jwt(self) -> APIClient:
        client = CommitAPIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.token}")
        return client

    def key(self) -> APIClient:
        client = CommitAPIClient()
        client.credentials(HTTP_X_API_KEY=self.api_key, HTTP_X_API_SECRET=self.api_secret)
        return client


def make_tenant(role: str = Role.ADMIN) -> Tenant:
    membership = MembershipFactory(role=role)
    project = ProjectFactory(organization=membership.organization, name="Default")
    principal = principal_for_user(membership.user, membership.organization.id)
    token = account_services.jwt_issue(user=membership.user, organization=membership.organization)
    client, api_key, api_secret = account_services.api_client_create(principal=principal, name="tests")
    return Tenant(
        membership.organization, project, membership.user, token, api_key, api_secret, str(client.id)
    )


@pytest.fixture
def tenant(db) -> Tenant:
    return make_tenant()


@pytest.fixture
def other_tenant(db) -> Tenant:
    return make_tenant()


@pytest.fixture
def tenant_factory(db):
    return make_tenant


@pytest.fixture
def password() -> str:
    return PASSWORD


def worker_env() -> dict:
    """Environment for a worker subprocess that uses the test database and the test broker."""
    from django.db import connection

    env = dict(os.environ)
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
            f"/{db['NAME']}"
        )
    env["CELERY_FS_ROOT"] = str(settings.CELERY_FS_ROOT)
    env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    env["CELERY_TASK_ALWAYS_EAGER"] = "false"
    env["DELIVR_MEDIA_ROOT"] = str(settings.MEDIA_ROOT)
    env["DELIVR_DEMO_DATA"] = str(settings.DELIVR_DEMO_DATA)
    env["DELIVR_DATA_ROOTS"] = os.pathsep.join(str(root) for root in settings.DELIVR_DATA_ROOTS)
    env["DELIVR_OUTBOUND_ALLOWED_HOSTS"] = ",".join(settings.DELIVR_OUTBOUND_ALLOWED_HOSTS)
    # the same output store and credentials as this (web) process: the worker writes what the web serves
    env["DELIVR_OUTPUT_URL"] = settings.DELIVR_OUTPUT_URL or ""
    for option, name in settings.DELIVR_STORAGE_OPTION_ENV.items():
        env[name] = str(settings.DELIVR_STORAGE_OPTIONS.get(option) or "")
    env["DJANGO_SECRET_KEY"] = settings.SECRET_KEY  # links one machine signs, the other checks
    # the worker plans tasks (lists the data, sizes the work units): with this process's unit settings
    for name in (
        "DELIVR_TASK_UNITS",
        "DELIVR_TASK_UNIT_MIN_BYTES",
        "DELIVR_TASK_UNIT_MIN_FILES",
        "DELIVR_TASK_UNIT_MAX_PARTITIONS",
    ):
        env[name] = str(getattr(settings, name))
    env.setdefault("DJANGO_SETTINGS_MODULE", "delivr_admin.settings")
    return env


class WorkerProcess:
    def __init__(
        self, name: str, concurrency: int = 2, extra_args: tuple[str, ...] = (), env: dict | None = None
    ):
        """`env` overrides worker_env() (another machine's folders, for instance)."""
        self.name = name
        self.concurrency = concurrency
        self.extra_args = extra_args
        self.env = env or {}
        self.proc: subprocess.Popen | None = None
        self.log_path = ROOT / "var" / f"test-worker-{name}{os.environ.get('DELIVR_TEST_RUN', '')}.log"

    def start(self) -> "WorkerProcess":
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "delivr_admin",
                "worker",
                "-l",
                "info",
                "--concurrency",
                str(self.concurrency),
                "-n",
                f"{self.name}@%h",
                "--without-gossip",
                "--without-mingle",
                *self.extra_args,
            ],
            cwd=ROOT,
            env=worker_env() | self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self) -> None:
        """Kills the worker and its pool children at once, as a crash would."""
        import signal

        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        import signal

        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


@pytest.fixture
def celery_worker_process(transactional_db):
    """A real Celery worker subprocess on the configured broker and the test database."""
    _purge_queue()
    worker = WorkerProcess("testworker").start()
    yield worker
    worker.stop()


def _purge_queue() -> None:
    try:
        celery_app.control.purge()
    except Exception:  # noqa: BLE001 - a broker without purge support only leaves stale messages
        pass


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
