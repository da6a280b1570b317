"""Building (A or B) and C in the audience builder by keyboard: groups, the any/all toggle, value suggestions,
a hint next to an unfinished condition, 'did you mean' next to a value the data lacks, and the saved audience
keeping its groups. Screenshots at 1440x900 and 390x844."""

import csv
import re

import pyarrow.dataset as ds
import pytest

from audiences.models import Audience
from tests.audiences.conftest import intent_root, intent_settings  # noqa: F401 - fixtures (autouse settings)
from tests.e2e.conftest import login, screenshot
from tests.e2e.journey_support import EMPLOYEE_BUCKETS, chart_text_problems

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
BIG = {"201-500", "501-1000", "1001-5000", "5001-10000", "10001+"}


def _expected(root, prefixes) -> int:
    table = ds.dataset(
        str(root), format="parquet", partitioning="hive", ignore_prefixes=["_", "."]
    ).to_table()
    return sum(
        1
        for r in table.to_pylist()
        if r["prefix"] in prefixes
        and r["score"] in ("high", "medium")
        and str(r["day"]) >= "2024-05-01"
        and r["country"] in ("US", "CA")
        and r["company_employee_count"] in BIG
    )


# Whether the preview holds rows and each is in the US or Canada at a company of one of the given sizes.
PREVIEW_MATCHES = """big => {
  const heads = [...document.querySelectorAll('#preview-table thead th')].map(th => th.dataset.column);
  const country = heads.indexOf('country'), size = heads.indexOf('company_employee_count');
  const rows = [...document.querySelectorAll('#preview-table tbody tr')];
  return country >= 0 && size >= 0 && rows.length > 0 && rows.every(tr =>
    ['US', 'CA'].includes(tr.children[country].textContent.trim())
    && big.includes(tr.children[size].textContent.trim()));
}"""


def _records(page) -> str:
    return page.locator("#estimate-records").get_attribute("data-value")


def _wait_records_change(page, before: str) -> str:
    page.wait_for_function(
        "b => { const el = document.querySelector('#estimate-records'); return !!el && el.dataset.value !== b; }",
        arg=before,
        timeout=45000,
    )
    return _records(page)


def _hint(page, row) -> str:
    key = row.locator("input.row-key").input_value()
    return page.locator(f"#hint-{key}").inner_text()


def test_builder_builds_a_or_b_and_c_by_keyboard_and_saves_the_groups(page, tenant, password, intent_root):  # noqa: F811
    page.set_viewport_size({"width": 1440, "height": 900})
    login(page, tenant.user.email, password)
    page.goto("/audiences/new/")
    page.wait_for_selector("#estimate-records")
    page.fill("#lookback-days", "7")
    page.locator("#lookback-days").press("Tab")
    start = _records(page)

    # A: country = us (lower case finds US), chosen by keyboard
    page.locator("#add-filter").press("Enter")
    page.wait_for_selector(".filter-row")
    a = page.locator(".filter-row").nth(0)
    a.locator("select.row-field").select_option("country")
    value = a.locator("input.row-value")
    value.focus()  # the field's values arrive as suggestions
    datalist = "#values-" + a.locator("input.row-key").input_value()
    page.wait_for_function(f"document.querySelectorAll('{datalist} option').length > 0")
    assert page.locator(f"{datalist} option[value=US]").count() == 1
    assert re.fullmatch(
        r"US · (about )?[\d,]+ rows", page.locator(f"{datalist} option[value=US]").get_attribute("label")
    )
    value.press_sequentially("us")
    after_a = _wait_records_change(page, start)

    # B in the same group: country = usa (no such value: did you mean US?), then fixed to ca
    page.locator(".filter-group").nth(0).locator(".add-condition").press("Enter")
    page.wait_for_function("document.querySelectorAll('.filter-row').length === 2")
    b = page.locator(".filter-row").nth(1)
    assert "Choose a field and a value" in _hint(page, b) or _hint(page, b) == ""
    b.locator("select.row-field").select_option("country")
    page.wait_for_function(
        "k => document.querySelector('#hint-' + k).textContent.includes('Enter a value')",
        arg=b.locator("input.row-key").input_value(),
    )
    b.locator("input.row-value").focus()
    b.locator("input.row-value").press_sequentially("usa")
    key_b = b.locator("input.row-key").input_value()
    page.wait_for_function(
        "k => document.querySelector('#hint-' + k).textContent.includes('did you mean US?')", arg=key_b
    )
    screenshot(page, "builder-filters-did-you-mean-1440")
    b.locator("input.row-value").fill("")
    b.locator("input.row-value").press_sequentially("ca")
    page.wait_for_function("k => document.querySelector('#hint-' + k).textContent === ''", arg=key_b)

    # the group matches any of its conditions: A or B
    group_op = page.locator(".filter-group").nth(0).locator("select.group-op")
    group_op.focus()
    group_op.select_option("or")
    a_or_b = _wait_records_change(page, after_a)  # A or B keeps more than A alone

    # C in its own group: company size at least 201-500
    page.locator("#add-group").press("Enter")
    page.wait_for_function("document.querySelectorAll('.filter-group').length === 2")
    assert page.locator("#filters-op").is_visible()
    c = page.locator(".filter-group").nth(1).locator(".filter-row").nth(0)
    c.locator("select.row-field").select_option("company_employee_count")
    c.locator("select.row-op").select_option(">=")
    c.locator("input.row-value").focus()  # company sizes are suggested in their order, not by frequency
    sizes = "#values-" + c.locator("input.row-key").input_value()
    page.wait_for_function(f"document.querySelectorAll('{sizes} option').length > 1")
    offered = page.eval_on_selector_all(f"{sizes} option", "options => options.map(o => o.value)")
    assert offered == [b for b in EMPLOYEE_BUCKETS if b in offered], offered
    c.locator("input.row-value").press_sequentially("201-500")
    prefixes = page.eval_on_selector_all("input[name=topic_id_prefixes]", "els => els.map(e => e.value)")
    want = final_records = _expected(intent_root, set(prefixes))
    assert want > 0 and str(want) != a_or_b
    # keystrokes give intermediate estimates ("2", "20"...): wait for the one of the whole value
    page.wait_for_function(
        "w => (document.querySelector('#estimate-records') || {dataset: {}}).dataset.value === w",
        arg=str(want),
        timeout=45000,
    )
    assert "in the US or Canada" in page.locator("#estimate").inner_text()
    # the preview follows the groups too: every row shown is (US or CA) and 201+ employees (which rows the
    # preview picks is the engine's business; each one must match)
    page.wait_for_function(PREVIEW_MATCHES, arg=sorted(BIG), timeout=20000)
    screenshot(page, "builder-filters-groups-1440")

    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    screenshot(page, "builder-filters-groups-390")
    page.set_viewport_size({"width": 1440, "height": 900})

    page.fill("#audience-name", "US or Canada, 201+ employees")
    page.click("#save-audience")
    page.wait_for_url("**/audiences/*/")
    saved = Audience.objects.get(name="US or Canada, 201+ employees")
    groups = saved.definition["filters"]["groups"]
    assert len(groups) == 2 and groups[0]["op"] == "or" and len(groups[0]["conditions"]) == 2
    page.goto(f"/audiences/{saved.pk}/edit/")
    assert page.locator(".filter-group").count() == 2 and page.locator(".filter-row").count() == 3

    # size over time: earlier builds (as the demo seeds them) draw the chart and the change since the last
    from datetime import timedelta

    from audiences.models import AudienceBuild

    saved.refresh_from_db()
    for back, records in ((3, final_records - 400), (2, final_records - 150), (1, final_records + 60)):
        AudienceBuild.objects.create(
            audience=saved,
            built_at=saved.last_built_at - timedelta(days=back),
            record_count=records,
            distinct_profile_count=records // 2,
        )
    page.goto(f"/audiences/{saved.pk}/")
    page.wait_for_selector("#chart-audience-size .main-svg")
    assert "records −60" in page.locator("#build-change").inner_text()
    page.select_option("#download-rows", "records")
    with page.expect_download() as info:  # the download keeps the groups: (US or CA) and 201+ employees
        page.click("#download-audience")
    with open(info.value.path(), newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == final_records
    assert {r["country"] for r in rows} <= {"US", "CA"} and {r["company_employee_count"] for r in rows} <= BIG
    screenshot(page, "audience-size-over-time-1440")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_function(  # plotly's responsive relayout after the resize
        "document.querySelector('#chart-audience-size .main-svg').getBoundingClientRect().width"
        " <= window.innerWidth"
    )
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    screenshot(page, "audience-size-over-time-390")
    for width, height in ((390, 844), (1440, 900)):  # drawn at that width: no date or title cut or crowded
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"/audiences/{saved.pk}/")
        page.wait_for_selector("#chart-audience-size .main-svg")
        assert chart_text_problems(page) == []
