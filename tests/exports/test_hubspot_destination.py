"""The HubSpot destination against the local HubSpot stand-in (the official client really talks HTTP to it)."""

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from exports.destinations.base import BatchContext, DestinationError, get_destination
from exports.destinations.hubspot import HubSpotDestination, normalize_domain

pytestmark = pytest.mark.django_db  # requests book their slots of the portal's budget in the database


def _destination(standin, **config):
    return get_destination("hubspot")(standin.config(**config), standin.credentials())


def _context(rows, run_id="run1", batch_index=0):
    keys = [f"{run_id}:{row.get('person_id') or row.get('email')}" for row in rows]
    return BatchContext(run_id=run_id, export_id="exp1", batch_index=batch_index, idempotency_keys=keys)


def _write(destination, rows, **context):
    batch = pa.RecordBatch.from_pylist(rows)
    return destination.write_batch(batch, _context(rows, **context))


def _contact(n, domain="", **extra):
    row = {"person_id": f"p{n}", "email": f"person{n}@{domain or 'example.com'}", "firstname": f"First{n}"}
    if domain:
        row["company_domain"] = domain
    row.update(extra)
    return row


def test_destination_kind_when_looked_up_is_hubspot():
    assert get_destination("hubspot") is HubSpotDestination


def test_normalize_domain_when_url_or_www_gives_bare_domain():
    assert normalize_domain("https://www.Acme.com/about?x=1") == "acme.com"
    assert normalize_domain(" acme.io:443 ") == "acme.io"
    assert normalize_domain(None) == ""


def test_test_connection_when_token_good_passes(hubspot_standin):
    _destination(hubspot_standin).test_connection()
    (call,) = hubspot_standin.calls("GET", "/crm/v3/objects/contacts")
    assert call.query == {"limit": "1"}
    assert call.headers["authorization"] == f"Bearer {hubspot_standin.token}"


def test_test_connection_when_token_bad_raises_user_error(hubspot_standin):
    destination = HubSpotDestination(hubspot_standin.config(), {"access_token": "wrong"})
    with pytest.raises(DestinationError) as caught:
        destination.test_connection()
    assert caught.value.user_error and not caught.value.retryable
    assert caught.value.message == "HubSpot rejected the access token"


def test_contacts_when_new_and_existing_count_created_and_updated(hubspot_standin):
    destination = _destination(hubspot_standin)
    _write(destination, [_contact(1)])
    result = _write(destination, [_contact(1, lastname="Again"), _contact(2)], run_id="run2")

    contact = result.objects["Contact"]
    assert (contact.records_created, contact.records_updated, contact.records_failed) == (1, 1, 0)
    assert hubspot_standin.contacts["person1@example.com"]["properties"]["lastname"] == "Again"
    upsert = hubspot_standin.calls("POST", "contacts/batch/upsert")[-1].body["inputs"]
    assert [i["idProperty"] for i in upsert] == ["email", "email"]
    assert [i["objectWriteTraceId"] for i in upsert] == ["run2:p1", "run2:p2"]
    assert "company_domain" not in upsert[0]["properties"]


def test_company_when_domain_exists_is_associated_not_created(hubspot_standin):
    existing = hubspot_standin.add_company("acme.com", "Acme Inc")
    result = _write(_destination(hubspot_standin), [_contact(1, "acme.com"), _contact(2, "www.ACME.com")])

    assert hubspot_standin.calls("POST", "companies/batch/create") == []
    assert len(hubspot_standin.companies_for("acme.com")) == 1
    assert hubspot_standin.company_of("person1@acme.com")["id"] == existing["id"]
    assert hubspot_standin.company_of("person2@www.acme.com")["id"] == existing["id"]
    (search,) = hubspot_standin.calls("POST", "companies/search")
    (flt,) = search.body["filterGroups"][0]["filters"]
    assert (flt["propertyName"], flt["operator"], flt["values"]) == ("domain", "IN", ["acme.com"])
    company = result.objects["Company"]
    assert (company.records_created, company.records_updated, company.records_failed) == (0, 1, 0)


def test_company_when_three_contacts_share_new_domain_is_created_once(hubspot_standin):
    hubspot_standin.add_company("old.com")
    destination = _destination(hubspot_standin)
    rows = [_contact(1, "new.io"), _contact(2, "new.io"), _contact(3, "new.io"), _contact(4, "old.com")]
    result = _write(destination, rows)

    (create,) = hubspot_standin.calls("POST", "companies/batch/create")
    assert [i["properties"]["domain"] for i in create.body["inputs"]] == ["new.io"]
    (created,) = hubspot_standin.companies_for("new.io")
    for n in (1, 2, 3):
        assert hubspot_standin.company_of(f"person{n}@new.io")["id"] == created["id"]
    (associate,) = hubspot_standin.calls("POST", "batch/associate/default")
    assert len(associate.body["inputs"]) == 4
    company = result.objects["Company"]
    assert (company.records_created, company.records_updated) == (1, 1)

    # A later batch of the same run reuses the id it remembered: no second search, no second company.
    _write(destination, [_contact(5, "new.io")], batch_index=1)
    assert len(hubspot_standin.calls("POST", "companies/search")) == 1
    assert len(hubspot_standin.companies_for("new.io")) == 1
    assert hubspot_standin.company_of("person5@new.io")["id"] == created["id"]


def test_upsert_when_email_invalid_maps_error_to_that_contact(hubspot_standin):
    rows = [_contact(1), {"person_id": "p2", "email": "not-an-email", "firstname": "X"}, _contact(3)]
    result = _write(_destination(hubspot_standin), rows)

    contact = result.objects["Contact"]
    assert (contact.records_created, contact.records_failed) == (2, 1)
    (error,) = contact.errors
    assert (error.key, error.code) == ("run1:p2", "VALIDATION_ERROR")
    assert "not-an-email" in error.message
    assert hubspot_standin.calls("POST", "contacts/batch/upsert")[0].status == 207


def test_upsert_when_whole_batch_rejected_splits_until_bad_input_stands_alone(hubspot_standin):
    hubspot_standin.invalid_email_mode = "reject_batch"
    rows = [_contact(n) for n in range(1, 8)]
    rows[4] = {"person_id": "p5", "email": "broken@", "firstname": "X"}
    result = _write(_destination(hubspot_standin), rows)

    contact = result.objects["Contact"]
    assert (contact.records_created, contact.records_failed) == (6, 1)
    assert contact.errors[0].key == "run1:p5"
    assert len(hubspot_standin.contacts) == 6
    assert len(hubspot_standin.calls("POST", "contacts/batch/upsert")) <= 7  # log2 splits, not one per row


def test_upsert_when_email_missing_or_repeated_reports_without_sending(hubspot_standin):
    rows = [_contact(1), {"person_id": "p2", "email": None}, _contact(1)]
    result = _write(_destination(hubspot_standin), rows)

    contact = result.objects["Contact"]
    assert (contact.records_created, contact.records_failed, contact.records_skipped) == (1, 1, 1)
    assert contact.errors[0].code == "REQUIRED_FIELD_MISSING"
    (upsert,) = hubspot_standin.calls("POST", "contacts/batch/upsert")
    assert len(upsert.body["inputs"]) == 1


def test_upsert_when_batch_over_100_sends_chunks_of_100(hubspot_standin):
    result = _write(_destination(hubspot_standin), [_contact(n) for n in range(250)])

    sizes = [len(c.body["inputs"]) for c in hubspot_standin.calls("POST", "contacts/batch/upsert")]
    assert sizes == [100, 100, 50]
    assert result.objects["Contact"].records_created == 250


def test_write_when_429_with_retry_after_waits_then_succeeds(hubspot_standin):
    hubspot_standin.fail_next(1, status=429, retry_after=1, path_contains="contacts/batch/upsert")
    result = _write(_destination(hubspot_standin), [_contact(1)])

    first, second = hubspot_standin.calls("POST", "contacts/batch/upsert")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.95  # Retry-After: 1 honoured, not the 0.01 s test backoff
    assert result.objects["Contact"].records_created == 1


def test_write_when_rate_window_nearly_spent_waits_for_interval(hubspot_standin):
    hubspot_standin.rate_remaining = 1
    hubspot_standin.rate_interval_ms = 300
    _write(_destination(hubspot_standin), [_contact(1, "acme.com")])

    calls = hubspot_standin.requests
    # upsert, the export's list (found by name: 404, then created), its membership, search, create company, associate
    assert len(calls) == 7
    gaps = [later.at - earlier.at for earlier, later in zip(calls, calls[1:], strict=False)]
    assert min(gaps) >= 0.28


def test_write_when_500_persists_reports_every_record_failed(hubspot_standin):
    hubspot_standin.fail_next(10, status=500, path_contains="contacts/batch/upsert")
    result = _write(_destination(hubspot_standin, max_retries=2), [_contact(1), _contact(2)])

    contact = result.objects["Contact"]
    assert (contact.records_created, contact.records_failed) == (0, 2)
    assert {e.key for e in contact.errors} == {"run1:p1", "run1:p2"}
    assert contact.errors[0].code == "INTERNAL_ERROR"
    assert len(hubspot_standin.calls("POST", "contacts/batch/upsert")) == 3  # first try + 2 retries
    assert hubspot_standin.contacts == {}


def test_write_when_500_on_company_create_reports_company_error_and_keeps_contacts(hubspot_standin):
    hubspot_standin.fail_next(10, status=500, path_contains="companies/batch/create")
    result = _write(_destination(hubspot_standin, max_retries=1), [_contact(1, "new.io")])

    assert result.objects["Contact"].records_created == 1
    company = result.objects["Company"]
    assert (company.records_created, company.records_failed) == (0, 1)
    assert company.errors[0].key == "new.io"
    assert hubspot_standin.associations == set()


def test_write_when_batch_retried_with_same_keys_creates_no_duplicates(hubspot_standin):
    rows = [_contact(1, "new.io", topic_id="t1"), _contact(2, "new.io", topic_id="t2")]
    first = _write(_destination(hubspot_standin, timeline_event_template_id="1001"), rows)
    # A retry of the same batch, as a new worker would run it: a fresh destination instance, same keys.
    retry = _write(_destination(hubspot_standin, timeline_event_template_id="1001"), rows)

    assert len(hubspot_standin.contacts) == 2
    assert len(hubspot_standin.companies_for("new.io")) == 1
    assert len(hubspot_standin.events) == 2
    assert first.objects["Contact"].records_created == 2
    assert (retry.objects["Contact"].records_created, retry.objects["Contact"].records_updated) == (0, 2)
    assert retry.objects["TimelineEvent"].records_skipped == 2
    upserts = hubspot_standin.calls("POST", "contacts/batch/upsert")
    assert [i["objectWriteTraceId"] for i in upserts[0].body["inputs"]] == [
        i["objectWriteTraceId"] for i in upserts[1].body["inputs"]
    ]


def test_timeline_when_template_configured_writes_one_event_per_contact(hubspot_standin):
    seen = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
    rows = [
        _contact(1, topic_id="crm-software", intent_frequency=3, seen_at=seen),
        _contact(2, topic_id="data-warehouse", impression_count=7, seen_at=seen),
    ]
    result = _write(_destination(hubspot_standin, timeline_event_template_id="1001"), rows)

    assert result.objects["TimelineEvent"].records_created == 2
    events = sorted(hubspot_standin.events.values(), key=lambda e: e["email"])
    assert [e["objectId"] for e in events] == [
        hubspot_standin.contacts["person1@example.com"]["id"],
        hubspot_standin.contacts["person2@example.com"]["id"],
    ]
    assert events[0]["tokens"] == {"topic_id": "crm-software", "intent_frequency": "3"}
    assert events[0]["timestamp"].startswith("2026-03-02T10:30")
    (call,) = hubspot_standin.calls("POST", "timeline")
    assert {i["eventTemplateId"] for i in call.body["inputs"]} == {"1001"}
    for contact in hubspot_standin.contacts.values():
        assert "topic_id" not in contact["properties"]


def test_timeline_when_no_template_counts_skipped_and_sends_nothing(hubspot_standin):
    result = _write(_destination(hubspot_standin), [_contact(1, topic_id="t"), _contact(2, topic_id="t")])

    events = result.objects["TimelineEvent"]
    assert (events.records_created, events.records_skipped, events.records_failed) == (0, 2, 0)
    assert hubspot_standin.calls("POST", "timeline") == []


def test_timeline_when_template_unknown_reports_event_errors(hubspot_standin):
    result = _write(
        _destination(hubspot_standin, timeline_event_template_id="999"), [_contact(1, topic_id="t")]
    )

    events = result.objects["TimelineEvent"]
    assert events.records_failed == 1 and events.errors[0].code == "OBJECT_NOT_FOUND"
    assert result.objects["Contact"].records_created == 1


def test_write_when_token_revoked_mid_run_raises_user_error(hubspot_standin):
    destination = HubSpotDestination(hubspot_standin.config(), {"access_token": "revoked"})
    with pytest.raises(DestinationError) as caught:
        _write(destination, [_contact(1)])
    assert caught.value.user_error


def test_write_when_timeline_columns_absent_reports_no_timeline_entry(hubspot_standin):
    result = _write(_destination(hubspot_standin), [_contact(1)])
    assert set(result.objects) == {"Contact"}
    # nothing asked of the timeline API (no event, no template look-up), so nothing to wait or retry on
    assert hubspot_standin.calls(path_contains="timeline") == []


def test_test_connection_when_unreachable_raises_retryable_error(hubspot_standin):
    destination = _destination(hubspot_standin)
    hubspot_standin.stop()
    with pytest.raises(DestinationError) as caught:
        destination.test_connection()
    assert caught.value.retryable and not caught.value.user_error


def test_write_when_error_body_not_json_reports_its_status_not_its_text(hubspot_standin):
    hubspot_standin.fail_next(5, status=502, body="<html>Bad gateway</html>", path_contains="batch/upsert")
    result = _write(_destination(hubspot_standin, max_retries=1), [_contact(1)])

    contact = result.objects["Contact"]
    assert contact.records_failed == 1
    # A reply's raw body is never shown to the tenant (issue 12): the status in words instead.
    assert (contact.errors[0].code, contact.errors[0].message) == ("HTTP_502", "HTTP 502 (Bad Gateway)")


def test_list_when_another_sender_creates_it_between_lookup_and_create_uses_that_list(
    hubspot_standin, monkeypatch
):
    """Two runs for one portal and one list name race: both look the list up (404), one creates it, the other's
    create is refused (the name is taken) and must use the list that now exists, not fail its batch."""
    _write(_destination(hubspot_standin), [_contact(1)])  # the other sender: creates "Delivr export exp1"
    late = _destination(hubspot_standin)
    real_lookup = late._list_by_name
    lookups: list[str] = []

    def stale_first_lookup(name: str):  # our look-up ran before the other sender's create
        lookups.append(name)
        return None if len(lookups) == 1 else real_lookup(name)

    monkeypatch.setattr(late, "_list_by_name", stale_first_lookup)
    result = _write(late, [_contact(2)])

    assert result.objects["Contact"].records_created == 1 and result.objects["Contact"].records_failed == 0
    assert lookups == ["Delivr export exp1", "Delivr export exp1"]
    assert [item["name"] for item in hubspot_standin.lists.values()] == ["Delivr export exp1"]
    assert hubspot_standin.members_of("Delivr export exp1") == {"person1@example.com", "person2@example.com"}
