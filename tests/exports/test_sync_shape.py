"""What a change of an export's settings does to its sync state: a new mapping sends every record again but keeps
what the destination holds (a mirror run still removes who left, opt-outs are still taken back); pacing changes
nothing; another list starts over. And an opt-out received before a run is taken back as an opt-out (ledger),
not as a record that left the audience."""

from datetime import UTC, datetime

import pytest

from exports.models import OptOutRemoval
from exports.services.optouts import export_optouts_propagate
from tests.exports.conftest import (
    SYNC_MAPPING,
    drop,
    execute,
    first_person,
    persons,
    rewrite,
    snapshot_keys,
    webhook_export,
)

pytestmark = pytest.mark.django_db

NEW_MAPPING = [*SYNC_MAPPING[:1], {"source": "first_name", "target": "GivenName"}]


def _optout(tenant, email: str):
    from privacy.services import optout_record

    return optout_record(
        identifier_type="email",
        value=email,
        source="support",
        opted_out_at=datetime(2026, 3, 1, tzinfo=UTC),
        organization=tenant.org,
        actor="test",
    )


def test_mapping_change_resends_every_record_and_a_mirror_run_still_removes_who_left(
    tenant, synced_audience, dataset, webhook
):
    export = webhook_export(tenant, synced_audience, webhook, "mirror")
    assert execute(export).status == "completed"
    leaver = persons(dataset)[0]
    rewrite(dataset, drop(leaver))
    export.field_mapping = NEW_MAPPING
    export.save(update_fields=["field_mapping"])
    run = execute(export)
    everyone = len(persons(dataset))
    assert run.status == "completed", run.error
    assert (run.records_added, run.records_changed, run.records_unchanged) == (0, everyone, 0)
    assert run.records_removed == 1 and webhook.removed == [leaver] and leaver not in webhook.holds
    again = execute(export)  # the new shape is the snapshot's now
    assert (again.records_exported, again.records_removed) == (0, 0)


def test_pacing_change_resends_nothing(tenant, synced_audience, dataset, webhook):
    export = webhook_export(tenant, synced_audience, webhook, "changes")
    execute(export)
    export.destination_config = {**export.destination_config, "rate_limit": 50}
    export.save(update_fields=["destination_config"])
    run = execute(export)
    assert run.status == "completed" and run.records_exported == 0
    assert run.records_unchanged == len(persons(dataset))


def test_another_list_starts_over_without_removals(tenant, synced_audience, dataset, webhook):
    """The old snapshot says nothing of the new list: everything is sent as new, nothing removed there."""
    export = webhook_export(tenant, synced_audience, webhook, "mirror")
    execute(export)
    rewrite(dataset, drop(persons(dataset)[0]))
    export.list_name = "Another list"
    export.save(update_fields=["list_name"])
    run = execute(export)
    assert run.status == "completed", run.error
    assert run.records_added == len(persons(dataset)) and run.records_removed == 0 and webhook.removed == []


def test_optout_after_a_mapping_change_is_still_taken_back(tenant, synced_audience, dataset, webhook):
    export = webhook_export(tenant, synced_audience, webhook, "changes")
    execute(export)
    export_optouts_propagate()  # watermark set
    export.field_mapping = NEW_MAPPING
    export.save(update_fields=["field_mapping"])
    person = first_person(dataset)
    _optout(tenant, person["email"])
    out = export_optouts_propagate()
    assert out["removed"] == 1 and webhook.removed == [person["person_id"]]
    row = OptOutRemoval.objects.get(export=export, identifier_value=person["email"].lower())
    assert row.status == "removed"
    assert person["person_id"] not in snapshot_keys(export)


def test_optout_received_before_a_mirror_run_is_taken_back_as_an_optout_with_its_ledger(
    tenant, synced_audience, dataset, webhook
):
    """The run comes before the scheduled cycle: it takes the opt-out back first (ledger, opt-out actions),
    so the person is not removed a second time as someone who left the audience."""
    export = webhook_export(tenant, synced_audience, webhook, "mirror")
    execute(export)
    export_optouts_propagate()
    person = first_person(dataset)
    _optout(tenant, person["email"])
    run = execute(export)
    assert run.status == "completed", run.error
    assert run.records_removed == 0 and webhook.removed == [person["person_id"]]
    row = OptOutRemoval.objects.get(export=export, identifier_value=person["email"].lower())
    assert row.status == "removed" and row.removed_at and row.sent_at
    assert person["person_id"] not in snapshot_keys(export)
    assert export_optouts_propagate()["removed"] == 0 and webhook.removed == [person["person_id"]]
