import pytest

from tests.campaigns.factories import make_campaign
from tests.e2e.conftest import login, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _points(page, chart_id: str) -> int:
    return page.evaluate(f"document.getElementById('{chart_id}').data[0].x.length")


def test_browser_campaign_charts_render_and_follow_the_date_range(page, tenant, password):
    campaign = make_campaign(tenant.org, days=30, name="Spring Launch")
    login(page, tenant.user.email, password)
    page.click("nav >> text=Campaigns")
    page.goto("/campaigns/?from=2026-01-01&to=2026-01-31")
    page.wait_for_function("document.querySelector('.js-plotly-plot') !== null")
    assert page.evaluate("document.querySelector('.js-plotly-plot').data.length > 0")
    assert "Spring Launch" in page.locator("#campaign-table").inner_text()

    page.click("#campaign-table >> text=Spring Launch")
    page.wait_for_url(f"**/campaigns/{campaign.id}/**")
    page.wait_for_function("document.querySelectorAll('#charts .js-plotly-plot').length === 2")
    assert page.evaluate("document.querySelector('.js-plotly-plot').data.length > 0")
    assert _points(page, "chart-delivery") == 30
    assert page.evaluate("document.getElementById('chart-match').data[0].y.length") == 2
    screenshot(page, "campaign-detail")

    page.fill("#range-from", "2026-01-21")
    page.locator("#range-from").dispatch_event("change")
    page.wait_for_function(
        "(() => { const el = document.getElementById('chart-delivery');"
        " return !!(el && el.data && el.data[0].x.length === 10); })()"
    )
    assert page.locator("#period-days").inner_text() == "10"
    assert "from=2026-01-21" in page.url  # hx-push-url keeps the range in the address
    assert "from=2026-01-21" in page.locator("#campaign-csv").get_attribute("href")
    screenshot(page, "campaign-detail-range")
