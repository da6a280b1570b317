"""Shared fixtures of the exports tests: a small intent dataset, an audience on it, a webhook stand-in; a private
copy of the dataset a test may change (`dataset`, `synced_audience`) and the helpers of the sync tests that
change it, build exports on it and run them (also used by tests/e2e)."""

import io
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from audiences.engine.generator import GenerateParams, generate
from tests.exports.webhook_standin import WebhookStandin

EXPORT_PARAMS = GenerateParams(
    rows=4000, days=2, prefixes=2, seed=5, start_day="2024-05-01", first_prefix=100
)


@pytest.fixture(scope="session")
def export_intent_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("exportdata") / "intent"
    generate(str(root), EXPORT_PARAMS)
    return root


@pytest.fixture(autouse=True)
def export_settings(settings, export_intent_root, tmp_path):
    settings.DELIVR_DEMO_DATA = export_intent_root
    settings.DELIVR_DATA_ROOTS = [str(export_intent_root.parent)]
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings


@pytest.fixture
def audience(tenant):
    from audiences.models import Audience

    return Audience.objects.create(
        organization=tenant.org, project=tenant.project, name="Decision makers", definition={}
    )


@pytest.fixture
def webhook():
    server = WebhookStandin(secret="whsec-test").start()
    yield server
    server.stop()


MAPPING = [
    {"source": "email", "target": "Email", "type": "email", "required": True},
    {"source": "first_name", "target": "FirstName", "max_length": 40},
    {"source": "company_name", "target": "Company", "max_length": 80, "truncate": True},
    {"source": "country", "target": "Country", "picklist": ["US", "CA", "GB", "DE", "FR", "AU", "IN", "BR"]},
]


def connection_check(client, export_id) -> dict:
    """Asks for a connection check (202, pending) and reads it back from its Location (tasks run eagerly
    when the request commits, so the check has finished by then)."""
    r = client.post(f"/api/v1/exports/{export_id}/test-connection")
    assert r.status_code == 202 and r.json()["status"] == "pending", r.content
    return client.get(r["Location"]).json()


# --- the sync tests: a private dataset a test may change, exports on it, runs in process ----------------------

SYNC_MAPPING = [{"source": "email", "target": "Email"}, {"source": "first_name", "target": "FirstName"}]


@pytest.fixture
def dataset(export_intent_root, tmp_path, settings) -> Path:
    """A private copy of the export dataset that a test may change."""
    root = tmp_path / "sync-data" / "intent"
    shutil.copytree(export_intent_root, root)
    settings.DELIVR_DATA_ROOTS = [*settings.DELIVR_DATA_ROOTS, str(root.parent)]
    return root


@pytest.fixture
def synced_audience(tenant, dataset):
    from audiences.models import Audience

    return Audience.objects.create(
        organization=tenant.org, project=tenant.project, name="Synced", definition={}, input_path=str(dataset)
    )


def make_export(
    tenant,
    audience,
    name: str,
    kind: str,
    config: dict,
    credentials: dict | None = None,
    *,
    mapping: list[dict] | None = None,
    sync_mode: str = "changes",
):
    """An export made through the product's service, as the form and the API make one (mapping: SYNC_MAPPING)."""
    from exports.services.exports import export_create

    return export_create(
        principal=tenant.principal,
        project_id=tenant.project.id,
        audience_id=audience.id,
        name=name,
        destination_type=kind,
        destination_config=config,
        credentials=credentials,
        field_mapping=SYNC_MAPPING if mapping is None else mapping,
        sync_mode=sync_mode,
    )


def webhook_export(tenant, audience, webhook, sync_mode: str):
    config, credentials = {"url": webhook.url}, {"secret": "whsec-test"}
    return make_export(
        tenant, audience, f"Webhook {sync_mode}", "webhook", config, credentials, sync_mode=sync_mode
    )


def execute(export):
    """Runs a new run of `export` in process (no worker) and returns it, finished."""
    from exports.services import runs as run_services
    from tests.factories import ExportRunFactory

    run = ExportRunFactory(export=export)
    run_services.export_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def rewrite(root: Path, change) -> None:
    """Applies change(table) -> table to every Parquet file of the dataset."""
    for path in sorted(root.rglob("*.parquet")):
        table = pq.read_table(path, partitioning=None)
        pq.write_table(change(table), path)


def persons(root: Path) -> list[str]:
    ids = set()
    for path in root.rglob("*.parquet"):
        ids.update(pq.read_table(path, columns=["person_id"]).column("person_id").to_pylist())
    return sorted(i for i in ids if i)


def first_person(root: Path) -> dict:
    """person_id and email of the dataset's first person (by person_id)."""
    wanted = persons(root)[0]
    for path in sorted(root.rglob("*.parquet")):
        for row in pq.read_table(path, columns=["person_id", "email"]).to_pylist():
            if row["person_id"] == wanted:
                return row
    raise AssertionError("no person")


def rename(person_id: str, first_name: str):
    def change(table: pa.Table) -> pa.Table:
        index = table.schema.get_field_index("first_name")
        hit = pc.equal(table.column("person_id"), person_id)
        column = pc.if_else(hit, pa.scalar(first_name), table.column("first_name"))
        return table.set_column(index, "first_name", column)

    return change


def drop(person_id: str):
    return lambda table: table.filter(
        pc.invert(pc.fill_null(pc.equal(table.column("person_id"), person_id), False))
    )


def snapshot_keys(export) -> set:
    """The record keys of the export's snapshot (what the destination holds after its last good run)."""
    from django.core.files.storage import default_storage

    from exports.services.runs.snapshot import snapshot_name

    with default_storage.open(snapshot_name(export), "rb") as fh:
        return set(pq.read_table(io.BytesIO(fh.read())).column("record_key").to_pylist())
