"""Sync modes against the stand-ins: changes sends only what changed, mirror removes who left, full resends all;
the snapshot never advances on a failed run; the form/API offer only the modes a destination can honour."""

import csv
import io

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from django.core.files.storage import default_storage

from delivr_admin import storage
from exports.services import runs as run_services
from exports.services.exports import export_create
from exports.services.runs.snapshot import snapshot_name
from tests.exports.conftest import SYNC_MAPPING as MAPPING
from tests.exports.conftest import drop, execute, persons, rename, rewrite, webhook_export

pytestmark = pytest.mark.django_db

URL = "/api/v1/exports"


def records_sent(webhook) -> int:
    return sum(
        len(b["body"].get("records", [])) for b in webhook.batches if b["body"].get("type") != "removed"
    )


def test_changes_second_run_with_nothing_changed_sends_nothing(tenant, synced_audience, dataset, webhook):
    export = webhook_export(tenant, synced_audience, webhook, "changes")
    first = execute(export)
    everyone = len(persons(dataset))
    assert first.status == "completed", first.error
    assert first.records_added == first.records_exported == everyone and first.records_unchanged == 0
    sent = records_sent(webhook)
    second = execute(export)
    assert second.status == "completed", second.error
    assert records_sent(webhook) == sent  # nothing went out
    assert second.records_exported == second.records_added == second.records_changed == 0
    assert second.records_unchanged == everyone and second.contact_list is None


def test_changes_when_one_person_changed_sends_one_update(tenant, synced_audience, dataset, webhook):
    export = webhook_export(tenant, synced_audience, webhook, "changes")
    execute(export)
    person = persons(dataset)[3]
    rewrite(dataset, rename(person, "Renamed"))
    sent = records_sent(webhook)
    run = execute(export)
    assert run.status == "completed", run.error
    assert (run.records_changed, run.records_added, run.records_exported) == (1, 0, 1)
    assert records_sent(webhook) == sent + 1
    assert webhook.holds[person]["FirstName"] == "Renamed"
    assert run.contact_list.row_count == 1  # the list holds what the destination accepted in this run


def test_mirror_person_leaving_the_audience_is_removed_with_a_removed_event(
    tenant, synced_audience, dataset, webhook
):
    export = webhook_export(tenant, synced_audience, webhook, "mirror")
    execute(export)
    leaver = persons(dataset)[0]
    assert leaver in webhook.holds
    rewrite(dataset, drop(leaver))
    run = execute(export)
    assert run.status == "completed", run.error
    assert run.records_removed == 1 and webhook.removed == [leaver] and leaver not in webhook.holds
    assert run.records_exported == 0 and run.records_unchanged == len(persons(dataset))
    # the next run finds nothing to remove: the snapshot dropped the removed record
    again = execute(export)
    assert again.records_removed == 0 and webhook.removed == [leaver]


def test_changes_mode_leaves_a_departed_person_at_the_destination(tenant, synced_audience, dataset, webhook):
    export = webhook_export(tenant, synced_audience, webhook, "changes")
    execute(export)
    leaver = persons(dataset)[0]
    rewrite(dataset, drop(leaver))
    run = execute(export)
    assert run.records_removed == 0 and webhook.removed == [] and leaver in webhook.holds


def test_full_mode_resends_everything_and_still_counts_what_changed(
    tenant, synced_audience, dataset, webhook
):
    export = webhook_export(tenant, synced_audience, webhook, "full")
    execute(export)
    rewrite(dataset, rename(persons(dataset)[1], "Other"))
    sent = records_sent(webhook)
    run = execute(export)
    everyone = len(persons(dataset))
    assert records_sent(webhook) == sent + everyone
    assert (run.records_changed, run.records_unchanged, run.records_exported) == (1, everyone - 1, everyone)


def test_failed_run_never_advances_the_snapshot(tenant, synced_audience, dataset, webhook):
    export = webhook_export(tenant, synced_audience, webhook, "changes")
    execute(export)
    with default_storage.open(snapshot_name(export), "rb") as fh:
        before = fh.read()
    person = persons(dataset)[2]
    rewrite(dataset, rename(person, "Changed"))
    webhook.secret = "rotated"  # the receiver refuses our signature: the run fails (user error)
    failed = execute(export)
    assert failed.status == "failed" and "signature" in failed.error
    with default_storage.open(snapshot_name(export), "rb") as fh:
        assert fh.read() == before
    webhook.secret = "whsec-test"
    retried = execute(export)
    assert retried.status == "completed" and retried.records_changed == 1 and retried.records_exported == 1


def test_mirror_file_export_writes_a_removals_file_next_to_the_output(tenant, synced_audience, dataset):
    export = export_create(
        principal=tenant.principal,
        project_id=tenant.project.id,
        audience_id=synced_audience.id,
        name="File mirror",
        destination_type="file",
        destination_config={"format": "csv"},
        field_mapping=MAPPING,
        sync_mode="mirror",
    )
    first = execute(export)
    assert first.details["rows"] == len(persons(dataset)) and "removals_file_name" not in first.details
    leaver = persons(dataset)[5]
    rewrite(dataset, drop(leaver))
    run = execute(export)
    assert run.status == "completed" and run.records_removed == 1 and run.details["rows"] == 0
    name = run.details["removals_file_name"]
    assert name == run.details["file_name"].replace(".csv", "-removals.csv")
    with default_storage.open(name, "rb") as fh:
        rows = list(csv.DictReader(io.StringIO(fh.read().decode())))
    assert rows == [{"record_key": leaver}]


def test_api_refuses_mirror_for_a_destination_that_cannot_remove_and_reports_counts(
    tenant, synced_audience, salesforce_standin
):
    body = {
        "project_id": str(tenant.project.id),
        "audience_id": str(synced_audience.id),
        "name": "Salesforce mirror",
        "destination_type": "salesforce",
        "destination_config": {"object_type": "Contact", "external_id_field": "Email"},
        "credentials": salesforce_standin.credentials(),
        "field_mapping": [
            {"source": "email", "target": "Email", "type": "email", "required": True},
            {"source": "last_name", "target": "LastName", "required": True},
        ],
        "sync_mode": "mirror",
    }
    r = tenant.jwt().post(URL, body, format="json")
    assert r.status_code == 400, r.content
    assert r.json()["error"]["code"] == "invalid_request"
    assert "cannot remove records" in r.json()["error"]["message"]
    body.pop("sync_mode")
    r = tenant.jwt().post(URL, body, format="json")
    assert r.status_code == 201 and r.json()["sync_mode"] == "changes"
    r = tenant.jwt().put(f"{URL}/{r.json()['id']}", {"sync_mode": "sideways"}, format="json")
    assert r.status_code == 400


def test_run_json_has_the_diff_counts(tenant, synced_audience, webhook):
    export = webhook_export(tenant, synced_audience, webhook, "changes")
    run = execute(export)
    body = tenant.jwt().get(f"{URL}/{export.id}/runs/{run.pk}").json()
    assert {"records_added", "records_changed", "records_removed", "records_unchanged"} <= set(body)
    assert body["records_added"] == run.records_added > 0


def test_file_run_is_downloadable_through_a_signed_link_and_a_tampered_one_is_refused(
    tenant, synced_audience, other_tenant
):
    from django.test import Client

    export = export_create(
        principal=tenant.principal,
        project_id=tenant.project.id,
        audience_id=synced_audience.id,
        name="File to download",
        destination_type="file",
        destination_config={"format": "csv"},
        field_mapping=MAPPING,
    )
    run = execute(export)
    body = tenant.jwt().get(f"{URL}/{export.id}/runs/{run.pk}").json()
    link = body["files"]["output"]
    assert "token=" in link and "removals" not in body["files"]
    browser = Client()
    browser.force_login(tenant.user)
    got = browser.get(link)
    assert got.status_code == 200 and "attachment" in got["Content-Disposition"]
    with default_storage.open(run.details["file_name"], "rb") as fh:
        assert b"".join(got.streaming_content) == fh.read()
    assert browser.get(link.replace("token=", "token=x")).status_code == 404
    stranger = Client()
    stranger.force_login(other_tenant.user)
    assert stranger.get(link).status_code == 404  # another organization's member: not found
    page = browser.get(f"/exports/{export.id}/")
    assert 'id="download-output"' in page.content.decode()


def test_dsp_export_defaults_to_changes_and_offers_mirror(tenant, synced_audience):
    body = {
        "project_id": str(tenant.project.id),
        "audience_id": str(synced_audience.id),
        "name": "DSP list",
        "destination_type": "delivr_dsp",
        "destination_config": {"base_url": "https://dsp.example.com"},
        "credentials": {"api_key": "k"},
        "field_mapping": [{"source": "email", "target": "email", "type": "email", "required": True}],
    }
    r = tenant.jwt().post(URL, body, format="json")
    assert r.status_code == 201 and r.json()["sync_mode"] == "changes"
    r = tenant.jwt().put(f"{URL}/{r.json()['id']}", {"sync_mode": "mirror"}, format="json")
    assert r.status_code == 200 and r.json()["sync_mode"] == "mirror"


def test_changes_run_packs_the_changes_of_many_read_batches_into_full_writes(
    tenant, synced_audience, dataset, webhook
):
    export = webhook_export(tenant, synced_audience, webhook, "changes")
    assert execute(export).status in ("completed", "completed_with_errors")
    everyone = persons(dataset)
    renamed = set(everyone[::7])  # spread over every read batch (the webhook reads 500 rows at a time)

    def change(table: pa.Table) -> pa.Table:
        index = table.schema.get_field_index("first_name")
        hit = pc.is_in(table.column("person_id"), value_set=pa.array(sorted(renamed)))
        return table.set_column(
            index, "first_name", pc.if_else(hit, pa.scalar("Packed"), table.column("first_name"))
        )

    rewrite(dataset, change)
    posts = len(webhook.batches)
    run = execute(export)
    assert run.records_changed == run.records_exported > 500 // 7
    (write,) = webhook.batches[posts:]  # one write for the changes of every read batch (fewer than 500)
    assert run.batches_done > 1  # where each read batch used to send its own
    assert len(write["body"]["records"]) == run.records_exported
    assert {r["fields"]["FirstName"] for r in write["body"]["records"]} == {"Packed"}
    assert execute(export).records_exported == 0


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_changes_file_export_with_nothing_changed_writes_a_readable_file_with_the_mapped_columns(
    tenant, synced_audience, dataset, fmt
):
    export = export_create(
        principal=tenant.principal,
        project_id=tenant.project.id,
        audience_id=synced_audience.id,
        name=f"File changes {fmt}",
        destination_type="file",
        destination_config={"format": fmt},
        field_mapping=MAPPING,
        sync_mode="changes",
    )
    assert execute(export).status == "completed"
    run = execute(export)  # nothing changed: a file of no records, which still opens with its columns
    assert run.status == "completed" and run.details["rows"] == 0
    with default_storage.open(run.details["file_name"], "rb") as fh:
        data = fh.read()
    if fmt == "csv":
        assert data.decode().splitlines() == ['"Email","FirstName"']
    else:
        table = pq.read_table(io.BytesIO(data))
        assert table.num_rows == 0 and table.column_names == ["Email", "FirstName"]


def test_the_next_snapshot_holds_every_record_the_destination_holds_with_its_hashes_and_send_time(
    tenant, synced_audience, dataset, webhook
):
    """Written as the batches are filed: the current records (a changed one with this run's time, the others
    with the time they were sent), the one that left in `changes` (still at the destination), its two key
    hashes per row; read back, every key is found."""
    from exports.services.runs.snapshot import Previous, key_checks, key_hashes, snapshot_load

    export = webhook_export(tenant, synced_audience, webhook, "changes")
    first = execute(export)
    everyone = persons(dataset)
    changed, leaver = everyone[1], everyone[2]
    rewrite(dataset, rename(changed, "Renamed"))
    rewrite(dataset, drop(leaver))
    second = execute(export)
    assert (second.records_changed, second.records_exported, second.records_removed) == (1, 1, 0)
    with default_storage.open(snapshot_name(export), "rb") as fh:
        table = pq.read_table(io.BytesIO(fh.read()))
    keys = table.column("record_key").to_pylist()
    assert sorted(keys) == everyone  # the leaver too: a changes run leaves it at the destination
    assert table.column("key_hash").to_pylist() == key_hashes(table.column("record_key")).to_list()
    assert table.column("key_check").to_pylist() == key_checks(table.column("record_key")).to_list()
    sent_at = dict(zip(keys, table.column("sent_at").to_pylist(), strict=True))
    assert sent_at[changed] == second.started_at
    assert {sent_at[k] for k in everyone if k != changed} == {first.started_at}
    previous = snapshot_load(export)
    assert isinstance(previous, Previous) and previous.rows == len(everyone)
    rows = previous.lookup(pa.array(everyone))
    assert [keys[r] for r in rows] == everyone
    previous.discard()


def test_worker_dying_right_after_the_run_is_recorded_finished_loses_no_snapshot(
    tenant, synced_audience, dataset, webhook, monkeypatch
):
    """The run's snapshot is in place before the run is recorded as completed: a worker stopped right after
    that update (here: at the next step) leaves a finished run whose snapshot is the export's, so the next
    run neither resends the changes nor removes the leavers again."""
    from exports.models import ExportRun
    from exports.services.runs import finish
    from tests.factories import ExportRunFactory

    export = webhook_export(tenant, synced_audience, webhook, "mirror")
    execute(export)
    everyone = persons(dataset)
    rewrite(dataset, rename(everyone[1], "Renamed"))
    rewrite(dataset, drop(everyone[2]))

    class WorkerDied(BaseException):
        pass

    def die(export):
        raise WorkerDied

    monkeypatch.setattr(finish, "snapshot_prune", die)
    run = ExportRunFactory(export=export)
    with pytest.raises(WorkerDied):
        run_services.export_run_execute(run_id=run.pk)
    run = ExportRun.objects.get(pk=run.pk)
    assert run.status == "completed" and (run.records_changed, run.records_removed) == (1, 1)
    assert snapshot_name(export).endswith(f"/snapshot-{run.pk}-{run.attempts}.parquet")
    monkeypatch.undo()
    batches = len(webhook.batches)
    again = execute(export)
    assert again.status == "completed", again.error
    assert (again.records_exported, again.records_removed) == (0, 0)
    assert len(webhook.batches) == batches  # nothing sent twice
    folder = snapshot_name(export).rsplit("/", 1)[0]
    assert storage.list_folder(folder) == [snapshot_name(export)]  # the older snapshots were deleted


def test_snapshot_under_the_legacy_name_is_read_then_replaced(tenant, synced_audience, dataset, webhook):
    """An export synced before each run stored its own snapshot keeps its state: the single older file is
    read (nothing resent), and the next run's snapshot replaces it."""
    export = webhook_export(tenant, synced_audience, webhook, "changes")
    first = execute(export)
    current = snapshot_name(export)
    legacy = current.rsplit("/", 1)[0] + "/snapshot.parquet"
    with default_storage.open(current, "rb") as fh:
        storage.write_bytes(legacy, fh.read())
    storage.delete(current)
    first.status = "failed"  # as if no run had stored its own snapshot yet
    first.save(update_fields=["status"])
    assert snapshot_name(export) == legacy
    sent = records_sent(webhook)
    second = execute(export)
    assert second.status == "completed" and second.records_exported == 0
    assert records_sent(webhook) == sent
    assert snapshot_name(export).endswith(f"/snapshot-{second.pk}-{second.attempts}.parquet")
    assert not default_storage.exists(legacy)


def test_run_that_exported_nothing_leaves_no_snapshot(tenant, synced_audience, dataset, webhook):
    """A failed run (nothing exported) stores no snapshot of its own: the export's stays the last good one."""
    export = webhook_export(tenant, synced_audience, webhook, "changes")
    execute(export)
    before = snapshot_name(export)
    rewrite(dataset, rename(persons(dataset)[2], "Changed"))
    webhook.secret = "rotated"
    failed = execute(export)
    assert failed.status == "failed"
    assert snapshot_name(export) == before
    folder = before.rsplit("/", 1)[0]
    assert storage.list_folder(folder) == [before]
