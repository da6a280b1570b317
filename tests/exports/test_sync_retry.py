"""A failed run never advances the snapshot; a retry resends at most the write in flight (issue 13 item 1).

A `changes` run packs the changes of many read batches into writes of one request each and commits its read
batches only when every record they hold was answered; every write answered in between is committed on its
own (a progress part), so a retry files those records as answered and resends only the write that was in
flight. These tests stop a run with a write the destination did but whose answer never came (in process, no
worker); test_worker_kill.py kills a real worker instead.
"""

from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from exports.models import Export, ExportRun
from exports.services import runs as run_services
from exports.services.exports import export_create
from exports.services.runs.snapshot import snapshot_name
from tests.exports.conftest import execute, persons, rewrite
from tests.factories import ExportRunFactory

pytestmark = pytest.mark.django_db

DONE = ("completed", "completed_with_errors")
UPSERT = "/contacts/batch/upsert"
MEMBERSHIPS = "/memberships/add"


FIRST_NAME = {"hubspot": "firstname", "delivr_dsp": "first_name", "brevo": "FIRSTNAME"}


def standin_export(tenant, audience, kind: str, config: dict, credentials: dict, sync_mode: str) -> Export:
    """An export of email and first name to a CRM stand-in (`config` points at it: not all form fields)."""
    export = export_create(
        principal=tenant.principal,
        project_id=tenant.project.id,
        audience_id=audience.id,
        name=f"{kind} sync",
        destination_type=kind,
        destination_config={},
        credentials=credentials,
        field_mapping=[
            {"source": "email", "target": "email", "type": "email", "required": True},
            {"source": "first_name", "target": FIRST_NAME[kind]},
        ],
        list_name="Delivr synced",
        sync_mode=sync_mode,
    )
    Export.objects.filter(pk=export.pk).update(destination_config=config)
    return Export.objects.get(pk=export.pk)


def hubspot_export(tenant, audience, standin, sync_mode: str = "changes") -> Export:
    config = standin.config(rate_limit=1000)
    return standin_export(tenant, audience, "hubspot", config, standin.credentials(), sync_mode)


def new_emails(person_ids: list[str]):
    """The people's emails change (their record key, the person id, stays): a `changes` run upserts them under
    the new email and puts them on the list."""
    moved = pa.array(sorted(person_ids))

    def change(table: pa.Table) -> pa.Table:
        index = table.schema.get_field_index("email")
        hit = pc.fill_null(pc.is_in(table.column("person_id"), value_set=moved), False)
        fresh = pc.binary_join_element_wise("moved.", table.column("person_id"), "@example.org", "")
        return table.set_column(index, "email", pc.if_else(hit, fresh, table.column("email")))

    return change


def upserted(standin, since: int = 0) -> list[str]:
    """The record keys of every contact upserted (resends included), in order."""
    keys = []
    for call in standin.calls("POST", UPSERT)[since:]:
        keys.extend(i["objectWriteTraceId"].split(":", 1)[1] for i in call.body["inputs"])
    return keys


def test_changes_retry_resends_only_the_request_whose_answer_was_lost(
    tenant, synced_audience, dataset, hubspot_standin, settings
):
    settings.DELIVR_EXPORT_BATCH_SIZE = 200  # 20 read batches; a third of each changed: packed writes, and
    export = hubspot_export(tenant, synced_audience, hubspot_standin)  # a commit per 200 sent (2 or more)
    first = execute(export)
    assert first.status in DONE
    moved = persons(dataset)[::3]
    rewrite(dataset, new_emails(moved))
    before = len(hubspot_standin.calls("POST", UPSERT))
    lists_before = len(hubspot_standin.calls("PUT", MEMBERSHIPS))
    # The writes' list adds are queued and sent before each commit. The second commit's list request is done
    # but never answered: the run stops (retryable) with the writes since its first commit answered (their
    # upserts committed as parts) and their list adds in flight.
    hubspot_standin.lose_answers(count=50, path_contains=MEMBERSHIPS, after=1)
    run = ExportRunFactory(export=export)
    with pytest.raises(run_services.RunRetry):
        run_services.export_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "queued"
    first_attempt = upserted(hubspot_standin, before)
    lists = hubspot_standin.calls("PUT", MEMBERSHIPS)[lists_before:]
    in_flight = set(lists[-1].body)  # the contact ids of the list request whose answer was lost
    assert lists[-1].status == 503 and len(lists) > 2 and in_flight
    assert 0 < run.batches_done < 20 and len(first_attempt) > len(in_flight)
    hubspot_standin._lost.clear()

    assert run_services.export_run_execute(run_id=run.pk) in DONE
    run.refresh_from_db()
    sent = upserted(hubspot_standin, before)
    counts = Counter(sent)
    assert max(counts.values()) == 1  # no upsert was sent twice: every one was answered and committed
    assert set(counts) == set(moved)  # nothing lost, and nothing unchanged sent
    retried = hubspot_standin.calls("PUT", MEMBERSHIPS)[lists_before + len(lists) :]
    assert set(retried[0].body) == in_flight  # the retry sent the list request in flight, from its parts
    assert run.attempts == 2 and run.records_exported == len(moved)
    assert run.records_changed + run.records_added == len(moved)
    # the dataset's invalid emails fail in every run, but for the people who got a valid one (added)
    assert run.records_failed == first.records_failed - run.records_added
    held = hubspot_standin.members_of("Delivr synced")
    assert {f"moved.{p}@example.org" for p in moved} <= held
    again = execute(export)  # the snapshot holds exactly what was sent
    assert again.records_exported == 0 and again.records_unchanged == run.records_unchanged + len(moved)


def test_failed_run_never_advances_the_snapshot_and_its_retry_does(
    tenant, synced_audience, dataset, hubspot_standin, settings
):
    from django.core.files.storage import default_storage

    settings.DELIVR_EXPORT_BATCH_SIZE = 500
    export = hubspot_export(tenant, synced_audience, hubspot_standin)
    assert execute(export).status in DONE
    name = snapshot_name(export)
    with default_storage.open(name, "rb") as fh:
        first = fh.read()
    rewrite(dataset, new_emails(persons(dataset)[::3]))
    hubspot_standin.lose_answers(count=50, path_contains=MEMBERSHIPS)  # the first commit's list adds
    run = ExportRunFactory(export=export)
    with pytest.raises(run_services.RunRetry):
        run_services.export_run_execute(run_id=run.pk)
    with default_storage.open(name, "rb") as fh:
        assert fh.read() == first  # the stopped attempt did not move it
    hubspot_standin._lost.clear()
    assert run_services.export_run_execute(run_id=run.pk) in DONE
    advanced = snapshot_name(export)
    assert advanced != name and not default_storage.exists(name)  # the retry's snapshot; the old one pruned
    with default_storage.open(advanced, "rb") as fh:
        assert fh.read() != first
    assert ExportRun.objects.get(pk=run.pk).attempts == 2


def test_progress_parts_when_two_attempts_wrote_the_same_number_are_both_read_and_stale_ones_are_not(
    settings, tmp_path
):
    import uuid

    from delivr_admin import storage
    from exports.services.runs import spool

    settings.MEDIA_ROOT = tmp_path / "media"
    run_id = uuid.uuid4()

    def part(keys: list[str]) -> spool.Part:
        n = len(keys)
        return spool.Part(pa.array(keys), pa.array(range(n), pa.uint64()), pa.array([True] * n), {})

    spool.part_write(run_id, "sent", 2, 0, part(["a"]), attempt=1)  # the reaper's victim, still going
    spool.part_write(run_id, "sent", 2, 0, part(["b"]), attempt=2)  # the attempt that took the run over
    spool.part_write(run_id, "sent", 1, 0, part(["old"]), attempt=1)  # before the commit of 2 batches
    storage.write_bytes(f"export-runs/{run_id}/sent-000002-000001-02.parquet", b"cut short")
    parts, following = spool.parts_read(run_id, "sent", 2)
    assert sorted(k for p in parts for k in p.keys.to_pylist()) == ["a", "b"] and following == 2
    spool.spool_clear(run_id, keep=2)  # an attempt resuming after 2 batches drops what came before
    assert not any("sent-000001" in n for n in storage.list_folder(f"export-runs/{run_id}"))
    spool.spool_clear(run_id)
    assert storage.list_folder(f"export-runs/{run_id}") == []
