"""Reads of the campaigns app, always scoped to the caller's organizations. Totals are aggregated in the
database (one GROUP BY for a list of campaigns), never by loading daily rows into Python."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.http import Http404

from accounts.selectors import Principal

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


def campaign_list_with_totals(
    principal: Principal,
    *,
    period: DateRange = DateRange(),  # noqa: B008 - frozen dataclass
    campaign_ids: list[uuid.UUID] | None = None,
    status: str | None = None,
    order: str = "name",
) -> QuerySet[Campaign]:
    """Campaigns annotated with impressions, clicks, spend and days over `period` (one SQL query)."""
    rows = period.q("daily__")
    qs = campaign_list(principal, campaign_ids=campaign_ids, status=status).annotate(
        total_impressions=Coalesce(Sum("daily__impressions", filter=rows), 0),
        total_clicks=Coalesce(Sum("daily__clicks", filter=rows), 0),
        total_spend=Coalesce(Sum("daily__spend", filter=rows), Value(ZERO), output_field=MONEY),
        total_days=Count("daily__id", filter=rows),
    )
    if order == "-spend":
        qs = qs.order_by("-total_spend", "name", "id")
    return qs


def campaign_get(principal: Principal, campaign_id: uuid.UUID | str) -> Campaign:
    """The campaign if the caller may see it; 404 otherwise (another org's campaign looks like none)."""
    try:
        return campaign_list(principal).get(id=campaign_id)
    except (Campaign.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("campaign not found") from exc
    except Exception as exc:  # malformed UUIDs raise ValidationError on some backends
        if exc.__class__.__name__ == "ValidationError":
            raise Http404("campaign not found") from exc
        raise


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


def campaign_period_totals(
    principal: Principal,
    *,
    period: DateRange = DateRange(),  # noqa: B008
    campaign_ids: list[uuid.UUID] | None = None,
    status: str | None = None,
) -> dict:
    """Totals over every campaign matching the filters (one aggregate query) and how many campaigns match."""
    rows = CampaignDailyPerformance.objects.filter(
        period.q(), campaign__organization_id__in=principal.organization_ids
    )
    if campaign_ids:
        rows = rows.filter(campaign_id__in=campaign_ids)
    if status:
        rows = rows.filter(campaign__status=status)
    agg = rows.aggregate(
        impressions=Coalesce(Sum("impressions"), 0),
        clicks=Coalesce(Sum("clicks"), 0),
        spend=Coalesce(Sum("spend"), Value(ZERO), output_field=MONEY),
        campaigns=Count("campaign_id", distinct=True),
    )
    agg["effective_cpm"] = effective_cpm(agg["spend"], agg["impressions"])
    return agg
