"""HubSpot timeline events need no configuration: the first run creates Delivr's event template through the
timeline templates API (with the app's developer key), later runs find it by name and reuse it."""

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from exports.destinations.base import BatchContext, get_destination
from exports.destinations.hubspot import TEMPLATE_NAME

pytestmark = pytest.mark.django_db


@pytest.fixture
def app(settings, hubspot_standin):
    settings.DELIVR_HUBSPOT_APP_ID = hubspot_standin.app_id
    settings.DELIVR_HUBSPOT_DEVELOPER_API_KEY = hubspot_standin.developer_key
    return hubspot_standin


def _run(standin, first: int, run_id: str):
    rows = [
        {
            "person_id": f"p{n}",
            "email": f"person{n}@example.com",
            "topic_id": "crm-software",
            "intent_frequency": 3,
            "seen_at": datetime(2026, 3, 2, 10, 30, tzinfo=UTC),
        }
        for n in range(first, first + 2)
    ]
    destination = get_destination("hubspot")(standin.config(), standin.credentials())  # no template id
    context = BatchContext(
        run_id=run_id,
        export_id="e",
        batch_index=0,
        idempotency_keys=[f"{run_id}:{r['person_id']}" for r in rows],
    )
    return destination.write_batch(pa.RecordBatch.from_pylist(rows), context)


def test_timeline_when_no_template_yet_creates_it_once_and_reuses_it(app):
    first = _run(app, 0, "run1")
    second = _run(app, 10, "run2")  # another run (a fresh destination): finds the template by name

    assert first.objects["TimelineEvent"].records_created == 2
    assert second.objects["TimelineEvent"].records_created == 2
    (template,) = app.app_templates.values()
    assert template["name"] == TEMPLATE_NAME and template["objectType"] == "contacts"
    assert {t["name"] for t in template["tokens"]} >= {"topic_id", "intent_frequency", "impression_count"}
    assert len(app.calls("POST", "/event-templates")) == 1  # created on first use only
    assert len(app.calls("GET", "/event-templates")) == 2  # each run looks it up once
    created = app.calls("POST", "/event-templates")[0]
    assert created.query["hapikey"] == app.developer_key  # the app's developer key, not the portal token
    assert {e["eventTemplateId"] for e in app.events.values()} == {template["id"]}
    assert app.events[next(iter(app.events))]["tokens"] == {
        "topic_id": "crm-software",
        "intent_frequency": "3",
    }


def test_timeline_when_templates_api_fails_reports_events_failed_and_keeps_contacts(app):
    app.fail_next(50, status=500, path_contains="/event-templates")
    result = _run(app, 0, "run1")
    events = result.objects["TimelineEvent"]
    assert events.records_failed == 2 and "timeline template unavailable" in events.errors[0].message
    assert result.objects["Contact"].records_created == 2


def test_timeline_without_the_app_skips_events_says_so_and_the_deploy_check_warns(
    settings, hubspot_standin, caplog
):
    from django.core import checks

    settings.DELIVR_HUBSPOT_APP_ID = ""
    result = _run(hubspot_standin, 0, "run-no-app")
    events = result.objects["TimelineEvent"]
    assert events.records_skipped == 2 and not events.errors
    assert result.objects["Contact"].records_created == 2  # contacts still go
    assert "timeline events skipped" in caplog.text
    found = [m.id for m in checks.run_checks(include_deployment_checks=True)]
    assert "exports.W001" in found
    settings.DELIVR_HUBSPOT_APP_ID = hubspot_standin.app_id
    settings.DELIVR_HUBSPOT_DEVELOPER_API_KEY = hubspot_standin.developer_key
    assert "exports.W001" not in [m.id for m in checks.run_checks(include_deployment_checks=True)]
