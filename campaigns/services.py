"""Writes of the campaigns app: queueing, running and reaping DSP syncs; DSP accounts.

The sync fixes two March 2026 bugs: results are filtered by account twice (the account id is sent to the DSP
and any row naming another account is dropped), and a budget or CPM the DSP sends in any shape is stored,
while a null keeps the previous value.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Organization
from accounts.selectors import Principal
from delivr_admin.errors import ApplicationError

from .dsp import DspClient, DspError, dsp_client
from .dsp.parsing import parse_date, parse_int, parse_money, quantize
from .models import (
    Campaign,
    CampaignDailyPerformance,
    CampaignList,
    CampaignStatus,
    CampaignSync,
    DspAccount,
    SyncStatus,
)

logger = logging.getLogger(__name__)

# A resync re-reads the last days: the DSP restates recent days as late impressions arrive.
RESTATEMENT_DAYS = 3
# The first sync of a campaign reads at most this far back.
MAX_BACKFILL_DAYS = 800


def dsp_account_create(*, organization: Organization, name: str, external_id: str) -> DspAccount:
    external_id = external_id.strip()
    if not external_id:
        raise ApplicationError("A DSP account needs the account id DelivrDSP gave it.")
    account, _ = DspAccount.objects.get_or_create(
        organization=organization, external_id=external_id, defaults={"name": name or external_id}
    )
    return account


@transaction.atomic
def campaign_sync_request(*, principal: Principal) -> list[CampaignSync]:
    """Queues a sync of each DSP account of the caller's organization that has none queued or running."""
    if not principal.can_write:
        raise ApplicationError("Your role cannot start a sync.", code="forbidden", status=403)
    accounts = DspAccount.objects.filter(organization_id__in=principal.organization_ids)
    if not accounts.exists():
        raise ApplicationError(
            "This organization has no DelivrDSP account to sync.", code="not_found", status=404
        )
    return _syncs_create(accounts, triggered_by=principal.actor)


def _syncs_create(accounts, *, triggered_by: str) -> list[CampaignSync]:
    from .tasks import campaign_sync_run  # tasks import services at load: this side imports lazily

    busy = set(
        CampaignSync.objects.filter(
            account__in=accounts, status__in=[SyncStatus.QUEUED, SyncStatus.RUNNING]
        ).values_list("account_id", flat=True)
    )
    created = []
    for account in accounts:
        if account.id in busy:
            continue
        sync = CampaignSync.objects.create(
            organization_id=account.organization_id, account=account, triggered_by=triggered_by
        )
        campaign_sync_run.delay_on_commit(str(sync.id))
        created.append(sync)
    return created


@transaction.atomic
def campaign_sync_schedule_all() -> list[CampaignSync]:
    """The periodic sync: queues one sync per DSP account (skipping accounts whose sync is under way)."""
    return _syncs_create(DspAccount.objects.all(), triggered_by="schedule")


@dataclass
class SyncResult:
    campaigns: int = 0
    rows: int = 0
    dropped: int = 0


def campaign_sync_run(
    *, sync_id, client: DspClient | None = None, today: date | None = None, retry_allowed: bool = False
) -> CampaignSync:
    """Runs a queued sync. Claims it (QUEUED -> RUNNING) so a duplicate delivery does nothing, and always
    leaves it SUCCEEDED or FAILED with the error, never RUNNING; with `retry_allowed`, an error the DSP
    flags retryable (5xx, 429, network) puts it back to QUEUED and is raised for the task to retry."""
    now = timezone.now()
    claimed = CampaignSync.objects.filter(id=sync_id, status=SyncStatus.QUEUED).update(
        status=SyncStatus.RUNNING, started_at=now
    )
    sync = CampaignSync.objects.select_related("account").get(id=sync_id)
    if not claimed:
        return sync
    try:
        result = _account_sync(sync.account, client or dsp_client(), today or timezone.now().date())
        CampaignSync.objects.filter(id=sync_id, status=SyncStatus.RUNNING).update(
            status=SyncStatus.SUCCEEDED,
            finished_at=timezone.now(),
            campaigns_count=result.campaigns,
            rows=result.rows,
            rows_dropped=result.dropped,
        )
    except DspError as exc:
        if not (retry_allowed and exc.retryable):
            _sync_fail(sync, exc)
        else:
            CampaignSync.objects.filter(id=sync_id, status=SyncStatus.RUNNING).update(
                status=SyncStatus.QUEUED, error=f"Retrying after: {exc}"[:2000]
            )
            raise
    except Exception as exc:  # noqa: BLE001 - any failure is recorded on the sync, which must not stay RUNNING
        _sync_fail(sync, exc)
    finally:
        # Reached with the sync still RUNNING only when interrupted (worker shutdown, KeyboardInterrupt).
        CampaignSync.objects.filter(id=sync_id, status=SyncStatus.RUNNING).update(
            status=SyncStatus.FAILED, finished_at=timezone.now(), error="The sync was interrupted."
        )
    sync.refresh_from_db()
    return sync


def _sync_fail(sync: CampaignSync, exc: Exception) -> None:
    logger.exception("DSP sync %s of account %s failed", sync.id, sync.account.external_id)
    CampaignSync.objects.filter(id=sync.id, status=SyncStatus.RUNNING).update(
        status=SyncStatus.FAILED, finished_at=timezone.now(), error=f"{type(exc).__name__}: {exc}"[:2000]
    )


def campaign_sync_now(
    *,
    account: DspAccount,
    client: DspClient | None = None,
    triggered_by: str = "demo",
    today: date | None = None,
) -> CampaignSync:
    """Creates and runs a sync of `account` in this process (demo seed, benchmarks, tests)."""
    sync = CampaignSync.objects.create(
        organization_id=account.organization_id, account=account, triggered_by=triggered_by
    )
    return campaign_sync_run(sync_id=sync.id, client=client, today=today)


def campaign_sync_reap(*, timeout_seconds: int | None = None) -> int:
    """Marks syncs RUNNING for longer than the timeout (or QUEUED for 4x as long) FAILED; returns how many."""
    timeout = timeout_seconds or settings.DELIVR_DSP_SYNC_TIMEOUT_SECONDS
    now = timezone.now()
    reaped = CampaignSync.objects.filter(
        status=SyncStatus.RUNNING, started_at__lt=now - timedelta(seconds=timeout)
    ).update(
        status=SyncStatus.FAILED,
        finished_at=now,
        error=f"Reaped: still running after {timeout} s (the worker stopped or lost the DSP connection).",
    )
    reaped += CampaignSync.objects.filter(
        status=SyncStatus.QUEUED, created_at__lt=now - timedelta(seconds=4 * timeout)
    ).update(
        status=SyncStatus.FAILED,
        finished_at=now,
        error=f"Reaped: no worker started it within {4 * timeout} s.",
    )
    return reaped


def _status(value, previous: str | None) -> str:
    text = str(value or "").strip().lower()
    if text in CampaignStatus.values:
        return text
    return previous or CampaignStatus.ACTIVE


def _account_sync(account: DspAccount, client: DspClient, today: date) -> SyncResult:
    result = SyncResult()
    payloads = client.campaigns(account.external_id)
    existing = {c.external_id: c for c in Campaign.objects.filter(account=account)}
    for payload in payloads:
        external_id = str(payload.get("id") or "").strip()
        if str(payload.get("account_id") or "") != account.external_id or not external_id:
            result.dropped += 1
            continue
        campaign = _campaign_upsert(account, existing.get(external_id), external_id, payload)
        existing[external_id] = campaign
        result.campaigns += 1
        rows, dropped = _daily_upsert(account, campaign, client, today)
        result.rows += rows
        result.dropped += dropped
        _lists_upsert(campaign, client, payload.get("lists"))
    return result


def _campaign_upsert(
    account: DspAccount, campaign: Campaign | None, external_id: str, payload: dict
) -> Campaign:
    if campaign is None:
        campaign = Campaign(organization_id=account.organization_id, account=account, external_id=external_id)
    campaign.name = str(payload.get("name") or campaign.name or external_id)[:300]
    campaign.status = _status(payload.get("status"), campaign.status if campaign.pk else None)
    budget = quantize(parse_money(payload, "budget"), 2)
    cpm = quantize(parse_money(payload, "cpm"), 4)
    if budget is not None:  # null or absent: keep what we had (the March fix)
        campaign.budget = budget
    if cpm is not None:
        campaign.cpm = cpm
    start, end = parse_date(payload.get("start_date")), parse_date(payload.get("end_date"))
    campaign.start_date = start or campaign.start_date
    if "end_date" in payload:
        campaign.end_date = end
    if payload.get("contacts_total") is not None:
        campaign.contacts_total = parse_int(payload.get("contacts_total"), campaign.contacts_total)
    campaign.synced_at = timezone.now()
    campaign.save()
    return campaign


def _daily_upsert(account: DspAccount, campaign: Campaign, client: DspClient, today: date) -> tuple[int, int]:
    last = (
        CampaignDailyPerformance.objects.filter(campaign=campaign)
        .order_by("-date")
        .values_list("date", flat=True)
    ).first()
    date_to = min(campaign.end_date or today, today)
    if last is not None:
        date_from = last - timedelta(days=RESTATEMENT_DAYS)
    else:
        date_from = campaign.start_date or today - timedelta(days=MAX_BACKFILL_DAYS)
    date_from = max(date_from, today - timedelta(days=MAX_BACKFILL_DAYS))
    if date_from > date_to:
        return 0, 0
    dropped = 0
    parsed: dict[date, dict] = {}
    for row in client.daily(account.external_id, campaign.external_id, date_from, date_to):
        day = parse_date(row.get("date"))
        if (
            str(row.get("account_id") or "") != account.external_id
            or str(row.get("campaign_id") or campaign.external_id) != campaign.external_id
            or day is None
        ):
            dropped += 1
            continue
        parsed[day] = row
    if not parsed:
        return 0, dropped
    previous = {
        r.date: r for r in CampaignDailyPerformance.objects.filter(campaign=campaign, date__in=list(parsed))
    }
    objects = []
    for day, row in sorted(parsed.items()):
        old = previous.get(day)
        impressions = parse_int(row.get("impressions"), old.impressions if old else 0)
        clicks = parse_int(row.get("clicks"), old.clicks if old else 0)
        spend = parse_money(row, "spend")
        if spend is None:
            spend = old.spend if old else Decimal(0)
        cpm = parse_money(row, "cpm")
        if cpm is None:
            cpm = spend / impressions * 1000 if impressions else (old.cpm if old else None)
        objects.append(
            CampaignDailyPerformance(
                campaign=campaign,
                date=day,
                impressions=impressions,
                clicks=clicks,
                spend=quantize(spend, 4),
                cpm=quantize(cpm, 4),
            )
        )
    with transaction.atomic():
        CampaignDailyPerformance.objects.bulk_create(
            objects,
            update_conflicts=True,
            unique_fields=["campaign", "date"],
            update_fields=["impressions", "clicks", "spend", "cpm"],
            batch_size=500,
        )
        campaign_daily_cumulate(campaign_id=campaign.id, since=min(parsed))
    return len(objects), dropped


def campaign_daily_cumulate(*, campaign_id, since: date | None = None) -> int:
    """Recomputes the running totals of a campaign's daily rows from `since` (default: the first day) on;
    returns how many rows changed. Call it after any write of daily rows."""
    rows = CampaignDailyPerformance.objects.filter(campaign_id=campaign_id)
    before = rows.filter(date__lt=since).order_by("-date").first() if since else None
    impressions = before.cum_impressions if before else 0
    clicks = before.cum_clicks if before else 0
    spend = before.cum_spend if before else Decimal(0)
    changed = []
    for row in (rows.filter(date__gte=since) if since else rows).order_by("date"):
        impressions += row.impressions
        clicks += row.clicks
        spend += row.spend
        if (row.cum_impressions, row.cum_clicks, row.cum_spend) != (impressions, clicks, spend):
            row.cum_impressions, row.cum_clicks, row.cum_spend = impressions, clicks, spend
            changed.append(row)
    CampaignDailyPerformance.objects.bulk_update(
        changed, ["cum_impressions", "cum_clicks", "cum_spend"], batch_size=500
    )
    return len(changed)


def _lists_upsert(campaign: Campaign, client: DspClient, lists) -> None:
    if not isinstance(lists, list):
        return
    now = timezone.now()
    for item in lists:
        if not isinstance(item, dict) or not item.get("list_id"):
            continue
        list_id = str(item["list_id"])
        match = client.list_match(list_id)
        identifiers = parse_int(match.get("identifiers_count"))
        matched = min(parse_int(match.get("matched_count")), identifiers)
        CampaignList.objects.update_or_create(
            campaign=campaign,
            external_id=list_id,
            defaults={
                "list_name": str(item.get("list_name") or match.get("list_name") or list_id)[:300],
                "identifiers_count": identifiers,
                "matched_count": matched,
                "contacts_count": parse_int(match.get("contacts_count")),
                "synced_at": now,
            },
        )
