"""The shared shell: navigation per role, styled error pages (also for htmx), the htmx login redirect, the
home page per role with bounded queries, and the words/numbers filters."""

import datetime
from datetime import timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone

from accounts.models import Role
from delivr_admin.context_processors import nav_items_for
from exports.models import ExportRun
from tests.campaigns.factories import make_campaign
from tests.factories import AudienceBuildFactory, AudienceFactory, ExportRunFactory, OptOutFactory

pytestmark = pytest.mark.django_db


def nav_labels(role: str) -> list[str]:
    return [item["label"] for item in nav_items_for(role)]


def test_navigation_when_each_role_signs_in_lists_only_pages_that_open(client, tenant_factory):
    assert "Privacy" not in nav_labels(Role.MARKETER) and "Lists" in nav_labels(Role.MARKETER)
    assert "Privacy" in nav_labels(Role.SUPPORT) and "Lists" not in nav_labels(Role.SUPPORT)
    assert "Pixels" not in nav_labels(Role.SUPPORT)
    assert set(nav_labels(Role.ADMIN)) >= {"Audiences", "Exports", "Privacy", "Lists", "Pixels"}
    # the nav and the pages agree: every link a role sees opens, every link it does not see refuses it
    every = {item["label"]: item["url"] for item in nav_items_for(Role.ADMIN)}
    for role in (Role.ADMIN, Role.MARKETER, Role.SUPPORT):
        member = tenant_factory(role=role)
        client.force_login(member.user)
        shown = set(nav_labels(role))
        for label, url in every.items():
            status = client.get(url).status_code
            assert (status == 200) == (label in shown), (role, label, status)
        page = client.get("/").content.decode()
        for label, url in every.items():
            assert (f'href="{url}"' in page) == (label in shown), (role, label)


def test_forbidden_page_when_opened_is_styled_with_reason_and_way_back(client, tenant_factory):
    marketer = tenant_factory(role=Role.MARKETER)
    client.force_login(marketer.user)
    r = client.get("/privacy/", HTTP_REFERER="http://testserver/audiences/")
    body = r.content.decode()
    assert r.status_code == 403
    assert "You cannot open this page" in body and "not available to the marketer role" in body
    assert 'href="http://testserver/audiences/"' in body and 'id="error-home"' in body
    assert '<nav class="mainnav"' in body  # the whole layout, not Django's bare text


def test_server_error_when_a_page_fails_is_styled_with_a_way_back_and_htmx_gets_a_message(
    client, tenant, monkeypatch
):
    from exports import selectors

    def fail(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(selectors, "export_list", fail)
    client.force_login(tenant.user)
    client.raise_request_exception = False
    r = client.get("/exports/", HTTP_REFERER="http://testserver/audiences/")
    body = r.content.decode()
    assert r.status_code == 500 and "Something went wrong on our side" in body
    assert 'href="http://testserver/audiences/"' in body and 'id="error-home"' in body
    assert '<nav class="mainnav"' in body and "secret internals" not in body and "Traceback" not in body
    r = client.get("/exports/", HTTP_HX_REQUEST="true")
    body = r.content.decode()
    assert r.status_code == 500 and "data-error-message" in body and "<html" not in body
    assert "Something went wrong on our side" in body and "secret internals" not in body


def test_missing_page_when_opened_is_styled_and_htmx_gets_a_message(client, tenant):
    client.force_login(tenant.user)
    r = client.get("/audiences/00000000-0000-0000-0000-000000000000/")
    assert r.status_code == 404 and "Page not found" in r.content.decode()
    assert "matches the given query" not in r.content.decode()
    r = client.get("/no-such-page/", HTTP_HX_REQUEST="true")
    body = r.content.decode()
    assert r.status_code == 404 and "data-error-message" in body and "<html" not in body
    assert client.get("/api/v1/no-such-thing").json()["error"]["code"] == "not_found"


def test_htmx_request_when_session_expired_redirects_browser_to_login_and_back(client):
    r = client.post(
        "/audiences/builder/preview/",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/audiences/new/?x=1",
    )
    assert r.status_code == 204
    assert r["HX-Redirect"] == "/login/?next=%2Faudiences%2Fnew%2F%3Fx%3D1"
    # another site's URL in the header is not followed
    r = client.get("/tasks/", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="https://evil.example/x")
    assert r["HX-Redirect"] == "/login/?next=%2F"
    # a plain visit keeps Django's redirect
    assert client.get("/tasks/").status_code == 302


def _marketer_data(member):
    org, project = member.org, member.project
    now = timezone.now()
    for i in range(8):
        audience = AudienceFactory(
            organization=org,
            project=project,
            name=f"Audience {i}",
            record_count=1234567 + i,
            last_built_at=now,
        )
        for days_ago, records in ((2, 1000), (1, 1250)):
            AudienceBuildFactory(
                audience=audience, built_at=now - timedelta(days=days_ago), record_count=records
            )
    runs = [("completed", 497, 0), ("completed_with_errors", 0, 497), ("running", 0, 0), ("completed", 10, 0)]
    for i, (status, exported, failed) in enumerate(runs):
        ExportRunFactory(
            export__organization=org,
            export__project=project,
            export__name=f"Export {i}",
            export__destination_type="hubspot",
            status=status,
            records_total=exported + failed,
            records_exported=exported,
            records_failed=failed,
        )
    yesterday = timezone.localdate() - timedelta(days=1)
    for i in range(3):
        make_campaign(org, days=3, start=yesterday - timedelta(days=1), name=f"Campaign {i}")


def test_home_when_marketer_shows_failed_and_running_exports_and_yesterdays_spend(
    client, tenant_factory, django_assert_max_num_queries
):
    marketer = tenant_factory(role=Role.MARKETER)
    _marketer_data(marketer)
    client.force_login(marketer.user)
    # session, user, membership, workers, org tree, audiences, 6 x their last two builds, exports, their last
    # runs, campaigns with yesterday's totals: 15, whatever the number of exports or campaigns
    with django_assert_max_num_queries(15):
        body = client.get("/").content.decode()
    assert "Export 1" in body and "Export 2" in body  # 0 of 497 sent, and the running one
    assert "Export 0" not in body and "Export 3" not in body  # healthy runs stay off the home page
    assert 'data-status="failed">Failed<' in body  # 0 exported with failures shows as failed
    assert "+250 records (25.0%)" in body  # the change since the build before
    assert "1,234,574" in body and "Yesterday" in body and "$" in body
    assert "home-support" not in body and "home-admin" not in body


def test_home_when_support_shows_recent_optouts_and_their_sources(
    client, tenant_factory, django_assert_max_num_queries
):
    support = tenant_factory(role=Role.SUPPORT)
    now = timezone.now()
    for i in range(5):
        OptOutFactory(
            organization=support.org,
            value=f"person{i}@example.com",
            source="support" if i % 2 else "uid2_webhook",
            opted_out_at=now - timedelta(hours=i),
        )
    client.force_login(support.user)
    with django_assert_max_num_queries(10):
        body = client.get("/").content.decode()
    assert "person0@example.com" in body and "from UID2 webhook" in body and "from Support" in body
    assert "home-marketer" not in body


def test_home_when_admin_shows_members_clients_and_cookie_setting(
    client, tenant, django_assert_max_num_queries
):
    client.force_login(tenant.user)
    with django_assert_max_num_queries(10):
        body = client.get("/").content.decode()
    assert 'id="member-count">1<' in body and 'id="client-count">1<' in body
    assert "with cookies" in body and "/pixels/settings/" in body


def render(text: str, **context) -> str:
    return Template(text).render(Context(context))


def test_words_and_numbers_filters_when_rendering_say_things_in_words():
    assert render("{% status_badge 'completed_with_errors' %}") == (
        '<span class="badge tone-warning" data-status="completed_with_errors">Completed with errors</span>'
    )
    assert "tone-running" in render("{% status_badge 'in_progress' %}")
    assert "tone-failed" in render("{% status_badge 'failed' %}")
    assert "tone-neutral" in render("{% status_badge 'never' %}")
    run = ExportRun(status="completed_with_errors", records_exported=0, records_failed=497)
    assert 'data-status="failed">Failed<' in render("{% run_badge run %}", run=run)
    assert (
        render("{{ n|num }} {{ m|num }} {{ none|num }}", n=1234567, m=1234.5, none=None)
        == "1,234,567 1,234.5 —"
    )
    when = datetime.datetime(2026, 3, 1, 10, 5, tzinfo=datetime.UTC)
    assert render("{{ when|dt }}", when=when) == "1 Mar 2026, 10:05 UTC"
    assert render("{{ k|destination_label }}", k="delivr_dsp") == "DelivrDSP list"
    assert 'aria-label="Copy API key"' in render("{% copy_button 'abc' what='API key' %}")
