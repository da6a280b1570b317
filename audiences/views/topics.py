"""Topic catalogue page (org admins): the global topics and the organization's own names for them, edited
one by one or imported from CSV with the same service as `manage.py import_topics --organization`."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import Role
from audiences.forms import TopicOverrideForm
from audiences.selectors import topics as topic_selectors
from audiences.services import topics as topic_services
from delivr_admin.decorators import member_required
from delivr_admin.errors import ApplicationError

admin_required = member_required(roles=(Role.ADMIN,), write=True)
UPLOAD_LIMIT = 2 * 1024 * 1024  # a catalogue of a few thousand topics is well under this


@admin_required
def topic_list(request: HttpRequest) -> HttpResponse:
    """GET: the catalogue as this organization sees it; POST: import a CSV of the organization's topics."""
    context: dict = {}
    status = 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise ApplicationError("Choose a CSV file.")
            if upload.size > UPLOAD_LIMIT:
                raise ApplicationError("The file is larger than 2 MB; split it into smaller files.")
            context["imported"] = topic_services.topic_import(
                content=upload.read(),
                organization=request.principal.organization,
                actor=request.principal.actor,
            )
        except ApplicationError as exc:
            context["import_error"] = exc.message
            status = 400
    context["rows"] = topic_selectors.topic_catalogue_rows(request.principal.organization.id)
    if request.htmx and request.method == "POST":
        return render(request, "audiences/topic_list.html#catalogue", context, status=status)
    return render(request, "audiences/topic_list.html", context, status=status)


@admin_required
def topic_edit(request: HttpRequest, code: str) -> HttpResponse:
    """GET: the form for the organization's name of one topic; POST: save it (an override of the global)."""
    organization = request.principal.organization
    row = topic_selectors.topic_row_get(organization.id, code)
    error = None
    form = TopicOverrideForm.for_row(row)
    if request.method == "POST":
        form = TopicOverrideForm(request.POST)
        form.is_valid()  # never refused here: the service words what is wrong
        try:
            topic_services.topic_override_save(
                organization=organization,
                code=row.code,
                actor=request.principal.actor,
                **form.cleaned_data,
            )
        except ApplicationError as exc:
            error = exc
        else:
            messages.success(request, f"Saved {form.cleaned_data['name'].strip()} for {organization.name}.")
            return redirect("audiences:topic-list")
    return render(
        request,
        "audiences/topic_edit.html",
        {"row": row, "form": form, "error": error},
        status=400 if error else 200,
    )


@require_POST
@admin_required
def topic_reset(request: HttpRequest, code: str) -> HttpResponse:
    """Removes the organization's own entry: the global name applies again (or the code, if none)."""
    organization = request.principal.organization
    row = topic_selectors.topic_row_get(organization.id, code)
    topic_services.topic_override_reset(organization=organization, code=row.code)
    messages.success(
        request,
        f"{row.code} uses the global catalogue again." if row.global_topic else f"Removed {row.code}.",
    )
    return redirect("audiences:topic-list")
