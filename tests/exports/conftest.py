"""Shared fixtures of the exports tests: a small intent dataset, an audience on it, a webhook stand-in."""

from pathlib import Path

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
