"""Browser, with a real worker: the export's page shows a running run's progress and time left, a failed run
says why in words, a file run's output downloads through a signed link, and an export without credentials
cannot start a run (issue 13 item 5, checked as the marketer sees it)."""

import re

import pytest

from audiences.engine.generator import GenerateParams
from exports.models import Export, ExportRun
from tests.conftest import wait_for
from tests.e2e.conftest import login, screenshot
from tests.exports.conftest import make_export
from tests.exports.webhook_standin import WebhookStandin

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.intent_data(GenerateParams(rows=4000, days=1, prefixes=2, seed=4, start_day="2024-05-01")),
]
FINAL = ("completed", "completed_with_errors", "failed")


@pytest.fixture
def hook():
    server = WebhookStandin(secret="whsec-test").start()
    yield server
    server.stop()


MAPPING = [{"source": "email", "target": "email"}, {"source": "first_name", "target": "first_name"}]


def _export(tenant, audience, name: str, kind: str, config: dict, credentials: dict) -> Export:
    return make_export(tenant, audience, name, kind, config, credentials, mapping=MAPPING, sync_mode="full")


def _both_sizes(page, name: str) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    screenshot(page, name)
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, f"{name}-phone")
    page.set_viewport_size({"width": 1440, "height": 900})


def _run_and_wait(page, export: Export) -> ExportRun:
    page.goto(f"/exports/{export.pk}/")
    page.click("#run-now")
    wait_for(lambda: export.runs.filter(status__in=FINAL).exists(), 90, message="the run to finish")
    page.reload()
    return export.runs.get()


def test_browser_run_page_shows_progress_failures_in_words_the_file_and_no_run_without_credentials(
    page, tenant, password, intent_data, worker, hook
):
    from audiences.models import Audience

    audience = Audience.objects.create(
        organization=tenant.org, project=tenant.project, name="Sync audience", definition={}
    )
    login(page, tenant.user.email, password)

    # a running run: records processed of expected, and the time left
    # 500 records per request: the third waits at the stand-in's gate, so the run is still going (whatever the
    # machine's speed) while the page shows its progress
    gate = hook.hold(kind="records", after=2)
    slow = _export(tenant, audience, "Slow webhook", "webhook", {"url": hook.url}, {"secret": "whsec-test"})
    page.goto(f"/exports/{slow.pk}/")
    page.click("#run-now")
    progress = page.locator("#run-progress")
    wait_for(lambda: "left" in (progress.inner_text() if progress.count() else ""), 60, message="time left")
    text = progress.inner_text()
    assert re.search(
        r"[\d,]+ of [\d,]+ records processed \([\d,]+ sent\), (about .+|under a minute) left", text
    )
    _both_sizes(page, "sync-run-progress")
    gate.opened.set()
    wait_for(lambda: slow.runs.filter(status__in=FINAL).exists(), 90, message="the slow run to finish")
    page.wait_for_selector("#run-progress", state="detached")  # the page's own poll showed the end
    assert slow.runs.get().status == "completed"

    # a failed run says why, in words
    wrong = _export(tenant, audience, "Wrong secret", "webhook", {"url": hook.url}, {"secret": "whsec-wrong"})
    run = _run_and_wait(page, wrong)
    assert run.status == "failed"
    error = page.inner_text("#latest-error")
    assert error.startswith("The webhook refused the signature (HTTP 401 (Unauthorized)).")
    assert error.endswith("Check the export's settings, then run it again.")
    _both_sizes(page, "sync-run-failed")

    # a file run: the output downloads through a signed link
    file_export = _export(tenant, audience, "Weekly file", "file", {"format": "csv"}, {})
    run = _run_and_wait(page, file_export)
    assert run.status in ("completed", "completed_with_errors"), run.error
    link = page.get_attribute("#download-output", "href")
    assert "token=" in link, link
    with page.expect_download() as download:
        page.click("#download-output")
    lines = open(download.value.path(), encoding="utf-8").read().splitlines()
    assert lines[0] == '"email","first_name"' and len(lines) == run.records_exported + 1
    _both_sizes(page, "sync-run-file")
    forged = page.request.get(link.replace("token=", "token=x"))
    assert forged.status in (400, 403, 404)

    # no credentials: the run cannot start, and the page says why
    draft = _export(tenant, audience, "HubSpot draft", "hubspot", {}, {})
    page.goto(f"/exports/{draft.pk}/")
    assert page.is_disabled("#run-now")
    assert "add an access token" in page.inner_text("#run-blocked")
    _both_sizes(page, "sync-run-not-connected")
    assert not draft.runs.exists()
