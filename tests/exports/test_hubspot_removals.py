"""HubSpot removals through the export's MANUAL contact list (lists v3), against the stand-in: a `mirror` run
takes a person who left the audience off the list, and an opt-out is taken off it with a ledger row."""

from datetime import UTC, datetime

import pytest

from exports.models import OptOutRemoval
from exports.services.exports import export_create
from exports.services.optouts import export_optouts_propagate
from tests.exports import test_sync_modes
from tests.exports.test_optout_propagation import first_person, snapshot_keys
from tests.exports.test_sync_modes import drop, execute, persons, rewrite

pytestmark = pytest.mark.django_db
dataset, synced_audience = test_sync_modes.dataset, test_sync_modes.synced_audience  # the same fixtures

DONE = ("completed", "completed_with_errors")
MAPPING = [
    {"source": "email", "target": "email", "type": "email", "required": True},
    {"source": "first_name", "target": "firstname"},
]


def hubspot_export(tenant, audience, standin, sync_mode: str, list_name: str = "Delivr synced"):
    from exports.models import Export

    export = export_create(
        principal=tenant.principal,
        project_id=tenant.project.id,
        audience_id=audience.id,
        name=f"HubSpot {sync_mode}",
        destination_type="hubspot",
        destination_config={"host": standin.url},
        credentials=standin.credentials(),
        field_mapping=MAPPING,
        list_name=list_name,
        sync_mode=sync_mode,
    )
    # short backoff and the stand-in's 1 s window (not form fields), as the pacing tests do
    Export.objects.filter(pk=export.pk).update(destination_config=standin.config())
    export.refresh_from_db()
    return export


def emails_of(root, person_ids: set[str]) -> set[str]:
    import pyarrow.parquet as pq

    out = set()
    for path in sorted(root.rglob("*.parquet")):
        for row in pq.read_table(path, columns=["person_id", "email"]).to_pylist():
            if row["person_id"] in person_ids and row["email"]:
                out.add(row["email"].strip().lower())
    return out


def test_mirror_takes_a_person_who_left_off_the_exports_hubspot_list(
    tenant, synced_audience, dataset, hubspot_standin
):
    export = hubspot_export(tenant, synced_audience, hubspot_standin, "mirror")
    first = execute(export)
    assert first.status in DONE, first.error  # the dataset holds a few invalid emails
    members = hubspot_standin.members_of("Delivr synced")
    assert len(members) == first.records_exported > 0  # one MANUAL list, every contact upserted on it
    (created,) = hubspot_standin.lists.values()
    assert created["processingType"] == "MANUAL" and created["objectTypeId"] == "0-1"
    leaver = next(p for p in persons(dataset) if emails_of(dataset, {p}) & members)
    (email,) = emails_of(dataset, {leaver}) & members
    rewrite(dataset, drop(leaver))

    run = execute(export)
    assert run.status in DONE, run.error
    assert run.records_removed == 1 and run.records_exported == 0
    assert email not in hubspot_standin.members_of("Delivr synced")
    assert email in hubspot_standin.contacts  # the contact stays in HubSpot, only its list membership goes
    assert len(hubspot_standin.lists) == 1  # the second run found the list by name: no second list
    assert hubspot_standin.calls("PUT", "/memberships/remove")
    again = execute(export)
    assert again.records_removed == 0 and len(hubspot_standin.calls("PUT", "/memberships/remove")) == 1


def test_optout_is_taken_off_the_hubspot_list_and_the_ledger_names_it(
    tenant, synced_audience, dataset, hubspot_standin
):
    from privacy.services import optout_record

    export = hubspot_export(tenant, synced_audience, hubspot_standin, "changes", list_name="Newsletter leads")
    assert execute(export).status in DONE
    export_optouts_propagate()  # sets the watermark
    person = first_person(dataset)
    email = person["email"].strip().lower()
    assert email in hubspot_standin.members_of("Newsletter leads")
    optout, _ = optout_record(
        identifier_type="email",
        value=email,
        source="support",
        opted_out_at=datetime(2026, 3, 1, tzinfo=UTC),
        organization=tenant.org,
        actor="test",
    )
    out = export_optouts_propagate()
    assert out["removed"] == 1 and out["failed"] == 0
    assert email not in hubspot_standin.members_of("Newsletter leads")
    assert person["person_id"] not in snapshot_keys(export)
    row = OptOutRemoval.objects.get(export=export)
    assert row.status == "removed" and row.removed_at and row.list_name == "Newsletter leads"
    body = tenant.jwt().get(f"/api/v1/privacy/optouts/{optout.id}").json()
    (summary,) = [d["summary"] for d in body["destinations"]]
    assert summary.startswith("Sent to HubSpot (export “HubSpot changes”, list “Newsletter leads”) on ")
    assert ", removed on " in summary
