"""DelivrDSP keeps one list per export in sync, against the list API stand-in: a second run with nothing changed
sends nothing, a changed value one update, a person leaving is removed in `mirror`, an opt-out is removed
with a ledger row, a retried run sends nothing twice, and the stand-in's rate limit is never exceeded."""

from datetime import UTC, datetime

import pytest

from exports.destinations.delivr_dsp import MAX_ATTEMPTS
from exports.models import Export, OptOutRemoval
from exports.services import runs as run_services
from exports.services.exports import export_create
from exports.services.optouts import export_optouts_propagate
from tests.exports.conftest import drop, execute, first_person, persons, rename, rewrite, snapshot_keys
from tests.factories import ExportRunFactory

pytestmark = pytest.mark.django_db

DONE = ("completed", "completed_with_errors")
MAPPING = [
    {"source": "email", "target": "email", "type": "email", "required": True},
    {"source": "first_name", "target": "first_name"},
]


def dsp_export(tenant, audience, standin, sync_mode: str, list_name: str | None = "Delivr synced"):
    export = export_create(
        principal=tenant.principal,
        project_id=tenant.project.id,
        audience_id=audience.id,
        name=f"DSP {sync_mode}",
        destination_type="delivr_dsp",
        destination_config={"base_url": standin.url},
        credentials=standin.credentials(),
        field_mapping=MAPPING,
        list_name=list_name,
        sync_mode=sync_mode,
    )
    # short backoff and the stand-in's own rate window (not form fields), as the Brevo and HubSpot tests do
    Export.objects.filter(pk=export.pk).update(destination_config=standin.config())
    export.refresh_from_db()
    return export


def member_writes(standin) -> list:
    return [r for r in standin.calls("POST", "/members") if not r.path.endswith("/remove")]


def test_changes_second_run_reuses_the_list_and_sends_nothing(tenant, synced_audience, dataset, dsp_standin):
    export = dsp_export(tenant, synced_audience, dsp_standin, "changes")
    first = execute(export)
    assert first.status in DONE, first.error
    (lst,) = dsp_standin.lists.values()
    assert lst["external_id"] == str(export.pk) and lst["list_name"] == "Delivr synced"
    assert len(lst["members"]) == first.records_exported == first.records_added > 0
    writes = len(member_writes(dsp_standin))

    again = execute(export)
    assert again.status in DONE, again.error
    assert again.records_exported == 0 and again.records_unchanged == first.records_exported
    assert len(member_writes(dsp_standin)) == writes  # nothing sent
    assert len(dsp_standin.lists) == 1
    assert len([r for r in dsp_standin.calls("POST") if r.path == "/v1/lists"]) == 1
    assert again.details["list_id"] == lst["list_id"]


def test_changes_when_one_value_changed_sends_one_update(tenant, synced_audience, dataset, dsp_standin):
    export = dsp_export(tenant, synced_audience, dsp_standin, "changes")
    assert execute(export).status in DONE
    person = next(p for p in persons(dataset) if p in dsp_standin.members_of())
    rewrite(dataset, rename(person, "Zelda"))
    writes = len(member_writes(dsp_standin))

    run = execute(export)
    assert run.status in DONE, run.error
    assert run.records_changed == 1 and run.records_exported == 1 and run.records_added == 0
    (request,) = member_writes(dsp_standin)[writes:]
    (member,) = request.body["members"]
    assert member["external_id"] == person and member["fields"]["first_name"] == "Zelda"
    assert run.object_type_results["Contact"]["records_updated"] == 1  # upserted, not added again
    assert dsp_standin.members_of()[person]["first_name"] == "Zelda"


def test_mirror_takes_a_person_who_left_off_the_list(tenant, synced_audience, dataset, dsp_standin):
    export = dsp_export(tenant, synced_audience, dsp_standin, "mirror")
    assert execute(export).status in DONE
    leaver = next(p for p in persons(dataset) if p in dsp_standin.members_of())
    rewrite(dataset, drop(leaver))

    run = execute(export)
    assert run.status in DONE, run.error
    assert run.records_removed == 1 and run.records_exported == 0
    assert leaver not in dsp_standin.members_of() and dsp_standin.removed == [leaver]
    (request,) = dsp_standin.calls("POST", "/members/remove")
    assert request.body["members"][0]["idempotency_key"] == f"{run.pk}:{leaver}:removed"
    assert request.headers["idempotency-key"]
    again = execute(export)
    assert again.records_removed == 0 and len(dsp_standin.calls("POST", "/members/remove")) == 1


def test_optout_is_taken_off_the_list_and_the_ledger_names_it(tenant, synced_audience, dataset, dsp_standin):
    from privacy.services import optout_record

    export = dsp_export(tenant, synced_audience, dsp_standin, "changes", list_name="Q3 ABM")
    assert execute(export).status in DONE
    export_optouts_propagate()  # sets the watermark
    person = first_person(dataset)
    assert person["person_id"] in dsp_standin.members_of()
    optout, _ = optout_record(
        identifier_type="email",
        value=person["email"].strip().lower(),
        source="support",
        opted_out_at=datetime(2026, 3, 1, tzinfo=UTC),
        organization=tenant.org,
        actor="test",
    )
    out = export_optouts_propagate()
    assert out["removed"] == 1 and out["failed"] == 0
    assert person["person_id"] not in dsp_standin.members_of()
    assert person["person_id"] not in snapshot_keys(export)
    assert len(dsp_standin.lists) == 1  # the opt-out found the export's list, made none
    row = OptOutRemoval.objects.get(export=export)
    assert row.status == "removed" and row.removed_at and row.list_name == "Q3 ABM"
    body = tenant.jwt().get(f"/api/v1/privacy/optouts/{optout.id}").json()
    (summary,) = [d["summary"] for d in body["destinations"]]
    assert summary.startswith("Sent to DelivrDSP list (export “DSP changes”, list “Q3 ABM”) on ")
    assert ", removed on " in summary
    assert export_optouts_propagate()["removed"] == 0  # a second pass finds nothing left to remove


def test_retried_run_resends_only_the_batch_in_flight_and_adds_nobody_twice(
    tenant, synced_audience, dataset, dsp_standin
):
    export = dsp_export(tenant, synced_audience, dsp_standin, "full")  # a write per read batch
    # the second batch reaches the DSP, but its answer never comes back, however often the worker retries
    dsp_standin.lose_answers(count=MAX_ATTEMPTS, path_contains="/members", after=1)
    run = ExportRunFactory(export=export)
    with pytest.raises(run_services.RunRetry):
        run_services.export_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "queued" and run.batches_done == 1
    applied_before = sum(dsp_standin.applied.values())

    assert run_services.export_run_execute(run_id=run.pk) in DONE
    run.refresh_from_db()
    members = dsp_standin.members_of()
    assert run.attempts == 2 and run.records_exported == len(members)
    first_two = list({r.headers["idempotency-key"]: r for r in member_writes(dsp_standin)}.values())[:2]
    # the first batch and the one in flight (applied, its answer lost)
    assert applied_before == sum(len(r.body["members"]) for r in first_two)
    assert max(dsp_standin.applied.values()) == 1  # the resent batch was a replay: nobody written twice
    added = sum(r for r in [run.object_type_results["Contact"]["records_created"]])
    assert added == len(members)


def test_paced_run_never_exceeds_the_standins_rate_limit(tenant, synced_audience, dataset, dsp_standin):
    dsp_standin.rate_limit, dsp_standin.rate_window = 3, 0.5
    export = dsp_export(tenant, synced_audience, dsp_standin, "full")  # a write per read batch
    run = execute(export)
    assert run.status in DONE, run.error
    assert len(dsp_standin.requests) >= 5  # find, create, and at least three member batches
    assert dsp_standin.rate_limited == 0 and dsp_standin.max_in_window <= 3


def test_list_follows_the_exports_list_name(tenant, synced_audience, dataset, dsp_standin):
    export = dsp_export(tenant, synced_audience, dsp_standin, "changes", list_name=None)
    assert execute(export).status in DONE
    (lst,) = dsp_standin.lists.values()
    assert lst["list_name"] == "Synced"  # the audience's name (March 2026: list name preservation)
    Export.objects.filter(pk=export.pk).update(list_name="Renamed list")
    export.refresh_from_db()
    assert execute(export).status in DONE
    assert len(dsp_standin.lists) == 1 and lst["list_name"] == "Renamed list"
    assert dsp_standin.calls("PATCH", "/v1/lists/")
