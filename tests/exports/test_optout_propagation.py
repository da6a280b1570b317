"""An opt-out is taken back from every destination that received it, and the ledger shows it in words."""

from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from exports.models import OptOutRemoval
from exports.services.exports import export_create
from exports.services.optouts import export_optouts_propagate
from tests.exports.conftest import execute, first_person, make_export, persons, snapshot_keys

pytestmark = pytest.mark.django_db


def test_optout_is_removed_from_every_destination_that_had_it_and_the_ledger_says_so(
    tenant, synced_audience, dataset, webhook
):
    from privacy.services import optout_record

    hook = make_export(
        tenant, synced_audience, "CRM hook", "webhook", {"url": webhook.url}, {"secret": "whsec-test"}
    )
    files = make_export(tenant, synced_audience, "Nightly file", "file", {"format": "csv"})
    assert execute(hook).status == "completed" and execute(files).status == "completed"
    person = first_person(dataset)
    assert person["person_id"] in webhook.holds
    export_optouts_propagate()  # nothing opted out yet: nothing removed, watermarks set
    assert webhook.removed == [] and not OptOutRemoval.objects.exists()

    optout, _ = optout_record(
        identifier_type="email",
        value=person["email"].upper(),
        source="support",
        opted_out_at=datetime(2026, 3, 1, tzinfo=UTC),
        organization=tenant.org,
        actor="test",
    )
    out = export_optouts_propagate()
    assert out["removed"] == 2 and out["failed"] == 0
    assert webhook.removed == [person["person_id"]] and person["person_id"] not in webhook.holds
    assert person["person_id"] not in snapshot_keys(hook) and person["person_id"] not in snapshot_keys(files)
    rows = OptOutRemoval.objects.filter(identifier_type="email", identifier_value=person["email"].lower())
    assert {r.export_id for r in rows} == {hook.id, files.id}
    assert all(r.status == "removed" and r.sent_at and r.removed_at for r in rows)

    # safe to run twice: nothing is removed again
    assert export_optouts_propagate()["removed"] == 0 and webhook.removed == [person["person_id"]]

    body = tenant.jwt().get(f"/api/v1/privacy/optouts/{optout.id}").json()
    summaries = sorted(d["summary"] for d in body["destinations"])
    assert len(summaries) == 2
    assert summaries[1].startswith("Sent to HTTP webhook (signed JSON) (export “CRM hook”) on ")
    assert ", removed on " in summaries[1]
    assert person["email"] not in str(body["destinations"])  # the ledger holds the registry's form only

    from django.test import Client

    browser = Client()
    browser.force_login(tenant.user)
    page = browser.get("/privacy/identifier/", {"type": "email", "value": person["email"].lower()})
    assert page.status_code == 200 and "removed on" in page.content.decode()


def test_optout_for_a_destination_that_cannot_remove_is_in_the_ledger_as_not_removed(
    tenant, synced_audience, dataset, salesforce_standin
):
    from privacy.services import optout_record

    export = export_create(
        principal=tenant.principal,
        project_id=tenant.project.id,
        audience_id=synced_audience.id,
        name="Salesforce",
        destination_type="salesforce",
        destination_config={"object_type": "Contact", "external_id_field": "Email"},
        credentials=salesforce_standin.credentials(),
        field_mapping=[
            {"source": "email", "target": "Email", "type": "email", "required": True},
            {"source": "last_name", "target": "LastName", "required": True},
        ],
        record_limit={"maxRecords": 50, "failMode": "truncate"},
    )
    run = execute(export)
    assert run.status in ("completed", "completed_with_errors"), run.error
    person = next(iter(sorted(snapshot_keys(export))))
    optout_record(
        identifier_type="person_id",
        value=person,
        source="support",
        opted_out_at=datetime(2026, 3, 1, tzinfo=UTC),
        organization=tenant.org,
        actor="test",
    )
    assert export_optouts_propagate()["failed"] == 1
    row = OptOutRemoval.objects.get(export=export)
    assert row.status == "failed" and row.removed_at is None and "cannot remove records" in row.message


def test_optouts_from_the_uid2_webhook_and_a_suppression_list_are_taken_back_and_in_the_ledger(
    tenant, synced_audience, dataset, webhook, api
):
    """The other ways an identity opts out (issue 13 item 3): the UID2 operator's webhook (a global opt-out
    by UID2) and a suppression list uploaded by the marketer (by email), through their own endpoints."""
    from tests.audiences.test_lists import upload

    hook = make_export(
        tenant, synced_audience, "CRM hook", "webhook", {"url": webhook.url}, {"secret": "whsec-test"}
    )
    assert execute(hook).status == "completed"
    export_optouts_propagate()  # the watermark
    wanted = set(persons(dataset)[:2])
    people = {}
    for path in sorted(dataset.rglob("*.parquet")):
        for row in pq.read_table(path, columns=["person_id", "email", "uid2"]).to_pylist():
            if row["person_id"] in wanted and row["uid2"] and row["email"]:
                people.setdefault(row["person_id"], row)
    by_uid2, by_email = (people[p] for p in sorted(wanted))
    assert {by_uid2["person_id"], by_email["person_id"]} <= set(webhook.holds)

    r = api.get("/api/v1/uid2/optout", {"user": by_uid2["uid2"], "optouttime": "2026-03-04T05:06:07Z"})
    assert r.status_code == 204, r.content
    listed = upload(tenant, f"email\n{by_email['email']}\n", type="suppression")
    assert listed.status_code == 202, listed.content  # imported on commit (the task runs in process here)
    out = export_optouts_propagate()
    assert (out["removed"], out["failed"]) == (2, 0)
    assert sorted(webhook.removed) == sorted([by_uid2["person_id"], by_email["person_id"]])
    assert not {by_uid2["person_id"], by_email["person_id"]} & set(webhook.holds)
    ledger = {(r.identifier_type, r.identifier_value): r for r in OptOutRemoval.objects.filter(export=hook)}
    assert set(ledger) == {("uid2", by_uid2["uid2"]), ("email", by_email["email"].strip().lower())}
    assert all(r.status == "removed" and r.removed_at for r in ledger.values())
    assert export_optouts_propagate()["removed"] == 0  # safe to run twice
