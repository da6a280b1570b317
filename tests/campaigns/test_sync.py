from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns import services
from campaigns.dsp.parsing import parse_money
from campaigns.dsp.simulator import SimulatorDspClient
from campaigns.models import Campaign, CampaignDailyPerformance, CampaignList, CampaignSync, SyncStatus
from tests.campaigns.factories import make_account

pytestmark = pytest.mark.django_db

TODAY = date(2026, 3, 20)


def _rows(start: date, days: int, spend: str = "10.00") -> list[dict]:
    return [
        {
            "date": (start + timedelta(days=i)).isoformat(),
            "impressions": 1000 + i,
            "clicks": i,
            "spend": spend,
        }
        for i in range(days)
    ]


def _snapshot(account) -> list[tuple]:
    return list(
        CampaignDailyPerformance.objects.filter(campaign__account=account)
        .order_by("campaign__external_id", "date")
        .values_list("campaign__external_id", "date", "impressions", "clicks", "spend", "cpm")
    )


def test_sync_when_run_twice_leaves_same_rows(dsp, tenant):
    account = make_account(tenant.org, "acc-A")
    dsp.add_campaign(
        "acc-A",
        "c1",
        rows=_rows(date(2026, 3, 1), 20),
        budget="100.00",
        cpm="2.5",
        start_date="2026-03-01",
        lists=[{"list_id": "L1", "list_name": "Intent"}],
    )
    dsp.add_campaign("acc-A", "c2", rows=_rows(date(2026, 3, 5), 10), budget=250, start_date="2026-03-05")
    dsp.add_campaign("acc-A", "c3", rows=[], start_date="2026-03-10")
    dsp.state.lists["L1"] = {"list_id": "L1", "identifiers_count": 100, "matched_count": 40}

    first = services.campaign_sync_now(account=account, today=TODAY)
    assert first.status == SyncStatus.SUCCEEDED, first.error
    before = _snapshot(account)
    assert len(before) == 30 and first.rows == 30 and first.campaigns_count == 3
    second = services.campaign_sync_now(account=account, today=TODAY)
    assert second.status == SyncStatus.SUCCEEDED
    assert _snapshot(account) == before
    assert Campaign.objects.filter(account=account).count() == 3
    assert CampaignList.objects.filter(campaign__account=account).count() == 1
    # The campaign list came in pages of two: pagination was followed.
    assert sum("/campaigns?" in r for r in dsp.state.requests) >= 4


def test_sync_with_two_accounts_keeps_only_rows_of_the_account_asked(dsp, tenant, other_tenant):
    mine = make_account(tenant.org, "acc-A")
    theirs = make_account(other_tenant.org, "acc-B")
    dsp.add_campaign("acc-A", "a1", rows=_rows(date(2026, 3, 1), 5), budget="10")
    dsp.add_campaign("acc-B", "b1", rows=_rows(date(2026, 3, 1), 7), budget="20")

    sync = services.campaign_sync_now(account=mine, today=TODAY)
    assert sync.status == SyncStatus.SUCCEEDED
    # The stand-in leaked campaign b1 of acc-B and one daily row of acc-B per response: all dropped.
    assert list(Campaign.objects.values_list("external_id", flat=True)) == ["a1"]
    assert sync.rows_dropped >= 2
    assert CampaignDailyPerformance.objects.count() == 5
    assert not CampaignDailyPerformance.objects.filter(impressions=999_999).exists()
    # The account id was also passed to the DSP.
    assert all("account_id=acc-A" in r for r in dsp.state.requests if "/accounts/" in r)

    services.campaign_sync_now(account=theirs, today=TODAY)
    assert set(Campaign.objects.filter(account=theirs).values_list("external_id", flat=True)) == {"b1"}
    assert CampaignDailyPerformance.objects.filter(campaign__account=theirs).count() == 7
    assert Campaign.objects.get(external_id="b1").organization_id == other_tenant.org.id


@pytest.mark.parametrize(
    ("fields", "budget", "cpm"),
    [
        ({"budget": "1500.50", "cpm": "7.25"}, "1500.50", "7.2500"),
        ({"budget": 1500.5, "cpm": 7}, "1500.50", "7.0000"),
        ({"budget": {"amount": "1500.50", "currency": "USD"}, "cpm": {"amount": 7.25}}, "1500.50", "7.2500"),
        ({"budget_micros": 1500500000, "cpm_micros": "7250000"}, "1500.50", "7.2500"),
        ({"budget": {"micros": 1500500000}, "cpm": "$7.25"}, "1500.50", "7.2500"),
    ],
)
def test_sync_when_dsp_sends_money_shapes_stores_budget_and_cpm(dsp, tenant, fields, budget, cpm):
    account = make_account(tenant.org, "acc-A")
    dsp.add_campaign("acc-A", "c1", **fields)
    assert services.campaign_sync_now(account=account, today=TODAY).status == SyncStatus.SUCCEEDED
    campaign = Campaign.objects.get()
    assert campaign.budget == Decimal(budget) and campaign.cpm == Decimal(cpm)


def test_sync_when_dsp_sends_null_budget_keeps_previous_value(dsp, tenant):
    account = make_account(tenant.org, "acc-A")
    payload = dsp.add_campaign("acc-A", "c1", budget="900.00", cpm="4.10")
    services.campaign_sync_now(account=account, today=TODAY)
    payload.update(budget=None, cpm=None, name="Renamed")
    sync = services.campaign_sync_now(account=account, today=TODAY)
    campaign = Campaign.objects.get()
    assert sync.status == SyncStatus.SUCCEEDED
    assert campaign.name == "Renamed"
    assert campaign.budget == Decimal("900.00") and campaign.cpm == Decimal("4.1000")
    payload.pop("budget")
    payload["cpm"] = {"amount": None}
    services.campaign_sync_now(account=account, today=TODAY)
    campaign.refresh_from_db()
    assert campaign.budget == Decimal("900.00") and campaign.cpm == Decimal("4.1000")


def test_parse_money_when_value_is_missing_null_or_garbage_returns_none():
    assert parse_money({}, "budget") is None
    assert parse_money({"budget": None}, "budget") is None
    assert parse_money({"budget": "n/a"}, "budget") is None
    assert parse_money({"budget": True}, "budget") is None
    assert parse_money({"budget": "-5"}, "budget") is None
    assert parse_money({"budget": "NaN"}, "budget") is None
    assert parse_money({"budget": None, "budget_micros": 2_000_000}, "budget") == Decimal(2)
    assert parse_money({"budget": "1,250.00"}, "budget") == Decimal("1250.00")


def test_sync_when_dsp_answers_500_marks_sync_failed_with_error(dsp, tenant):
    account = make_account(tenant.org, "acc-A")
    dsp.add_campaign("acc-A", "c1", budget="1")
    dsp.state.fail_with = 500
    sync = services.campaign_sync_now(account=account, today=TODAY)
    assert sync.status == SyncStatus.FAILED
    assert "500" in sync.error and sync.finished_at is not None
    assert not CampaignSync.objects.filter(status=SyncStatus.RUNNING).exists()


def _sync_attempt(sync: CampaignSync, retries: int = 0) -> CampaignSync:
    """One delivery of the sync task; `retries` is how many attempts came before (Celery's counter)."""
    from campaigns.tasks import campaign_sync_run

    campaign_sync_run.apply(args=[str(sync.id)], retries=retries)
    sync.refresh_from_db()
    return sync


def test_sync_task_when_dsp_answers_500_requeues_the_sync_and_retries(dsp, tenant):
    from celery.exceptions import Retry

    dsp.add_campaign("acc-A", "c1", rows=_rows(date(2026, 3, 1), 3))
    dsp.state.fail_with = 500
    sync = CampaignSync.objects.create(organization=tenant.org, account=make_account(tenant.org, "acc-A"))
    with pytest.raises(Retry):
        _sync_attempt(sync)
    sync.refresh_from_db()
    assert sync.status == SyncStatus.QUEUED and "500" in sync.error and sync.finished_at is None
    dsp.state.fail_with = None
    sync = _sync_attempt(sync, retries=1)
    assert sync.status == SyncStatus.SUCCEEDED and sync.campaigns_count == 1


def test_sync_task_when_last_attempt_gets_500_marks_sync_failed(dsp, tenant):
    dsp.add_campaign("acc-A", "c1")
    dsp.state.fail_with = 500
    sync = CampaignSync.objects.create(organization=tenant.org, account=make_account(tenant.org, "acc-A"))
    sync = _sync_attempt(sync, retries=3)
    assert sync.status == SyncStatus.FAILED and "500" in sync.error and sync.finished_at is not None


def test_sync_task_when_dsp_refuses_the_key_fails_without_retrying(dsp, tenant, settings):
    dsp.add_campaign("acc-A", "c1")
    settings.DELIVR_DSP_API_KEY = "wrong"
    sync = CampaignSync.objects.create(organization=tenant.org, account=make_account(tenant.org, "acc-A"))
    sync = _sync_attempt(sync)  # no Retry raised: a 401 is not retryable
    assert sync.status == SyncStatus.FAILED and "401" in sync.error and len(dsp.state.requests) == 1


def test_sync_when_dsp_unreachable_or_unconfigured_marks_failed(settings, tenant):
    account = make_account(tenant.org, "acc-A")
    settings.DELIVR_DSP_PROVIDER = "http"
    settings.DELIVR_DSP_BASE_URL = ""
    sync = services.campaign_sync_now(account=account, today=TODAY)
    assert sync.status == SyncStatus.FAILED and "DELIVR_DSP_BASE_URL" in sync.error
    settings.DELIVR_DSP_BASE_URL = "http://127.0.0.1:9"  # discard port: connection refused
    sync = services.campaign_sync_now(account=account, today=TODAY)
    assert sync.status == SyncStatus.FAILED and "unreachable" in sync.error


def test_sync_run_when_delivered_twice_runs_once(dsp, tenant):
    account = make_account(tenant.org, "acc-A")
    dsp.add_campaign("acc-A", "c1", rows=_rows(date(2026, 3, 1), 3))
    sync = CampaignSync.objects.create(organization=tenant.org, account=account)
    assert services.campaign_sync_run(sync_id=sync.id, today=TODAY).status == SyncStatus.SUCCEEDED
    requests = len(dsp.state.requests)
    again = services.campaign_sync_run(sync_id=sync.id, today=TODAY)
    assert again.status == SyncStatus.SUCCEEDED and len(dsp.state.requests) == requests


def test_reaper_marks_stale_running_and_queued_syncs_failed(tenant):
    account = make_account(tenant.org, "acc-A")
    old = timezone.now() - timedelta(hours=2)
    stale = CampaignSync.objects.create(
        organization=tenant.org, account=account, status=SyncStatus.RUNNING, started_at=old
    )
    fresh = CampaignSync.objects.create(
        organization=tenant.org, account=account, status=SyncStatus.RUNNING, started_at=timezone.now()
    )
    queued = CampaignSync.objects.create(organization=tenant.org, account=account)
    CampaignSync.objects.filter(id=queued.id).update(created_at=timezone.now() - timedelta(days=1))
    from campaigns.tasks import campaign_sync_reap

    assert campaign_sync_reap.delay().get() == 2
    stale.refresh_from_db()
    fresh.refresh_from_db()
    queued.refresh_from_db()
    assert stale.status == SyncStatus.FAILED and "Reaped" in stale.error and stale.finished_at
    assert queued.status == SyncStatus.FAILED
    assert fresh.status == SyncStatus.RUNNING
    assert campaign_sync_reap.delay().get() == 0


def test_scheduled_sync_task_syncs_every_account_through_celery(
    dsp, tenant, other_tenant, django_capture_on_commit_callbacks
):
    make_account(tenant.org, "acc-A")
    make_account(other_tenant.org, "acc-B")
    dsp.add_campaign("acc-A", "a1", rows=_rows(timezone.now().date() - timedelta(days=3), 3))
    dsp.add_campaign("acc-B", "b1", rows=_rows(timezone.now().date() - timedelta(days=3), 2))
    from campaigns.tasks import campaign_sync_schedule_all

    with django_capture_on_commit_callbacks(execute=True):
        assert campaign_sync_schedule_all.delay().get() == 2
    assert set(CampaignSync.objects.values_list("status", flat=True)) == {SyncStatus.SUCCEEDED}
    assert CampaignDailyPerformance.objects.count() == 5


def test_simulator_is_deterministic_and_paces_within_budget():
    anchor = date(2026, 3, 20)
    a, b = SimulatorDspClient(anchor), SimulatorDspClient(anchor)
    assert a.campaigns("acc-X") == b.campaigns("acc-X")
    for payload in a.campaigns("acc-X"):
        budget = parse_money(payload, "budget")
        rows = a.daily("acc-X", payload["id"], date(2020, 1, 1), anchor)
        spend = sum(parse_money(r, "spend") for r in rows)
        assert rows and budget and spend <= budget
        assert rows == b.daily("acc-X", payload["id"], date(2020, 1, 1), anchor)
    assert a.campaigns("acc-X") != a.campaigns("acc-Y")


def test_sync_restating_a_day_keeps_running_totals_equal_to_sums(dsp, tenant):
    account = make_account(tenant.org, "acc-A")
    payload_rows = _rows(date(2026, 3, 1), 10)
    dsp.add_campaign("acc-A", "c1", rows=payload_rows, start_date="2026-03-01")
    services.campaign_sync_now(account=account, today=date(2026, 3, 10))
    # The DSP restates day 9 and adds day 11 on the next sync.
    dsp.state.daily[("acc-A", "c1")][8].update(impressions=5, spend="1.00")
    dsp.state.daily[("acc-A", "c1")].append(
        {"campaign_id": "c1", "account_id": "acc-A", "date": "2026-03-11", "impressions": 7, "spend": "2.00"}
    )
    services.campaign_sync_now(account=account, today=date(2026, 3, 11))
    impressions, spend = 0, Decimal(0)
    for row in CampaignDailyPerformance.objects.order_by("date"):
        impressions += row.impressions
        spend += row.spend
        assert (row.cum_impressions, row.cum_spend) == (impressions, spend), row.date
    assert CampaignDailyPerformance.objects.get(date=date(2026, 3, 9)).impressions == 5
