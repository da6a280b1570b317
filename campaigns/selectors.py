"""Reads of the campaigns app, always scoped to the caller's organizations. Totals are aggregated in the
database (one GROUP BY for a list of campaigns), never by loading daily rows into Python."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (
    BigIntegerField,
    Count,
    DecimalField,
    ExpressionWrapper,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Least

from accounts.selectors import Principal
from delivr_admin.selectors import one_or_404

from .models import Campaign, CampaignDailyPerformance, CampaignList, CampaignSync, DspAccount

ZERO = Decimal(0)
MONEY = DecimalField(max_digits=20, decimal_places=4)


def effective_cpm(spend: Decimal | None, impressions: int | None) -> Decimal | None:
    """Spend per thousand impressions (4 places); None when nothing was delivered."""
    if not impressions:
        return None
    return (Decimal(spend or 0) * 1000 / impressions).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def match_rate(identifiers: int, matched: int) -> float:
    """matched / identifiers as a 0..1 float (4 places); 0.0 when no identifiers were sent."""
    if not identifiers:
        return 0.0
    return round(min(matched, identifiers) / identifiers, 4)


@dataclass(frozen=True)
class DateRange:
    date_from: date | None = None
    date_to: date | None = None

    def q(self, prefix: str = "") -> Q:
        q = Q()
        if self.date_from:
            q &= Q(**{f"{prefix}date__gte": self.date_from})
        if self.date_to:
            q &= Q(**{f"{prefix}date__lte": self.date_to})
        return q


def dsp_account_list(principal: Principal) -> QuerySet[DspAccount]:
    return DspAccount.objects.filter(organization_id__in=principal.organization_ids)


def campaign_list(
    principal: Principal,
    *,
    campaign_ids: list[uuid.UUID] | None = None,
    status: str | None = None,
) -> QuerySet[Campaign]:
    qs = Campaign.objects.filter(organization_id__in=principal.organization_ids).select_related("account")
    if campaign_ids:
        qs = qs.filter(id__in=campaign_ids)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("name", "id")


def campaign_options(principal: Principal) -> list[dict]:
    """id and name of every campaign the caller sees (for filters), in one narrow query."""
    return list(
        Campaign.objects.filter(organization_id__in=principal.organization_ids)
        .order_by("name", "id")
        .values("id", "name", "status")
    )


def _running_total(field: str, **date_filter) -> Coalesce:
    """The running total `field` of the outer campaign's last daily row matching `date_filter` (0 if none)."""
    last = (
        CampaignDailyPerformance.objects.filter(campaign_id=OuterRef("pk"), **date_filter)
        .order_by("-date")
        .values(field)[:1]
    )
    output = MONEY if field == "cum_spend" else BigIntegerField()
    zero = Value(ZERO) if field == "cum_spend" else Value(0)
    return Coalesce(Subquery(last, output_field=output), zero, output_field=output)


def campaign_list_with_totals(
    principal: Principal,
    *,
    period: DateRange = DateRange(),  # noqa: B008 - frozen dataclass
    campaign_ids: list[uuid.UUID] | None = None,
    status: str | None = None,
) -> QuerySet[Campaign]:
    """Campaigns annotated with total_impressions, total_clicks and total_spend over `period`, in one SQL
    query: the running total at the period's last day minus the running total before its first day (two
    index lookups per campaign, whatever the length of the period)."""
    end = {"date__lte": period.date_to} if period.date_to else {}
    annotations = {}
    for name, field in (("impressions", "cum_impressions"), ("clicks", "cum_clicks"), ("spend", "cum_spend")):
        total = _running_total(field, **end)
        if period.date_from:
            total = total - _running_total(field, date__lt=period.date_from)
        annotations[f"total_{name}"] = ExpressionWrapper(
            total, output_field=MONEY if name == "spend" else BigIntegerField()
        )
    annotations["match_identifiers"] = _list_total("identifiers_count")
    annotations["match_matched"] = _list_total(Least("matched_count", "identifiers_count"))
    return campaign_list(principal, campaign_ids=campaign_ids, status=status).annotate(**annotations)


def _list_total(expression) -> Coalesce:
    """The sum of `expression` over the outer campaign's lists (0 without lists), as a subquery."""
    total = (
        CampaignList.objects.filter(campaign_id=OuterRef("pk"))
        .values("campaign_id")
        .annotate(total=Sum(expression))
        .values("total")
    )
    return Coalesce(Subquery(total, output_field=BigIntegerField()), Value(0), output_field=BigIntegerField())


@dataclass(frozen=True)
class DailyTotal:
    date: date
    impressions: int
    clicks: int
    spend: Decimal


def campaign_daily_totals(
    principal: Principal,
    *,
    period: DateRange = DateRange(),  # noqa: B008 - frozen dataclass
    campaign_ids: list[uuid.UUID] | None = None,
    status: str | None = None,
) -> list[DailyTotal]:
    """Daily impressions, clicks and spend summed over the campaigns the filters select, in one GROUP BY."""
    campaigns = campaign_list(principal, campaign_ids=campaign_ids, status=status).order_by().values("id")
    rows = (
        CampaignDailyPerformance.objects.filter(period.q(), campaign_id__in=campaigns)
        .values("date")
        .annotate(impressions=Sum("impressions"), clicks=Sum("clicks"), spend=Sum("spend"))
        .order_by("date")
    )
    return [DailyTotal(r["date"], r["impressions"], r["clicks"], r["spend"]) for r in rows]


def totals_of(campaigns) -> dict:
    """Totals over campaigns annotated by campaign_list_with_totals (already loaded)."""
    impressions = sum(c.total_impressions for c in campaigns)
    spend = sum((c.total_spend for c in campaigns), ZERO)
    return {
        "impressions": impressions,
        "clicks": sum(c.total_clicks for c in campaigns),
        "spend": spend,
        "effective_cpm": effective_cpm(spend, impressions),
        "campaigns": sum(1 for c in campaigns if c.total_impressions or c.total_spend),
    }


def campaign_get(principal: Principal, campaign_id: uuid.UUID | str) -> Campaign:
    """The campaign if the caller may see it; 404 otherwise (another org's campaign looks like none)."""
    return one_or_404(campaign_list(principal), "campaign not found", id=campaign_id)


def campaign_daily(campaign: Campaign, period: DateRange = DateRange()) -> list[CampaignDailyPerformance]:  # noqa: B008
    return list(
        CampaignDailyPerformance.objects.filter(period.q(), campaign=campaign)
        .order_by("date")
        .only("date", "impressions", "clicks", "spend", "cpm")
    )


def campaign_totals(rows: list[CampaignDailyPerformance]) -> dict:
    """Cumulative totals of daily rows already loaded for display (the page shows them all anyway)."""
    impressions = sum(r.impressions for r in rows)
    spend = sum((r.spend for r in rows), ZERO)
    return {
        "impressions": impressions,
        "clicks": sum(r.clicks for r in rows),
        "spend": spend,
        "effective_cpm": effective_cpm(spend, impressions),
        "days": len(rows),
    }


def campaign_totals_query(campaign: Campaign, period: DateRange = DateRange()) -> dict:  # noqa: B008
    """Cumulative totals over `period` aggregated in the database."""
    agg = CampaignDailyPerformance.objects.filter(period.q(), campaign=campaign).aggregate(
        impressions=Coalesce(Sum("impressions"), 0),
        clicks=Coalesce(Sum("clicks"), 0),
        spend=Coalesce(Sum("spend"), Value(ZERO), output_field=MONEY),
        days=Count("id"),
    )
    agg["effective_cpm"] = effective_cpm(agg["spend"], agg["impressions"])
    return agg


def campaign_lists(campaign: Campaign) -> list[CampaignList]:
    return list(CampaignList.objects.filter(campaign=campaign).order_by("list_name", "id"))


def campaign_match_rates(campaign: Campaign, lists: list[CampaignList] | None = None) -> dict:
    """Overall and per-list match rates. contacts_total is the DSP's distinct contact count for the
    campaign (lists overlap, so it is not the sum of the lists)."""
    lists = campaign_lists(campaign) if lists is None else lists
    identifiers = sum(lst.identifiers_count for lst in lists)
    matched = sum(min(lst.matched_count, lst.identifiers_count) for lst in lists)
    return {
        "campaign_id": campaign.id,
        "match_rate": match_rate(identifiers, matched),
        "identifiers_count": identifiers,
        "matched_count": matched,
        "contacts_total": campaign.contacts_total,
        "lists": [
            {
                "list_id": lst.external_id,
                "list_name": lst.list_name,
                "identifiers_count": lst.identifiers_count,
                "matched_count": min(lst.matched_count, lst.identifiers_count),
                "match_rate": match_rate(lst.identifiers_count, lst.matched_count),
            }
            for lst in lists
        ],
    }


def campaign_sync_list(principal: Principal, limit: int = 10) -> list[CampaignSync]:
    return list(
        CampaignSync.objects.filter(organization_id__in=principal.organization_ids)
        .select_related("account")
        .order_by("-created_at")[:limit]
    )
