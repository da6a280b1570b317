"""Export runs: file/webhook destinations, record limits, opt-outs, per-object results, lists, reaper, resume."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from audiences import engine
from audiences.selectors.audiences import audience_selection
from exports.destinations import base as destinations_base
from exports.models import Export, ExportRun
from exports.services import runs as run_services
from exports.services.exports import export_create
from tests.exports.conftest import MAPPING
from tests.factories import ExportRunFactory

DUCKDB = engine.DuckDBEngine()  # the embedded backend these tests exercise

pytestmark = pytest.mark.django_db

URL = "/api/v1/exports"


def make_export(tenant, audience, **extra) -> Export:
    args = {
        "principal": tenant.principal,
        "project_id": tenant.project.id,
        "audience_id": audience.id,
        "name": "File export",
        "destination_type": "file",
        "destination_config": {"format": "csv"},
        "field_mapping": MAPPING,
    }
    args.update(extra)
    return export_create(**args)


def run_now(tenant, export) -> dict:
    r = tenant.jwt().post(f"{URL}/{export.id}/runs")
    assert r.status_code == 202, r.content
    assert r.json()["status"] in ("queued", "completed", "completed_with_errors", "failed")
    return tenant.jwt().get(f"{URL}/{export.id}/runs/{r.json()['run_id']}").json()


def audience_truth(audience):
    sel = audience_selection(audience, columns=("person_id", "email"))
    rows = [b.to_pylist() for b in DUCKDB.iter_batches(sel)]
    rows = [r for batch in rows for r in batch]
    return rows, {r["person_id"] for r in rows}


def read_csv(name: str) -> list[dict]:
    with default_storage.open(name, "rb") as fh:
        return list(csv.DictReader(io.StringIO(fh.read().decode())))


def test_run_to_csv_file_dedupes_by_person_and_reports_shape(tenant, audience):
    export = make_export(tenant, audience)
    run = run_now(tenant, export)
    rows, persons = audience_truth(audience)
    assert run["status"] in ("completed", "completed_with_errors"), run
    assert run["records_total"] == len(rows)
    assert run["records_duplicated"] == len(rows) - len(persons)
    assert run["records_exported"] + run["records_failed"] == len(persons)
    assert set(run) >= {
        "run_id",
        "status",
        "records_total",
        "records_exported",
        "records_failed",
        "records_duplicated",
        "object_type_results",
        "started_at",
        "finished_at",
        "suppressed_count",
        "error",
        "failure_kind",
    }
    record = run["object_type_results"]["Record"]
    assert record["object_type"] == "Record" and record["records_created"] == run["records_exported"]
    assert set(record) >= {
        "records_updated",
        "records_failed",
        "records_skipped",
        "operation",
        "error_message",
    }
    out = read_csv(run["details"]["file_name"])
    assert len(out) == run["records_exported"]
    assert list(out[0]) == ["Email", "FirstName", "Company", "Country"]
    assert len({r["Email"] for r in out}) == len(out)
    # the export-generated list holds the rows sent
    from audiences.models import ContactList

    lst = ContactList.objects.get(pk=run["list_id"])
    assert lst.source == "export" and lst.row_count == run["records_exported"]


def test_run_when_fields_invalid_completes_with_errors_and_per_object_messages(tenant, audience):
    mapping = [
        {"source": "email", "target": "Email", "type": "email", "required": True},
        {"source": "country", "target": "Country", "picklist": ["US"]},
    ]
    export = make_export(tenant, audience, field_mapping=mapping)
    run = run_now(tenant, export)
    assert run["status"] == "completed_with_errors"
    record = run["object_type_results"]["Record"]
    assert record["records_failed"] == run["records_failed"] > 0
    assert record["error_message"].split(":")[0] in {
        "INVALID_PICKLIST_VALUE",
        "INVALID_EMAIL_FORMAT",
        "REQUIRED_FIELD_MISSING",
    }
    messages = {(e["code"], e["message"]) for e in record["errors"]}
    assert ("INVALID_PICKLIST_VALUE", "Country is not one of the allowed values") in messages
    assert all(e["key"].startswith(f"{run['run_id']}:") for e in record["errors"])
    summary = run["validation_errors"]
    assert summary["INVALID_PICKLIST_VALUE"]["Country"] > 0
    # a record fails once (its first error) even when two of its fields are wrong
    assert sum(n for fields in summary.values() for n in fields.values()) >= run["records_failed"]
    countries = {r["Country"] for r in read_csv(run["details"]["file_name"])}
    assert countries == {"US"}


def test_opted_out_person_never_reaches_the_file(tenant, audience):
    from privacy.models import SuppressionRecord
    from privacy.services import optout_record

    rows, _ = audience_truth(audience)
    victim = rows[0]
    optout_record(
        identifier_type="email",
        value=victim["email"],
        source="support",
        opted_out_at=datetime(2026, 3, 1, tzinfo=UTC),
        organization=tenant.org,
        actor="test",
    )
    export = make_export(
        tenant,
        audience,
        field_mapping=[{"source": "email", "target": "Email"}, {"source": "person_id", "target": "Id"}],
    )
    run = run_now(tenant, export)
    victim_rows = sum(1 for r in rows if r["person_id"] == victim["person_id"])
    assert run["suppressed_count"] == victim_rows
    out = read_csv(run["details"]["file_name"])
    assert victim["email"] not in {r["Email"] for r in out}
    assert victim["person_id"] not in {r["Id"] for r in out}
    assert (
        SuppressionRecord.objects.get(output_kind="export_run", output_id=run["run_id"]).suppressed_count
        == victim_rows
    )


@pytest.mark.parametrize(("delta", "expected_total"), [(-1, -1), (0, 0), (1, 0)])
def test_record_limit_truncate_at_n_minus_1_n_n_plus_1(tenant, audience, delta, expected_total):
    rows, _ = audience_truth(audience)
    n = len(rows)
    export = make_export(tenant, audience, record_limit={"maxRecords": n + delta, "failMode": "truncate"})
    run = run_now(tenant, export)
    assert run["status"] in ("completed", "completed_with_errors")
    assert run["records_total"] == n + expected_total


@pytest.mark.parametrize(("delta", "fails"), [(-1, True), (0, False), (1, False)])
def test_record_limit_fail_at_n_minus_1_n_n_plus_1(tenant, audience, delta, fails):
    rows, _ = audience_truth(audience)
    n = len(rows)
    export = make_export(tenant, audience, record_limit={"maxRecords": n + delta, "failMode": "fail"})
    run = run_now(tenant, export)
    if fails:
        assert run["status"] == "failed" and run["failure_kind"] == "user"
        assert f"{n:,} records, more than the record limit of {n - 1:,}" in run["error"]
        assert run["records_total"] == 0 and run["details"] == {}
        assert not default_storage.exists(f"exports/{tenant.org.id}/{export.id}/{run['run_id']}.csv")
    else:
        assert run["status"] in ("completed", "completed_with_errors") and run["records_total"] == n


def test_run_to_parquet_with_path_prefix_writes_through_storage(tenant, audience):
    export = make_export(tenant, audience, destination_config={"format": "parquet", "path_prefix": "crm/out"})
    run = run_now(tenant, export)
    name = run["details"]["file_name"]
    assert name.startswith(f"exports/{tenant.org.id}/crm/out/") and name.endswith(".parquet")
    with default_storage.open(name, "rb") as fh:
        table = pq.read_table(io.BytesIO(fh.read()))
    assert table.num_rows == run["records_exported"]


def test_webhook_run_signs_batches_retries_429_and_sends_each_record_once(
    tenant, audience, webhook, monkeypatch
):
    from exports.destinations.webhook import WebhookDestination

    monkeypatch.setattr(WebhookDestination, "backoff_base", 0.01)
    webhook.fail_next = [429, 503]
    webhook.retry_after = "0"
    export = make_export(
        tenant,
        audience,
        destination_type="webhook",
        destination_config={"url": webhook.url},
        credentials={"secret": "whsec-test"},
    )
    run = run_now(tenant, export)
    _, persons = audience_truth(audience)
    assert run["status"] in ("completed", "completed_with_errors"), run
    assert webhook.bad_signatures == 0
    assert len(webhook.created) == run["records_exported"]
    assert {k.split(":", 1)[0] for k in webhook.created} == {run["run_id"]}
    first = webhook.batches[0]
    assert first["headers"]["Idempotency-Key"] == f"{run['run_id']}:0"
    assert first["body"]["records"][0]["fields"].keys() == {"Email", "FirstName", "Company", "Country"}
    assert run["records_exported"] + run["records_failed"] == len(persons)


def test_webhook_when_retries_run_out_records_fail_with_reason_not_dropped(
    tenant, audience, webhook, monkeypatch
):
    from exports.destinations import webhook as webhook_module

    monkeypatch.setattr(webhook_module.WebhookDestination, "backoff_base", 0.0)
    webhook.fail_next = [503] * webhook_module.MAX_ATTEMPTS
    export = make_export(
        tenant,
        audience,
        destination_type="webhook",
        destination_config={"url": webhook.url},
        credentials={"secret": "whsec-test"},
        field_mapping=[{"source": "email", "target": "Email"}],
    )
    run = run_now(tenant, export)
    _, persons = audience_truth(audience)
    record = run["object_type_results"]["Record"]
    assert run["status"] == "completed_with_errors"
    assert record["records_failed"] > 0 and len(webhook.created) == run["records_exported"]
    assert "DESTINATION_ERROR" in record["error_message"] and "HTTP 503" in record["error_message"]
    assert run["records_exported"] + run["records_failed"] == len(persons)


def test_webhook_when_secret_wrong_fails_run_as_user_error(tenant, audience, webhook):
    export = make_export(
        tenant,
        audience,
        destination_type="webhook",
        destination_config={"url": webhook.url},
        credentials={"secret": "wrong"},
    )
    run = run_now(tenant, export)
    assert run["status"] == "failed" and run["failure_kind"] == "user" and "signature" in run["error"]


class FlakyOnce(destinations_base.Destination):
    """Sends to the webhook stand-in but fails (retryably) once, on its third batch."""

    kind = "test_flaky"
    label = "flaky"
    config_fields = ("url",)
    credential_fields = ("secret",)
    object_types = ("Record",)
    batch_size = 500
    failed_once = False

    def test_connection(self):
        pass

    def write_batch(self, batch, context):
        from exports.destinations.webhook import WebhookDestination

        if context.batch_index == 2 and not FlakyOnce.failed_once:
            FlakyOnce.failed_once = True
            # sent, then the connection broke before the answer: the batch is in flight
            WebhookDestination(self.config, self.credentials).write_batch(batch, context)
            raise destinations_base.DestinationError("connection reset", retryable=True)
        return WebhookDestination(self.config, self.credentials).write_batch(batch, context)


@pytest.fixture
def flaky():
    destinations_base._load_all()
    destinations_base.register(FlakyOnce)
    FlakyOnce.failed_once = False
    yield FlakyOnce
    destinations_base._REGISTRY.pop("test_flaky", None)


def test_retry_resumes_after_last_checkpoint_and_creates_nothing_twice(tenant, audience, webhook, flaky):
    export = make_export(
        tenant,
        audience,
        destination_type="test_flaky",
        destination_config={"url": webhook.url},
        credentials={"secret": "whsec-test"},
    )
    run = ExportRunFactory(export=export)
    with pytest.raises(run_services.RunRetry):
        run_services.export_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "queued" and run.batches_done == 2 and run.attempts == 1
    sent_before = len(webhook.received)
    assert run_services.export_run_execute(run_id=run.pk) in ("completed", "completed_with_errors")
    run.refresh_from_db()
    _, persons = audience_truth(audience)
    assert run.attempts == 2
    skipped = run.object_type_results["Record"]["records_skipped"]  # the resent batch: already there
    assert run.records_exported + run.records_failed + skipped == len(persons)
    assert run.records_total == len(audience_truth(audience)[0])
    assert set(webhook.created.values()) == {1}
    record_keys = [k.split(":", 1)[1] for k in webhook.created]
    assert len(record_keys) == len(set(record_keys)) == run.records_exported + skipped
    resent = len(webhook.received) - len(webhook.created)
    assert resent == skipped > 0 and sent_before > 0  # only the batch in flight went twice
    # a duplicate delivery of the task does nothing
    assert run_services.export_run_execute(run_id=run.pk) == "skipped"


def test_reaper_requeues_stale_run_then_fails_it_after_last_attempt(tenant, audience, settings):
    export = make_export(tenant, audience)
    stale = timezone.now() - timedelta(minutes=30)
    run = ExportRunFactory(export=export, status="running", attempts=1, heartbeat_at=stale)
    fresh = ExportRunFactory(export=export, status="running", attempts=1, heartbeat_at=timezone.now())
    assert run_services.export_runs_reap(timeout_seconds=300)["requeued"] == 1
    run.refresh_from_db()
    assert run.status == "queued" and "stopped responding" in run.error
    ExportRun.objects.filter(pk=run.pk).update(
        status="running", attempts=settings.DELIVR_EXPORT_MAX_ATTEMPTS, heartbeat_at=stale
    )
    assert run_services.export_runs_reap(timeout_seconds=300)["failed"] == 1
    run.refresh_from_db()
    assert run.status == "failed" and run.failure_kind == "system" and run.finished_at
    assert "stopped responding" in run.error
    fresh.refresh_from_db()
    assert fresh.status == "running"
    assert run_services.export_runs_reap(timeout_seconds=300) == {"requeued": 0, "failed": 0, "resent": 0}


def test_run_start_when_one_active_is_409(tenant, audience):
    export = make_export(tenant, audience)
    ExportRunFactory(export=export, status="running")
    r = tenant.jwt().post(f"{URL}/{export.id}/runs")
    assert r.status_code == 409 and r.json()["error"]["code"] == "run_in_progress"


def test_schedule_due_starts_one_run_and_moves_next_run(tenant, audience):
    export = make_export(tenant, audience, schedule="daily")
    assert export.next_run_at > timezone.now()
    Export.objects.filter(pk=export.pk).update(next_run_at=timezone.now() - timedelta(days=3, minutes=1))
    assert run_services.export_schedule_due() == 1
    assert run_services.export_schedule_due() == 0
    export.refresh_from_db()
    assert export.next_run_at > timezone.now()
    assert ExportRun.objects.filter(export=export, trigger="schedule").count() == 1


def test_task_run_twice_is_idempotent(tenant, audience):
    from exports.tasks import export_run_execute

    export = make_export(tenant, audience)
    run = ExportRunFactory(export=export)
    first = export_run_execute.apply(args=[str(run.pk)]).get()
    second = export_run_execute.apply(args=[str(run.pk)]).get()
    assert first in ("completed", "completed_with_errors") and second == "skipped"
