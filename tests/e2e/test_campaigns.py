import pytest

from tests.campaigns.factories import make_campaign
from tests.e2e.conftest import login, screenshot
from tests.e2e.journey_support import chart_text_problems

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


def _no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_browser_campaign_filter_searches_and_long_names_are_not_clipped(page, tenant, password):
    from tests.campaigns.factories import make_account

    account = make_account(tenant.org, "acc-long")
    long_name = "Q3 Enterprise retargeting — North America — CRM software intenders (high intent)"
    make_campaign(tenant.org, days=20, account=account, name=long_name)
    make_campaign(tenant.org, days=20, account=account, name="Spring Launch")
    make_campaign(tenant.org, days=20, account=account, name="Summer Webinar Promo")
    login(page, tenant.user.email, password)
    page.goto("/campaigns/?from=2026-01-01&to=2026-01-31")
    page.wait_for_function("document.querySelectorAll('#charts .js-plotly-plot').length === 3")

    # The axis shows the shortened name inside the chart's own box (plotly's automargin, no clipping).
    labels = page.evaluate(
        "Array.from(document.querySelectorAll('#chart-spend .ytick text')).map(t => t.textContent)"
    )
    assert any(label.startswith("Q3 Enterprise") and label.endswith("…") for label in labels)
    box = page.evaluate(
        "(() => { const chart = document.getElementById('chart-spend').getBoundingClientRect();"
        " return Array.from(document.querySelectorAll('#chart-spend .ytick text')).every(t => {"
        " const r = t.getBoundingClientRect(); return r.left >= chart.left - 1; }); })()"
    )
    assert box
    screenshot(page, "campaigns-overview-1440")

    page.fill("#campaign-search", "spring")
    visible = page.evaluate(
        "Array.from(document.querySelectorAll('#campaign-filter option')).filter(o => !o.hidden).map(o => o.text)"
    )
    assert visible == ["Spring Launch"]
    assert page.locator("#campaign-search-status").inner_text() == "1 of 3 campaigns match"
    page.select_option("#campaign-filter", label="Spring Launch")
    page.wait_for_function(
        "(() => { const el = document.getElementById('chart-spend');"
        " return !!(el && el.data && el.data[0].y.length === 1); })()"
    )
    assert "Spring Launch" in page.locator("#campaign-table").inner_text()
    assert long_name not in page.locator("#campaign-table").inner_text()

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/campaigns/?from=2026-01-01&to=2026-01-31")
    page.wait_for_function("document.querySelectorAll('#charts .js-plotly-plot').length === 3")
    assert _no_sideways_scroll(page)
    screenshot(page, "campaigns-overview-390")
    page.goto("/campaigns/?from=2025-01-01&to=2025-01-31")
    assert page.locator("#charts-empty").is_visible()
    assert _no_sideways_scroll(page)
    screenshot(page, "campaigns-overview-empty-390")


def test_browser_campaign_charts_on_a_phone_are_neither_clipped_nor_crowded(page, tenant, password):
    from campaigns.models import CampaignList

    long_name = "Q3 Enterprise retargeting — North America — CRM software intenders (high intent)"
    campaign = make_campaign(tenant.org, days=45, name=long_name)
    make_campaign(tenant.org, days=40, name="Spring Launch")
    CampaignList.objects.create(
        campaign=campaign,
        external_id="l3",
        list_name="Webinar registrants from the North America spring series (all sessions)",
        identifiers_count=72370,
        matched_count=48139,
    )
    login(page, tenant.user.email, password)
    problems = []
    for width, height in ((390, 844), (1440, 900)):
        page.set_viewport_size({"width": width, "height": height})
        for name, url in (
            ("campaigns-overview", "/campaigns/"),
            ("campaign-detail", f"/campaigns/{campaign.id}/"),  # delivery, CPM trend and match rate
        ):
            page.goto(url + "?from=2026-01-01&to=2026-02-14")
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length === 3")
            problems += [f"{name} at {width}: {p}" for p in chart_text_problems(page)]
            if not _no_sideways_scroll(page):
                problems.append(f"{name} at {width} scrolls sideways")
            screenshot(page, f"{name}-45-days-{width}")
    assert problems == [], "\n".join(problems)
