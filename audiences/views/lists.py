"""Lists page: upload a CSV (HTMX), watch its import, read its reports, build a list audience from it."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import selectors as account_selectors
from accounts.models import Role
from audiences.forms import REPORT_KINDS, ListAudienceForm, ListReportQueryForm, ListUploadForm
from audiences.models import AudienceType, ListSource, ListStatus, ListType
from audiences.selectors import lists as list_selectors
from audiences.services import audiences as audience_services
from audiences.services import lists as list_services
from delivr_admin.decorators import member_required
from delivr_admin.errors import ApplicationError
from delivr_admin.htmx import render_page_or_polled


def _context(request, **extra) -> dict:
    lists = list(list_selectors.contact_list_list(request.principal)[:200])
    return {
        "lists": lists,
        "any_processing": any(c.status == ListStatus.PROCESSING for c in lists),
        "projects": account_selectors.project_list(request.principal),
        "list_types": ListType.choices,
        **extra,
    }


# Uploading lists is the page's purpose: support staff (read-only) have nothing to do here.
@member_required(roles=(Role.ADMIN, Role.MARKETER), write=True)
def list_list(request: HttpRequest) -> HttpResponse:
    """GET: the page (or, for htmx polling, the table); POST: upload a CSV and queue its import."""
    if request.method == "POST":
        error = None
        form = ListUploadForm(request.POST, request.FILES)
        try:
            if not form.is_valid():
                raise ApplicationError(form.errors["file"][0])  # the only field the form refuses
            list_services.contact_list_upload(
                principal=request.principal,
                project_id=form.cleaned_data["project_id"],
                name=form.cleaned_data["name"],
                type=form.cleaned_data["type"],
                upload=form.cleaned_data["file"],
                source=ListSource.UPLOAD,
            )
        except ApplicationError as exc:
            error = exc.message
        context = _context(request, upload_error=error)
        if request.htmx:
            return render(request, "audiences/list_list.html#lists-section", context, status=200)
        if error is None:
            return redirect("audiences:list-list")
        return render(request, "audiences/list_list.html", context, status=400)
    context = _context(request)
    return render_page_or_polled(
        request, "audiences/list_list.html", "list-table", context, active=context["any_processing"]
    )


@require_POST
@member_required(write=True)
def list_audience_create(request: HttpRequest, list_id) -> HttpResponse:
    contact_list = list_selectors.contact_list_get(request.principal, list_id)
    form = ListAudienceForm(request.POST)
    form.is_valid()  # a name only: never refused here
    try:
        audience = audience_services.audience_create(
            principal=request.principal,
            project_id=contact_list.project_id,
            name=form.cleaned_data["name"] or contact_list.name,
            type=AudienceType.LIST,
            contact_list=contact_list,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("audiences:list-list")
    return redirect("audiences:audience-detail", audience_id=audience.pk)


@require_POST
@member_required(write=True)
def list_delete(request: HttpRequest, list_id) -> HttpResponse:
    contact_list = list_selectors.contact_list_get(request.principal, list_id)
    error = None
    try:
        list_services.contact_list_delete(contact_list=contact_list)
    except ApplicationError as exc:
        error = exc.message
    if request.htmx:
        return render(request, "audiences/list_list.html#lists-section", _context(request, table_error=error))
    if error:
        messages.error(request, error)
    return redirect("audiences:list-list")


def _with_pager(report, pages: dict[str, int]):
    """The report with its Previous/Next query strings (the other report stays on its page)."""

    def query(page: int) -> str:
        return urlencode({**{f"{k}_page": v for k, v in pages.items()}, f"{report.kind}_page": page})

    return replace(
        report,
        previous_query=query(report.page - 1) if report.has_previous else "",
        next_query=query(report.page + 1) if report.has_next else "",
    )


@member_required(roles=(Role.ADMIN, Role.MARKETER))
def list_report(request: HttpRequest, list_id) -> HttpResponse:
    """A list's import report: the rows it refused (invalid, duplicates) in a table, in words."""
    contact_list = list_selectors.contact_list_get(request.principal, list_id)
    query = ListReportQueryForm(request.GET)
    pages = query.pages()
    reports = [
        _with_pager(list_selectors.contact_list_import_report(contact_list, kind, page=pages[kind]), pages)
        for kind in REPORT_KINDS
    ]
    context = {"contact_list": contact_list, "reports": reports}
    wanted = query.wanted()
    if request.htmx and wanted:  # a pager link: only that report's card
        report = next(r for r in reports if r.kind == wanted)
        return render(request, "audiences/list_report.html#report", {**context, "report": report})
    return render(request, "audiences/list_report.html", context)
