"""Issue 13's "Done means", per destination against its stand-in, in one place: a second `changes` run with
nothing changed sends nothing; one changed value sends one update; an opt-out is taken back and the ledger shows it; a write whose answer was
lost is sent again by the retry (or the next run) and nothing else is, and nothing is lost.

Mirror removals and the rate limits have their tests per destination
(test_sync_modes, test_hubspot_removals, test_brevo_destination, test_dsp_sync, test_pacing)."""

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from exports.models import Export, OptOutRemoval
from exports.services import runs as run_services
from exports.services.exports import export_create
from exports.services.optouts import export_optouts_propagate
from tests.exports.conftest import SYNC_MAPPING, execute, first_person, snapshot_keys
from tests.factories import ExportRunFactory

pytestmark = pytest.mark.django_db

DONE = ("completed", "completed_with_errors")


@dataclass
class Target:
    kind: str
    standin: object
    config: dict
    credentials: dict
    mapping: list
    write_path: str  # the path of the requests that carry records

    def writes(self) -> list:
        if self.kind == "webhook":
            return [b for b in self.standin.batches if b["body"].get("type") != "removed"]
        if self.kind == "salesforce":
            return self.standin.calls("PATCH", self.write_path)
        return [r for r in self.standin.calls("POST", self.write_path) if not r.path.endswith("/remove")]

    def holds(self) -> set[str]:
        """What the destination holds: person ids (webhook, DSP) or emails (HubSpot, Brevo, Salesforce)."""
        standin = self.standin
        if self.kind == "webhook":
            return set(standin.holds)
        if self.kind == "hubspot":
            return set(standin.members_of("Delivr synced"))
        if self.kind == "salesforce":
            return set(standin.records["Contact"])
        if self.kind == "brevo":
            return set().union(*(standin.in_list(i) for i in standin.lists)) if standin.lists else set()
        return set(standin.members_of()) if standin.lists else set()


def _target(kind: str, request) -> Target:
    email = {"source": "email", "target": "email", "type": "email", "required": True}
    if kind == "webhook":
        hook = request.getfixturevalue("webhook")
        return Target(kind, hook, {"url": hook.url}, {"secret": "whsec-test"}, SYNC_MAPPING, "")
    standin = request.getfixturevalue(f"{kind}_standin")
    if kind == "hubspot":
        first = {"source": "first_name", "target": "firstname"}
        return Target(kind, standin, standin.config(), standin.credentials(), [email, first], "/batch/upsert")
    if kind == "salesforce":
        mapping = [
            {**email, "target": "Email"},
            {"source": "last_name", "target": "LastName"},
            {"source": "first_name", "target": "FirstName"},
        ]
        credentials = standin.credentials()
        return Target(kind, standin, standin.config(), credentials, mapping, "/composite/sobjects/")
    if kind == "brevo":
        first = {"source": "first_name", "target": "FIRSTNAME"}
        config = standin.config(rate_limit=1000) | {"poll_seconds": 0.02}
        return Target(kind, standin, config, standin.credentials(), [email, first], "/v3/contacts/import")
    first = {"source": "first_name", "target": "first_name"}
    return Target(
        kind, standin, standin.config(rate_limit=1000), standin.credentials(), [email, first], "/members"
    )


def _export(tenant, audience, target: Target, sync_mode: str = "changes"):
    export = export_create(
        principal=tenant.principal,
        project_id=tenant.project.id,
        audience_id=audience.id,
        name=f"{target.kind} sync",
        destination_type=target.kind,
        destination_config={"url": target.config["url"]} if target.kind == "webhook" else {},
        credentials=target.credentials,
        field_mapping=target.mapping,
        list_name="Delivr synced",
        sync_mode=sync_mode,
    )
    # the stand-in's address, short backoff and its own rate window (not all of them form fields)
    Export.objects.filter(pk=export.pk).update(destination_config=target.config)
    export.refresh_from_db()
    return export


KINDS = ["webhook", "hubspot", "brevo", "delivr_dsp"]
SEND_KINDS = [*KINDS, "salesforce"]  # Salesforce cannot remove: its opt-outs are in test_optout_propagation


def _kind_fixture(kind: str) -> str:
    return "dsp" if kind == "delivr_dsp" else kind


@pytest.fixture
def target(request) -> Target:
    target = _target(_kind_fixture(request.param), request)
    target.kind = request.param
    return target


@pytest.mark.parametrize("target", SEND_KINDS, indirect=True)
def test_second_run_with_nothing_changed_sends_nothing(tenant, synced_audience, dataset, target):
    export = _export(tenant, synced_audience, target)
    first = execute(export)
    assert first.status in DONE, first.error
    held, writes = target.holds(), len(target.writes())
    assert len(held) == first.records_exported > 0 and writes > 0
    again = execute(export)
    assert again.status in DONE, again.error  # the dataset's few invalid emails fail on every run
    assert again.records_exported == 0 and again.records_unchanged == first.records_exported
    assert len(target.writes()) == writes and target.holds() == held


@pytest.mark.parametrize("target", SEND_KINDS, indirect=True)
def test_one_changed_value_sends_one_update(tenant, synced_audience, dataset, target):
    from tests.exports.conftest import rename, rewrite

    export = _export(tenant, synced_audience, target)
    assert execute(export).status in DONE
    person = first_person(dataset)
    rewrite(dataset, rename(person["person_id"], "Zelda"))
    writes = len(target.writes())
    run = execute(export)
    assert run.status in DONE, run.error
    assert (run.records_changed, run.records_added, run.records_exported) == (1, 0, 1)
    (write,) = target.writes()[writes:]
    assert "Zelda" in str(write.body if target.kind != "webhook" else write["body"])
    assert len(str(write.body if target.kind != "webhook" else write["body"])) < 2000  # that record only


@pytest.mark.parametrize("target", KINDS, indirect=True)
def test_optout_is_taken_back_and_the_ledger_shows_it(tenant, synced_audience, dataset, target):
    from privacy.services import optout_record

    export = _export(tenant, synced_audience, target)
    assert execute(export).status in DONE
    export_optouts_propagate()  # sets the watermark
    person = first_person(dataset)
    email = person["email"].strip().lower()
    identity = email if target.kind in ("hubspot", "brevo") else person["person_id"]
    assert identity in target.holds()
    optout, _ = optout_record(
        identifier_type="email",
        value=email,
        source="support",
        opted_out_at=datetime(2026, 3, 1, tzinfo=UTC),
        organization=tenant.org,
        actor="test",
    )
    out = export_optouts_propagate()
    assert (out["removed"], out["failed"]) == (1, 0)
    assert identity not in target.holds() and person["person_id"] not in snapshot_keys(export)
    row = OptOutRemoval.objects.get(export=export)
    assert row.status == "removed" and row.sent_at and row.removed_at
    (summary,) = [
        d["summary"] for d in tenant.jwt().get(f"/api/v1/privacy/optouts/{optout.id}").json()["destinations"]
    ]
    assert ", removed on " in summary
    assert export_optouts_propagate()["removed"] == 0  # safe to run twice


@pytest.mark.parametrize("target", ["brevo", "delivr_dsp"], indirect=True)
def test_lost_answer_stops_the_run_and_the_retry_resends_only_that_write(
    tenant, synced_audience, dataset, target, settings
):
    """Brevo and DelivrDSP stop the run when the destination stays unavailable: the retry resumes after the
    last commit, resending the write whose answer was lost and nothing before it."""
    settings.DELIVR_EXPORT_BATCH_SIZE = 500
    export = _export(tenant, synced_audience, target, "full")  # a write per read batch
    target.standin.lose_answers(count=50, path_contains=target.write_path, after=1)
    run = ExportRunFactory(export=export)
    with pytest.raises(run_services.RunRetry):
        run_services.export_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "queued" and run.batches_done == 1
    target.standin._lost.clear()
    first_write, lost = target.writes()[0], target.writes()[1]
    assert run_services.export_run_execute(run_id=run.pk) in DONE
    run.refresh_from_db()
    assert run.attempts == 2 and run.records_exported == len(target.holds())  # nothing lost
    bodies = [w.body for w in target.writes()]
    assert sum(b == first_write.body for b in bodies) == 1  # the committed write was not sent again
    assert any(b == lost.body for b in bodies[2:])  # the one in flight was


@pytest.mark.parametrize("target", ["hubspot"], indirect=True)
def test_lost_answer_fails_its_records_and_the_next_run_sends_only_them(
    tenant, synced_audience, dataset, target
):
    """HubSpot reports the records of a write it never answered as failed and goes on; the next `changes`
    run sends exactly those again (upserts: no contact twice) and nothing else."""
    export = _export(tenant, synced_audience, target)
    target.standin.lose_answers(count=50, path_contains=target.write_path, after=2)
    first = execute(export)
    assert first.status == "completed_with_errors" and first.records_failed >= 100
    target.standin._lost.clear()
    answered = {i["id"] for w in target.writes() if w.status == 200 for i in w.body["inputs"]}
    lost = {i["id"] for w in target.writes() if w.status == 503 for i in w.body["inputs"]} - answered
    assert len(lost) == first.records_failed - len(_invalid(dataset))
    writes = len(target.writes())
    again = execute(export)
    assert again.status in DONE, again.error
    resent = {i["id"] for w in target.writes()[writes:] for i in w.body["inputs"]}
    assert resent == lost and again.records_exported == len(lost)
    assert len(target.holds()) == first.records_exported + len(lost)  # nothing lost


def _invalid(root) -> set[str]:
    """The dataset's people whose email fails validation (they fail on every run, before any sending)."""
    import re

    import pyarrow.parquet as pq

    out = set()
    for path in sorted(root.rglob("*.parquet")):
        for row in pq.read_table(path, columns=["person_id", "email"]).to_pylist():
            email = (row["email"] or "").strip()
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
                out.add(row["person_id"])
    return out


@pytest.mark.parametrize("sync_mode", ["full", "changes"])  # changes on nothing synced yet: a first sync
@pytest.mark.parametrize("target", [*KINDS, "salesforce"], indirect=True)
def test_full_run_and_first_sync_commit_each_request_before_sending_the_next(
    tenant, synced_audience, dataset, target, sync_mode, settings, monkeypatch
):
    """A retry resends at most the request in flight when every write is one request and is committed (its
    progress part) before the next write goes: here for every destination, in a `full` run and a first sync,
    which send every record. The kill tests (test_worker_kill.py) show the same from outside."""
    from exports.destinations.base import get_destination
    from exports.services.runs import spool

    settings.DELIVR_EXPORT_BATCH_SIZE = 500
    cls = get_destination(target.kind)
    events: list[tuple[str, int]] = []
    write_batch, part_write = cls.write_batch, spool.part_write

    def write_logged(self, batch, context):
        events.append(("write", batch.num_rows))
        return write_batch(self, batch, context)

    def part_logged(run_id, kind, base, seq, part, *, attempt):
        part_write(run_id, kind, base, seq, part, attempt=attempt)
        if len(part.keys):  # (HubSpot's follow-up requests and company look-ups leave parts of no records)
            events.append(("part", len(part.keys)))

    monkeypatch.setattr(cls, "write_batch", write_logged)
    monkeypatch.setattr(spool, "part_write", part_logged)
    run = execute(_export(tenant, synced_audience, target, sync_mode))
    assert run.status in DONE, run.error
    writes = [n for event, n in events if event == "write"]
    assert events == [e for n in writes for e in (("write", n), ("part", n))]  # committed before the next
    assert len(target.writes()) == len(writes)  # a write is one request to the destination
    assert max(writes) <= (cls.records_per_request or getattr(cls, "batch_size", 0) or 500)
    assert sum(writes) >= run.records_exported > 0
