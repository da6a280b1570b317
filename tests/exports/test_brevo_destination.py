"""The Brevo destination against the local Brevo stand-in: connection test, attributes as mapping targets,
imports into the export's list with the refused rows read from Brevo's CSV reports, retries that create nothing
twice, removals from the list, and a whole run paced under the stand-in's rate limit."""

import pyarrow as pa
import pytest

from exports.destinations.base import BatchContext, DestinationError, get_destination
from exports.models import Export, ExportRun

pytestmark = pytest.mark.django_db  # requests book slots of the account's budget (exports/pacing.py)


def _destination(standin, **config):
    return get_destination("brevo")(standin.config(**config), standin.credentials())


def _context(emails, run_id="run1", list_name="Decision makers"):
    keys = [f"{run_id}:{e}" for e in emails]
    return BatchContext(
        run_id=run_id, export_id="exp1", batch_index=0, list_name=list_name, idempotency_keys=keys
    )


def _write(destination, rows, **context):
    batch = pa.RecordBatch.from_pylist(rows)
    ctx = _context([r["email"] for r in rows], **context)
    destination.open(ctx)
    return destination.write_batch(batch, ctx)


def test_connection_when_key_good_passes_and_bad_says_so(brevo_standin):
    _destination(brevo_standin).test_connection()
    bad = get_destination("brevo")(brevo_standin.config(), {"api_key": "wrong"})
    with pytest.raises(DestinationError) as caught:
        bad.test_connection()
    assert caught.value.user_error and caught.value.message == "Brevo rejected the API key"


def test_target_fields_when_listed_are_the_writable_attributes(brevo_standin):
    fields = {f.name: f for f in _destination(brevo_standin).target_fields()}
    assert list(fields)[0] == "email" and fields["email"].mapping_type == "email"
    assert {"FIRSTNAME", "JOB_TITLE", "EMPLOYEES", "SENIORITY"} <= set(fields)
    assert not {"OPENS_LAST_30_DAYS", "ACCOUNT_PLAN"} & set(fields)  # calculated and global: read-only
    assert fields["EMPLOYEES"].mapping_type == "number" and fields["SENIORITY"].picklist == (
        "Junior",
        "Senior",
    )


def test_write_when_list_missing_creates_it_imports_and_reports_refused_rows(brevo_standin):
    rows = [
        {"email": "ann@example.com", "FIRSTNAME": "Ann", "JOB_TITLE": None},
        {"email": "bob@example.com", "FIRSTNAME": "Bob", "JOB_TITLE": "CTO"},
        {
            "email": "not@an@email.com",
            "FIRSTNAME": "Nope",
            "JOB_TITLE": None,
        },  # Brevo refuses it: its invalid_emails report
    ]
    result = _write(_destination(brevo_standin), rows)

    contacts = result.objects["Contact"]
    assert (contacts.records_created, contacts.records_failed) == (2, 1)
    assert (
        contacts.errors[0].key == "run1:not@an@email.com"
        and contacts.errors[0].code == "INVALID_EMAIL_FORMAT"
    )
    ((list_id, listed),) = brevo_standin.lists.items()
    assert listed["name"] == "Decision makers" and listed["folderId"] == 1
    assert brevo_standin.in_list(list_id) == {"ann@example.com", "bob@example.com"}
    assert brevo_standin.contacts["bob@example.com"]["attributes"] == {"FIRSTNAME": "Bob", "JOB_TITLE": "CTO"}
    (call,) = brevo_standin.calls("POST", "/v3/contacts/import")
    assert call.body["listIds"] == [list_id] and call.body["updateExistingContacts"] is True
    assert brevo_standin.calls("GET", "/v3/reports/")  # the CSV report was read, not guessed


def test_write_when_batch_retried_creates_nothing_twice(brevo_standin):
    rows = [{"email": "ann@example.com", "FIRSTNAME": "Ann"}]
    _write(_destination(brevo_standin), rows)
    retry = _write(_destination(brevo_standin), [{"email": "ann@example.com", "FIRSTNAME": "Anne"}])
    assert retry.objects["Contact"].records_created == 1
    assert (
        list(brevo_standin.contacts) == ["ann@example.com"] and len(brevo_standin.lists) == 1
    )  # list reused
    assert brevo_standin.contacts["ann@example.com"]["attributes"]["FIRSTNAME"] == "Anne"


def test_remove_when_emails_in_list_takes_them_off_and_absent_ones_succeed(brevo_standin):
    emails = [f"p{n}@example.com" for n in range(160)]
    destination = _destination(brevo_standin)
    _write(destination, [{"email": e} for e in emails])
    (list_id,) = brevo_standin.lists
    leaving = emails[:155] + ["never-sent@example.com"]
    batch = pa.RecordBatch.from_pylist([{"record_key": e, "person_id": None, "email": e} for e in leaving])
    context = BatchContext(
        run_id="run2",
        export_id="exp1",
        batch_index=0,
        list_name="Decision makers",
        idempotency_keys=[f"run2:{e}:removed" for e in leaving],
    )
    result = destination.remove_batch(batch, context)

    removed = result.objects["Contact"]
    assert removed.operation == "remove" and (removed.records_updated, removed.records_failed) == (156, 0)
    assert brevo_standin.in_list(list_id) == set(emails[155:])
    assert [len(c.body["emails"]) for c in brevo_standin.calls("POST", "/contacts/remove")] == [150, 6]


def test_remove_when_list_deleted_reports_each_record_failed(brevo_standin):
    destination = _destination(brevo_standin, list_id="999")
    batch = pa.RecordBatch.from_pylist([{"record_key": "k", "person_id": "p", "email": "a@example.com"}])
    context = BatchContext(run_id="r", export_id="e", batch_index=0, idempotency_keys=["r:k:removed"])
    removed = destination.remove_batch(batch, context).objects["Contact"]
    assert removed.records_failed == 1 and "document_not_found" in removed.errors[0].message


def test_brevo_run_when_paced_sends_the_audience_and_never_exceeds_the_limit(tenant, audience, brevo_standin):
    brevo_standin.rate_limit = 4
    r = tenant.jwt().post(
        "/api/v1/exports",
        {
            "project_id": str(tenant.project.id),
            "audience_id": str(audience.id),
            "name": "Brevo newsletter",
            "destination_type": "brevo",
            "destination_config": {"host": brevo_standin.url, "rate_limit": 4},
            "credentials": brevo_standin.credentials(),
            "field_mapping": [
                {"source": "email", "target": "email", "type": "email", "required": True},
                {"source": "first_name", "target": "FIRSTNAME"},
            ],
            "record_limit": {"maxRecords": 300, "failMode": "truncate"},
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    export = Export.objects.get(pk=r.json()["id"])
    assert export.connection_status == "connected" and "SENIORITY" in str(export.field_catalog)
    Export.objects.filter(pk=export.pk).update(
        destination_config=brevo_standin.config(rate_limit=4) | {"poll_seconds": 0.05}
    )
    assert tenant.jwt().post(f"/api/v1/exports/{export.id}/runs").status_code == 202
    run = ExportRun.objects.get(export=export)

    assert run.status in ("completed", "completed_with_errors"), run.error
    ((list_id, listed),) = brevo_standin.lists.items()
    assert listed["name"] == "Decision makers"  # the audience's name, as the list name defaults to
    assert len(brevo_standin.in_list(list_id)) == run.records_exported > 0
    assert run.records_exported + run.records_failed + run.records_duplicated == run.records_total == 300
    assert brevo_standin.rate_limited == 0 and brevo_standin.max_in_window <= 4
    assert run.details.get("list_id") == list_id


def test_brevo_mirror_when_a_person_leaves_the_audience_takes_them_off_the_list(
    tenant,
    brevo_standin,
    dataset,  # noqa: F811 - the fixture imported above
):
    """Brevo declares removals (supports_removal): a mirror run takes who left off the export's list."""
    import pyarrow.parquet as pq

    from audiences.models import Audience
    from exports.services.exports import export_create
    from tests.exports.conftest import drop, execute, rewrite

    audience = Audience.objects.create(
        organization=tenant.org,
        project=tenant.project,
        name="Brevo list",
        definition={},
        input_path=str(dataset),
    )
    export = export_create(
        principal=tenant.principal,
        project_id=tenant.project.id,
        audience_id=audience.id,
        name="Brevo mirror",
        destination_type="brevo",
        destination_config={"host": brevo_standin.url},
        credentials=brevo_standin.credentials(),
        field_mapping=[{"source": "email", "target": "email", "type": "email"}],
        sync_mode="mirror",
    )
    Export.objects.filter(pk=export.pk).update(destination_config=brevo_standin.config(rate_limit=1000))
    export.refresh_from_db()
    first = execute(export)
    assert first.status in ("completed", "completed_with_errors"), first.error
    ((list_id, _),) = brevo_standin.lists.items()
    table = pq.read_table(min(dataset.rglob("*.parquet")), columns=["person_id", "email"], partitioning=None)
    leaver, email = next(
        (p, e) for p, e in zip(*table.to_pydict().values(), strict=True) if p and e and "@" in e
    )
    assert email.lower() in brevo_standin.in_list(list_id)
    rewrite(dataset, drop(leaver))
    second = execute(export)
    assert second.status in ("completed", "completed_with_errors"), second.error  # blank emails fail each run
    assert second.records_removed >= 1 and email.lower() not in brevo_standin.in_list(list_id)
    assert len(brevo_standin.lists) == 1  # the same list, found by name
