"""Issue 11 item 12 in the browser: a ;-separated and a tab-separated upload are read, an import is a sentence
with a link to the refused rows, the report pages them, a failed upload can be dismissed; the Tasks form warns
about an empty date range and explains a SQL error with its position, a task names its columns in words, and
its unloaded outputs download as one archive."""

import csv
import zipfile

import pytest
from playwright.sync_api import expect

from tests.audiences.conftest import intent_root, intent_settings  # noqa: F401 - fixtures (autouse settings)
from tests.e2e.conftest import login, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _upload(page, tmp_path, name: str, content: str) -> None:
    path = tmp_path / f"{name}.csv"
    path.write_text(content)
    page.fill("#list-name", name)
    page.set_input_files("#list-file", str(path))
    page.locator("#list-file").evaluate("f => f.form.requestSubmit()")


def test_browser_list_upload_report_pages_and_failed_upload_is_dismissed(page, tenant, password, tmp_path):
    login(page, tenant.user.email, password)
    page.goto("/lists/")
    bad = "".join(f"x;bad{i}\n" for i in range(105))
    _upload(page, tmp_path, "Semicolon leads", "name;email\nAnn;ann@acme.io\n" + bad)
    row = page.locator("#list-table tr", has_text="Semicolon leads")
    row.locator(".import-summary", has_text="1 of 106 rows imported; 105 invalid").wait_for()
    row.locator(".report-link").click()
    page.wait_for_selector("#report-invalid")
    assert "Rows 1–100 of 105" in page.inner_text("#report-invalid")
    page.click("#pager-invalid >> text=Next")
    page.locator("#report-invalid", has_text="Rows 101–105 of 105").wait_for()
    assert page.locator("#report-invalid tbody tr").count() == 5
    assert "Page 2 of 2" in page.inner_text("#pager-invalid")
    screenshot(page, "list-report-page-2")

    page.goto("/lists/")
    _upload(
        page, tmp_path, "Tab leads", "name\temail\tcompany\nBo\tbo@acme.io\tAcme; Inc\nCy\tcy@acme.io\tBeta\n"
    )
    tabbed = page.locator("#list-table tr", has_text="Tab leads")
    tabbed.locator(".import-summary", has_text="2 of 2 rows imported").wait_for()  # tabs read as tabs
    # item 7: an audience of this email-only list counts, samples and downloads the same two people
    tabbed.locator("button", has_text="Create audience").click()
    page.wait_for_url("**/audiences/*/")
    expect(page.locator("#build-status")).to_have_text("Ready", timeout=30000)
    assert page.inner_text("#record-count") == "2" and page.inner_text("#distinct-count") == "2"
    expect(page.locator("#sample-table tbody tr")).to_have_count(2)
    with page.expect_download() as info:
        page.click("#download-audience")
    with open(info.value.path(), newline="", encoding="utf-8") as fh:
        people = list(csv.DictReader(fh))
    assert sorted(r["email"] for r in people) == ["bo@acme.io", "cy@acme.io"]
    page.goto("/lists/")

    _upload(page, tmp_path, "No identifiers", "name;city\nAnn;Paris\n")
    failed = page.locator("#list-table tr", has_text="No identifiers")
    failed.locator(".error").wait_for()
    page.once("dialog", lambda dialog: dialog.accept())
    failed.locator("button", has_text="Dismiss").click()
    page.locator("#list-table tr", has_text="No identifiers").wait_for(state="detached")
    assert page.locator("#list-table tr", has_text="Semicolon leads").count() == 1


def test_browser_task_form_warns_on_empty_range_and_explains_sql_errors(page, tenant, password):
    login(page, tenant.user.email, password)
    page.goto("/tasks/")
    page.fill("#id_start_day", "2023-01-01")
    page.fill("#id_end_day", "2023-01-02")
    page.select_option("#id_topic_id_prefixes", "4eyes_101")
    page.click("#task-form button[type=submit]")
    page.wait_for_selector("#task-form .error")
    assert "There is no data from 1 Jan 2023 to 2 Jan 2023" in page.inner_text("#task-form")

    page.fill("#id_start_day", "2024-05-01")
    page.fill("#id_end_day", "2024-05-01")
    page.select_option("#id_topic_id_prefixes", "4eyes_101")
    page.fill("#id_where_expr", "country = 'US' AND AND score = 'high'")
    page.click("#task-form button[type=submit]")
    error = page.locator("#where-expr-error")
    error.wait_for()
    assert "line 1, character" in error.inner_text()
    assert "sqlglot" not in error.inner_text() and "<class" not in error.inner_text()

    page.fill("#id_where_expr", "")
    page.select_option("#id_topic_id_prefixes", "4eyes_101")
    page.fill("#id_select", "person_id, company_employee_count")
    page.click("#task-form button[type=submit]")
    page.wait_for_selector("#task-columns")
    assert page.inner_text("#task-columns") == "Person ID, Company size (employees)"

    # unloaded, the task's outputs come as one archive ("Download all")
    page.click("#unload-button")
    page.wait_for_selector("#download-all")
    files = int(page.inner_text("#download-all").split("(")[1].split()[0])
    with page.expect_download() as info:
        page.click("#download-all")
    assert info.value.suggested_filename.endswith(".zip")
    names = zipfile.ZipFile(info.value.path()).namelist()
    assert len(names) == files > 0 and all(n.endswith(".parquet") for n in names), names
    screenshot(page, "task-unloaded-download-all")


def test_browser_copy_button_copies_the_pixel_snippet(page, tenant, password):
    """Issue 11 item 10: a copy button for pixel snippets (the API key/secret one is in the admin journey)."""
    from pixels.services import pixel_create

    pixel = pixel_create(organization=tenant.org, name="Checkout")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    login(page, tenant.user.email, password)
    page.goto("/pixels/")
    button = page.locator("button[aria-label='Copy the snippet of Checkout']")
    button.click()
    page.wait_for_selector("button[aria-label='Copy the snippet of Checkout'] >> text=Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("<script async src=") and f"{pixel.id}.js" in copied
