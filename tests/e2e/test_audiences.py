import csv

import pytest

from audiences.models import Audience, BuildStatus
from tests.audiences.conftest import intent_root, intent_settings  # noqa: F401 - fixtures (autouse settings)
from tests.e2e.conftest import login, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _records(page) -> str:
    return page.locator("#estimate-records").get_attribute("data-value")


def test_browser_builds_audience_with_live_counts_preview_save_and_download(page, tenant, password):
    login(page, tenant.user.email, password)
    page.click("nav >> text=Audiences")
    page.click("#new-audience")
    page.wait_for_selector("#estimate-records")
    before = _records(page)
    assert int(before) > 0

    page.click("#add-filter")
    page.wait_for_selector(".filter-row")
    page.select_option(".filter-row select.row-field", "company_employee_count")
    page.select_option(".filter-row select.row-op", ">=")
    page.fill(".filter-row input.row-value", "1001-5000")
    page.locator(".filter-row input.row-value").press("0")  # keyup -> debounced estimate
    page.locator(".filter-row input.row-value").press("Backspace")
    page.wait_for_function(
        f"(el => !!el && el.dataset.value !== '{before}')(document.querySelector('#estimate-records'))",
        timeout=45000,
    )
    after = int(_records(page))
    assert 0 < after < int(before)

    page.select_option("#preview-limit", "25")
    page.wait_for_function(
        "document.querySelectorAll('#preview-table tbody tr').length === 25", timeout=45000
    )
    heads = page.locator("#preview-table thead th").all_inner_texts()
    assert (
        "Company size (employees)" in heads and "Job title" in heads
    )  # the filters' labels, not column names
    assert not [h for h in heads if "_" in h]
    sizes = page.evaluate(
        "(() => { const heads = [...document.querySelectorAll('#preview-table thead th')].map(th => th.textContent);"
        " const i = heads.indexOf('Company size (employees)');"
        " return [...document.querySelectorAll('#preview-table tbody tr')].map(tr => tr.children[i].textContent); })()"
    )
    assert set(sizes) <= {"1001-5000", "5001-10000", "10001+"}
    page.set_viewport_size({"width": 1440, "height": 900})
    screenshot(page, "audience-builder")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "audience-builder-phone")
    page.set_viewport_size({"width": 1440, "height": 900})

    page.fill("#audience-name", "Browser buyers")
    page.click("#save-audience")
    page.wait_for_url("**/audiences/*/")
    audience = Audience.objects.get(name="Browser buyers")
    assert audience.build_status == BuildStatus.READY and audience.record_count == after
    page.wait_for_selector("#sample-table")
    assert page.locator("#record-count").inner_text() == f"{after:,}"

    page.fill("#record-limit", "5")
    with page.expect_download() as info:
        page.click("#download-audience")
    path = info.value.path()
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5 and all(
        r["company_employee_count"] in ("1001-5000", "5001-10000", "10001+") for r in rows
    )
    screenshot(page, "audience-detail")


def test_browser_when_a_data_file_is_truncated_builder_and_tasks_say_so_in_words(
    page, tenant, password, settings, tmp_path
):
    from audiences.engine.generator import GenerateParams, generate

    root = tmp_path / "data" / "intent"
    generate(str(root), GenerateParams(rows=2000, days=2, prefixes=2, seed=3, start_day="2024-05-01",
                                       first_prefix=100))  # fmt: skip
    first = root / "day=2024-05-01" / "prefix=4eyes_100" / "score=high" / "part-0.parquet"
    first.write_bytes(first.read_bytes()[:100])
    settings.DELIVR_DEMO_DATA = root
    settings.DELIVR_DATA_ROOTS = [str(root.parent)]
    login(page, tenant.user.email, password)  # an admin: sees which file
    for path, name in (("/audiences/new/", "builder-unreadable-data"), ("/tasks/", "tasks-unreadable-data")):
        page.goto(path)
        notice = page.locator("#dataset-unreadable")
        assert "Part of the data could not be read" in notice.inner_text()
        assert "day=2024-05-01/prefix=4eyes_100/score=high/part-0.parquet" in notice.inner_text()
        assert "dataset is empty" not in page.content() and str(root) not in page.content()
        page.set_viewport_size({"width": 1440, "height": 900})
        screenshot(page, name)
        page.set_viewport_size({"width": 390, "height": 844})
        screenshot(page, name + "-phone")
