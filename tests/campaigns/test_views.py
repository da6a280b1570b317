import csv
import io
from datetime import date, timedelta

import pytest

from campaigns.models import CampaignSync, SyncStatus
from tests.campaigns.factories import make_account, make_campaign

pytestmark = pytest.mark.django_db

RANGE = "from=2026-01-01&to=2026-01-31"


def test_overview_renders_charts_table_and_nav_entry(client, tenant):
    campaign = make_campaign(tenant.org, days=10)
    client.force_login(tenant.user)
    r = client.get(f"/campaigns/?{RANGE}")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'href="/campaigns/"' in html  # the nav entry appears
    assert "plotly/plotly.min.js" in html and "cdn" not in html.lower()
    assert 'id="fig-spend"' in html and "Spend and eCPM by campaign" in html
    assert campaign.name in html and "$679.01" in html  # 12.3456 x (1+...+10)


def test_overview_htmx_chart_request_returns_only_the_partial(client, tenant):
    make_campaign(tenant.org, days=10)
    client.force_login(tenant.user)
    r = client.get(f"/campaigns/?{RANGE}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="charts")
    assert r.status_code == 200
    html = r.content.decode()
    assert "<html" not in html and "campaign-filters" not in html and "sync-history" not in html
    assert 'id="fig-spend"' in html and 'id="fig-impressions"' in html


def test_campaign_detail_htmx_range_change_returns_partial_for_that_range(client, tenant):
    campaign = make_campaign(tenant.org, days=10)
    client.force_login(tenant.user)
    full = client.get(f"/campaigns/{campaign.id}/?{RANGE}")
    assert full.status_code == 200
    assert (
        "Daily spend and delivery" in full.content.decode() and "Match rate per list" in full.content.decode()
    )
    r = client.get(
        f"/campaigns/{campaign.id}/?from=2026-01-02&to=2026-01-04",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="charts",
    )
    html = r.content.decode()
    assert "<html" not in html and "range-filters" not in html
    assert 'id="period-days">3<' in html
    assert "2026-01-02" in html and "2026-01-05" not in html


def test_campaign_pages_for_other_org_answer_404(client, tenant, other_tenant):
    campaign = make_campaign(tenant.org, days=2)
    client.force_login(other_tenant.user)
    assert client.get(f"/campaigns/{campaign.id}/").status_code == 404
    assert client.get(f"/campaigns/{campaign.id}/daily.csv").status_code == 404
    assert campaign.name not in client.get("/campaigns/").content.decode()


def test_csv_downloads_contain_the_plotted_rows_with_the_same_filters(client, tenant):
    campaign = make_campaign(tenant.org, days=10, name="=HYPERLINK()")
    client.force_login(tenant.user)
    r = client.get(f"/campaigns/{campaign.id}/daily.csv?from=2026-01-03&to=2026-01-05")
    assert r["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode())))
    assert rows[0] == ["date", "impressions", "clicks", "spend_usd", "cpm_usd"]
    assert [row[0] for row in rows[1:]] == ["2026-01-03", "2026-01-04", "2026-01-05"]
    overview = list(csv.reader(io.StringIO(client.get(f"/campaigns/overview.csv?{RANGE}").content.decode())))
    assert overview[1][1] == "'=HYPERLINK()" and overview[1][3] == str(sum(1000 * i for i in range(1, 11)))


def test_bad_date_in_page_shows_error_and_default_range(client, tenant):
    make_campaign(tenant.org, days=2)
    client.force_login(tenant.user)
    r = client.get("/campaigns/?from=not-a-date")
    assert r.status_code == 200 and "Must be an ISO date" in r.content.decode()


def test_sync_now_queues_a_sync_run_by_celery_and_shows_history(
    client, tenant, django_capture_on_commit_callbacks
):
    make_account(tenant.org, "acc-sim")  # the simulator provider (default) serves any account
    client.force_login(tenant.user)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        r = client.post("/campaigns/sync/", HTTP_HX_REQUEST="true")
    assert len(callbacks) == 1  # queued on commit, run by the (eager) Celery task, not in the request
    assert r.status_code == 200 and "<html" not in r.content.decode()
    sync = CampaignSync.objects.get()
    assert sync.status == SyncStatus.SUCCEEDED and sync.rows > 0 and sync.triggered_by.startswith("user:")
    history = client.get("/campaigns/sync/history/?poll=1", HTTP_HX_REQUEST="true")
    assert history.status_code == 286 and "succeeded" in history.content.decode()


def test_sync_now_when_support_role_is_forbidden(client, tenant_factory):
    support = tenant_factory(role="support")
    make_account(support.org, "acc-sim")
    client.force_login(support.user)
    assert client.post("/campaigns/sync/").status_code == 403
    assert "sync-now" not in client.get("/campaigns/").content.decode()
    assert not CampaignSync.objects.exists()


def test_overview_and_detail_query_count_is_bounded(client, tenant, django_assert_max_num_queries):
    account = make_account(tenant.org, "acc-many")
    campaigns = [make_campaign(tenant.org, days=30, account=account, name=f"C{i}") for i in range(15)]
    client.force_login(tenant.user)
    client.get("/campaigns/")  # warm the session
    with django_assert_max_num_queries(12):
        assert client.get(f"/campaigns/?{RANGE}&top=100").status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get(f"/campaigns/{campaigns[3].id}/?{RANGE}").status_code == 200
    with django_assert_max_num_queries(6):
        assert tenant.jwt().get("/api/v1/campaigns").status_code == 200


def test_demo_seed_is_idempotent(tenant):
    from campaigns import demo
    from campaigns.models import Campaign, CampaignDailyPerformance, CampaignList

    class Ctx:
        organization = tenant.org
        stdout = io.StringIO()

    demo.seed(Ctx)
    counts = (
        Campaign.objects.count(),
        CampaignDailyPerformance.objects.count(),
        CampaignList.objects.count(),
    )
    demo.seed(Ctx)
    assert counts == (
        Campaign.objects.count(),
        CampaignDailyPerformance.objects.count(),
        CampaignList.objects.count(),
    )
    assert counts[0] == 6 and counts[2] > 0
    latest = CampaignDailyPerformance.objects.order_by("-date").first().date
    earliest = CampaignDailyPerformance.objects.order_by("date").first().date
    assert latest >= date.today() - timedelta(days=2) and (latest - earliest).days >= 60
    assert not Campaign.objects.filter(budget__isnull=True).exists()
    assert not Campaign.objects.filter(cpm__isnull=True).exists()


def test_overview_filter_form_uses_good_values_and_falls_back_on_the_rest():
    import uuid as uuid_

    from django.http import QueryDict

    from campaigns.forms import DEFAULT_TOP, OverviewFilterForm

    good = uuid_.uuid4()
    form = OverviewFilterForm(QueryDict(f"campaign={good}&campaign=nope&status=active&top=50"))
    assert (form.value("campaign"), form.value("status"), form.value("top")) == ([good], "active", 50)
    form = OverviewFilterForm(QueryDict("campaign=nope&status=gone&top=7"))
    assert (form.value("campaign"), form.value("status"), form.value("top")) == ([], None, DEFAULT_TOP)
