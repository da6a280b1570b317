"""A worker killed mid-run and retried sends nothing twice and loses nothing (issue 13, "Done means"), per
destination against its stand-in, with a real Celery worker killed by SIGKILL of its process group.

The stand-ins hold a write at a gate until the test opens it (`hold`), so the kill lands while that write is
in flight whatever the machine's speed; the tests wait on the gate, on what the stand-in received and on the run
row, never on the clock. Once the worker is dead the gate opens and the held write is done, its answer lost;
the reaper requeues the silent run and a second worker finishes it. What each stand-in received over both
attempts is then checked: the record keys received more than once are the held write's (the one in flight when
the worker died: its answer never reached the run), and the destination ends holding every record. The
webhook's kill test in `full` mode is test_worker.py.
"""

from collections import Counter
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest

from delivr_admin import storage
from exports.models import Export, ExportRun
from exports.services import runs as run_services
from exports.services.exports import export_create
from exports.services.runs import spool
from tests.conftest import WorkerProcess, _purge_queue, wait_for
from tests.exports.conftest import execute, persons, rewrite, webhook_export
from tests.exports.standins.base import Gate
from tests.exports.test_sync_retry import UPSERT, hubspot_export, new_emails, standin_export

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DONE = ("completed", "completed_with_errors")
BATCH = 500  # the read batch of the destinations without their own (HubSpot, in these tests)
ENV = {"DELIVR_EXPORT_BATCH_SIZE": str(BATCH)}


@pytest.fixture(autouse=True)
def batch_size(settings, transactional_db):
    settings.DELIVR_EXPORT_BATCH_SIZE = BATCH  # the in-process runs read as the workers do
    _purge_queue()  # an earlier test's leftovers; this test's run is queued before its worker starts


def kill_and_resume(
    run: ExportRun, mid_run: Callable[[], object], message: str, gate: Gate | None = None
) -> ExportRun:
    """Runs `run` on a real worker, kills the worker once `mid_run()` holds, has the reaper requeue the silent
    run, and lets a second worker finish it; returns the finished run."""
    return kill_and_resume_all([run], mid_run, message, gate)[0]


def kill_and_resume_all(
    runs: list[ExportRun], mid_run: Callable[[], object], message: str, gate: Gate | None = None
) -> list[ExportRun]:
    """kill_and_resume for runs queued together (at most 2: the worker's processes take one each). A stand-in's
    `gate` that held the writes in flight is opened once the worker is dead: they are done, answered to no one,
    before the second worker starts (so the stand-in's log has each held write before its resend)."""
    first = WorkerProcess("killed", env=ENV).start()
    try:
        wait_for(mid_run, 120, interval=0.05, message=message)
    finally:
        first.kill()
        first.stop()
        if gate is not None:
            gate.opened.set()
    if gate is not None:
        wait_for(gate.all_done, 60, interval=0.05, message="the held writes to be done")
    for run in runs:
        run.refresh_from_db()
        assert run.status == "running", (run.status, run.error)
    assert run_services.export_runs_reap(timeout_seconds=0)["requeued"] == len(runs)
    second = WorkerProcess("resumes", env=ENV).start()
    try:
        wait_for(
            lambda: not any(ExportRun.objects.get(pk=run.pk).is_active for run in runs),
            120,
            message="the retries to finish",
        )
    finally:
        second.stop()
    for run in runs:
        run.refresh_from_db()
        assert run.status in DONE, (run.status, run.error)
        assert run.attempts == 2
    return runs


def resent_within_one_write(writes: list[list[str]]) -> set[str]:
    """`writes`: the record keys of each write the destination received, over both attempts. Asserts that no
    key was received more than twice and that the keys received twice all belong to one write; returns them."""
    counts = Counter(key for write in writes for key in write)
    resent = {key for key, n in counts.items() if n > 1}
    assert max(counts.values()) <= 2
    if resent:
        assert any(resent <= set(write) for write in writes), (
            f"{len(resent)} records resent from several writes"
        )
    return resent


def drop_many(person_ids: list[str]):
    leaving = pa.array(sorted(person_ids))
    return lambda table: table.filter(
        pc.invert(pc.fill_null(pc.is_in(table.column("person_id"), value_set=leaving), False))
    )


def start(export: Export) -> ExportRun:
    return run_services.export_run_start(export=export, actor="test")


# HubSpot: a write is one upsert request (its list adds, associations and events queued and sent packed) -----
def upserts_since(standin, since: int, run: ExportRun | None = None) -> list[list[str]]:
    """The record keys of each upsert request from the `since`th on (of `run` only, when given)."""
    writes = []
    for call in standin.calls("POST", UPSERT)[since:]:
        traces = [i["objectWriteTraceId"].split(":", 1) for i in call.body["inputs"]]
        if run is None or traces[0][0] == str(run.pk):
            writes.append([key for _, key in traces])
    return writes


def answered_since_commit(run: ExportRun) -> list[spool.Part]:
    """The upserts of `run` answered and committed as parts, their read batches not yet committed."""
    done = ExportRun.objects.get(pk=run.pk).batches_done
    return [p for p in spool.parts_read(run.pk, "sent", done)[0] if len(p.keys)]


def hubspot_list_export(tenant, audience, standin, sync_mode: str, list_name: str) -> Export:
    export = hubspot_export(tenant, audience, standin, sync_mode)
    Export.objects.filter(pk=export.pk).update(list_name=list_name)
    return Export.objects.get(pk=export.pk)


def test_hubspot_changes_run_killed_resends_at_most_the_request_in_flight(
    tenant, synced_audience, dataset, hubspot_standin
):
    """A `changes` re-sync packs a few changes per read batch into whole requests, each committed once
    answered: the kill resends at most the one in flight."""
    export = hubspot_export(tenant, synced_audience, hubspot_standin)
    assert execute(export).status in DONE  # in process: everyone is on the list
    moved = persons(dataset)[::3]  # a third of the people get a new email: upserted and listed again
    rewrite(dataset, new_emails(moved))
    before = len(hubspot_standin.calls("POST", UPSERT))
    gate = hubspot_standin.hold(path_contains=UPSERT, after=2)  # the third upsert: in flight at the kill
    run = start(export)
    answered: list = []

    def third_in_flight() -> bool:
        if gate.waiting < 1:
            return False
        answered[:] = answered_since_commit(run)  # (the run waits on its write: nothing moves now)
        return True

    run = kill_and_resume(run, third_in_flight, "the third upsert to be in flight", gate)
    writes = upserts_since(hubspot_standin, before)
    resent = resent_within_one_write(writes)
    assert resent == set(writes[2])  # the upsert in flight, and nothing else
    assert len(answered) == 2 and not resent & {k for part in answered for k in part.keys.to_pylist()}
    assert {k for w in writes for k in w} == set(moved)  # nothing lost
    assert {f"moved.{p}@example.org" for p in moved} <= hubspot_standin.members_of("Delivr synced")
    assert run.records_exported == len(moved)
    assert run.contact_list.row_count == len(moved)  # the run's list: what HubSpot took, each once
    assert execute(export).records_exported == 0  # the snapshot holds what the destination holds


def test_hubspot_full_run_and_first_sync_killed_resend_at_most_the_request_in_flight(
    tenant, synced_audience, dataset, hubspot_standin
):
    """A `full` run and a first sync (a `changes` run with nothing synced yet) send every record, hundreds per
    read batch, in upsert requests of 100 each committed once answered, their list adds queued and sent before
    each commit of read batches: killed together on one worker, each resends at most the request it had in
    flight, and every contact ends on its export's list."""
    reference = hubspot_list_export(tenant, synced_audience, hubspot_standin, "full", "Reference")
    assert execute(reference).status in DONE  # in process: what a whole run upserts
    expected = {k for write in upserts_since(hubspot_standin, 0) for k in write}
    before = len(hubspot_standin.calls("POST", UPSERT))
    full = hubspot_list_export(tenant, synced_audience, hubspot_standin, "full", "Full")
    first_sync = hubspot_list_export(tenant, synced_audience, hubspot_standin, "changes", "First sync")
    gate = hubspot_standin.hold(path_contains=UPSERT, after=4)  # then each run's next upsert waits
    runs = [start(full), start(first_sync)]
    answered: dict[str, set] = {}

    def both_in_flight() -> bool:
        """Each run has an upsert held (in flight); what each had answered is read while both wait."""
        if gate.waiting < 2:
            return False
        for run in runs:
            answered[str(run.pk)] = {k for p in answered_since_commit(run) for k in p.keys.to_pylist()}
        return True

    runs = kill_and_resume_all(runs, both_in_flight, "an upsert of each run to be in flight", gate)
    for run, list_name in zip(runs, ("Full", "First sync"), strict=True):
        writes = upserts_since(hubspot_standin, before, run)
        resent = resent_within_one_write(writes)
        assert 0 < len(resent) <= 100, list_name  # the request in flight: HubSpot's batch of 100 contacts
        assert not resent & answered[str(run.pk)], list_name  # the answered upserts were not resent
        assert {k for w in writes for k in w} == expected, list_name  # nothing lost
        # every contact is on the list: the list adds queued before the kill were sent after it
        assert hubspot_standin.members_of(list_name) == hubspot_standin.members_of("Reference"), list_name
        assert run.records_exported == len(expected), list_name
        assert run.contact_list.row_count == len(expected), list_name  # what HubSpot took, each once
    assert execute(first_sync).records_exported == 0  # its snapshot holds what the destination holds
    assert hubspot_standin.members_of("Reference") == set(hubspot_standin.contacts)


# DelivrDSP and Brevo: `full` runs, a write per read batch ----------------------------------------------
def test_dsp_run_killed_resends_at_most_the_write_in_flight(tenant, synced_audience, dataset, dsp_standin):
    config, credentials = dsp_standin.config(rate_limit=1000), dsp_standin.credentials()
    export = standin_export(tenant, synced_audience, "delivr_dsp", config, credentials, "full")
    gate = dsp_standin.hold(path_contains="/members", after=1)  # the 2nd of 4 writes: in flight at the kill
    run = start(export)
    kill_and_resume(run, lambda: gate.waiting, "the second write to be in flight", gate)
    calls = dsp_standin.calls("POST", "/members")
    writes = [[m["external_id"] for m in c.body["members"]] for c in calls]
    resent = resent_within_one_write(writes)
    assert len(resent) <= 1000  # the DSP's batch: one request
    # the write in flight (done, its answer lost), resent first by the retry, with its key, and nothing else
    assert len(writes) == 5 and resent == set(writes[1]) == set(writes[2])
    assert calls[1].headers["idempotency-key"] == calls[2].headers["idempotency-key"]
    run.refresh_from_db()
    held = set(dsp_standin.members_of())
    assert held == {k for w in writes for k in w} and run.records_exported == len(held)  # nothing lost
    assert run.contact_list.row_count == len(held)  # the run's list: what the destination took, each once
    assert max(dsp_standin.applied.values()) == 1  # the resent write was answered from its Idempotency-Key


def test_brevo_run_killed_resends_at_most_the_write_in_flight(
    tenant, synced_audience, dataset, brevo_standin
):
    config = brevo_standin.config(rate_limit=1000) | {"poll_seconds": 0.02}
    export = standin_export(tenant, synced_audience, "brevo", config, brevo_standin.credentials(), "full")
    # the 2nd of 2 imports: in flight at the kill (the first answered, its process polled to the end)
    gate = brevo_standin.hold(path_contains="/contacts/import", after=1)
    run = start(export)
    kill_and_resume(run, lambda: gate.waiting, "the second import to be in flight", gate)
    imports = brevo_standin.calls("POST", "/contacts/import")
    writes = [[str(row["email"]).lower() for row in c.body["jsonBody"]] for c in imports]
    resent = resent_within_one_write(writes)
    assert len(resent) <= 2000  # Brevo's batch: one import
    assert len(writes) == 3 and resent == set(writes[1]) == set(writes[2])  # the import in flight, only it
    run.refresh_from_db()
    held = set().union(*(brevo_standin.in_list(i) for i in brevo_standin.lists))
    assert held == {k for w in writes for k in w} and run.records_exported == len(held)  # nothing lost
    assert run.contact_list.row_count == len(held)  # the run's list: what the destination took, each once


# the webhook's `mirror` removals ----------------------------------------------------------------------
def test_mirror_removals_killed_resend_at_most_the_removal_in_flight(
    tenant, synced_audience, dataset, webhook
):
    export = webhook_export(tenant, synced_audience, webhook, "mirror")
    assert execute(export).status in DONE
    everyone = persons(dataset)
    leavers = everyone[50:]  # two removal events (the webhook's batch is 500)
    rewrite(dataset, drop_many(leavers))
    gate = webhook.hold(kind="removed", after=1)  # the 2nd of 2 removal events: in flight at the kill
    run = start(export)
    committed: set[str] = set()

    def second_in_flight() -> bool:
        if not gate.waiting:
            return False
        parts = spool.parts_read(run.pk, "removed")[0]  # (the run waits on its removal: nothing moves now)
        committed.update(k for p in parts for k in p.keys.to_pylist())
        return True

    kill_and_resume(run, second_in_flight, "the second removal event to be in flight", gate)
    events = [b["body"] for b in webhook.batches if b["body"].get("type") == "removed"]
    writes = [[r["record_key"] for r in e["records"]] for e in events]
    resent = resent_within_one_write(writes)
    assert len(resent) <= 500
    assert committed == set(writes[0])  # the first removal was answered and committed before the kill
    assert len(writes) == 3 and resent == set(writes[1]) == set(writes[2])  # the one in flight, only it
    assert set(webhook.removed) == set(leavers)  # nothing lost
    assert set(everyone[:50]) <= set(webhook.holds) and not set(webhook.holds) & set(leavers)
    run.refresh_from_db()
    assert run.records_removed == len(leavers) and run.records_exported == 0
    again = execute(export)  # the snapshot dropped every removed record
    assert again.records_removed == 0 and again.records_unchanged == 50


# a file: not resumable, the retry writes the file again from the first record -------------------------
@pytest.fixture(scope="module")
def big_root(tmp_path_factory):
    """Enough rows (several 65,536-row batches) for a file run to last while the test kills its worker."""
    from audiences.engine.generator import GenerateParams, generate

    root = tmp_path_factory.mktemp("kill-file") / "intent"
    generate(str(root), GenerateParams(rows=400_000, days=2, prefixes=2, seed=9, start_day="2024-05-01"))
    return root


def test_file_run_killed_writes_one_whole_file(tenant, big_root, settings):
    from audiences.models import Audience

    settings.DELIVR_DATA_ROOTS = [*settings.DELIVR_DATA_ROOTS, str(big_root.parent)]
    audience = Audience.objects.create(
        organization=tenant.org, project=tenant.project, name="Big", definition={}, input_path=str(big_root)
    )
    columns = ["person_id", "email", "first_name", "last_name", "job_title", "company_name", "country"]
    export = export_create(
        principal=tenant.principal,
        project_id=tenant.project.id,
        audience_id=audience.id,
        name="Weekly file",
        destination_type="file",
        destination_config={"format": "csv"},
        credentials={},
        field_mapping=[{"source": c, "target": c} for c in columns],
        sync_mode="full",
    )
    run = start(export)

    def file_begun() -> bool:  # the worker's local file has its first batch: the run is sending
        return any(p.stat().st_size for p in (settings.VAR_DIR / "tmp").glob(f"export-{run.pk}-*.csv"))

    kill_and_resume(run, file_begun, "the run's file to have its first batch")
    run.refresh_from_db()
    name = run.details["file_name"]
    with storage.open_read(name) as fh:
        ids = pacsv.read_csv(fh).column("person_id").to_pylist()
    assert len(ids) == len(set(ids)) == run.records_exported > 65_536  # every record once, in one file
    assert run.records_exported + run.records_duplicated + run.records_failed == run.records_total
    folder = name.rsplit("/", 1)[0]
    mine = [n for n in storage.list_folder(folder) if str(run.pk) in n and "/sync/" not in n]
    assert mine == [name]  # nothing of the killed one (its sync folder holds the run's snapshot)
    assert not list((settings.VAR_DIR / "tmp").glob(f"*{run.pk}*"))  # its local files were cleaned up too
