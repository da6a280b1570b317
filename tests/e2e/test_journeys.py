"""The three browser journeys of issues 8 and 11, one per person, each driven through the UI as that person would,
each saving screenshots at 1440x900 and 390x844 under tests/e2e/artifacts/ (journey-<person>[-<step>]-<width>.png)
once the page does not scroll sideways and no chart text is cut off.

- marketer: sees only their pages in the navigation and, on the home, the export that sent 0 of 497 records as
  failed (red) and yesterday's spend; builds an audience (topic chips, scores, an employee-count range) watching
  the live count, previews, saves and downloads it one row per person and one row per record; configures a
  HubSpot export with a record limit against the local HubSpot stand-in (the official client really calls it),
  dry-runs, runs and reads the per-object results and the run's status in words; opens a campaign, changes the
  date range, reads one rounding of match rates in header, chart and table, downloads the CSV (money with two
  decimals); meets a refused and a missing page (styled, with a way back); finds the day's work on the home.
- admin: the home's members, API clients and cookie setting; adds a project, a member and an API client
  (secret shown once, copied), creates a pixel and copies its snippet, turns cookieless on from Settings (the
  confirmation says what changes) and sees the pixel pending regeneration; imports topic names from a CSV (a bad
  row said and skipped) and sees them in the builder's picker with category and size, an unknown prefix by code.
- support: the home's recent opt-outs and their sources; reads a customer's audience in a sentence and copies
  its ID (never shown); is refused a writers' page in words; finds an identifier that came through the UID2
  webhook (called over HTTP), reads its audit trail and exports the log as CSV.
"""

import re
from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.conftest import login
from tests.e2e.journey_support import (
    csv_lines,
    csv_rows,
    estimate,
    failure_screenshot,
    nav_labels,
    row_with_source,
    screenshots,
    seed_dsp_campaigns,
    seed_failed_hubspot_run,
    stat,
    styled_error,
    wait_for_estimate_change,
)
from tests.exports.standins.fixtures import hubspot_standin  # noqa: F401 - fixture

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HUBSPOT_TARGETS = {  # HubSpot's contact property names
    "email": "email",
    "first_name": "firstname",
    "last_name": "lastname",
    "company_name": "company",
    "job_title": "jobtitle",
}


def _build_audience(page) -> int:
    """Builder: topics, scores, an employee-count range; returns the count shown when saving."""
    page.click("nav.mainnav >> text=Audiences")
    page.click("#new-audience")
    count = estimate(page)
    assert int(count) > 0

    # topics: remove one of the preselected topic chips -> fewer records
    page.locator("#topic-chips .topic-chip .chip-remove").last.click()
    fewer = wait_for_estimate_change(page, count)
    assert 0 < fewer < int(count)
    # scores: add "low" -> more records
    page.check("input[name=scores][value=low]")
    more = wait_for_estimate_change(page, str(fewer))
    assert more > fewer

    # an employee-count range: 1001-5000 .. 10001+ (ranges compare by their order)
    page.click("#add-filter")
    row = page.locator(".filter-row").last
    row.locator("select.row-field").select_option("company_employee_count")
    row.locator("select.row-op").select_option("between")
    row.locator("input.row-value").fill("1001-5000, 10001+")
    row.locator("input.row-value").press("End")  # keyup -> debounced estimate
    large = wait_for_estimate_change(page, str(more))
    assert 0 < large < more
    # narrow the range: the count follows
    row.locator("input.row-value").fill("1001-5000, 5001-10000")
    row.locator("input.row-value").press("End")
    narrower = wait_for_estimate_change(page, str(large))
    assert 0 < narrower < large

    page.select_option("#preview-limit", "25")
    page.wait_for_function("document.querySelectorAll('#preview-table tbody tr').length === 25")
    sizes = page.evaluate(
        "(() => { const heads = [...document.querySelectorAll('#preview-table thead th')].map(th => th.dataset.column);"
        " const i = heads.indexOf('company_employee_count');"
        " return [...document.querySelectorAll('#preview-table tbody tr')].map(tr => tr.children[i].textContent); })()"
    )
    assert set(sizes) <= {"1001-5000", "5001-10000"}, sizes

    page.fill("#audience-name", "Journey large companies")
    page.click("#save-audience")
    page.wait_for_url("**/audiences/*/")
    page.wait_for_selector("#sample-table")
    assert stat(page, "#record-count") == narrower
    return narrower


def _download_audience(page, count: int) -> None:
    """Issue 11 item 7: one row per person by default (the file says so), one row per record on request."""
    profiles = stat(page, "#distinct-count")
    assert 0 < profiles <= count
    assert page.locator("#download-rows").input_value() == "people"
    page.fill("#record-limit", "0")
    with page.expect_download() as info:
        page.click("#download-audience")
    assert "-people-" in info.value.suggested_filename
    people = csv_rows(info.value.path())
    assert len(people) == profiles and len({r["person_id"] for r in people}) == profiles
    assert sum(int(r["intent_frequency"]) for r in people) == count  # each person's records in the audience
    assert {r["company_employee_count"] for r in people} <= {"1001-5000", "5001-10000"}

    page.select_option("#download-rows", "records")
    page.fill("#record-limit", "40")
    with page.expect_download() as info:
        page.click("#download-audience")
    assert "-records-" in info.value.suggested_filename
    path = info.value.path()
    assert csv_lines(path) == 1 + min(40, count)  # header + the limited records
    assert {r["company_employee_count"] for r in csv_rows(path)} <= {"1001-5000", "5001-10000"}


def _hubspot_export(page, standin) -> None:
    page.click("nav.mainnav >> text=Exports")
    page.wait_for_url("**/exports/")
    page.click("#new-export")
    page.wait_for_url("**/exports/new/")
    page.fill("#id_name", "Journey HubSpot export")
    page.select_option("#id_audience", label="Journey large companies (Default)")
    page.select_option("#id_destination_type", "hubspot")
    page.wait_for_selector("#id_cfg_host")
    page.fill("#id_cfg_host", standin.url)
    page.fill("#id_cred_access_token", standin.token)
    page.fill("#id_record_limit_max", "150")
    page.select_option("#id_record_limit_fail_mode", "truncate")
    # the default mapping targets "Email": the dry run says HubSpot needs its own property name
    page.click("#dry-run-button")
    page.wait_for_selector("#dry-run-result [role=alert]")
    assert "HubSpot needs a field mapped to the target 'email'" in page.inner_text("#dry-run-result")
    rows = page.locator("tr.mapping-row")
    for source, target in HUBSPOT_TARGETS.items():  # targets are picked from HubSpot's properties
        row_with_source(rows, source).locator("select[name$=-target]").select_option(target)
    # HubSpot finds (or creates) each contact's company by its domain: map it too
    before = rows.count()
    page.click("#add-mapping-row")
    expect(rows).to_have_count(before + 1)
    rows.nth(before).locator("select[name$=-source]").select_option(label="Company domain")
    rows.nth(before).locator("select[name$=-target]").select_option("company_domain")

    page.click("#dry-run-button")
    page.wait_for_selector("#dry-run-limit")
    assert "would stop after 150 records" in page.inner_text("#dry-run-limit")
    dry_errors = page.inner_text("#dry-run-errors")  # blank emails, in words (the code is for support)
    assert stat(page, "#dry-run-invalid") > 0 and "Required field empty" in dry_errors
    assert "REQUIRED_FIELD_MISSING" not in dry_errors
    assert standin.requests == []  # a dry run never calls the destination

    page.click("#save-export")
    page.wait_for_url("**/exports/*/")
    assert "150 records, truncate" in page.inner_text("#record-limit")
    page.click("#test-connection")
    page.wait_for_selector("#connection-result >> text=Connected")

    page.click("#run-now")
    page.wait_for_function(
        "['completed','completed_with_errors','failed'].includes("
        "document.querySelector('#latest-status')?.dataset.status)",
        timeout=30000,
    )
    assert page.get_attribute("#latest-status", "data-status") == "completed_with_errors"  # the blank emails
    badge = page.locator("#latest-status")  # in words, coloured by meaning (item 10)
    assert badge.inner_text() == "Completed with errors" and "tone-warning" in badge.get_attribute("class")
    # the per-object results match what HubSpot (the stand-in) recorded
    results = {
        cells[0]: [int(c.replace(",", "")) for c in cells[2:6]]  # created, updated, failed, skipped
        for cells in page.eval_on_selector_all(
            "#object-results > tbody > tr",
            "rows => rows.map(r => [...r.children].map(td => td.textContent.trim()))",
        )
        if len(cells) == 7
    }
    assert set(results) == {"Contact", "Company"}, results
    contact, company = results["Contact"], results["Company"]
    assert contact[0] == len(standin.contacts) > 0 and contact[1] == 0
    assert company[0] == len(standin.companies) > 0
    assert len(standin.associations) == len(standin.contacts)  # each contact joined to its company
    # records count once (by contact): processed = exported + failed + duplicates
    assert stat(page, "#latest-total") == 150
    assert stat(page, "#latest-exported") == contact[0]
    assert stat(page, "#latest-failed") == contact[2] > 0
    duplicates = page.locator("#latest-run > div", has_text="Duplicates").locator(".stat").inner_text()
    assert contact[0] + contact[2] + int(duplicates.replace(",", "")) == 150
    page.click("#object-results summary")
    failed_records = page.inner_text("#object-results .record-errors")
    assert "Required field empty" in failed_records and "REQUIRED_FIELD_MISSING" not in failed_records
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", failed_records)  # the person, not the run's id


def _campaign_range(page) -> None:
    page.click("nav.mainnav >> text=Campaigns")
    page.wait_for_url("**/campaigns/**")
    # item 13: the overview charts the selected campaigns' daily spend and impressions together
    page.wait_for_function("document.getElementById('chart-daily')?.data?.length === 2")
    traces = page.evaluate("document.getElementById('chart-daily').data.map(t => [t.name, t.x.length])")
    assert [name for name, _ in traces] == ["Spend (USD)", "Impressions delivered"] and traces[0][1] > 10, (
        traces
    )
    page.click("#campaign-table >> text=Spring Launch — Prospecting")
    page.wait_for_url("**/campaigns/*/**")
    page.wait_for_function("document.querySelectorAll('#charts .js-plotly-plot').length === 2")
    before = page.evaluate("document.getElementById('chart-delivery').data[0].x")
    assert len(before) > 10

    start = (timezone.localdate() - timedelta(days=9)).isoformat()
    page.fill("#range-from", start)
    page.locator("#range-from").dispatch_event("change")
    page.wait_for_function(
        "n => { const el = document.getElementById('chart-delivery');"
        " return !!(el && el.data && el.data[0].x.length !== n); }",
        arg=len(before),
    )
    after = page.evaluate("document.getElementById('chart-delivery').data[0].x")
    assert 0 < len(after) <= 10 and min(after)[:10] >= start
    assert stat(page, "#period-days") == len(after)
    assert f"from={start}" in page.url

    # item 13: one rounding rule for match rates (header, chart, table); the CSV's money has two decimals
    overall = page.locator("#campaign-match-rate").inner_text()
    assert re.fullmatch(r"\d{1,3}\.\d%", overall), overall
    title = page.evaluate("document.getElementById('chart-match').layout.title.text")
    assert f"(overall {overall})" in title, title
    bars = page.evaluate("document.getElementById('chart-match').data[0].text")
    table = page.eval_on_selector_all(
        "#list-table tbody tr", "rows => rows.map(r => r.lastElementChild.textContent.trim())"
    )
    assert table and [bar.split(" of ")[0] for bar in bars] == table, (bars, table)
    with page.expect_download() as info:
        page.click("#campaign-csv")
    daily = csv_rows(info.value.path())
    assert len(daily) == len(after) and all(re.fullmatch(r"\d+\.\d\d", r["spend_usd"]) for r in daily), daily[
        :2
    ]
    screenshots(page, "journey-marketer-campaign")


def _marketer_home_first(page) -> None:
    """Items 8-10: the marketer's navigation; the home says what needs them (the export that sent 0 of 497
    records reads as failed, in red), yesterday's spend, and that there is no audience yet."""
    assert nav_labels(page) == [
        "Dashboard", "Audiences", "Tasks", "Lists", "Exports", "Campaigns", "Pixels", "Settings"
    ]  # fmt: skip
    expect(page.locator("#worker-status")).to_be_visible()  # worker health: one status line
    row = page.locator("#export-attention li", has_text="Webinar leads to HubSpot")
    expect(row.locator(".badge")).to_have_text("Failed")
    assert "tone-failed" in row.locator(".badge").get_attribute("class")
    assert "to HubSpot · 0 of 497 sent" in row.inner_text()
    assert re.fullmatch(r"\$[\d,]+\.\d\d", page.inner_text("#yesterday-spend"))
    assert "No audiences yet" in page.inner_text("#recent-audiences")
    screenshots(page, "journey-marketer-home-first")
    row.locator("a").click()
    page.wait_for_url("**/exports/*/")
    expect(page.locator("#latest-status")).to_have_text("Failed")
    assert "refused by HubSpot" in page.inner_text("#latest-error")


def _refused_and_missing_pages(page) -> None:
    """Item 8: a page the role may not open, and a missing one, are styled pages with the reason and a way back."""
    came_from = page.url
    page.goto("/privacy/", referer=came_from)
    assert "not available to the marketer role" in styled_error(page, 403)
    screenshots(page, "journey-marketer-forbidden")
    page.click("#error-back")
    page.wait_for_url(came_from)
    page.goto("/audiences/00000000-0000-0000-0000-000000000000/")
    styled_error(page, 404)


def _marketer_home_after(page, count: int) -> None:
    """Item 9 after the day's work: the new audience with its size, the export run that needs a look."""
    page.click("nav.mainnav >> text=Dashboard")
    page.wait_for_url("**/")
    audience = page.locator("#recent-audiences tr", has_text="Journey large companies")
    expect(audience.locator(".badge")).to_have_text("Ready")
    assert f"{count:,}" in audience.inner_text()
    run = page.locator("#export-attention li", has_text="Journey HubSpot export")
    expect(run.locator(".badge")).to_have_text("Completed with errors")
    assert "of 150 sent" in run.inner_text()


def test_marketer_journey_builds_audience_exports_to_hubspot_and_reads_campaign_charts(
    page,
    tenant_factory,
    password,
    journey_data,
    hubspot_standin,  # noqa: F811 - the fixture imported above
):
    marketer = tenant_factory(role="marketer")
    seed_dsp_campaigns(marketer.org)
    seed_failed_hubspot_run(marketer)
    login(page, marketer.user.email, password)
    with failure_screenshot(page, "journey-marketer"):
        _marketer_home_first(page)
        count = _build_audience(page)
        _download_audience(page, count)
        _hubspot_export(page, hubspot_standin)
        _campaign_range(page)
        _refused_and_missing_pages(page)
        _marketer_home_after(page, count)
    screenshots(page, "journey-marketer")


def _admin_home(page, mode: str) -> tuple[int, int]:
    """Item 9: the admin's home counts members and API clients and says how pixels collect; returns the counts."""
    page.click("nav.mainnav >> text=Dashboard")
    page.wait_for_url("**/")
    assert mode in page.inner_text("#cookie-setting")
    expect(page.locator("#worker-status")).to_be_visible()
    return stat(page, "#member-count"), stat(page, "#client-count")


def _admin_topic_catalogue(page, tmp_path) -> None:
    """Item 1: the admin imports the organization's topic names from a CSV; the builder shows them by name with
    their category and size in the data, and a prefix the catalogue lacks still by its code."""
    page.click("nav.mainnav >> text=Audiences")
    page.click("#topic-catalogue-link")
    page.wait_for_url("**/audiences/topics/")
    upload = tmp_path / "topics.csv"
    upload.write_text(
        "code,name,category,description\n"
        "4eyes_100,CRM Software,Sales,Tools to manage customer relationships\n"
        "4eyes_101,Marketing Automation,Marketing,\n"
        "4eyes_109,,Sales,\n"
    )
    page.set_input_files("#topic-file", str(upload))
    page.click("#topic-import button.primary")
    result = page.locator("#topic-import-result")
    expect(result).to_contain_text("2 created, 0 updated, 0 unchanged, 1 row skipped")
    assert "Line 4: topic 4eyes_109 has no name." in result.inner_text()  # said, and skipped
    expect(page.locator("#topic-4eyes_100")).to_contain_text("CRM Software")

    page.goto("/audiences/new/")
    page.wait_for_selector("#estimate-records")
    chips = [t.replace("×", "").strip() for t in page.locator("#topic-chips .topic-chip").all_inner_texts()]
    assert chips[:2] == ["CRM Software", "Marketing Automation"] and "4eyes_102" in chips, chips
    page.locator("#topic-search").fill("crm")
    option = page.locator("#topic-listbox [role=option]:not([hidden])")
    expect(option).to_have_count(1)
    assert "Sales · 4eyes_100" in option.inner_text() and "Tools to manage" in option.inner_text()
    assert re.search(r"[\d,]+ rows", option.locator(".opt-size").inner_text())
    page.locator("#topic-search").fill("4eyes_103")
    expect(page.locator("#topic-listbox [role=option]:not([hidden])")).to_contain_text(
        "Not in the topic catalogue"
    )
    screenshots(page, "journey-admin-builder-topics")


def test_admin_journey_adds_project_member_api_client_and_turns_cookieless_on(
    page, tenant, password, journey_data, tmp_path
):
    login(page, tenant.user.email, password)
    assert nav_labels(page) == [
        "Dashboard", "Audiences", "Tasks", "Lists", "Exports", "Campaigns", "Privacy", "Pixels", "Settings"
    ]  # fmt: skip
    with failure_screenshot(page, "journey-admin"):
        members, clients = _admin_home(page, "with cookies")
        _admin_settings_and_pixels(page)
        _admin_topic_catalogue(page, tmp_path)
        # the member and the API client added today count on the home, and pixels collect without cookies
        assert _admin_home(page, "without cookies (cookieless)") == (members + 1, clients + 1)
    screenshots(page, "journey-admin-home")


def _admin_settings_and_pixels(page) -> None:
    page.click("nav.mainnav >> text=Settings")
    page.wait_for_url("**/settings/")

    page.fill("#projects input[name=name]", "Journey project")
    page.click("#projects button.primary")
    page.wait_for_selector("#projects td >> text=Journey project")

    page.fill("#members input[name=email]", "new.member@example.com")
    page.select_option("#members select[name=role]", "support")
    page.fill("#members input[name=first_name]", "New")
    page.fill("#members input[name=last_name]", "Member")
    page.fill("#members input[name=password]", "a-long-initial-password-1")
    page.click("#members button.primary")
    page.wait_for_selector("#members td >> text=new.member@example.com")

    page.fill("#clients input[name=name]", "Journey CRM sync")
    page.click("#clients button.primary")
    secret = page.locator("#new-api-secret").inner_text()
    assert len(secret) == 64
    page.click("#clients button[aria-label='Copy API secret']")
    page.wait_for_selector("#clients button[aria-label='Copy API secret'] >> text=Copied")
    assert page.inner_text("#live-status") == "Copied to the clipboard."
    page.reload()
    assert secret not in page.content()
    assert "Journey CRM sync" in page.locator("#clients").inner_text()
    assert page.locator("#new-api-secret").count() == 0

    page.click("nav.mainnav >> text=Pixels")
    page.fill("#pixel-form input[name=name]", "Journey site")
    page.click("#pixel-form button.primary")
    page.wait_for_selector("#pixels td >> text=Journey site")
    assert page.locator("#pixels .pending").count() == 0
    page.click("#pixels button[aria-label='Copy the snippet of Journey site']")  # item 10
    expect(page.locator("#pixels button[aria-label='Copy the snippet of Journey site']")).to_have_text(
        "Copied"
    )

    page.click("nav.mainnav >> text=Settings")
    page.click("#cookieless-link")  # cookieless mode is reachable from Settings
    page.wait_for_url("**/pixels/settings/")
    assert page.inner_text("#pending-count").startswith("0 pixels")
    confirmations = []
    page.once("dialog", lambda dialog: (confirmations.append(dialog.message), dialog.accept()))
    page.click("#cookies button.primary")
    page.wait_for_selector("#cookies [role=status]")
    assert "cookieless" in page.inner_text("#cookie-mode")
    assert page.inner_text("#pending-count").startswith("1 pixel pending")
    assert "without a visitor id" in confirmations[0]  # the confirmation says what changes

    page.click("text=← Pixels")
    page.wait_for_selector("#pixels .pending")
    assert "Journey site" in page.locator("#pixels tr", has=page.locator(".pending")).inner_text()
    screenshots(page, "journey-admin")


def test_support_journey_finds_uid2_optout_reads_audit_trail_and_exports_csv(
    page, live_server, tenant_factory, password
):
    support = tenant_factory(role="support")
    identifier = "AdvIdJourney+uid2/Token=="
    first = requests.get(
        f"{live_server.url}/api/v1/uid2/optout",
        params={"user": identifier, "optouttime": "2026-03-01T10:00:00Z"},
        timeout=30,
    )
    assert first.status_code == 204, first.text
    again = requests.get(
        f"{live_server.url}/api/v1/uid2/optout",
        params={"user": identifier, "optouttime": "2026-03-01T09:00:00Z"},  # an earlier time: kept
        timeout=30,
    )
    assert again.status_code == 204, again.text

    from audiences.models import Audience

    audience = Audience.objects.create(  # a customer's audience the agent is asked about
        organization=support.org,
        project=support.project,
        name="Customer's CRM buyers",
        definition={"topic_id_prefixes": ["4eyes_100"], "scores": ["high"], "lookback_days": 14},
        build_status="ready",
        record_count=1234,
        distinct_profile_count=1000,
        last_built_at=timezone.now(),
    )
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    login(page, support.user.email, password)
    with failure_screenshot(page, "journey-support"):
        _support_home_and_reads(page, identifier, audience)
        _support_search_trail_and_export(page, identifier)
    screenshots(page, "journey-support")


def _support_home_and_reads(page, identifier: str, audience) -> None:
    """Items 8-10 for support: their navigation and home (recent opt-outs and where they come from), an
    audience read in a sentence with its ID one click away (never shown), a page for writers refused in words."""
    assert nav_labels(page) == [
        "Dashboard",
        "Audiences",
        "Tasks",
        "Exports",
        "Campaigns",
        "Privacy",
        "Settings",
    ]
    recent = page.locator("#recent-optouts tbody tr", has_text=identifier)
    expect(recent).to_contain_text("UID2 webhook")
    expect(page.locator("#optout-sources")).to_contain_text("1 from UID2 webhook")
    screenshots(page, "journey-support-home")

    page.click("nav.mainnav >> text=Audiences")
    page.click(f"text={audience.name}")
    page.wait_for_url(f"**/audiences/{audience.pk}/")
    assert page.inner_text("#audience-summary").startswith(
        "People with high intent for 4eyes_100 in the last 14 days"
    )
    assert page.locator("#audience-actions").count() == 0  # support reads
    assert str(audience.pk) not in page.inner_text("main")
    page.click("button[aria-label='Copy audience ID']")
    expect(page.locator("button[aria-label='Copy audience ID']")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == str(audience.pk)

    page.goto("/lists/", referer=page.url)
    assert "not available to the support role" in styled_error(page, 403)
    page.click("#error-back")
    page.wait_for_url(f"**/audiences/{audience.pk}/")


def _support_search_trail_and_export(page, identifier: str) -> None:
    page.click("nav.mainnav >> text=Privacy")
    page.wait_for_url("**/privacy/")
    page.fill("#registry-search input[name=q]", identifier)
    page.select_option("#registry-search select[name=source]", "uid2_webhook")
    page.click("#registry-search-submit")
    page.wait_for_url("**q=**")
    page.wait_for_function("document.querySelectorAll('#registry-entries tbody tr td code').length === 1")
    assert identifier in page.inner_text("#registry-entries")

    assert identifier in page.inner_text("#audit-log")

    page.click(f"#registry-entries >> text={identifier}")
    page.wait_for_url("**/privacy/identifier/**")
    assert "1 Mar 2026, 09:00:00 UTC" in page.inner_text("#identifier-entries")  # the earlier time won
    events = page.locator("#identifier-events tbody tr")
    assert events.count() == 2
    trail = page.inner_text("#identifier-events")
    assert "Opted out" in trail and "Opt-out time moved earlier" in trail  # actions in words
    assert "uid2 operator" in trail and "127.0.0.1" in trail

    page.go_back()  # back to the search the address bar kept (hx-push-url): a whole page, not the fragment
    page.wait_for_url("**q=**")
    assert page.locator("nav.mainnav").is_visible() and page.locator("#registry-search").is_visible()
    with page.expect_download() as info:
        page.click("#audit-export")
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    rows = csv_rows(download.path())
    assert [r["identifier_value"] for r in rows] == [identifier, identifier]
    assert {r["action"] for r in rows} == {"optout.created", "optout.updated"}
