"""Settings pages: projects, members, API clients, sub-organizations; and switching organization."""

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from delivr_admin.decorators import admin_required, member_required
from delivr_admin.errors import ApplicationError, html_error

from . import selectors, services
from .forms import ApiClientForm, LoginForm, MemberForm, OrganizationForm, OrganizationSwitchForm, ProjectForm


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True
    authentication_form = LoginForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.retry_after:  # too many failures: the form says so, and the status and header too
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after)
        return response


@member_required
def settings_home(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    context = {
        "projects": selectors.project_list(principal),
        "organizations": selectors.organization_list(principal),
        "members": selectors.membership_list(principal) if principal.is_admin else [],
        "clients": selectors.api_client_list(principal) if principal.is_admin else [],
        "project_form": ProjectForm(),
        "member_form": MemberForm(),
        "client_form": ApiClientForm(initial={"enforce_secret": True}),
        "org_form": OrganizationForm(),
    }
    return render(request, "accounts/settings.html", context)


def _render_section(request, section: str, context: dict, status: int = 200) -> HttpResponse:
    principal = request.principal
    base = {
        "projects": selectors.project_list(principal),
        "organizations": selectors.organization_list(principal),
        "members": selectors.membership_list(principal),
        "clients": selectors.api_client_list(principal),
        "project_form": ProjectForm(),
        "member_form": MemberForm(),
        "client_form": ApiClientForm(initial={"enforce_secret": True}),
        "org_form": OrganizationForm(),
    }
    base.update(context)
    if request.htmx:
        return render(request, f"accounts/settings.html#{section}", base, status=status)
    return render(request, "accounts/settings.html", base, status=status)


@require_POST
@admin_required
def project_create(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST)
    if form.is_valid():
        try:
            services.project_create(principal=request.principal, name=form.cleaned_data["name"])
            form = ProjectForm()
        except ApplicationError as exc:
            form.add_error("name", exc.message)
    return _render_section(request, "projects", {"project_form": form})


@require_POST
@admin_required
def member_add(request: HttpRequest) -> HttpResponse:
    form = MemberForm(request.POST)
    if form.is_valid():
        try:
            services.member_add(principal=request.principal, **form.cleaned_data)
            form = MemberForm()
        except ApplicationError as exc:
            # a weak password is said next to the password field, one reason per line
            fields = exc.extra.get("fields", {})
            for message in fields.get("password", []):
                form.add_error("password", message)
            if not fields:
                form.add_error(None, exc.message)
    return _render_section(request, "members", {"member_form": form})


@require_POST
@admin_required
def member_remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = selectors.membership_get(request.principal, membership_id)
    error = None
    try:
        services.member_remove(principal=request.principal, membership=membership)
    except ApplicationError as exc:
        error = exc.message
    return _render_section(request, "members", {"member_error": error})


@require_POST
@admin_required
def api_client_create(request: HttpRequest) -> HttpResponse:
    form = ApiClientForm(request.POST)
    created = None
    if form.is_valid():
        client, api_key, api_secret = services.api_client_create(
            principal=request.principal,
            name=form.cleaned_data["name"],
            enforce_secret=form.cleaned_data["enforce_secret"],
        )
        created = {"client": client, "api_key": api_key, "api_secret": api_secret}
        form = ApiClientForm(initial={"enforce_secret": True})
    response = _render_section(request, "clients", {"client_form": form, "created": created})
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@admin_required
def api_client_revoke(request: HttpRequest, client_id) -> HttpResponse:
    client = selectors.api_client_get(request.principal, client_id)
    services.api_client_revoke(client=client)
    return _render_section(request, "clients", {})


@require_POST
@admin_required
def organization_create(request: HttpRequest) -> HttpResponse:
    form = OrganizationForm(request.POST)
    if form.is_valid():
        services.organization_create_child(principal=request.principal, name=form.cleaned_data["name"])
        form = OrganizationForm()
    return _render_section(request, "organizations", {"org_form": form})


@require_POST
@member_required
def organization_switch(request: HttpRequest) -> HttpResponse:
    form = OrganizationSwitchForm(request.POST)
    if not form.is_valid():  # a malformed id (a 500 before: it reached the database as it was)
        return html_error(request, 400, form.errors["organization_id"][0])
    org_id = form.cleaned_data["organization_id"]
    if selectors.membership_exists(user=request.user, organization_id=org_id):
        request.session["org_id"] = str(org_id)
    # Only a path on this site: `next` must not send a signed-in user to another host (open redirect).
    target = form.cleaned_data["next"]
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return redirect(target if safe else "dashboard")
