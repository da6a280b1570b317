"""Every page, for each role, at a desktop (1440x900) and a phone (390x844) viewport — the login page, the edit
pages and the styled 403, 404 and 500 pages included: axe-core finds no serious
or critical violation, the page does not scroll sideways, no table header or cell splits a word across lines
on the phone, and a screenshot lands in tests/e2e/artifacts/
(ux-<role>-<page>-<viewport>.png). One browser, one login per role; data from the apps' demo seeds on the small
journey dataset."""

import io
import re
import time
from datetime import date
from urllib.parse import quote

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings

from tests.e2e.conftest import BROWSER_TIMEOUT_MS, login, screenshot
from tests.e2e.journey_support import styled_error

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
BLOCKING = ("serious", "critical")


def _seed() -> dict:
    """The demo organization (admin, marketer, support) with the apps' demo data, plus a task and a failed
    HubSpot run; returns the ids the detail pages need."""
    from accounts.selectors import principal_for_user
    from audiences.demo import DEMO_LIST_NAME, seed_audiences, seed_topics
    from audiences.models import Audience, ContactList, TaskKind
    from audiences.services.tasks import task_create
    from audiences.services.topics import topic_override_save
    from campaigns import demo as campaigns_demo
    from campaigns.models import Campaign
    from delivr_admin.management.commands.seed_demo import DemoContext, ensure_demo_accounts
    from exports import demo as exports_demo
    from exports.models import Export, ExportRun
    from pixels import demo as pixels_demo
    from privacy import demo as privacy_demo
    from privacy.models import OptOut

    org, project, admin = ensure_demo_accounts()
    context = DemoContext(organization=org, project=project, admin=admin, stdout=io.StringIO())
    seed_topics()
    topic_override_save(
        organization=org,
        code="4eyes_101",
        name="Marketing Ops Tools",
        category="Ops",
        actor="user:" + admin.email,
    )
    seed_audiences(context)
    for module in (exports_demo, campaigns_demo, privacy_demo, pixels_demo):
        module.seed(context)
    principal = principal_for_user(admin, org.id)
    task = task_create(
        principal=principal,
        kind=TaskKind.INTENT_HIVE,
        input_path=None,
        days=[date(2024, 5, 1)],
        topic_id_prefixes=["4eyes_101"],
        scores=["high"],
        perform_unload=True,
        project=project,
        request_data={"days": ["2024-05-01"], "topic_id_prefixes": ["4eyes_101"], "scores": ["high"]},
    )
    hubspot = Export.objects.create(
        organization=org, project=project, name="HubSpot contacts", destination_type="hubspot"
    )
    run = ExportRun.objects.create(
        export=hubspot,
        organization=org,
        status="completed_with_errors",
        records_total=497,
        records_failed=497,
        error="497 records were refused by HubSpot.",
    )
    # the failed records as a run stores them: keyed "<run id>:<record key>", with the mapping's and the
    # CRM's codes (one the product has no words for), the last error as "CODE: message"
    errors = [
        {"key": f"{run.pk}:p-100{i}", "code": code, "message": message}
        for i, (code, message) in enumerate(
            [
                ("REQUIRED_FIELD_MISSING", "email is required"),
                ("INVALID_EMAIL_FORMAT", "email is not a valid email address (missing @ or .)"),
                ("VALIDATION_ERROR", "Property values were not valid"),
                ("SOME_NEW_CRM_CODE", "HubSpot refused the contact"),
            ]
        )
    ]
    run.object_type_results = {
        "Contact": {
            "object_type": "Contact",
            "operation": "upsert",
            "records_failed": 497,
            "error_message": "SOME_NEW_CRM_CODE: HubSpot refused the contact",
            "errors": errors,
        }
    }
    run.save(update_fields=["object_type_results"])
    _failed_sync(org, admin)
    failed = _failed_audience(org, project)
    return {
        "failed_audience": failed.pk,
        "audience": Audience.objects.filter(project=project).order_by("name").first().pk,
        "export": Export.objects.filter(project=project).exclude(pk=hubspot.pk).order_by("name").first().pk,
        "failed_export": hubspot.pk,
        "campaign": Campaign.objects.filter(organization=org).order_by("name").first().pk,
        "task": task.pk,
        "list": ContactList.objects.get(project=project, name=DEMO_LIST_NAME).pk,
        "optout": OptOut.objects.filter(organization=org).order_by("value").first(),
    }


def _failed_sync(org, admin) -> None:
    """A DSP sync a member started that failed as the worker stores it: the exception's class and the path."""
    from django.utils import timezone

    from campaigns.models import CampaignSync, DspAccount, SyncStatus

    CampaignSync.objects.create(
        organization=org,
        account=DspAccount.objects.filter(organization=org).first(),
        status=SyncStatus.FAILED,
        triggered_by=f"user:{admin.email}",
        finished_at=timezone.now(),
        error="DspError: DelivrDSP unreachable on GET /v1/accounts/acme/campaigns: connection refused",
    )


def _failed_audience(org, project):
    """An audience whose last build failed on unreadable data: words for everyone, the raw text for support."""
    from audiences import engine
    from audiences.models import Audience
    from audiences.wording import build_error_words

    exc = engine.UnreadableFileError("day=2024-05-01/prefix=4eyes_100/score=high/part-0.parquet")
    return Audience.objects.create(
        organization=org,
        project=project,
        name="Failed build",
        definition={"lookback_days": 7},
        build_status="failed",
        build_error=build_error_words(exc),
        build_error_detail=str(exc),
    )


def _failed_build_problems(page, role: str) -> list[str]:
    """A failed build reads in words; only admins and support get the engine's message (collapsed)."""
    words = page.locator("#build-error").inner_text()
    problems = [] if "could not be counted" in words else [f"build error not in words: {words!r}"]
    shown = page.locator("#build-error-detail").count() > 0
    if shown != (role in ("admin", "support")):
        problems.append(f"support details {'shown' if shown else 'missing'} for {role}")
    if role == "marketer" and "parquet" in page.inner_text("body").lower():
        problems.append("the marketer sees the file name")
    return problems


def _pages(ids: dict) -> list[tuple[str, str, str]]:
    """(name, path, section) of every dashboard page; a page shows for a role when its section is in that
    role's navigation (None: every member)."""
    return [
        ("home", "/", None),
        ("audiences", "/audiences/", "/audiences/"),
        ("audience-new", "/audiences/new/", "/audiences/new/"),
        ("audience-detail", f"/audiences/{ids['audience']}/", "/audiences/"),
        ("audience-failed", f"/audiences/{ids['failed_audience']}/", "/audiences/"),
        ("audience-edit", f"/audiences/{ids['audience']}/edit/", "/audiences/new/"),
        ("tasks", "/tasks/", "/tasks/"),
        ("task-detail", f"/tasks/{ids['task']}/", "/tasks/"),
        ("topics", "/audiences/topics/", "/audiences/topics/"),
        ("topic-edit", "/audiences/topics/4eyes_101/", "/audiences/topics/"),
        ("lists", "/lists/", "/lists/"),
        ("list-report", f"/lists/{ids['list']}/report/", "/lists/"),
        ("exports", "/exports/", "/exports/"),
        ("export-new", "/exports/new/", "/exports/new/"),
        ("export-detail", f"/exports/{ids['export']}/", "/exports/"),
        ("export-failed", f"/exports/{ids['failed_export']}/", "/exports/"),
        ("export-edit", f"/exports/{ids['export']}/edit/", "/exports/new/"),
        ("campaigns", "/campaigns/", "/campaigns/"),
        ("campaign-detail", f"/campaigns/{ids['campaign']}/", "/campaigns/"),
        ("privacy", "/privacy/", "/privacy/"),
        (
            "privacy-identifier",
            f"/privacy/identifier/?type={ids['optout'].identifier_type}&value={quote(ids['optout'].value)}",
            "/privacy/",
        ),
        ("pixels", "/pixels/", "/pixels/"),
        ("pixel-settings", "/pixels/settings/", None),
        ("settings", "/settings/", None),
        ("not-found", "/audiences/00000000-0000-0000-0000-000000000000/", None),
    ]


# At the phone width only the rules whose outcome depends on the layout run again (the full set runs at the
# desktop width; contrast, names and structure do not change with the viewport). Halves the test's time.
PHONE_RULES = [
    "scrollable-region-focusable",
    "target-size",
    "meta-viewport",
    "label",
    "button-name",
    "link-name",
    "select-name",
]


# Times show in the one date-time format ("1 Dec 2026, 06:04 UTC"), never as ISO text; days as "1 May 2024".
ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|(?<![\w=/-])\d{4}-\d{2}-\d{2}(?![\w-])")

# Table headers and cells never split a normal word across lines (a `break-all` style split letter by
# letter); long values (ids, URLs, emails, hashes: tokens with digits or symbols) may wrap anywhere.
SPLIT_WORDS_JS = r"""() => {
  const plain = /^[\p{L}\p{M}'’\-–.,;:!?()"“”]+$/u;
  const found = [];
  for (const cell of document.querySelectorAll('th, td')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walker.nextNode())) {
      for (const token of node.nodeValue.matchAll(/\S+/g)) {
        if (!plain.test(token[0])) continue;
        for (const word of token[0].matchAll(/[\p{L}\p{M}]{2,}/gu)) {
          const range = document.createRange();
          const start = token.index + word.index;
          range.setStart(node, start);
          range.setEnd(node, start + word[0].length);
          const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
          if (lines.size > 1) found.push(`${cell.tagName.toLowerCase()} splits "${word[0]}"`);
        }
      }
    }
  }
  return [...new Set(found)].slice(0, 8);
}"""


# What a marketer must not read (issue 11 item 10): ids (UUIDs), server paths and files, the API's internal field
# paths ("field_mapping[0].source"). Code the marketer copies (a pixel's snippet) is left out of the check.
MARKETER_TEXT_JS = """() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll('code, pre, script, template, style').forEach(e => e.remove());
  return body.textContent;
}"""
# An error code (REQUIRED_FIELD_MISSING) is internal text even inside <code>: only a pixel's snippet (<pre>)
# and scripts are left out of this check.
MARKETER_CODES_JS = """() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll('pre, script, template, style').forEach(e => e.remove());
  const walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT);
  const texts = [];  // one text node per line: a cell's code does not run into the next cell's words
  while (walker.nextNode()) texts.push(walker.currentNode.nodeValue);
  return texts.join('\\n');
}"""
ERROR_CODE = re.compile(r"\b[A-Z][A-Z0-9]+(?:_[A-Z][A-Z0-9]+)+\b")  # not a person id such as P_000001
INTERNAL_TEXT = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|/work/|/tmp/|var/media|\.parquet\b"
    r"|site-packages|\b[a-z_]+\[\d+\]\.[a-z_]+|\b(?:definition|destination_config|record_limit)\.[a-zA-Z_]+",
    re.IGNORECASE,
)


def _violations(axe: Axe, page, rules: list[str] | None = None) -> list[str]:
    options = {"resultTypes": ["violations"]}
    if rules:
        options["runOnly"] = {"type": "rule", "values": rules}
    results = axe.run(page, options=options)
    out = []
    for v in results.response["violations"]:
        if v.get("impact") in BLOCKING:
            targets = [", ".join(n["target"]) for n in v["nodes"][:3]]
            out.append(f"{v['id']} ({v['impact']}): {v['help']} at {targets}")
    return out


# A page each role may not open: the styled 403 page (admins may open every page).
FORBIDDEN = {"marketer": "/privacy/", "support": "/lists/"}


def _check_page(page, axe: Axe, role: str, name: str, path: str, problems: list[str], spent: dict) -> int:
    """Opens `path` at both viewports and adds what is wrong to `problems`; returns how many views it made."""
    for viewport, size in VIEWPORTS.items():
        page.set_viewport_size(size)
        t0 = time.monotonic()
        page.goto(path)
        page.wait_for_function("() => !document.querySelector('.htmx-request')")
        spent["load"] += time.monotonic() - t0
        if name == "export-failed":  # the failed records' table is checked (and shown) opened
            page.evaluate("document.querySelectorAll('#object-results details').forEach(d => d.open = true)")
        where = f"{role} {name} {viewport}"
        if name == "audience-failed":
            problems.extend(f"{where}: {p}" for p in _failed_build_problems(page, role))
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            problems.append(f"{where}: scrolls sideways by {overflow}px")
        if role == "marketer" and viewport == "desktop":
            internal = INTERNAL_TEXT.search(page.evaluate(MARKETER_TEXT_JS))
            if internal:
                problems.append(f"{where}: shows the marketer {internal.group(0)!r}")
            code = ERROR_CODE.search(page.evaluate(MARKETER_CODES_JS))
            if code:
                problems.append(f"{where}: shows the marketer the code {code.group(0)!r}")
        if viewport == "phone":
            problems.extend(f"{where}: {split}" for split in page.evaluate(SPLIT_WORDS_JS))
        else:
            iso = ISO_DATETIME.search(page.inner_text("body"))
            if iso:
                problems.append(f"{where}: shows an ISO date or date-time {iso.group(0)!r}")
        t0 = time.monotonic()
        problems.extend(
            f"{where}: {v}" for v in _violations(axe, page, PHONE_RULES if viewport == "phone" else None)
        )
        spent["axe"] += time.monotonic() - t0
        t0 = time.monotonic()
        screenshot(page, f"ux-{role}-{name}-{viewport}")
        spent["screenshot"] += time.monotonic() - t0
    return len(VIEWPORTS)


def _server_error(*args, **kwargs):
    raise RuntimeError("secret internals")


def test_every_page_for_each_role_passes_axe_and_never_scrolls_sideways(
    browser, live_server, journey_data, monkeypatch
):
    from exports import selectors

    ids = _seed()
    axe = Axe()
    writers_only = {"/audiences/new/", "/exports/new/"}
    problems: list[str] = []
    visited = 0
    timings: list[str] = []
    spent = {"load": 0.0, "axe": 0.0, "screenshot": 0.0}
    for email, role in (
        (settings.DEMO_ADMIN_EMAIL, "admin"),
        ("marketer@example.com", "marketer"),
        ("support@example.com", "support"),
    ):
        context = browser.new_context(base_url=live_server.url, viewport=VIEWPORTS["desktop"])
        page = context.new_page()
        page.set_default_timeout(BROWSER_TIMEOUT_MS)
        if role == "admin":  # the login page, before anyone signs in
            visited += _check_page(page, axe, "anonymous", "login", "/login/", problems, spent)
        login(page, email, settings.DEMO_ADMIN_PASSWORD)
        started = time.monotonic()
        nav = set(
            page.eval_on_selector_all("nav.mainnav a", "links => links.map(a => a.getAttribute('href'))")
        )
        for name, path, section in _pages(ids):
            if section in writers_only and role == "support":
                continue
            if section == "/audiences/topics/":  # org admins only
                if role != "admin":
                    continue
            elif section is not None and section not in writers_only and section not in nav:
                continue
            visited += _check_page(page, axe, role, name, path, problems, spent)
        if role in FORBIDDEN:
            visited += _check_page(page, axe, role, "forbidden", FORBIDDEN[role], problems, spent)
            if page.locator(".error-code").text_content().strip() != "Error 403":
                problems.append(f"{role} forbidden: not the styled 403 page")
        if role == "marketer":  # a failure on our side (the live server runs in this process)
            monkeypatch.setattr(selectors, "export_list", _server_error)
            visited += _check_page(page, axe, role, "server-error", "/exports/", problems, spent)
            if page.locator(".error-code").text_content().strip() != "Error 500":
                problems.append(f"{role} server-error: not the styled 500 page")
            monkeypatch.undo()
        context.close()
        timings.append(f"{role}: {time.monotonic() - started:.1f}s")
    print("visited", visited, "pages;", ", ".join(timings), {k: round(v, 1) for k, v in spent.items()})
    assert visited >= 70
    assert not problems, "\n".join(problems)


def test_htmx_refusal_shows_a_message_and_expired_session_returns_after_login(
    page, tenant_factory, password, monkeypatch
):
    from exports import selectors

    marketer = tenant_factory(role="marketer")
    login(page, marketer.user.email, password)
    page.goto("/audiences/")

    # a failure on our side (the live server runs in this process): a styled page with a way back and no
    # internals, and the same words as a message for an htmx request
    def fail(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(selectors, "export_list", fail)
    page.goto("/exports/", referer=page.url)
    assert "Try again in a few seconds" in styled_error(page, 500)
    assert page.inner_text("#error-title") == "Something went wrong on our side"
    assert "secret internals" not in page.content()
    screenshot(page, "ux-server-error")
    page.click("#error-back")
    page.wait_for_url("**/audiences/")
    page.evaluate("htmx.ajax('GET', '/exports/', {target: '#main', swap: 'innerHTML'})")
    failed = page.locator("#toasts .toast.error")
    failed.wait_for()
    assert "Something went wrong on our side" in failed.inner_text()
    page.click("#toasts .toast-close")
    monkeypatch.undo()

    # an htmx request the role may not make: a visible message, the page stays as it was
    page.evaluate("htmx.ajax('GET', '/privacy/', {target: '#main', swap: 'innerHTML'})")
    toast = page.locator("#toasts .toast.error")
    toast.wait_for()
    assert "not available to the marketer role" in toast.inner_text()
    assert page.locator("h1").inner_text() == "Audiences"
    screenshot(page, "ux-htmx-forbidden-toast")
    # An error toast also leaves by itself after 12 s, and the screenshot above can take that long on a loaded
    # machine: the close button is tried on a toast shown just before (the same function shows both).
    page.evaluate("document.querySelectorAll('#toasts .toast').forEach(n => n.remove())")
    page.evaluate("window.delivrToast('Not available.', 'error')")
    page.click("#toasts .toast-close")
    assert page.locator("#toasts .toast").count() == 0

    # the session ends; the next htmx request takes the browser to the login page, and back afterwards
    page.context.clear_cookies()
    page.evaluate("htmx.ajax('GET', '/audiences/', {target: '#main', swap: 'innerHTML'})")
    page.wait_for_url("**/login/?next=%2Faudiences%2F")
    page.fill("#id_username", marketer.user.email)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/audiences/")
    assert page.locator("h1").inner_text() == "Audiences"
