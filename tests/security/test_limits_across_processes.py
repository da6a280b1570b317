"""Limits and revocation hold across processes: two real gunicorn servers on one test database.

The attacker's probe found each gunicorn worker with its own buckets (two workers gave twice the limit, and
the UID2 and pixel per-source bursts of 200 became 400, which the probe never reached), failed
authentication never limited, and a revoked API key still working in other workers for ~10 s. Requests here
alternate between the two servers; on the embedded default the buckets live in the SQLite file
DELIVR_RATELIMIT_DB, with CACHE_URL=redis://... in Redis.
"""

import http.client
import json
import os
import subprocess
import sys
import uuid
from urllib.parse import urlencode

import pytest
from django.conf import settings

from accounts.models import ApiClient
from accounts.services import api_client_revoke
from tests.conftest import ROOT, wait_for, worker_env
from tests.faults.conftest import free_port

BURST = 6  # each limit below: 6 at once, then 1 per second (per source, organization or address)


class Server:
    def __init__(self, name: str):
        self.port = free_port()
        self.log_path = ROOT / "var" / f"test-server-{name}{os.environ.get('DELIVR_TEST_RUN', '')}.log"
        env = worker_env()
        env.update(
            DELIVR_RATELIMIT_DB=str(settings.DELIVR_RATELIMIT_DB),
            DELIVR_RATE_LIMIT_PER_SECOND="1",
            DELIVR_RATE_LIMIT_BURST=str(BURST),
            DELIVR_UID2_RATE_LIMIT_PER_SECOND="1",
            DELIVR_UID2_RATE_LIMIT_BURST=str(BURST),
            DELIVR_PIXEL_RATE_LIMIT_PER_SECOND="1",
            DELIVR_PIXEL_RATE_LIMIT_BURST=str(BURST),
            DELIVR_AUTH_FAILURES_PER_ADDRESS=str(BURST),
            DELIVR_AUTH_FAILURE_WINDOW_SECONDS=str(BURST),
            DELIVR_LOG_LEVEL="WARNING",
        )
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "delivr_admin.wsgi:application", "--bind",
             f"127.0.0.1:{self.port}", "--workers", "1", "--threads", "2", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def ready(self) -> bool:
        assert self.proc.poll() is None, self.log_path.read_text()[-2000:]
        try:
            return self.request("GET", "/healthz")[0] == 200
        except OSError:
            return False

    def request(self, method: str, path: str, body: dict | None = None, **headers) -> tuple[int, dict, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            payload = json.dumps(body) if body is not None else None
            conn.request(method, path, payload, {"Content-Type": "application/json", **headers})
            response = conn.getresponse()
            raw = response.read()
            data = json.loads(raw) if raw and response.getheader("Content-Type", "").startswith("app") else {}
            return response.status, data, dict(response.getheaders())
        finally:
            conn.close()

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()


@pytest.fixture(scope="module")
def servers(django_db_setup, django_db_blocker):
    pair = [Server("a"), Server("b")]
    try:
        for server in pair:
            wait_for(server.ready, timeout=90, message="gunicorn to answer /healthz")
        yield pair
    finally:
        for server in pair:
            server.stop()


def _alternate(servers, count: int, request) -> list[tuple[int, dict, dict]]:
    return [request(servers[i % 2]) for i in range(count)]


pytestmark = pytest.mark.django_db(transaction=True)


def test_org_api_limit_when_two_processes_share_requests_allows_one_budget(servers, tenant):
    headers = {"X-API-Key": tenant.api_key, "X-Api-Secret": tenant.api_secret}
    answers = _alternate(servers, 2 * BURST + 2, lambda s: s.request("GET", "/api/v1/projects", **headers))
    statuses = [status for status, _, _ in answers]
    # Per-process buckets would let 2 x BURST through; one shared bucket lets BURST (+1 refilled meanwhile).
    assert BURST <= statuses.count(200) <= BURST + 2, statuses
    limited = [a for a in answers if a[0] == 429]
    assert {id(servers[i % 2]) for i, a in enumerate(answers) if a[0] == 429} == {id(s) for s in servers}
    assert limited[0][1]["error"]["code"] == "rate_limited" and int(limited[0][2]["Retry-After"]) >= 1


def test_uid2_per_source_limit_when_two_processes_share_requests_allows_one_budget(servers, db):
    def optout(server):
        query = urlencode({"user": f"probe-{uuid.uuid4().hex}", "optouttime": 1772600767})
        return server.request("GET", f"/api/v1/uid2/optout?{query}")

    statuses = [status for status, _, _ in _alternate(servers, 2 * BURST + 2, optout)]
    assert BURST <= statuses.count(204) <= BURST + 2, statuses
    assert statuses[-2:] == [429, 429]


def test_pixel_per_source_limit_when_two_processes_share_requests_allows_one_budget(servers, db):
    event = {"pixel_id": str(uuid.uuid4()), "organization_id": str(uuid.uuid4()), "event_type": "page_view"}
    answers = _alternate(
        servers, 2 * BURST + 2, lambda s: s.request("POST", "/pixel/core/api/send-event", event)
    )
    statuses = [status for status, _, _ in answers]
    assert BURST <= statuses.count(404) <= BURST + 2, statuses  # unknown pixel: counted, then refused
    assert statuses[-2:] == [429, 429]


def test_bad_api_keys_when_guessed_from_one_address_are_limited_across_processes(servers, tenant):
    guesses = _alternate(
        servers,
        2 * BURST + 2,
        lambda s: s.request("GET", "/api/v1/projects", **{"X-API-Key": f"dlvr_{uuid.uuid4().hex}"}),
    )
    statuses = [status for status, _, _ in guesses]
    assert BURST <= statuses.count(401) <= BURST + 2, statuses
    status, body, headers = guesses[-1]
    assert status == 429 and body["error"]["code"] == "too_many_attempts"
    assert "Try again in" in body["error"]["message"] and int(headers["Retry-After"]) >= 1
    # Bad JWTs count against the same address.
    status, body, _ = servers[0].request("GET", "/api/v1/projects", Authorization="Bearer not.a.jwt")
    assert status == 429 and body["error"]["code"] == "too_many_attempts"


def test_revoked_key_when_revoked_is_refused_on_next_request_in_every_process(servers, tenant):
    headers = {"X-API-Key": tenant.api_key, "X-Api-Secret": tenant.api_secret}
    assert [s.request("GET", "/api/v1/projects", **headers)[0] for s in servers] == [200, 200]
    api_client_revoke(client=ApiClient.objects.get(id=tenant.client_id))
    assert [s.request("GET", "/api/v1/projects", **headers)[0] for s in servers] == [401, 401]
