"""The dashboard works under its Content-Security-Policy: a browser walks the builder, an audience with its
chart, the export form, the campaign charts and the API docs while every CSP violation (the
`securitypolicyviolation` event and Chromium's console report) is recorded; none may occur."""

import pytest

from tests.audiences.conftest import intent_root, intent_settings  # noqa: F401 - fixtures (autouse settings)
from tests.campaigns.factories import make_campaign
from tests.e2e.conftest import BROWSER_TIMEOUT_MS, login, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RECORD_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error("CSP-VIOLATION " + e.violatedDirective + " " + e.blockedURI + " " + (e.sample || ""));
});
"""


@pytest.fixture
def watched(browser, live_server):
    """A page with the CSP enforced (the shared fixture bypasses it), every violation of every navigation
    collected. Predicates are functions: Playwright evals string predicates in the page, which the CSP blocks."""
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(BROWSER_TIMEOUT_MS)
    problems: list[str] = []
    context.add_init_script(RECORD_VIOLATIONS)
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and ("CSP-VIOLATION" in m.text or "Content Security Policy" in m.text)
            else None
        ),
    )
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.set_viewport_size({"width": 1440, "height": 900})
    yield page, problems
    context.close()


def test_dashboard_pages_work_under_the_csp_with_no_violation(watched, tenant, password):
    from audiences.services import audiences as audience_services

    page, problems = watched
    audience = audience_services.audience_create(
        principal=tenant.principal, project_id=tenant.project.id, name="Decision makers", definition={}
    )
    audience_services.audience_build(audience_id=audience.id)  # a second build: the size chart appears
    campaign = make_campaign(tenant.org, days=30, name="Spring Launch")
    login(page, tenant.user.email, password)
    response = page.goto("/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self' 'nonce-" in csp and "unsafe-eval" not in csp

    # the builder: htmx estimate and preview, a filter row added and removed (was an inline onclick)
    page.goto("/audiences/new/")
    page.wait_for_selector("#estimate-records")
    page.click("#add-filter")
    page.wait_for_selector(".filter-row")
    page.click(".filter-row [data-remove-closest]")
    page.wait_for_selector(".filter-row", state="detached")

    # an audience's page draws its size chart with plotly
    page.goto(f"/audiences/{audience.id}/")
    page.wait_for_function("() => document.querySelector('.js-plotly-plot') !== null")

    # the export form: a mapping row added by htmx, then removed (was an inline onclick)
    page.goto("/exports/new/")
    rows = page.locator("#mapping-rows tr")
    before = rows.count()
    page.click("#add-mapping-row")
    page.wait_for_function(f"() => document.querySelectorAll('#mapping-rows tr').length === {before + 1}")
    rows.last.locator("[data-remove-closest]").click()
    page.wait_for_function(f"() => document.querySelectorAll('#mapping-rows tr').length === {before}")

    # campaign charts (plotly.js served locally)
    page.goto("/campaigns/?from=2026-01-01&to=2026-01-31")
    page.wait_for_function("() => document.querySelector('.js-plotly-plot') !== null")
    page.goto(f"/campaigns/{campaign.id}/?from=2026-01-01&to=2026-01-31")
    page.wait_for_function("() => document.querySelectorAll('#charts .js-plotly-plot').length === 2")
    screenshot(page, "csp-campaign-detail")

    # API docs: Swagger UI (its start-up script is a file) and ReDoc (one inline script with the nonce)
    page.goto("/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30000)
    page.goto("/api/redoc/")
    page.wait_for_function(
        "() => !!window.Redoc && (document.querySelector('redoc, #redoc-container')?.children.length || 0) > 0",
        timeout=30000,
    )
    # ReDoc's "powered by" logo from its CDN is blocked on purpose (img-src 'self'): no third-party requests
    unexpected = [p for p in problems if "cdn.redoc.ly" not in p]
    assert not unexpected, unexpected


def test_audience_delete_asks_first_without_an_inline_handler(watched, tenant, password):
    from audiences.models import Audience
    from audiences.services import audiences as audience_services

    page, problems = watched
    audience = audience_services.audience_create(
        principal=tenant.principal, project_id=tenant.project.id, name="Keep me", definition={}
    )
    login(page, tenant.user.email, password)
    page.goto(f"/audiences/{audience.id}/")
    for width, height in ((390, 844), (1440, 900)):
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, f"audience-delete-{width}")
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.click("text=Delete audience")
    assert Audience.objects.filter(pk=audience.pk).exists()  # dismissed: nothing was sent
    assert questions == ["Delete Keep me?"]  # htmx's hx-confirm asked
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click("text=Delete audience")
    page.wait_for_url("**/audiences/")
    assert "Deleted Keep me." in page.content()
    assert not Audience.objects.filter(pk=audience.pk).exists()
    assert not problems, problems
