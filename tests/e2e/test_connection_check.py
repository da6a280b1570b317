"""Browser: "Test connection" shows Checking… and polls until the worker's answer; an internal webhook URL is
refused on save with the reason next to the field."""

import pytest

from audiences.engine.generator import GenerateParams
from delivr_admin.celery import app as celery_app
from tests.conftest import _purge_queue
from tests.e2e.conftest import login, screenshot
from tests.exports.conftest import MAPPING
from tests.security.outbound_standins import HangingServer

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.intent_data(GenerateParams(rows=500, days=1, prefixes=1, seed=3, start_day="2024-05-01")),
]

SIZES = {"desktop": (1440, 900), "phone": (390, 844)}


@pytest.fixture
def audience(tenant, intent_data):
    from audiences.models import Audience

    return Audience.objects.create(
        organization=tenant.org, project=tenant.project, name="Browser audience", definition={}
    )


def test_browser_test_connection_shows_checking_then_the_workers_answer(
    page, tenant, password, audience, settings
):
    from exports.models import ConnectionCheck
    from exports.services.connection_checks import connection_check_run
    from exports.services.exports import export_create

    # The hanging server holds each check for its whole deadline: long enough to start on a loaded machine.
    settings.DELIVR_TEST_CONNECTION_DEADLINE_SECONDS = 5
    hanging = HangingServer()
    celery_app.conf.task_always_eager = False  # the check waits for "the worker": this test plays it below
    try:
        export = export_create(
            principal=tenant.principal,
            project_id=tenant.project.id,
            audience_id=audience.id,
            name="CRM webhook",
            destination_type="webhook",
            destination_config={"url": hanging.url("/hook")},
            credentials={"secret": "whsec"},
            field_mapping=MAPPING,
        )
        # Saving queued its own check; the button would reuse it while pending, and it may be too old to start
        # by the time this test plays the worker. The test is about the button's check.
        ConnectionCheck.objects.filter(export=export).delete()
        login(page, tenant.user.email, password)
        for size, (width, height) in SIZES.items():
            page.set_viewport_size({"width": width, "height": height})
            page.goto(f"/exports/{export.id}/")
            page.click("#test-connection")
            page.wait_for_selector("#connection-status >> text=Checking…")
            screenshot(page, f"exports-test-connection-checking-{size}")
            check = ConnectionCheck.objects.filter(export=export).latest("created_at")
            connection_check_run(check_id=str(check.id))
            # the page polls every second or so; the default 15 s timeout is the hang guard (5 s missed at load ~10)
            page.wait_for_selector("#connection-status >> text=could not be reached")
            screenshot(page, f"exports-test-connection-failed-{size}")
        text = page.inner_text("#connection-status")
        assert text.startswith("The webhook did not accept a test request: 127.0.0.1 could not be reached.")
    finally:
        hanging.stop()
        _purge_queue()


def test_browser_export_form_refuses_internal_url_next_to_the_field(
    page, tenant, password, audience, settings
):
    settings.DELIVR_OUTBOUND_ALLOWED_HOSTS = []
    login(page, tenant.user.email, password)
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.goto("/exports/new/")
        page.fill("#id_name", "Metadata grab")
        page.select_option("#id_destination_type", "webhook")
        page.wait_for_selector("#id_cfg_url")
        page.fill("#id_cfg_url", "http://169.254.169.254/latest/meta-data/")
        page.fill("#id_cred_secret", "s")
        page.click("#save-export")
        page.wait_for_selector("#error-url")
        assert page.inner_text("#error-url") == (
            "The webhook URL is not allowed: 169.254.169.254 is a cloud metadata address; "
            "outbound requests to internal addresses are not allowed."
        )
        assert page.get_attribute("#id_cfg_url", "aria-invalid") == "true"
        page.locator("#id_cfg_url").scroll_into_view_if_needed()
        screenshot(page, f"exports-form-internal-url-{size}")
