"""HubSpot removals through the export's MANUAL contact list (lists v3), against the stand-in: a `mirror` run
takes a person who left the audience off the list, and an opt-out is taken off it with a ledger row."""

from datetime import UTC, datetime

import pytest

from exports.models import OptOutRemoval
from exports.services.exports import export_create
from exports.services.optouts import export_optouts_propagate
from tests.exports.conftest import drop, execute, first_person, persons, rewrite, snapshot_keys

pytestmark = pytest.mark.django_db

DONE = ("completed", "completed_with_errors")
MAPPING = [
    {"source": "email", "target": "email", "type": "email", "required": True},
    {"source": "first_name", "target": "firstname"},
]


def hubspot_export(
    tenant, audience, standin, sync_mode: str, list_name: str = "Delivr synced", optout: dict | None = None
):
    from exports.models import Export

    export = export_create(
        principal=tenant.principal,
        project_id=tenant.project.id,
        audience_id=audience.id,
        name=f"HubSpot {sync_mode}",
        destination_type="hubspot",
        destination_config={"host": standin.url, **(optout or {})},
        credentials=standin.credentials(),
        field_mapping=MAPPING,
        list_name=list_name,
        sync_mode=sync_mode,
    )
    # short backoff and the stand-in's 1 s window (not form fields), as the pacing tests do
    Export.objects.filter(pk=export.pk).update(destination_config=standin.config(**(optout or {})))
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


OPTOUT_SETTINGS = {
    "optout_property": "delivr_opted_out",
    "optout_property_value": "true",
    "optout_subscription_id": "7001",
}


def opt_out(tenant, email: str):
    from privacy.services import optout_record

    optout, _ = optout_record(
        identifier_type="email",
        value=email,
        source="support",
        opted_out_at=datetime(2026, 3, 1, tzinfo=UTC),
        organization=tenant.org,
        actor="test",
    )
    return optout


def test_optout_sets_the_exports_contact_property_and_unsubscribes_and_the_ledger_says_so(
    tenant, synced_audience, dataset, hubspot_standin
):
    export = hubspot_export(
        tenant, synced_audience, hubspot_standin, "changes", list_name="Leads", optout=OPTOUT_SETTINGS
    )
    assert execute(export).status in DONE
    export_optouts_propagate()  # sets the watermark
    person = first_person(dataset)
    email = person["email"].strip().lower()
    other = next(e for e in hubspot_standin.members_of("Leads") if e != email)
    optout = opt_out(tenant, email)

    out = export_optouts_propagate()
    assert out == {"exports": 1, "removed": 1, "failed": 0, "skipped": 0}
    assert email not in hubspot_standin.members_of("Leads")
    assert hubspot_standin.contacts[email]["properties"]["delivr_opted_out"] == "true"
    assert hubspot_standin.subscriptions == {(email, "7001"): "NOT_SUBSCRIBED"}
    assert "delivr_opted_out" not in hubspot_standin.contacts[other]["properties"]  # only the opted-out one
    (update,) = hubspot_standin.calls("POST", "/crm/v3/objects/contacts/batch/update")
    assert update.body["inputs"] == [
        {"id": hubspot_standin.contacts[email]["id"], "properties": {"delivr_opted_out": "true"}}
    ]
    row = OptOutRemoval.objects.get(export=export)
    assert row.status == "removed" and row.removed_at
    assert (
        row.message
        == "contact property delivr_opted_out set to true; unsubscribed from subscription type 7001"
    )
    body = tenant.jwt().get(f"/api/v1/privacy/optouts/{optout.id}").json()
    (summary,) = [d["summary"] for d in body["destinations"]]
    assert ", removed on " in summary and summary.endswith(
        "(contact property delivr_opted_out set to true; unsubscribed from subscription type 7001)."
    )
    assert export_optouts_propagate()["removed"] == 0  # done once: nothing sent again
    assert len(hubspot_standin.calls("POST", "/communication-preferences/v3/unsubscribe")) == 1


def test_optout_already_unsubscribed_in_hubspot_counts_as_done(
    tenant, synced_audience, dataset, hubspot_standin
):
    export = hubspot_export(
        tenant, synced_audience, hubspot_standin, "changes", optout={"optout_subscription_id": "7002"}
    )
    assert execute(export).status in DONE
    export_optouts_propagate()
    email = first_person(dataset)["email"].strip().lower()
    hubspot_standin.subscriptions[(email, "7002")] = "NOT_SUBSCRIBED"  # the person unsubscribed there too
    opt_out(tenant, email)
    assert export_optouts_propagate()["removed"] == 1
    unsubscribe = hubspot_standin.calls("POST", "/communication-preferences/v3/unsubscribe")
    assert len(unsubscribe) == 1  # HubSpot answered 400 "already unsubscribed": done, no retry
    assert not hubspot_standin.calls("POST", "/crm/v3/objects/contacts/batch/update")  # no property asked
    assert OptOutRemoval.objects.get(export=export).message == "unsubscribed from subscription type 7002"


def test_optout_whose_unsubscribe_fails_stays_pending_and_is_retried(
    tenant, synced_audience, dataset, hubspot_standin
):
    export = hubspot_export(tenant, synced_audience, hubspot_standin, "changes", optout=OPTOUT_SETTINGS)
    assert execute(export).status in DONE
    export_optouts_propagate()
    email = first_person(dataset)["email"].strip().lower()
    types = dict(hubspot_standin.subscription_types)
    hubspot_standin.subscription_types.pop("7001")  # deleted in HubSpot after the export was saved
    opt_out(tenant, email)

    out = export_optouts_propagate()
    assert out["removed"] == 0 and out["failed"] == 1
    row = OptOutRemoval.objects.get(export=export)
    assert row.status == "failed" and row.removed_at is None and "refused 1 of the removals" in row.message
    assert email not in hubspot_standin.members_of("Delivr synced")  # the list removal itself went through

    hubspot_standin.subscription_types.update(types)
    assert export_optouts_propagate()["removed"] == 1  # the watermark stayed: tried again, now done
    row.refresh_from_db()
    assert row.status == "removed" and row.removed_at and "unsubscribed" in row.message
    assert hubspot_standin.subscriptions[(email, "7001")] == "NOT_SUBSCRIBED"


def test_a_mirror_removal_does_not_set_the_optout_property(tenant, synced_audience, dataset, hubspot_standin):
    export = hubspot_export(tenant, synced_audience, hubspot_standin, "mirror", optout=OPTOUT_SETTINGS)
    assert execute(export).status in DONE
    members = hubspot_standin.members_of("Delivr synced")
    leaver = next(p for p in persons(dataset) if emails_of(dataset, {p}) & members)
    rewrite(dataset, drop(leaver))
    run = execute(export)
    assert run.records_removed == 1  # left the audience: off the list, but not opted out
    assert not hubspot_standin.calls("POST", "/crm/v3/objects/contacts/batch/update")
    assert not hubspot_standin.calls("POST", "/communication-preferences/v3/unsubscribe")


@pytest.mark.parametrize(
    "config, field",
    [
        ({"optout_property": "Opted Out"}, "optout_property"),
        ({"optout_property": "delivr_opted_out"}, "optout_property_value"),
        ({"optout_property_value": "true"}, "optout_property"),
        ({"optout_subscription_id": "newsletter"}, "optout_subscription_id"),
    ],
)
def test_optout_settings_are_validated_when_the_export_is_saved(tenant, synced_audience, config, field):
    body = {
        "project_id": str(tenant.project.id),
        "audience_id": str(synced_audience.id),
        "name": "HubSpot",
        "destination_type": "hubspot",
        "destination_config": config,
        "credentials": {"access_token": "x"},
        "field_mapping": MAPPING,
    }
    response = tenant.jwt().post("/api/v1/exports", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_destination" and field in str(error)


@pytest.mark.parametrize(
    "config, words",
    [
        ({"optout_property": "no_such_property", "optout_property_value": "x"}, "no contact property"),
        ({"optout_property": "hs_object_id", "optout_property_value": "1"}, "no contact property"),
        ({"optout_property": "delivr_opted_out", "optout_property_value": "yes"}, "takes false, true"),
        (
            {"optout_property": "lifecyclestage", "optout_property_value": "customer"},
            "takes lead, subscriber",
        ),
        ({"optout_subscription_id": "99"}, "no subscription type 99"),
    ],
)
def test_the_connection_check_verifies_the_optout_settings_against_the_portal(hubspot_standin, config, words):
    from exports.destinations.base import DestinationError
    from exports.destinations.hubspot import HubSpotDestination

    with pytest.raises(DestinationError) as caught:
        HubSpotDestination(hubspot_standin.config(**config), hubspot_standin.credentials()).test_connection()
    assert words in caught.value.message and caught.value.user_error
    HubSpotDestination(
        hubspot_standin.config(**OPTOUT_SETTINGS), hubspot_standin.credentials()
    ).test_connection()  # the right ones pass


def test_the_export_form_offers_the_optout_settings_and_shows_a_wrong_one_next_to_its_field(
    tenant, synced_audience, hubspot_standin
):
    from django.test import Client

    from exports.models import Export

    browser = Client()
    browser.force_login(tenant.user)
    r = browser.get("/exports/form/destination/", {"destination_type": "hubspot"}, HTTP_HX_REQUEST="true")
    body = r.content.decode()
    assert "Opt-out contact property (optional)" in body and 'name="cfg_optout_subscription_id"' in body
    data = {
        "name": "HubSpot form",
        "audience_id": str(synced_audience.id),
        "destination_type": "hubspot",
        "cfg_host": hubspot_standin.url,
        "cfg_optout_property": "delivr_opted_out",
        "cred_access_token": hubspot_standin.token,
        "schedule": "manual",
        "sync_mode": "changes",
        "map_row": ["a"],
        "map-a-source": "email",
        "map-a-target": "email",
        "map-a-type": "email",
    }
    r = browser.post("/exports/new/", data)
    assert r.status_code == 400 and 'id="error-optout_property_value"' in r.content.decode()
    r = browser.post("/exports/new/", {**data, "cfg_optout_property_value": "true"})
    assert r.status_code == 302, r.content.decode()[:2000]
    saved = Export.objects.get(name="HubSpot form")
    assert saved.destination_config["optout_property"] == "delivr_opted_out"
    assert saved.destination_config["optout_property_value"] == "true"


def test_changes_run_when_a_value_changed_upserts_it_without_adding_it_to_the_list_again(
    tenant, synced_audience, dataset, hubspot_standin
):
    """A changed record was put on the export's list by the run that first sent it: the re-sync spends one
    upsert on it and no memberships request (the API budget goes to what changed)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from tests.exports.conftest import rename

    export = hubspot_export(tenant, synced_audience, hubspot_standin, "changes")
    first = execute(export)
    assert first.status in DONE, first.error
    adds = len(hubspot_standin.calls("PUT", "/memberships/add"))
    assert adds >= 1
    renamed = next(
        p for p in persons(dataset) if emails_of(dataset, {p}) & hubspot_standin.members_of("Delivr synced")
    )
    rewrite(dataset, rename(renamed, "Renamed"))

    run = execute(export)
    assert run.status in DONE, run.error
    assert (run.records_changed, run.records_exported) == (1, 1)
    assert len(hubspot_standin.calls("PUT", "/memberships/add")) == adds  # on the list already
    (email,) = emails_of(dataset, {renamed})
    assert hubspot_standin.contacts[email]["properties"]["firstname"] == "Renamed"

    # a new email makes a new HubSpot contact: that one goes on the list
    def new_email(table: pa.Table) -> pa.Table:
        hit = pc.fill_null(pc.equal(table.column("person_id"), renamed), False)
        index = table.schema.get_field_index("email")
        column = pc.if_else(hit, pa.scalar("moved.person@example.com"), table.column("email"))
        return table.set_column(index, "email", column)

    rewrite(dataset, new_email)
    run = execute(export)
    assert run.status in DONE, run.error
    assert run.records_changed == 1
    assert len(hubspot_standin.calls("PUT", "/memberships/add")) == adds + 1
    assert "moved.person@example.com" in hubspot_standin.members_of("Delivr synced")


def test_changes_run_packs_the_changes_of_every_read_batch_into_full_upserts(
    tenant, synced_audience, dataset, hubspot_standin, settings
):
    """Changes spread over many read batches go in whole upserts of 100 (the rest carried to the next
    write), not one part-filled upsert per read batch: the fewest requests the rate limit must allow."""
    import math

    import pyarrow as pa
    import pyarrow.compute as pc

    settings.DELIVR_EXPORT_BATCH_SIZE = 500  # several read batches
    export = hubspot_export(tenant, synced_audience, hubspot_standin, "changes")
    assert execute(export).status in DONE
    held = hubspot_standin.members_of("Delivr synced")
    renamed = sorted(p for p in persons(dataset) if emails_of(dataset, {p}) & held)[::5]

    def change(table: pa.Table) -> pa.Table:
        hit = pc.is_in(table.column("person_id"), value_set=pa.array(renamed))
        index = table.schema.get_field_index("first_name")
        return table.set_column(
            index, "first_name", pc.if_else(hit, pa.scalar("Packed"), table.column("first_name"))
        )

    rewrite(dataset, change)
    upserts = len(hubspot_standin.calls("POST", "/contacts/batch/upsert"))
    run = execute(export)
    assert run.status in DONE, run.error
    assert run.batches_done > 3 and run.records_changed == run.records_exported == len(renamed) > 100
    sent = hubspot_standin.calls("POST", "/contacts/batch/upsert")[upserts:]
    assert len(sent) == math.ceil(len(renamed) / 100)  # whole requests: one part-filled at most
    assert sorted(len(r.body["inputs"]) for r in sent)[1:] == [100] * (len(sent) - 1)
