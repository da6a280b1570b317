"""The Salesforce-style destination against the local Salesforce stand-in."""

import pyarrow as pa
import pytest

from exports.destinations.base import BatchContext, DestinationError, get_destination
from exports.destinations.salesforce import SalesforceDestination


def _destination(standin, *, oauth=False, **config):
    return get_destination("salesforce")(standin.config(**config), standin.credentials(oauth=oauth))


def _write(destination, rows, run_id="run1"):
    keys = [f"{run_id}:{row.get('person_id') or row.get('Email')}" for row in rows]
    context = BatchContext(run_id=run_id, export_id="exp1", batch_index=0, idempotency_keys=keys)
    return destination.write_batch(pa.RecordBatch.from_pylist(rows), context)


def _contact(n, **extra):
    return {"Email": f"person{n}@example.com", "FirstName": f"First{n}", "LastName": f"Last{n}", **extra}


def test_destination_kind_when_looked_up_is_salesforce():
    assert get_destination("salesforce") is SalesforceDestination


def test_test_connection_when_token_good_passes(salesforce_standin):
    _destination(salesforce_standin).test_connection()
    (call,) = salesforce_standin.calls("GET", "/services/data/v60.0/limits")
    assert call.status == 200


def test_test_connection_when_token_bad_raises_user_error(salesforce_standin):
    destination = SalesforceDestination(
        salesforce_standin.config(), {"instance_url": salesforce_standin.url, "access_token": "bad"}
    )
    with pytest.raises(DestinationError) as caught:
        destination.test_connection()
    assert caught.value.user_error
    assert caught.value.message == "Salesforce rejected the access token"


def test_upsert_when_new_and_existing_counts_created_and_updated(salesforce_standin):
    destination = _destination(salesforce_standin)
    _write(destination, [_contact(1)])
    result = _write(destination, [_contact(1, Title="CTO"), _contact(2)], run_id="run2")

    contact = result.objects["Contact"]
    assert (contact.records_created, contact.records_updated, contact.records_failed) == (1, 1, 0)
    assert salesforce_standin.records["Contact"]["person1@example.com"]["Title"] == "CTO"
    call = salesforce_standin.calls("PATCH")[-1]
    assert call.path == "/services/data/v60.0/composite/sobjects/Contact/Email"
    assert call.body["allOrNone"] is False
    assert call.body["records"][0]["attributes"] == {"type": "Contact"}


def test_upsert_when_records_invalid_maps_errors_per_record(salesforce_standin):
    rows = [
        _contact(1),
        {"Email": "nope", "LastName": "Two"},
        {"Email": "three@example.com", "FirstName": "X"},
    ]
    result = _write(_destination(salesforce_standin), rows)

    contact = result.objects["Contact"]
    assert (contact.records_created, contact.records_failed) == (1, 2)
    codes = {e.key: e.code for e in contact.errors}
    assert codes == {"run1:nope": "INVALID_EMAIL_ADDRESS", "run1:three@example.com": "REQUIRED_FIELD_MISSING"}
    assert "(LastName)" in next(e.message for e in contact.errors if e.code == "REQUIRED_FIELD_MISSING")
    assert set(salesforce_standin.records["Contact"]) == {"person1@example.com"}


def test_upsert_when_object_type_lead_writes_leads_and_requires_company(salesforce_standin):
    destination = _destination(salesforce_standin, object_type="Lead")
    result = _write(destination, [_contact(1, Company="Acme"), _contact(2)])

    lead = result.objects["Lead"]
    assert (lead.records_created, lead.records_failed) == (1, 1)
    assert lead.errors[0].code == "REQUIRED_FIELD_MISSING"
    assert set(salesforce_standin.records["Lead"]) == {"person1@example.com"}
    assert salesforce_standin.records["Contact"] == {}
    (call,) = salesforce_standin.calls("PATCH")
    assert call.path.endswith("/composite/sobjects/Lead/Email")
    assert "Contact" not in result.objects


def test_upsert_when_external_id_field_custom_uses_it_in_path(salesforce_standin):
    destination = _destination(salesforce_standin, external_id_field="Delivr_Person_Id__c")
    result = _write(
        destination, [_contact(1, Delivr_Person_Id__c="p1"), _contact(2, Delivr_Person_Id__c=None)]
    )

    contact = result.objects["Contact"]
    assert (contact.records_created, contact.records_failed) == (1, 1)
    assert contact.errors[0].code == "REQUIRED_FIELD_MISSING"
    assert salesforce_standin.calls("PATCH")[0].path.endswith("/Contact/Delivr_Person_Id__c")


def test_upsert_when_batch_over_200_sends_collections_of_200(salesforce_standin):
    result = _write(_destination(salesforce_standin), [_contact(n) for n in range(450)])

    assert [len(c.body["records"]) for c in salesforce_standin.calls("PATCH")] == [200, 200, 50]
    assert result.objects["Contact"].records_created == 450


def test_upsert_when_batch_retried_with_same_keys_creates_no_duplicates(salesforce_standin):
    rows = [_contact(1), _contact(2), _contact(2)]
    first = _write(_destination(salesforce_standin), rows)
    retry = _write(_destination(salesforce_standin), rows)

    assert len(salesforce_standin.records["Contact"]) == 2
    assert (first.objects["Contact"].records_created, first.objects["Contact"].records_skipped) == (2, 1)
    assert (retry.objects["Contact"].records_created, retry.objects["Contact"].records_updated) == (0, 2)


def test_write_when_token_rejected_raises_user_error(salesforce_standin):
    destination = SalesforceDestination(
        salesforce_standin.config(), {"instance_url": salesforce_standin.url, "access_token": "expired"}
    )
    with pytest.raises(DestinationError) as caught:
        _write(destination, [_contact(1)])
    assert caught.value.user_error


def test_write_when_429_backs_off_then_succeeds(salesforce_standin):
    salesforce_standin.fail_next(2, status=429, path_contains="composite")
    result = _write(_destination(salesforce_standin), [_contact(1)])

    assert [c.status for c in salesforce_standin.calls("PATCH")] == [429, 429, 200]
    assert result.objects["Contact"].records_created == 1


def test_write_when_503_with_retry_after_waits_then_succeeds(salesforce_standin):
    salesforce_standin.fail_next(1, status=503, retry_after=1, path_contains="composite")
    _write(_destination(salesforce_standin), [_contact(1)])

    first, second = salesforce_standin.calls("PATCH")
    assert (first.status, second.status) == (503, 200)
    assert second.at - first.at >= 0.95


def test_write_when_503_persists_reports_every_record_failed(salesforce_standin):
    salesforce_standin.fail_next(10, status=503, path_contains="composite")
    result = _write(_destination(salesforce_standin, max_retries=2), [_contact(1), _contact(2)])

    contact = result.objects["Contact"]
    assert (contact.records_failed, contact.records_created) == (2, 0)
    assert contact.errors[0].code == "SERVER_UNAVAILABLE"
    assert len(salesforce_standin.calls("PATCH")) == 3


def test_write_when_field_unknown_raises_user_error(salesforce_standin):
    with pytest.raises(DestinationError) as caught:
        _write(_destination(salesforce_standin), [_contact(1, Shoe_Size=42)])
    assert caught.value.user_error and "INVALID_FIELD" in caught.value.message


def test_password_flow_when_credentials_good_fetches_token_then_writes(salesforce_standin):
    result = _write(_destination(salesforce_standin, oauth=True), [_contact(1)])

    (token,) = salesforce_standin.calls("POST", "/services/oauth2/token")
    assert token.body["grant_type"] == "password" and token.body["username"] == salesforce_standin.username
    assert result.objects["Contact"].records_created == 1
    assert (
        salesforce_standin.calls("PATCH")[0].headers["authorization"].startswith("Bearer 00Dstandin!issued")
    )


def test_password_flow_when_session_expires_renews_token_once(salesforce_standin):
    destination = _destination(salesforce_standin, oauth=True)
    _write(destination, [_contact(1)])
    salesforce_standin.expire_tokens()
    result = _write(destination, [_contact(2)])

    assert len(salesforce_standin.calls("POST", "/services/oauth2/token")) == 2
    assert [c.status for c in salesforce_standin.calls("PATCH")] == [200, 401, 200]
    assert result.objects["Contact"].records_created == 1


def test_password_flow_when_credentials_bad_raises_user_error(salesforce_standin):
    credentials = dict(salesforce_standin.credentials(oauth=True), password="wrong")
    destination = SalesforceDestination(salesforce_standin.config(), credentials)
    with pytest.raises(DestinationError) as caught:
        destination.test_connection()
    assert caught.value.user_error and "authentication failure" in caught.value.message


def test_config_when_object_type_unknown_raises_user_error(salesforce_standin):
    with pytest.raises(DestinationError) as caught:
        _destination(salesforce_standin, object_type="Opportunity")
    assert caught.value.user_error


def test_test_connection_when_unreachable_raises_retryable_error(salesforce_standin):
    destination = _destination(salesforce_standin)
    salesforce_standin.stop()
    with pytest.raises(DestinationError) as caught:
        destination.test_connection()
    assert caught.value.retryable and not caught.value.user_error


def test_write_when_error_body_not_json_reports_its_status(salesforce_standin):
    salesforce_standin.fail_next(5, status=502, body="<html>Bad gateway</html>", path_contains="composite")
    result = _write(_destination(salesforce_standin, max_retries=1), [_contact(1)])

    contact = result.objects["Contact"]
    assert contact.records_failed == 1 and contact.errors[0].code == "HTTP_502"
