"""Pixel pages: the list of pixel sources with their snippet, event counts and pending regeneration; the
cookieless setting (admins change it)."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from accounts import selectors as account_selectors
from accounts.models import Role
from delivr_admin.decorators import admin_required, member_required
from delivr_admin.errors import ApplicationError

from . import selectors, services
from .forms import CookieSettingsForm, PixelForm


def _pixels_context(request: HttpRequest) -> dict:
    pixels = list(selectors.pixel_list(request.principal, with_stats=True))
    for pixel in pixels:
        pixel.pending = selectors.pixel_is_pending(pixel)
    return {"pixels": pixels, "snippet_base": request.build_absolute_uri("/pixel/")}


@member_required(roles=(Role.ADMIN, Role.MARKETER))
def pixel_list(request: HttpRequest) -> HttpResponse:
    context = _pixels_context(request)
    if request.htmx:
        return render(request, "pixels/pixel_list.html#pixels", context)
    context["form"] = PixelForm()
    return render(request, "pixels/pixel_list.html", context)


@require_POST
@admin_required
def pixel_create(request: HttpRequest) -> HttpResponse:
    form = PixelForm(request.POST)
    created = None
    if form.is_valid():
        try:
            created = services.pixel_create(
                organization=request.principal.organization,
                name=form.cleaned_data["name"],
                custom_fields=form.cleaned_data["custom_fields"],
            )
            form = PixelForm()
        except ApplicationError as exc:
            form.add_error(None, exc.message)
    context = {"form": form, "created": created}
    if not request.htmx:
        context.update(_pixels_context(request))
        return render(
            request, "pixels/pixel_list.html", context, status=200 if created or not form.errors else 400
        )
    response = render(request, "pixels/pixel_list.html#pixel-form", context)
    if created is not None:
        trigger_client_event(response, "pixelSaved")
    return response


def _settings_context(request: HttpRequest) -> dict:
    organization = account_selectors.organization_get(request.principal, request.principal.organization.id)
    return {
        "organization": organization,
        "pending_count": selectors.pixel_pending_count(organization.id),
    }


@member_required
def settings_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        if not request.principal.is_admin:
            raise PermissionDenied("Only organization admins can change this.")
        form = CookieSettingsForm(request.POST)
        form.is_valid()
        services.organization_settings_update(
            organization=request.principal.organization, cookies_enabled=form.cleaned_data["cookies_enabled"]
        )
        context = _settings_context(request) | {"saved": True}
        if request.htmx:
            response = render(request, "pixels/settings.html#cookies", context)
            trigger_client_event(response, "pixelSaved")
            return response
        return render(request, "pixels/settings.html", context)
    return render(request, "pixels/settings.html", _settings_context(request))
