"""Audience pages: the list, the HTMX builder with live estimates and preview, and an audience's page.

The builder posts its whole form on every change (hx-sync replaces a stale request); the estimate and the
preview are separate fragments so a count never waits for a table. Counts and rows come from the same
selectors as the API (definition_selection / audience_selection), so opt-outs never show.
"""

from __future__ import annotations

import logging

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from accounts import selectors as account_selectors
from accounts.models import Role
from audiences import charts, definitions, engine
from audiences.forms import AudienceSummaryQuery, BuilderForm
from audiences.models import RECORD_LIMIT_MAX, AudienceStatus, BuildStatus
from audiences.selectors import audiences as audience_selectors
from audiences.services import audiences as audience_services
from audiences.services import values as value_services
from audiences.views import builder_ui
from audiences.views import filters as filter_views
from delivr_admin.decorators import member_required
from delivr_admin.errors import ApplicationError
from delivr_admin.htmx import render_page_or_polled

logger = logging.getLogger(__name__)
PREVIEW_LIMITS = (10, 25, 100)
SAMPLE_LIMIT = 10
FORM_OPERATORS = definitions.OPERATORS
BUILDING = (BuildStatus.QUEUED, BuildStatus.BUILDING)

builder_required = member_required(roles=(Role.ADMIN, Role.MARKETER))


def definition_from_form(data) -> dict:
    """The definition a builder form describes (validated later by definition_normalize)."""
    return BuilderForm(data).definition() | {"filters": filter_views.filters_from_form(data)[0]}


def _form_state(definition: dict) -> dict:
    """Template-friendly view of a (normalized) definition, to prefill the builder."""
    return {
        "topic_id_prefixes": definition.get("topic_id_prefixes", []),
        "scores": definition.get("scores", []),
        "window": "range" if definition.get("date_from") else "lookback",
        "lookback_days": definition.get("lookback_days") or "",
        "date_from": definition.get("date_from") or "",
        "date_to": definition.get("date_to") or "",
        "filter_groups": filter_views.filters_state(definition),
    }


@member_required
def audience_list(request: HttpRequest) -> HttpResponse:
    audiences = list(
        audience_selectors.audience_list(request.principal).select_related("project__organization")
    )
    context = {"audiences": audiences, "any_building": any(a.build_status in BUILDING for a in audiences)}
    return render_page_or_polled(
        request, "audiences/audience_list.html", "audience-table", context, active=context["any_building"]
    )


def _builder_context(request, *, state: dict, audience=None, name: str = "", project_id=None, error=None):
    overview = audience_selectors.dataset_overview(None)
    columns = sorted(c for c in overview["columns"] if c not in ("day", "prefix", "score"))
    return {
        "audience": audience,
        "overview": overview,
        "columns": columns,
        "operators": FORM_OPERATORS,
        "scores": tuple(reversed(engine.SCORES)),  # highest first
        "preview_limits": PREVIEW_LIMITS,
        "projects": account_selectors.project_list(request.principal),
        "state": state,
        "name": name,
        "project_id": str(project_id) if project_id else "",
        "save_error": error,
        **builder_ui.topic_context(request.principal, prefixes=overview["prefixes"], state=state),
        **filter_views.filter_context(state.get("filter_groups")),
    }


@builder_required
def audience_builder(request: HttpRequest, audience_id=None) -> HttpResponse:
    """New audience (or edit one): GET shows the builder, POST saves and queues the build."""
    principal = request.principal
    audience = audience_selectors.audience_get(principal, audience_id) if audience_id else None
    if request.method == "POST":
        name, project_id = BuilderForm(request.POST).audience_fields()
        try:
            definition = definition_from_form(request.POST)
            if audience is None:
                audience = audience_services.audience_create(
                    principal=principal, project_id=project_id, name=name, definition=definition
                )
            else:
                audience = audience_services.audience_update(
                    audience=audience, name=name, definition=definition
                )
        except ApplicationError as exc:
            state = _form_state(_raw_state(request.POST))
            context = _builder_context(
                request, state=state, audience=audience, name=name, project_id=project_id, error=exc.message
            )
            context["field_errors"] = builder_ui.field_errors(exc)
            return render(request, "audiences/audience_builder.html", context, status=400)
        return redirect("audiences:audience-detail", audience_id=audience.pk)
    if audience is not None:
        state = _form_state(audience.definition)
        context = _builder_context(
            request, state=state, audience=audience, name=audience.name, project_id=audience.project_id
        )
    else:
        overview = audience_selectors.dataset_overview(None)
        state = _form_state(
            {"topic_id_prefixes": overview["prefixes"][:3], "scores": ["high", "medium"], "lookback_days": 7}
        )
        default = account_selectors.project_default(principal)
        context = _builder_context(request, state=state, project_id=default.pk if default else None)
    value_services.field_values_warm_queue()
    return render(request, "audiences/audience_builder.html", context)


def _raw_state(data) -> dict:
    """The form as typed (even when invalid), to show it again with the error."""
    return BuilderForm(data).raw_state() | {"filters": filter_views.raw_filters(data)}


@require_POST
@builder_required
def audience_estimate(request: HttpRequest) -> HttpResponse:
    """The estimate fragment: counts and the sentence of the form's definition, errors next to their field.

    Out-of-band parts of the response refresh the topic sizes (they follow the time window), the per-field
    error messages and, when the estimate fails, the preview (so it never claims that no rows match).
    """
    context: dict = {"estimate": None}
    definition, failure = None, None
    try:
        definition = definition_from_form(request.POST)
        context["estimate"] = audience_selectors.definition_estimate(
            definition=definition,
            input_path=None,
            organization_ids=request.principal.organization_ids,
        )
    except (ApplicationError, engine.EngineError) as exc:
        failure = exc
    except Exception as exc:  # noqa: BLE001 - e.g. an unreadable file: the estimate says so in words
        logger.exception("builder estimate failed")
        failure = exc
    context.update(
        builder_ui.estimate_context(request.principal, data=request.POST, definition=definition, exc=failure)
    )
    response = render(request, "audiences/audience_builder.html#estimate", context)
    # each condition's hint or error, next to its row (out of band)
    response.content += filter_views.messages_html(
        request, filter_views.condition_messages(request.POST, failure)
    ).encode()
    return trigger_client_event(response, "estimateUpdated") if context["estimate"] else response


@require_POST
@builder_required
def audience_preview(request: HttpRequest) -> HttpResponse:
    """The preview fragment: the first rows (10, 25 or 100) of the form's definition."""
    limit = BuilderForm(request.POST).preview_size(PREVIEW_LIMITS, fallback=10)
    context: dict = {"rows": [], "columns": [], "error": None, "limit": limit, "loaded": True}
    try:
        rows = audience_selectors.definition_preview(
            definition=definition_from_form(request.POST),
            input_path=None,
            organization_ids=request.principal.organization_ids,
            limit=limit,
        )
        context["rows"] = [list(r.values()) for r in rows]
        context["columns"] = list(rows[0]) if rows else []
    except (ApplicationError, engine.EngineError) as exc:
        context["error"] = builder_ui.error_words(exc, request.principal)[1]
    except Exception as exc:  # noqa: BLE001 - e.g. an unreadable file: said in words, logged
        logger.exception("builder preview failed")
        context["error"] = builder_ui.error_words(exc, request.principal)[1]
    return render(request, "audiences/audience_builder.html#preview", context)


def _detail_context(audience) -> dict:
    builds = audience_selectors.audience_build_history(audience)
    return {
        "audience": audience,
        "building": audience.build_status in BUILDING,
        "paused": audience.status == AudienceStatus.PAUSED,
        "record_limit_max": RECORD_LIMIT_MAX,
        "builds": builds,
        "change": audience_selectors.audience_build_change(builds),
        "size_fig": charts.audience_size_figure(builds) if len(builds) > 1 else None,
    }


@member_required
def audience_detail(request: HttpRequest, audience_id) -> HttpResponse:
    audience = audience_selectors.audience_get(request.principal, audience_id)
    context = _detail_context(audience)
    return render_page_or_polled(
        request, "audiences/audience_detail.html", "audience-status", context, active=context["building"]
    )


@member_required
def audience_sample(request: HttpRequest, audience_id) -> HttpResponse:
    audience = audience_selectors.audience_get(request.principal, audience_id)
    context = {"audience": audience, "contacts": [], "error": None, "loaded": True}
    try:
        context["contacts"] = audience_selectors.audience_sample(audience, SAMPLE_LIMIT)
    except (ApplicationError, engine.EngineError) as exc:
        context["error"] = builder_ui.error_words(exc, request.principal)[1]
    return render(request, "audiences/audience_detail.html#sample", context)


def _action(request, audience_id, action) -> HttpResponse:
    audience = audience_selectors.audience_get(request.principal, audience_id)
    error = None
    try:
        audience = action(audience=audience)
    except ApplicationError as exc:
        error = exc.message
    audience.refresh_from_db()
    context = {**_detail_context(audience), "action_error": error}
    if not request.htmx:
        return redirect("audiences:audience-detail", audience_id=audience.pk)
    response = render(request, "audiences/audience_detail.html#audience-status", context)
    return trigger_client_event(response, "audienceChanged") if error is None else response


@require_POST
@member_required(write=True)
def audience_refresh(request: HttpRequest, audience_id) -> HttpResponse:
    return _action(request, audience_id, audience_services.audience_refresh)


@require_POST
@member_required(write=True)
def audience_pause(request: HttpRequest, audience_id) -> HttpResponse:
    return _action(request, audience_id, audience_services.audience_pause)


@require_POST
@member_required(write=True)
def audience_resume(request: HttpRequest, audience_id) -> HttpResponse:
    return _action(request, audience_id, audience_services.audience_resume)


@require_POST
@member_required(write=True)
def audience_delete(request: HttpRequest, audience_id) -> HttpResponse:
    from django.contrib import messages

    audience = audience_selectors.audience_get(request.principal, audience_id)
    try:
        audience_services.audience_delete(audience=audience)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _go(request, reverse("audiences:audience-detail", kwargs={"audience_id": audience.pk}))
    messages.success(request, f"Deleted {audience.name}.")
    return _go(request, reverse("audiences:audience-list"))


def _go(request: HttpRequest, url: str) -> HttpResponse:
    """A redirect; asked by htmx (the delete form's hx-confirm), a full page load of `url` instead."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_GET
@member_required
def audience_summary(request: HttpRequest) -> HttpResponse:
    """Who an audience contains, in words (the export form refreshes it when its audience changes)."""
    query = AudienceSummaryQuery(request.GET).values()
    audience_id = query["audience_id"]
    try:
        audience = audience_selectors.audience_get(request.principal, audience_id) if audience_id else None
    except Http404:
        audience = None
    context = {
        "summary_audience": audience,
        "summary_id": query["summary_id"],
        "refresh_from": query["refresh_from"],
    }
    return render(request, "audiences/partials/audience_summary.html", context)
