"""Support pages: search the opt-out registry and its audit log, export the log as CSV, a person's page,
and recording an opt-out. Open to support staff and admins."""

import csv
import json

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from accounts.models import Role
from delivr_admin import csvsafe
from delivr_admin.decorators import member_required
from delivr_admin.errors import ApplicationError

from . import selectors, services
from .filters import AuditEventFilter, OptOutFilter
from .forms import IdentifierQueryForm, OptOutForm
from .http import request_meta
from .models import OptOutSource

support_required = member_required(roles=(Role.SUPPORT, Role.ADMIN))
PAGE_SIZE = 25
CSV_COLUMNS = [
    "occurred_at",
    "actor",
    "action",
    "identifier_type",
    "identifier_value",
    "source",
    "organization_id",
    "changes",
    "ip",
    "user_agent",
    "request_id",
]


def _query_without(request: HttpRequest, *names: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


def _results_context(request: HttpRequest) -> dict:
    principal = request.principal
    registry = OptOutFilter(request.GET, queryset=selectors.optout_list(principal))
    log = AuditEventFilter(request.GET, queryset=selectors.audit_event_list(principal))
    # An invalid search (start after end) lists every row, with the form's error above the lists.
    entries = Paginator(registry.searched(), PAGE_SIZE).get_page(request.GET.get("page"))
    events = Paginator(log.searched(), PAGE_SIZE).get_page(request.GET.get("log_page"))
    return {
        "form": registry.form,
        "entries": entries,
        "events": events,
        "query": _query_without(request, "page", "log_page"),
        "entries_query": _query_without(request, "page"),
        "events_query": _query_without(request, "log_page"),
    }


@support_required
def registry(request: HttpRequest) -> HttpResponse:
    context = _results_context(request)
    if request.htmx:
        return render(request, "privacy/registry.html#results", context)
    context["optout_form"] = OptOutForm()
    return render(request, "privacy/registry.html", context)


class _Echo:
    def write(self, value: str) -> str:
        return value


@support_required
def audit_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered audit log as CSV, streamed row by row (any size, constant memory)."""
    search = AuditEventFilter(request.GET, queryset=selectors.audit_event_list(request.principal))
    events = search.searched(when_invalid="none")
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(CSV_COLUMNS)
        for event in events.iterator(chunk_size=2000):
            yield writer.writerow(
                csvsafe.row(
                    [
                        event.occurred_at.isoformat(),
                        event.actor,
                        event.action,
                        event.identifier_type,
                        event.identifier_value,
                        event.source,
                        event.organization_id,
                        json.dumps(event.changes, sort_keys=True),
                        event.ip,
                        event.user_agent,
                        event.request_id,
                    ]
                )
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    filename = f"optout-audit-log-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@support_required
def identifier_detail(request: HttpRequest) -> HttpResponse:
    identifier_type, value = IdentifierQueryForm(request.GET).values()
    detail = selectors.identifier_detail(request.principal, identifier_type=identifier_type, value=value)
    from exports.selectors import optout_ledger

    destinations = optout_ledger(
        organization_ids=request.principal.organization_ids,
        identifier_type=detail.identifier_type,
        identifier_value=detail.value,
    )
    return render(request, "privacy/identifier.html", {"detail": detail, "destinations": destinations})


@require_POST
@support_required
def optout_create(request: HttpRequest) -> HttpResponse:
    form = OptOutForm(request.POST)
    recorded = None
    if form.is_valid():
        try:
            recorded, created = services.optout_record(
                identifier_type=form.cleaned_data["identifier_type"],
                value=form.cleaned_data["value"],
                source=OptOutSource.SUPPORT,
                opted_out_at=timezone.now(),
                organization=request.principal.organization,
                actor=request.principal.actor,
                request_meta=request_meta(request),
            )
            form = OptOutForm()
        except ApplicationError as exc:
            form.add_error("value", exc.message)
    context = {"optout_form": form, "recorded": recorded}
    if not request.htmx:
        context.update(_results_context(request))
        return render(request, "privacy/registry.html", context)
    response = render(request, "privacy/registry.html#optout-form", context)
    if recorded is not None:
        trigger_client_event(response, "optoutRecorded")
    return response
