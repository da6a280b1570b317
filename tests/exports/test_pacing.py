"""Rate limits as a budget: HubSpot requests are paced per portal, shared by every sender (threads with their
own database connections here, as worker processes would be), Retry-After defers the whole portal, and the
stand-in, which enforces HubSpot's rolling limit with 429s, never has to refuse a request."""

import threading
import time

import pyarrow as pa
import pytest
from django.conf import settings as django_settings

from exports import pacing
from exports.destinations.base import BatchContext, get_destination

LIMIT, WINDOW = 20, 1.0  # HubSpot's 100 per 10 s, scaled down so the test takes seconds


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
    from exports.models import PacingSlot

    limited.fail_next(1, status=429, retry_after=1, path_contains="contacts/batch/upsert")
    first = _destination(limited)
    before = time.time()
    _write(first, 0, 1)
    refused, accepted = limited.calls("POST", "contacts/batch/upsert")
    assert (refused.status, accepted.status) == (429, 200) and accepted.at - refused.at >= 0.95
    # the portal's shared slot moved past the Retry-After: another run for this portal waits too
    if not django_settings.CACHE_URL:  # the embedded default keeps the portal's slot in the database
        assert PacingSlot.objects.get(key=first.portal_key).tat >= before + 1.0
    other = _destination(limited)
    assert other.portal_key == first.portal_key


@pytest.mark.django_db
def test_book_when_other_portal_does_not_wait():
    assert pacing.pace_book("portal-a", limit=3, window_seconds=10) == 0
    assert pacing.pace_book("portal-a", limit=3, window_seconds=10) == 0  # a budget of 2 per 10.1 s
    assert pacing.pace_book("portal-a", limit=3, window_seconds=10) == pytest.approx(10.1, abs=0.2)
    assert pacing.pace_book("portal-b", limit=3, window_seconds=10) == 0


@pytest.mark.django_db
def test_defer_when_retry_after_pushes_the_next_slot():
    pacing.pace_defer("portal-c", 5)
    assert pacing.pace_book("portal-c", limit=100, window_seconds=10) == pytest.approx(5, abs=0.2)


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
