"""A running run's page shows records processed of expected and the time left, from its own pace."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from exports.models import ExportRun, RunStatus
from exports.services.exports import export_create
from exports.services.progress import duration_words, run_seconds_left
from tests.exports.conftest import MAPPING

pytestmark = pytest.mark.django_db


@pytest.fixture
def running(tenant, audience):
    export = export_create(
        principal=tenant.principal,
        project_id=tenant.project.id,
        audience_id=audience.id,
        name="Progress",
        destination_type="file",
        destination_config={"format": "csv"},
        field_mapping=MAPPING,
    )
    return ExportRun.objects.create(
        export=export,
        organization=export.organization,
        status=RunStatus.RUNNING,
        started_at=timezone.now() - timedelta(seconds=100),
        records_total=1000,
        records_exported=990,
        records_expected=4000,
    )


def test_seconds_left_when_a_quarter_done_in_100s_is_300(running):
    assert run_seconds_left(running) == pytest.approx(300, abs=15)


def test_seconds_left_when_not_counted_or_finished_is_none(running):
    running.records_expected = None
    assert run_seconds_left(running) is None
    running.records_expected, running.status = 4000, RunStatus.COMPLETED
    assert run_seconds_left(running) is None


def test_duration_words_read_as_sentences():
    assert duration_words(None) == ""
    assert duration_words(20) == "under a minute left"
    assert duration_words(300) == "about 5 min left"
    assert duration_words(3 * 3600) == "about 3.0 h left"


def test_detail_fragment_when_running_shows_progress_and_time_left(tenant, running):
    client = Client()
    client.force_login(tenant.user)
    r = client.get(f"/exports/{running.export_id}/", HTTP_HX_REQUEST="true")
    body = r.content.decode()
    assert r.status_code == 200 and 'id="run-progress"' in body
    assert "<strong>1,000</strong> of 4,000 records processed (990 sent), about 5 min left." in body
    assert 'aria-valuenow="25"' in body and 'hx-trigger="every 2s"' in body
    api = tenant.jwt().get(f"/api/v1/exports/{running.export_id}/runs/{running.id}").json()
    assert api["records_expected"] == 4000 and api["seconds_left"] == pytest.approx(300, abs=15)
