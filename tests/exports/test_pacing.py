"""Rate limits as a budget: HubSpot requests are paced per portal, shared by every sender (threads with their
own database connections here, as worker processes would be), Retry-After defers the whole portal, and the
stand-in, which enforces HubSpot's rolling limit with 429s, never has to refuse a request."""

import threading
import time

import pyarrow as pa
import pytest

from exports import pacing
from exports.destinations.base import BatchContext, get_destination

LIMIT, WINDOW = 20, 1.0  # HubSpot's 100 per 10 s, scaled down so the test takes seconds


def _within(wait: float, due: float, since: float) -> bool:
    """`wait` was returned by a booking made between `since` (time.time()) and now, for a slot due `due` seconds
    after `since`: it is that much less the time that passed, never more (no tolerance guessed for the load)."""
    return due - (time.time() - since) - 1e-3 <= wait <= due + 1e-3


def _destination(standin, **config):
    return get_destination("hubspot")(standin.config(**config), standin.credentials())


def _write(destination, first: int, count: int, run_id: str = "run"):
    rows = [{"person_id": f"p{n}", "email": f"person{n}@example.com"} for n in range(first, first + count)]
    keys = [f"{run_id}:p{n}" for n in range(first, first + count)]
    context = BatchContext(run_id=run_id, export_id="e", batch_index=0, idempotency_keys=keys)
    return destination.write_batch(pa.RecordBatch.from_pylist(rows), context)


@pytest.fixture
def limited(hubspot_standin):
    hubspot_standin.rate_limit, hubspot_standin.rate_window = LIMIT, WINDOW
    return hubspot_standin


def test_budget_when_limit_100_per_10s_keeps_2_percent_margin():
    assert pacing.budget_of(limit=100, window_seconds=10) == (98, pytest.approx(10.1))
    assert pacing.budget_of(limit=1, window_seconds=10)[0] == 1  # never a zero or negative budget


@pytest.mark.django_db
def test_one_sender_when_over_the_budget_is_paced_and_never_refused(limited):
    """HubSpot's rule is a rolling window: a sender may go at once while the last window has room."""
    destination = _destination(limited)
    started = time.monotonic()
    result = _write(destination, 0, 100 * 45)  # 45 upserts of 100 contacts: more than two windows' budget
    elapsed = time.monotonic() - started

    assert result.objects["Contact"].records_created == 4500
    assert limited.rate_limited == 0 and limited.max_in_window <= LIMIT
    # paced: 45 requests at 19 per rolling 1.01 s need two more windows after the first 19
    assert elapsed >= 2 * 1.01 * 0.95


@pytest.mark.django_db(transaction=True)
def test_two_senders_to_one_portal_share_its_budget(limited):
    """Two runs for the same portal (own destinations, own database connections) stay within one budget."""
    errors: list[BaseException] = []

    def send(first: int, run_id: str) -> None:
        try:
            _write(_destination(limited), first, 100 * 15, run_id)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            from django.db import connection

            connection.close()

    threads = [threading.Thread(target=send, args=(i * 10_000, f"run{i}")) for i in range(2)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    elapsed = time.monotonic() - started

    assert not errors
    assert len(limited.contacts) == 3000
    assert limited.rate_limited == 0 and limited.max_in_window <= LIMIT
    assert elapsed >= 1.01 * 0.95  # 30 requests, one budget of 19 per window: a second window was needed


@pytest.mark.django_db
def test_retry_after_when_429_defers_every_sender_of_the_portal(limited):
    limited.fail_next(1, status=429, retry_after=1, path_contains="contacts/batch/upsert")
    first = _destination(limited)
    before = time.time()
    _write(first, 0, 1)
    refused, accepted = limited.calls("POST", "contacts/batch/upsert")
    assert (refused.status, accepted.status) == (429, 200) and accepted.at - refused.at >= 0.95
    # the portal's shared slot moved past the Retry-After (in the shared store): another run for it waits too
    assert pacing.pace_deferred_until(first.portal_key) >= before + 1.0
    other = _destination(limited)
    assert other.portal_key == first.portal_key


@pytest.mark.django_db
def test_book_when_other_portal_does_not_wait():
    since = time.time()
    assert pacing.pace_book("portal-a", limit=3, window_seconds=10) == 0
    assert pacing.pace_book("portal-a", limit=3, window_seconds=10) == 0  # a budget of 2 per 10.1 s
    assert _within(pacing.pace_book("portal-a", limit=3, window_seconds=10), 10.1, since)
    assert pacing.pace_book("portal-b", limit=3, window_seconds=10) == 0


@pytest.mark.django_db
def test_defer_when_retry_after_pushes_the_next_slot():
    since = time.time()
    pacing.pace_defer("portal-c", 5)
    assert _within(pacing.pace_book("portal-c", limit=100, window_seconds=10), 5, since)


@pytest.mark.django_db
def test_hubspot_run_when_paced_never_exceeds_the_standins_limit_and_knows_its_total(
    tenant, audience, limited
):
    from exports.models import Export, ExportRun

    limited.rate_limit = 8  # the run needs ~20 requests: two and a half windows
    r = tenant.jwt().post(
        "/api/v1/exports",
        {
            "project_id": str(tenant.project.id),
            "audience_id": str(audience.id),
            "name": "Paced HubSpot",
            "destination_type": "hubspot",
            "destination_config": {"host": limited.url, "rate_limit": 8},
            "credentials": limited.credentials(),
            "field_mapping": [
                {"source": "email", "target": "email", "type": "email", "required": True},
                {"source": "company_domain", "target": "company_domain"},
            ],
            "record_limit": {"maxRecords": 600, "failMode": "truncate"},
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    # the window is HubSpot's 10 s in the product; the stand-in's is 1 s here, so the export's must be too
    Export.objects.filter(pk=r.json()["id"]).update(
        destination_config={"host": limited.url, "rate_limit": 8, "rate_limit_window_seconds": WINDOW}
    )
    assert tenant.jwt().post(f"/api/v1/exports/{r.json()['id']}/runs").status_code == 202
    run = ExportRun.objects.get(export_id=r.json()["id"])

    assert run.status in ("completed", "completed_with_errors"), run.error
    assert run.records_expected == 600 == run.records_total
    assert len(limited.requests) > 2 * 8  # more than two windows' budget was needed
    assert limited.rate_limited == 0 and limited.max_in_window <= 8
    got = tenant.jwt().get(f"/api/v1/exports/{run.export_id}/runs/{run.id}").json()
    assert got["records_expected"] == 600 and got["seconds_left"] is None  # finished: nothing left


def _book_in_process(args):
    key, count = args
    from django.db import connections

    connections.close_all()  # the parent's connections are not this process's
    return [pacing.pace_book(key, limit=12, window_seconds=30) for _ in range(count)]


def test_two_processes_when_booking_one_portal_share_one_budget():
    """Two OS processes book slots of one portal: between them only the one budget (11 of a limit of 12) go at
    once, the rest wait for the window, whichever store is configured (SQLite file by default, Redis)."""
    import multiprocessing

    key = f"shared-portal-{time.time()}"
    since = time.time()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        waits = sum(pool.map(_book_in_process, [(key, 10), (key, 10)]), [])
    assert len(waits) == 20
    assert sum(1 for wait in waits if wait == 0) == 11
    # one rolling window of 30.3 s after the first slots, less the time the bookings took (a loaded machine
    # may start the second process seconds after the first)
    assert all(_within(wait, 30.3, since) for wait in waits if wait > 0), waits


def _defer_in_process(key):
    pacing.pace_defer(key, 20)


def test_retry_after_when_told_to_one_process_defers_the_others():
    import multiprocessing

    key = f"deferred-portal-{time.time()}"
    since = time.time()
    process = multiprocessing.get_context("fork").Process(target=_defer_in_process, args=(key,))
    process.start()
    process.join(60)
    assert process.exitcode == 0
    assert _within(pacing.pace_book(key, limit=100, window_seconds=10), 20, since)


def test_embedded_default_when_pacing_keeps_state_in_the_ratelimit_file_not_the_database(settings):
    import sqlite3

    if settings.CACHE_URL:
        pytest.skip("CACHE_URL is set: the shared store is Redis (see the Redis test)")
    pacing.pace_book("file-portal", limit=10, window_seconds=10)
    since = time.time()
    pacing.pace_defer("file-portal", 3)
    with sqlite3.connect(settings.DELIVR_RATELIMIT_DB) as conn:
        until, times = conn.execute(
            "SELECT until, times FROM windows WHERE key = 'pace:file-portal'"
        ).fetchone()
    assert until >= since + 3 - 1e-3 and len(times.split()) == 1


def _redis_url() -> str:
    import os

    return os.environ.get("DELIVR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def test_redis_when_configured_holds_the_pacing_state(settings):
    import redis

    url = _redis_url()
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis answers at {url} (CI runs one)")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "t",
        }
    }
    from django.core.cache import caches

    key = f"redis-portal-{time.time()}"
    try:
        since = time.time()
        assert [pacing.pace_book(key, limit=3, window_seconds=10) for _ in range(2)] == [0, 0]
        assert _within(pacing.pace_book(key, limit=3, window_seconds=10), 10.1, since)
        since = time.time()
        pacing.pace_defer(key, 50)
        assert pacing.pace_deferred_until(key) >= since + 50 - 1e-3
        stored = caches["default"].make_and_validate_key(f"win:pace:{key}")
        assert client.llen(stored) == 2  # the last `budget` slots, in Redis
    finally:
        caches["default"].clear()
        caches["default"].close()
    import sqlite3

    with sqlite3.connect(settings.DELIVR_RATELIMIT_DB) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS windows (key TEXT PRIMARY KEY, until REAL NOT NULL DEFAULT 0,"
            " last REAL NOT NULL DEFAULT 0, times TEXT NOT NULL DEFAULT '')"
        )
        assert conn.execute("SELECT count(*) FROM windows WHERE key = ?", (f"pace:{key}",)).fetchone()[0] == 0
