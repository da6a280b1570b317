"""Data and helpers of the browser journeys (tests/e2e/test_journeys.py): a small intent dataset, DSP campaigns
synced from the built-in simulator, the UID2 webhook called over HTTP, and waits on what a person would watch.

The fixtures are registered in tests/conftest.py's `pytest_plugins` (none is autouse).
"""

from __future__ import annotations

import contextlib
import csv
import io
from pathlib import Path

import pytest

from audiences.engine.generator import GenerateParams, generate

JOURNEY_PARAMS = GenerateParams(rows=6000, days=3, prefixes=4, seed=23, start_day="2024-05-01")
EMPLOYEE_BUCKETS = ("1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000", "5001-10000", "10001+")


@pytest.fixture(scope="session")
def journey_intent_root(tmp_path_factory) -> Path:
    """A deterministic intent tree (3 days x 4 topic prefixes x 3 scores, 6,000 rows) shared by the session."""
    root = tmp_path_factory.mktemp("journeys") / "intent"
    generate(str(root), JOURNEY_PARAMS)
    return root


@pytest.fixture
def journey_data(settings, journey_intent_root, tmp_path) -> Path:
    """The session's journey tree as the default dataset (see tests.e2e.conftest.use_data)."""
    from tests.e2e.conftest import use_data

    return use_data(settings, journey_intent_root, tmp_path / "media")


def seed_dsp_campaigns(organization):
    """A DelivrDSP account synced from the simulator (six campaigns with daily rows ending today)."""
    from campaigns.dsp.simulator import SimulatorDspClient
    from campaigns.services import campaign_sync_now, dsp_account_create

    account = dsp_account_create(organization=organization, name="Journey DSP", external_id="journey-dsp-1")
    sync = campaign_sync_now(account=account, client=SimulatorDspClient(), triggered_by="journey test")
    assert sync.status == "succeeded", (sync.status, getattr(sync, "error", ""))
    return account


def stat(page, selector: str) -> int:
    """The integer a stat element shows ("1,234" -> 1234)."""
    return int(page.locator(selector).inner_text().strip().replace(",", ""))


def wait_for_estimate_change(page, before: str, timeout: float = 45000) -> int:
    """Waits until the live estimate shows another record count than `before`; returns the new count."""
    page.wait_for_function(
        "before => { const el = document.querySelector('#estimate-records');"
        " return !!el && el.dataset.value !== before; }",
        arg=before,
        timeout=timeout,
    )
    return int(page.locator("#estimate-records").get_attribute("data-value"))


def estimate(page) -> str:
    page.wait_for_selector("#estimate-records")
    return page.locator("#estimate-records").get_attribute("data-value")


def csv_rows(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(io.StringIO(fh.read())))


def csv_lines(path) -> int:
    with open(path, encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip())


@contextlib.contextmanager
def failure_screenshot(page, name: str):
    """Saves `<name>-failed.png` next to the journey screenshots when the journey fails, then re-raises."""
    from tests.e2e.conftest import screenshot

    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            screenshot(page, f"{name}-failed")
        raise


def row_with_source(rows, source: str):
    """The export mapping row whose Source select holds ``source`` now (its value, not its markup)."""
    for index in range(rows.count()):
        row = rows.nth(index)
        if row.locator("select[name$=-source]").input_value() == source:
            return row
    raise AssertionError(f"no mapping row has the source {source!r}")


# Every text plotly drew in a chart (tick labels, axis titles, the title, the legend) as boxes: each must lie
# inside the chart's own box (not clipped) and no two may overlap (not crowded).
CHART_TEXT_PROBLEMS = """(chartId) => {
  const chart = document.getElementById(chartId);
  const box = chart.getBoundingClientRect();
  const texts = Array.from(chart.querySelectorAll(
    '.xtick text, .ytick text, .x2tick text, .y2tick text, .g-xtitle text, .g-x2title text, .g-ytitle text,'
    + ' .g-y2title text, .gtitle, .legendtext'
  )).filter(t => t.textContent.trim() && t.getBoundingClientRect().width > 0);
  const problems = [];
  const rects = texts.map(t => [t.textContent.trim(), t.getBoundingClientRect()]);
  for (const [text, r] of rects) {
    if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1) {
      problems.push(`${chartId}: '${text}' is cut off`);
    }
  }
  for (let i = 0; i < rects.length; i++) {
    for (let j = i + 1; j < rects.length; j++) {
      const [a, ra] = rects[i], [b, rb] = rects[j];
      const w = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
      const h = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
      if (w > 1 && h > 1) problems.push(`${chartId}: '${a}' overlaps '${b}'`);
    }
  }
  return problems;
}"""


def chart_text_problems(page) -> list[str]:
    """What is cut off or drawn over in the page's plotly charts (empty when every text is clear)."""
    ids = page.evaluate("Array.from(document.querySelectorAll('.js-plotly-plot')).map(c => c.id)")
    return [problem for chart in ids for problem in page.evaluate(CHART_TEXT_PROBLEMS, chart)]


VIEWPORTS = {1440: {"width": 1440, "height": 900}, 390: {"width": 390, "height": 844}}
NARROW_CHART = 560  # campaigns/charts.js draws a chart narrower than this with its phone layout


def screenshots(page, name: str) -> list[Path]:
    """The page as it is now at a phone and a desktop viewport (<name>-390.png, <name>-1440.png), each once it
    does not scroll sideways and its charts are drawn for that width (a timeout when that never happens),
    with no chart text cut off or drawn over; the viewport is left at 1440."""
    from tests.e2e.conftest import screenshot

    paths = []
    for width in (390, 1440):
        page.set_viewport_size(VIEWPORTS[width])
        page.wait_for_function(  # plotly relayouts a moment after a resize: wait for it, not a fixed time
            """([width, narrow]) => document.documentElement.clientWidth === width
              && document.documentElement.scrollWidth <= window.innerWidth
              && Array.from(document.querySelectorAll('[data-figure]')).every(el =>
                   (el.dataset.narrow === '1') === (el.clientWidth < narrow))""",
            arg=[width, NARROW_CHART],
            timeout=45000,
        )
        assert chart_text_problems(page) == [], f"{name} at {width}"
        paths.append(screenshot(page, f"{name}-{width}"))
    return paths


def nav_labels(page) -> list[str]:
    """The main navigation's entries as the person reads them."""
    return [text.strip() for text in page.locator("nav.mainnav a").all_inner_texts()]


def styled_error(page, status: int) -> str:
    """The styled error page in the whole layout (issue 11 item 8): its code, a way back; returns its reason."""
    from playwright.sync_api import expect

    expect(page.locator(".error-code")).to_have_text(f"Error {status}")
    assert page.locator("nav.mainnav").is_visible() and page.locator("#error-home").is_visible()
    return page.locator("#error-reason").inner_text()


def seed_failed_hubspot_run(member):
    """An export whose last run sent 0 of 497 records to HubSpot, every one refused (stored as the worker
    stores it: completed_with_errors), which every page must show as failed."""
    from exports.models import Export, ExportRun

    export = Export.objects.create(
        organization=member.org,
        project=member.project,
        name="Webinar leads to HubSpot",
        destination_type="hubspot",
    )
    ExportRun.objects.create(
        export=export,
        organization=member.org,
        status="completed_with_errors",
        records_total=497,
        records_failed=497,
        error="497 records were refused by HubSpot.",
    )
    return export
