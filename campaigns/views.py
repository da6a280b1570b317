"""Campaign dashboard: an org overview comparing campaigns, a page per campaign, CSV of the plotted data,
and the "Sync now" button with the sync history. Date range and campaign filters swap only the chart
fragment (`#charts`) through HTMX; the same URLs render the whole page without JavaScript."""

from __future__ import annotations

import csv
import uuid
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from delivr_admin import csvsafe
from delivr_admin.decorators import member_required
from delivr_admin.errors import ApplicationError
from delivr_admin.htmx import render_polled

from . import charts, selectors, services
from .api import PeriodQuery
from .forms import TOP_CHOICES, OverviewFilterForm, SyncHistoryQuery
from .models import CampaignStatus, SyncStatus
from .selectors import DateRange

DEFAULT_DAYS = 60


def _period(request: HttpRequest) -> tuple[DateRange, str | None]:
    """The date range of the request (default: the last 60 days up to today) and an error to show."""
    today = timezone.now().date()
    default = DateRange(today - timedelta(days=DEFAULT_DAYS - 1), today)
    query = PeriodQuery(data=request.GET)
    if not query.is_valid():
        name, messages = next(iter(query.errors.items()))
        return default, f"{name}: {messages[0]}"
    period = PeriodQuery.period(query.validated_data)
    return DateRange(period.date_from or default.date_from, period.date_to or default.date_to), None


def _campaign_ids(request: HttpRequest) -> list[uuid.UUID]:
    return OverviewFilterForm(request.GET).value("campaign")


def _top(request: HttpRequest) -> int:
    return OverviewFilterForm(request.GET).value("top")


def _usd(value, places: int = 2) -> str:
    return "—" if value is None else f"${value:,.{places}f}"


def _money(value) -> str:
    """Money in a CSV cell: two decimals, rounded half up; empty when there is none."""
    return "" if value is None else str(Decimal(value).quantize(Decimal("0.01"), ROUND_HALF_UP))


def _display(totals: dict) -> None:
    totals["spend_display"] = _usd(totals["spend"])
    totals["ecpm_display"] = _usd(totals["effective_cpm"])
    totals["impressions_display"] = f"{totals['impressions']:,}"
    totals["clicks_display"] = f"{totals['clicks']:,}"


def _filters(request: HttpRequest, period: DateRange) -> dict:
    form = OverviewFilterForm(request.GET)
    return {"period": period, "campaign_ids": form.value("campaign") or None, "status": form.value("status")}


def _overview_rows(request: HttpRequest, filters: dict) -> tuple[list[dict], dict]:
    campaigns = list(selectors.campaign_list_with_totals(request.principal, **filters))
    totals = selectors.totals_of(campaigns)
    campaigns.sort(key=lambda c: (-c.total_spend, c.name))
    rows = []
    for c in campaigns[: _top(request)]:
        ecpm = selectors.effective_cpm(c.total_spend, c.total_impressions)
        rate = selectors.match_rate(c.match_identifiers, c.match_matched) if c.match_identifiers else None
        rows.append(
            {
                "id": c.id,
                "name": c.name,
                "status": c.status,
                "account": c.account.name,
                "budget": c.budget,
                "impressions": c.total_impressions,
                "clicks": c.total_clicks,
                "spend": c.total_spend,
                "effective_cpm": ecpm,
                "match_rate": rate,
                "spend_display": _usd(c.total_spend),
                "ecpm_display": _usd(ecpm),
                "budget_display": _usd(c.budget),
                "impressions_display": f"{c.total_impressions:,}",
                "clicks_display": f"{c.total_clicks:,}",
                "match_rate_display": "—" if rate is None else charts.percent(rate),
            }
        )
    _display(totals)
    return rows, totals


def _query_string(request: HttpRequest, period: DateRange) -> str:
    params = request.GET.copy()
    params["from"] = period.date_from.isoformat()
    params["to"] = period.date_to.isoformat()
    params.pop("page", None)
    return params.urlencode()


@member_required
def overview(request: HttpRequest) -> HttpResponse:
    period, error = _period(request)
    filters = _filters(request, period)
    rows, totals = _overview_rows(request, filters)
    daily = selectors.campaign_daily_totals(request.principal, **filters)
    spend_fig, impressions_fig = charts.campaign_comparison_figures(rows)
    context = {
        "period": period,
        "period_error": error,
        "rows": rows,
        "totals": totals,
        "has_delivery": bool(daily),
        "daily_fig": charts.daily_delivery_figure(
            daily, "Daily spend and delivery of the selected campaigns"
        ),
        "spend_fig": spend_fig,
        "impressions_fig": impressions_fig,
        "query": _query_string(request, period),
        "top": _top(request),
        "top_choices": TOP_CHOICES,
        "status": filters["status"] or "",
        "statuses": CampaignStatus.choices,
    }
    if request.htmx and request.htmx.target == "charts":
        return render(request, "campaigns/overview.html#charts", context)
    selected = {str(i) for i in _campaign_ids(request)}
    context.update(
        {
            "options": [
                (str(o["id"]), o["name"], str(o["id"]) in selected)
                for o in selectors.campaign_options(request.principal)
            ],
            "syncs": selectors.campaign_sync_list(request.principal),
            "has_accounts": selectors.dsp_account_list(request.principal).exists(),
        }
    )
    context["sync_active"] = any(
        s.status in (SyncStatus.QUEUED, SyncStatus.RUNNING) for s in context["syncs"]
    )
    return render(request, "campaigns/overview.html", context)


def _csv_response(filename: str, header: list[str], rows: list[list]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(csvsafe.row(r) for r in rows)  # names come from the DSP: text cells neutralised
    return response


@member_required
def overview_csv(request: HttpRequest) -> HttpResponse:
    period, _ = _period(request)
    rows, _ = _overview_rows(request, _filters(request, period))
    return _csv_response(
        f"campaigns_{period.date_from}_{period.date_to}.csv",
        [
            "campaign_id",
            "campaign",
            "status",
            "impressions",
            "clicks",
            "spend_usd",
            "effective_cpm_usd",
            "match_rate",
        ],
        [
            [
                r["id"],
                r["name"],
                r["status"],
                r["impressions"],
                r["clicks"],
                _money(r["spend"]),
                _money(r["effective_cpm"]),
                "" if r["match_rate"] is None else r["match_rate"],
            ]
            for r in rows
        ],
    )


@member_required
def campaign_detail(request: HttpRequest, campaign_id: uuid.UUID) -> HttpResponse:
    campaign = selectors.campaign_get(request.principal, campaign_id)
    period, error = _period(request)
    rows = selectors.campaign_daily(campaign, period)
    totals = selectors.campaign_totals(rows)
    lists = selectors.campaign_lists(campaign)
    match = selectors.campaign_match_rates(campaign, lists)
    match_table = [
        dict(
            item,
            identifiers_display=f"{item['identifiers_count']:,}",
            matched_display=f"{item['matched_count']:,}",
            # a list with no identifiers sent has no rate (not "0.0%"), as the overall rate above
            match_rate_display=charts.percent(item["match_rate"]) if item["identifiers_count"] else "—",
        )
        for item in match["lists"]
    ]
    _display(totals)
    context = {
        "campaign": campaign,
        "period": period,
        "period_error": error,
        "daily": rows,
        "totals": totals,
        "match": match,
        "match_rate_display": charts.percent(match["match_rate"]) if match["identifiers_count"] else "—",
        "match_table": match_table,
        "match_summary": f"{match['matched_count']:,} of {match['identifiers_count']:,} identifiers matched; "
        f"{match['contacts_total']:,} distinct contacts in the campaign.",
        "delivery_fig": charts.daily_delivery_figure(rows),
        "cpm_fig": charts.cpm_trend_figure(rows, campaign.cpm),
        "match_fig": charts.match_rate_figure(match),
        "query": _query_string(request, period),
        "budget_display": _usd(campaign.budget),
        "cpm_display": _usd(campaign.cpm),
    }
    if request.htmx and request.htmx.target == "charts":
        return render(request, "campaigns/campaign_detail.html#charts", context)
    lifetime = selectors.campaign_totals_query(campaign)
    context["lifetime_spend_display"] = _usd(lifetime["spend"])
    context["pacing"] = float(lifetime["spend"] / campaign.budget * 100) if campaign.budget else None
    return render(request, "campaigns/campaign_detail.html", context)


@member_required
def campaign_csv(request: HttpRequest, campaign_id: uuid.UUID) -> HttpResponse:
    campaign = selectors.campaign_get(request.principal, campaign_id)
    period, _ = _period(request)
    rows = selectors.campaign_daily(campaign, period)
    return _csv_response(
        f"campaign_{campaign.external_id}_{period.date_from}_{period.date_to}.csv",
        ["date", "impressions", "clicks", "spend_usd", "cpm_usd"],
        [[r.date, r.impressions, r.clicks, _money(r.spend), _money(r.cpm)] for r in rows],
    )


def _sync_history(request: HttpRequest, status: int = 200) -> HttpResponse:
    syncs = selectors.campaign_sync_list(request.principal)
    active = any(s.status in (SyncStatus.QUEUED, SyncStatus.RUNNING) for s in syncs)
    template, context = "campaigns/overview.html#sync-history", {"syncs": syncs, "sync_active": active}
    if status == 200 and request.htmx and SyncHistoryQuery(request.GET).polling():
        return render_polled(
            request, template, context, active=active
        )  # stops once nothing is queued/running
    return render(request, template, context, status=status)


@member_required
def sync_history(request: HttpRequest) -> HttpResponse:
    return _sync_history(request)


@require_POST
@member_required(write=True)
def sync_start(request: HttpRequest) -> HttpResponse:
    """Queues a sync of each of the org's DSP accounts (the Celery worker runs it, not this request)."""
    try:
        created = services.campaign_sync_request(principal=request.principal)
        text = f"Sync queued for {len(created)} account(s)." if created else "A sync is already under way."
    except ApplicationError as exc:
        text = exc.message
    if request.htmx:
        return _sync_history(request)
    messages.info(request, text)
    return redirect("campaigns:overview")
