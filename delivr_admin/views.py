"""The dashboard home: what needs this member now, per role, read through each app's selectors."""

from datetime import timedelta

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts.models import Role
from audiences.selectors import audiences as audience_selectors
from campaigns import selectors as campaign_selectors
from exports import selectors as export_selectors
from privacy import selectors as privacy_selectors

from .decorators import member_required
from .services import worker_status
from .templatetags.ui import run_display_status

RECENT = 6
# Exports whose newest run is looked at; the home lists those that failed or are under way.
EXPORTS_SCANNED = 50
ATTENTION_STATUSES = ("failed", "completed_with_errors", "queued", "running")


def _marketer_cards(principal) -> dict:
    audiences = audience_selectors.audience_recent_with_change(principal, limit=RECENT)
    exports = list(export_selectors.export_list(principal)[:EXPORTS_SCANNED])
    last_runs = export_selectors.export_last_runs(exports)
    attention = []
    for export in exports:
        run = last_runs.get(export.id)
        if run is not None and run_display_status(run) in ATTENTION_STATUSES:
            attention.append({"export": export, "run": run})
    attention.sort(key=lambda row: row["run"].queued_at, reverse=True)
    yesterday = timezone.localdate() - timedelta(days=1)
    period = campaign_selectors.DateRange(date_from=yesterday, date_to=yesterday)
    campaigns = list(campaign_selectors.campaign_list_with_totals(principal, period=period))
    spend = campaign_selectors.totals_of(campaigns)
    top = sorted((c for c in campaigns if c.total_spend), key=lambda c: c.total_spend, reverse=True)[:3]
    return {
        "audiences": audiences,
        "export_attention": attention[:RECENT],
        "yesterday": yesterday,
        "spend": spend,
        "top_campaigns": top,
        "has_campaigns": bool(campaigns),
    }


def _support_cards(principal) -> dict:
    since = timezone.now() - timedelta(days=7)
    entries = privacy_selectors.optout_list(principal)
    recent = list(entries[:RECENT])
    by_source = list(
        entries.order_by()
        .values("source")
        .annotate(count=Count("id"), recent=Count("id", filter=Q(opted_out_at__gte=since)))
        .order_by("-count", "source")
    )
    return {"optouts": recent, "optout_sources": by_source}


def _admin_cards(principal) -> dict:
    members = list(account_selectors.membership_list(principal))
    clients = list(account_selectors.api_client_list(principal))
    roles = {role: 0 for role in Role.values}
    for membership in members:
        roles[membership.role] = roles.get(membership.role, 0) + 1
    return {
        "members": members[:RECENT],
        "member_count": len(members),
        "role_counts": roles,
        "clients": clients[:RECENT],
        "client_count": len(clients),
        "organization": principal.organization,
    }


@member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    context: dict = {"worker": worker_status()}
    if principal.role == Role.MARKETER:
        context |= _marketer_cards(principal)
    elif principal.role == Role.SUPPORT:
        context |= _support_cards(principal)
    elif principal.is_admin:
        context |= _admin_cards(principal)
    return render(request, "dashboard.html", context)


@member_required
def worker_status_fragment(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard.html#worker-status", {"worker": worker_status()})
