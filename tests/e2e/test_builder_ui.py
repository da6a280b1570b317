"""The audience builder as a marketer uses it: the topic picker by keyboard, the sentence summary, the
"Updating…" state while an estimate is in flight, a failed estimate in words, and the phone's sticky estimate.

Slow and failing estimates are made deterministic at the browser's network layer (page.route holds or fails
the estimate request), so there is no sleep and no server change for the test.
"""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from audiences.services.topics import topic_import
from tests.audiences.conftest import intent_root, intent_settings  # noqa: F401 - fixtures (autouse settings)
from tests.e2e.conftest import login, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DEMO_TOPICS = (Path(__file__).resolve().parents[2] / "audiences" / "demo_topics.csv").read_bytes()
ESTIMATE = "**/audiences/builder/estimate/"


@pytest.fixture
def builder(page, tenant, password):
    topic_import(content=DEMO_TOPICS)
    page.set_viewport_size({"width": 1440, "height": 900})
    login(page, tenant.user.email, password)
    page.goto("/audiences/new/")
    page.wait_for_selector("#estimate-records")
    page.wait_for_selector("#preview-table")
    return page


def _wait_sentence(page, text: str) -> None:
    page.wait_for_function(
        "t => (document.querySelector('#estimate .summary-sentence') || {}).textContent?.includes(t)",
        arg=text,
    )


def test_topic_picker_by_keyboard_filters_selects_and_removes_chips(builder):
    page = builder
    # the new builder starts with the first three topics of the data, named from the catalogue
    chips = page.locator("#topic-chips .topic-chip")
    assert chips.all_inner_texts() == [
        "CRM Software\n×",
        "Marketing Automation\n×",
        "Sales Engagement\n×",
    ] or [t.replace("\n", "") for t in chips.all_inner_texts()] == [
        "CRM Software×",
        "Marketing Automation×",
        "Sales Engagement×",
    ]
    _wait_sentence(page, "for CRM Software, Marketing Automation or Sales Engagement")

    search = page.locator("#topic-search")
    search.focus()
    assert search.get_attribute("aria-expanded") == "true"
    search.press_sequentially("data")
    names = page.locator("#topic-listbox [role=option]:not([hidden]) .opt-name").all_inner_texts()
    assert [n.lstrip("✓ ") for n in names] == ["Customer Data Platforms"]
    search.fill("")
    search.press_sequentially("sales")  # by category: CRM Software and Sales Engagement
    visible = page.locator("#topic-listbox [role=option]:not([hidden])")
    assert visible.count() == 2
    search.press("ArrowDown")
    active_id = search.get_attribute("aria-activedescendant")
    assert page.locator(f"#{active_id}").get_attribute("data-name") == "Sales Engagement"
    screenshot(page, "builder-topic-picker-1440")
    search.press("Enter")  # Sales Engagement was selected: Enter toggles it off
    _wait_sentence(page, "for CRM Software or Marketing Automation in the last 7 days")
    search.fill("")
    search.press_sequentially("4eyes_103")  # unknown to the catalogue? no: by code
    search.press("Enter")
    _wait_sentence(page, "for CRM Software, Marketing Automation or Customer Data Platforms")
    search.press("Escape")
    assert search.get_attribute("aria-expanded") == "false"

    # chips removable by keyboard: Backspace in the empty search moves to the last chip, Delete removes it
    search.fill("")
    search.press("Backspace")
    focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused == "Remove Customer Data Platforms"
    page.keyboard.press("Delete")
    page.keyboard.press("Enter")  # the focus moved to the previous chip's button: Enter removes it too
    _wait_sentence(page, "for CRM Software in the last 7 days")
    page.keyboard.press("Enter")
    _wait_sentence(page, "for any topic in the last 7 days")
    assert page.locator("#all-topics").is_visible()

    # topic sizes follow the time window (the estimate refreshes them)
    size = page.locator('#topic-listbox .opt-size[data-code="4eyes_100"]')
    week = size.text_content()
    page.fill("#lookback-days", "1")
    page.locator("#lookback-days").press("Tab")
    page.wait_for_function(
        "t => document.querySelector('#topic-listbox .opt-size[data-code=\"4eyes_100\"]').textContent !== t",
        arg=week,
    )
    assert int(size.text_content().split()[0].replace(",", "")) < int(week.split()[0].replace(",", ""))
    assert page.locator("#estimate .summary-chips").inner_text().startswith("All topics")
    assert int(page.locator("#estimate-records").get_attribute("data-value")) > 0


def test_estimate_in_flight_is_marked_updating_then_final(builder):
    page = builder
    indicator = page.locator("#estimate-updating")
    assert not indicator.is_visible()
    held = []
    page.route(ESTIMATE, lambda route: held.append(route))
    page.check("input[name=scores][value=low]")
    page.wait_for_function("document.querySelector('#estimate-panel').classList.contains('htmx-request')")
    assert indicator.is_visible() and indicator.inner_text() == "Updating…"
    # dimmed (after its short fade)
    page.wait_for_function("getComputedStyle(document.querySelector('#estimate .stats')).opacity < 0.5")
    screenshot(page, "builder-updating-1440")
    assert len(held) == 1
    held[0].continue_()
    page.unroute(ESTIMATE)
    page.wait_for_function("!document.querySelector('#estimate-panel').classList.contains('htmx-request')")
    assert not indicator.is_visible()
    _wait_sentence(page, "People with any intent")


def test_failed_estimate_says_why_and_preview_does_not_claim_no_rows(builder):
    page = builder
    page.route(ESTIMATE, lambda route: route.fulfill(status=500, body="boom"))
    page.check("input[name=scores][value=low]")
    page.wait_for_selector("#estimate-error")
    assert "could not be counted" in page.locator("#estimate-error").inner_text()
    assert page.locator("#preview-blocked").is_visible()
    assert "No rows match" not in page.locator("#preview").inner_text()
    page.unroute(ESTIMATE)

    # typing dates selects the date range; reversed dates are explained next to the window
    page.fill("#date-from", "2024-05-04")
    expect(page.locator("#window-range")).to_be_checked()
    page.fill("#date-to", "2024-05-02")
    page.wait_for_function("document.querySelector('#error-window').textContent.includes('before the start')")
    assert page.locator("#error-window").inner_text() == "The end date is before the start date."
    assert "definition." not in page.locator("#estimate").inner_text()
    assert page.locator("#preview-blocked").is_visible()
    screenshot(page, "builder-error-1440")
    page.fill("#date-to", "2024-05-04")
    _wait_sentence(page, "on 4 May 2024")
    assert page.locator("#error-window").inner_text() == ""
    page.wait_for_selector("#preview-table")


def test_builder_uses_the_width_of_a_desktop_page(builder):
    """Issue 11 item 11: at 1440 px the form and the estimate beside it span the page (not a narrow column)."""
    page = builder
    width = page.evaluate("document.documentElement.clientWidth")
    form = page.locator("#builder-form").bounding_box()
    side = page.locator("#estimate-panel").bounding_box()
    assert side["x"] > form["x"] + form["width"] - 1  # the estimate beside the form, not under it
    assert side["x"] + side["width"] - form["x"] >= 0.9 * width
    assert page.locator("#preview-table").bounding_box()["width"] >= 0.45 * width


def test_phone_keeps_the_estimate_visible_while_editing(builder):
    page = builder
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator("#window-picker").scroll_into_view_if_needed()
    page.click("#window-range")
    box = page.locator("#estimate-panel").bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= 844 + 1
    assert page.locator("#estimate-records").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(Path(__file__).parent / "artifacts" / "builder-sticky-390.png"))
    screenshot(page, "builder-390")
    # the topic list on a phone: over the form, above the sticky estimate
    page.locator("#topic-picker").scroll_into_view_if_needed()
    page.locator("#topic-search").focus()
    page.locator("#topic-search").press_sequentially("ma")
    assert page.locator("#topic-listbox").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(Path(__file__).parent / "artifacts" / "builder-picker-390.png"))


def test_audience_pages_and_export_form_show_the_sentence(builder, tenant):
    from audiences.models import Audience

    page = builder
    grouped = {
        "topic_id_prefixes": ["4eyes_100", "4eyes_101"],
        "scores": ["high", "medium"],
        "lookback_days": 14,
        "filters": {
            "op": "and",
            "groups": [
                {
                    "op": "or",
                    "conditions": [
                        {"field": "country", "op": "=", "value": "US"},
                        {"field": "country", "op": "=", "value": "CA"},
                    ],
                },
                {"field": "company_employee_count", "op": "between", "value": ["51-200", "201-500"]},
            ],
        },
    }
    audience = Audience.objects.create(
        organization=tenant.org, project=tenant.project, name="North American buyers", definition=grouped
    )
    sentence = (
        "People with high or medium intent for CRM Software or Marketing Automation in the last 14 days, "
        "in the US or Canada, at companies of 51–500 employees."
    )
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        for url, name in (
            ("/audiences/", "audience-list"),
            (f"/audiences/{audience.pk}/", "audience-detail-summary"),
            ("/exports/new/", "export-form-summary"),
        ):
            page.goto(url)
            text = page.locator("main").inner_text()
            assert sentence in text and "topic_id_prefixes" not in text and "{'" not in text
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            screenshot(page, f"{name}-{width}")


def test_builder_with_topic_list_open_has_no_serious_accessibility_violation(builder):
    from axe_playwright_python.sync_playwright import Axe

    page = builder
    page.locator("#topic-search").focus()
    page.locator("#topic-search").press("ArrowDown")
    expect(page.locator("#topic-listbox")).to_be_visible()
    results = Axe().run(page)
    serious = [
        (v["id"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == []


def test_builder_sentence_follows_conditions_and_any_groups(builder):
    page = builder
    page.click("#add-filter")
    row = page.locator(".filter-row").last
    row.locator("select.row-field").select_option("country")
    row.locator("select.row-op").select_option("=")
    row.locator("input.row-value").fill("US")
    row.locator("input.row-value").press("End")
    _wait_sentence(page, "in the last 7 days, in the US.")
    page.locator(".filter-group .group-op").select_option("or")
    page.click(".filter-group .add-condition")
    page.wait_for_function("document.querySelectorAll('.filter-row').length === 2")
    row = page.locator(".filter-row").last
    row.locator("select.row-field").select_option("country")
    row.locator("select.row-op").select_option("=")
    row.locator("input.row-value").fill("CA")
    row.locator("input.row-value").press("End")
    _wait_sentence(page, "in the last 7 days, in the US or Canada.")
    assert "In the US or Canada" in page.locator("#estimate .summary-chips").inner_text()
    screenshot(page, "builder-groups-sentence-1440")
