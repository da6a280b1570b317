"""Dashboard pages of the exports app: list, form (HTMX fragments per destination, list name, mapping rows,
dry run), and detail (test connection, run now, live run history with per-object results)."""

from __future__ import annotations

import secrets

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.selectors import project_list
from audiences.models import RECORD_LIMIT_MAX
from audiences.selectors.audiences import audience_get, audience_list
from delivr_admin.decorators import member_required
from delivr_admin.errors import ApplicationError
from delivr_admin.htmx import render_page_or_polled, render_polled

from . import selectors
from .destinations.base import destination_kinds, get_destination
from .forms import ConnectionBadgeQuery, ExportForm, ExportFormQuery, RunFileQuery, error_words
from .models import CheckStatus, Schedule, SyncMode
from .services import connection as connection_services
from .services import connection_checks as check_services
from .services import dry_run as dry_run_services
from .services import exports as export_services
from .services import runs as run_services
from .services.progress import duration_words, run_progress, run_seconds_left

DEFAULT_ROWS = [
    {"source": "email", "target": "Email", "type": "email", "required": True},
    {"source": "first_name", "target": "FirstName", "max_length": 40},
    {"source": "last_name", "target": "LastName", "max_length": 80},
    {"source": "company_name", "target": "Company", "max_length": 255, "truncate": True},
    {"source": "job_title", "target": "JobTitle", "max_length": 128, "truncate": True},
]


CATALOG_POLLS = 12  # the form asks every second; after this many tries it stops and says so
# Config keys the form never shows: tuning knobs for operators and tests, set through the API.
HIDDEN_SETTINGS = frozenset({"timeline_event_template_id"})


def _row(spec: dict | None = None, catalog: dict | None = None) -> dict:
    spec = dict(spec or {})
    spec.setdefault("type", "string")
    spec["rid"] = secrets.token_hex(4)
    spec["picklist_text"] = ", ".join(spec.get("picklist") or [])
    names = {f["name"] for f in (catalog or {}).get("fields") or []}
    spec["target_known"] = spec.get("target") in names
    return spec


def _setting(cls, key: str, secret: bool, config: dict | None = None) -> dict:
    setting = cls.setting(key)
    value = (config or {}).get(key)
    if value is None and setting.choices:
        value = setting.choices[0][0]
    return {
        "key": key,
        "value": "" if value is None else str(value),
        "label": setting.label,
        "help": setting.help,
        "choices": list(setting.choices),
        "input_type": "password" if secret else setting.input_type,
        "placeholder": setting.placeholder,
    }


def _destination(kind: str, config: dict | None = None) -> dict | None:
    try:
        cls = get_destination(kind)
    except Exception:  # noqa: BLE001 - an unknown kind shows no fields
        return None
    return {
        "kind": kind,
        "label": cls.label,
        "config_fields": list(cls.config_fields),
        "credential_fields": list(cls.credential_fields),
        "config_settings": [
            _setting(cls, k, False, config) for k in cls.config_fields if k not in HIDDEN_SETTINGS
        ],
        "credential_settings": [_setting(cls, k, True) for k in cls.credential_fields],
        "has_lists": cls.has_lists,
        "sync_modes": [(m, SyncMode(m).label) for m in export_services.sync_modes_for(cls)],
    }


def _catalog(export, kind: str) -> dict:
    """The mapping form's targets; queues a background check when the saved export's list is old."""
    catalog = connection_services.export_target_catalog(export=export, destination_type=kind)
    if (
        export is not None
        and export.destination_type == kind
        and catalog["state"] in ("standard", "fetched")
        and connection_services.catalog_is_stale(export)
        and not connection_services.missing_credentials(export)
        and get_destination(kind).fetches_fields
    ):
        connection_services.export_connection_queue(export=export)
        catalog = connection_services.export_target_catalog(export=export, destination_type=kind)
    return catalog


def _form_context(
    request, export=None, values: dict | None = None, error: str = "", error_field: str = ""
) -> dict:
    principal = request.principal
    values = values or {}
    kind = values.get("destination_type") or (export.destination_type if export else "file")
    config = values.get("destination_config") or (export.destination_config if export else {"format": "csv"})
    catalog = _catalog(export, kind)
    rows = values.get("rows") or [
        _row(r, catalog) for r in (export.field_mapping if export else _default_rows(catalog))
    ]
    known = {f["name"] for f in catalog.get("fields") or []}
    for row in rows:
        row["target_known"] = row.get("target") in known
    record_limit = values.get("record_limit", export.record_limit if export else None)
    audiences = list(audience_list(principal).select_related("project"))
    audience_id = values.get("audience_id") or (
        str(export.audience_id) if export and export.audience_id else ""
    )
    if not audience_id and audiences:
        audience_id = str(audiences[0].id)
    audience = next((a for a in audiences if str(a.id) == audience_id), None)
    audience_name = audience.name if audience else ""
    source_columns = selectors.audience_source_columns(audience)
    _mark_sources(rows, source_columns)
    return {
        "export": export,
        "error": error_words(error),
        "error_field": error_field,  # the destination field the error is about: shown next to it too
        "name": values.get("name", export.name if export else ""),
        "audiences": audiences,
        "audience_id": audience_id,
        "audience_name": audience_name,
        "source_columns": source_columns,
        "destinations": selectors.destination_options(),
        "destination": _destination(kind, config),
        "destination_type": kind,
        "config": config,
        "credential_names": export.credential_names if export and export.destination_type == kind else [],
        "rows": rows,
        "catalog": catalog,
        "catalog_polls": 0,
        "schedules": Schedule.values,
        "schedule": values.get("schedule", export.schedule if export else "manual"),
        "record_limit": record_limit,
        "record_limit_max": RECORD_LIMIT_MAX,
        "list_name": values.get("list_name", export.list_name if export else ""),
        "sync_mode": values.get("sync_mode", export.sync_mode if export else SyncMode.CHANGES),
    }


def _mark_sources(rows: list[dict], source_columns: list[tuple[str, str]]) -> None:
    """Each row's source in the column's own spelling, and whether the audience has it (else the Source
    select keeps it as a last option, "(not in this audience)")."""
    columns = {name.lower(): name for name, _label in source_columns}
    for row in rows:
        source = row.get("source") or ""
        row["source_known"] = source.lower() in columns
        if row["source_known"]:
            row["source"] = columns[source.lower()]


def _parse_form(request) -> tuple[dict, str]:
    """The posted export as the service takes it, the form's rows to show again, and the form's first error
    ("" when it read cleanly; the service checks the rest). A source the audience lacks is refused here, next
    to its row, when the audience's columns can be read."""

    def columns_of(audience_id: str) -> list[str]:
        audience = _audience_or_none(request, audience_id)
        return [name for name, _label in selectors.audience_source_columns(audience)]

    form = ExportForm(request.POST, columns_of=columns_of)
    valid = form.is_valid()
    values = form.values()
    values["rows"] = [_row(r) for r in form.mapping.rows()] or [_row()]
    return values, "" if valid else form.first_error()


_SERVICE_KEYS = (
    "name",
    "audience_id",
    "destination_type",
    "destination_config",
    "credentials",
    "field_mapping",
    "schedule",
    "record_limit",
    "list_name",
    "sync_mode",
)


def _default_rows(catalog: dict) -> list[dict]:
    """The new form's first rows: the audience's email mapped to the destination's email field when it has one."""
    fields = catalog.get("fields") or []
    if not fields:
        return DEFAULT_ROWS
    email = next((f for f in fields if f.get("mapping_type") == "email"), None)
    if email is None:
        return [{"source": "email", "target": "", "type": "string"}]
    return [{"source": "email", "target": email["name"], "type": "email", "required": True}]


@member_required
def export_list(request: HttpRequest) -> HttpResponse:
    exports = list(selectors.export_list(request.principal)[:200])
    last = selectors.export_last_runs(exports)
    labels = dict(destination_kinds())
    rows = [
        {"export": e, "last_run": last.get(e.id), "destination_label": labels.get(e.destination_type, "")}
        for e in exports
    ]
    return render(request, "exports/export_list.html", {"rows": rows})


@member_required(write=True)
def export_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        values, error = _parse_form(request)
        if error:
            return render(
                request, "exports/export_form.html", _form_context(request, None, values, error), status=400
            )
        projects = list(project_list(request.principal))
        try:
            audience = (
                audience_get(request.principal, values["audience_id"]) if values["audience_id"] else None
            )
            project_id = audience.project_id if audience else (projects[0].id if projects else None)
            export = export_services.export_create(
                principal=request.principal,
                project_id=project_id,
                **{k: values[k] for k in _SERVICE_KEYS},
            )
        except (ApplicationError, Http404) as exc:
            message = (
                exc.message
                if isinstance(exc, ApplicationError)
                else "Choose an audience of your organization."
            )
            field = exc.extra.get("field", "") if isinstance(exc, ApplicationError) else ""
            return render(
                request,
                "exports/export_form.html",
                _form_context(request, None, values, message, field),
                status=400,
            )
        return redirect("exports:export-detail", export_id=export.id)
    return render(request, "exports/export_form.html", _form_context(request))


@member_required(write=True)
def export_edit(request: HttpRequest, export_id) -> HttpResponse:
    export = selectors.export_get(request.principal, export_id)
    if request.method == "POST":
        values, error = _parse_form(request)
        if error:
            return render(
                request, "exports/export_form.html", _form_context(request, export, values, error), status=400
            )
        try:
            export_services.export_update(
                principal=request.principal, export=export, **{k: values[k] for k in _SERVICE_KEYS}
            )
        except ApplicationError as exc:
            return render(
                request,
                "exports/export_form.html",
                _form_context(request, export, values, exc.message, exc.extra.get("field", "")),
                status=400,
            )
        return redirect("exports:export-detail", export_id=export.id)
    return render(request, "exports/export_form.html", _form_context(request, export))


@member_required
def export_form_destination(request: HttpRequest) -> HttpResponse:
    """The destination-specific fields for the chosen destination (hx-get when the select changes)."""
    query = ExportFormQuery(request.GET, destination_default="file")
    kind = query.value("destination_type")
    export = _export_or_none(request, query)
    config = export.destination_config if export and export.destination_type == kind else {}
    context = {
        "destination": _destination(kind, config),
        "config": config,
        "credential_names": export.credential_names if export and export.destination_type == kind else [],
        "destination_type": kind,
        "catalog": _catalog(export, kind),
        "catalog_polls": 0,
        "export": export,
        "list_name": query.value("list_name"),
        "audience_name": _audience_name(request, query),
        "oob": True,
        "sync_mode": query.value("sync_mode") or (export.sync_mode if export else SyncMode.CHANGES),
    }
    return render(request, "exports/export_form.html#destination-fields", context)


def _export_or_none(request: HttpRequest, query: ExportFormQuery):
    export_id = query.value("export_id")
    if not export_id:
        return None
    try:
        return selectors.export_get(request.principal, export_id)
    except Http404:
        return None


def _audience_or_none(request: HttpRequest, audience_id: str):
    if not audience_id:
        return None
    try:
        return audience_get(request.principal, audience_id)
    except Exception:  # noqa: BLE001 - an unknown audience (or a malformed id) has no name nor columns
        return None


def _audience_name(request: HttpRequest, query: ExportFormQuery) -> str:
    audience = _audience_or_none(request, query.value("audience_id"))
    return audience.name if audience else ""


@member_required
def export_form_targets(request: HttpRequest) -> HttpResponse:
    """The target list's status while a saved export's fields load in the background (polled every second).

    When they arrive, the response carries them as a <template> that app.js swaps into every target select.
    """
    query = ExportFormQuery(request.GET)
    kind = query.value("destination_type")
    export = _export_or_none(request, query)
    polls = min(query.value("n"), CATALOG_POLLS)
    catalog = connection_services.export_target_catalog(export=export, destination_type=kind)
    context = {"catalog": catalog, "catalog_polls": polls + 1, "export": export, "destination_type": kind}
    if catalog["state"] == "loading" and polls + 1 >= CATALOG_POLLS:
        label = get_destination(kind).label
        context["catalog"] = catalog | {
            "state": "standard",
            "message": f"{label} has not answered yet. Pick from {label}'s standard fields for now, "
            "or reload this page in a minute for your own.",
        }
    context["send_options"] = context["catalog"]["state"] != "loading"
    return render(request, "exports/export_form.html#catalog-status", context)


@member_required
def export_form_list_name(request: HttpRequest) -> HttpResponse:
    """When the audience changes (hx-get): the list name prefilled with its name, and (out of band) its
    columns as a <template> that app.js swaps into every mapping row's Source."""
    query = ExportFormQuery(request.GET)
    audience = _audience_or_none(request, query.value("audience_id"))
    context = {
        "list_name": "",
        "audience_name": audience.name if audience else "",
        "destination": _destination(query.value("destination_type")),
        "source_columns": selectors.audience_source_columns(audience),
        "oob_sources": True,
    }
    return render(request, "exports/export_form.html#list-name", context)


@member_required
def export_form_mapping_row(request: HttpRequest) -> HttpResponse:
    """A new mapping row: its Source offers the chosen audience's columns, its Target the destination's fields."""
    query = ExportFormQuery(request.GET)
    catalog = _catalog(_export_or_none(request, query), query.value("destination_type"))
    audience = _audience_or_none(request, query.value("audience_id"))
    context = {
        "row": _row(None, catalog),
        "catalog": catalog,
        "source_columns": selectors.audience_source_columns(audience),
    }
    return render(request, "exports/export_form.html#mapping-row", context)


@require_POST
@member_required(write=True)
def export_form_dry_run(request: HttpRequest) -> HttpResponse:
    """Dry run of the form as it stands (saved or not): counts and examples of what would fail."""
    values, error = _parse_form(request)
    context: dict = {}
    try:
        if error:
            raise ApplicationError(error)
        audience = audience_get(request.principal, values["audience_id"])
        export_services.mapping_targets_check(
            destination_type=values["destination_type"], field_mapping=values["field_mapping"]
        )
        context["dry_run"] = dry_run_services.export_dry_run(
            audience=audience, field_mapping=values["field_mapping"], record_limit=values["record_limit"]
        )
    except ApplicationError as exc:
        context["dry_run_error"] = error_words(exc.message)
    except Exception as exc:  # noqa: BLE001 - e.g. an unknown audience
        context["dry_run_error"] = str(exc) or "The dry run failed."
    return render(request, "exports/export_form.html#dry-run-result", context)


def _detail_context(export) -> dict:
    runs = list(selectors.export_run_list(export)[:20])
    latest = runs[0] if runs else None
    progress = None
    if latest is not None and latest.is_active:
        done, expected = run_progress(latest)
        progress = {
            "done": done,
            "expected": expected,
            "percent": min(100, round(100 * done / expected)) if expected else 0,
            "left": duration_words(run_seconds_left(latest)),
        }
    missing = connection_services.missing_credentials(export)
    return {
        "export": export,
        "runs": runs,
        "latest": latest,
        "file_links": selectors.export_run_file_links(latest) if latest else {},
        "progress": progress,
        "active": any(r.is_active for r in runs),
        "destination": _destination(export.destination_type, export.destination_config),
        "run_blocked": f"Not connected: {missing}." if missing else "",
        "connection": _pending(selectors.connection_check_latest(export)),  # the badge shows the result
    }


@member_required
def export_detail(request: HttpRequest, export_id) -> HttpResponse:
    export = selectors.export_get(request.principal, export_id)
    context = _detail_context(export)
    return render_page_or_polled(
        request, "exports/export_detail.html", "run-history", context, active=context["active"]
    )


@require_POST
@member_required(write=True)
def export_run_start(request: HttpRequest, export_id) -> HttpResponse:
    export = selectors.export_get(request.principal, export_id)
    error = ""
    try:
        run_services.export_run_start(export=export, trigger="manual", actor=request.principal.actor)
    except ApplicationError as exc:
        error = exc.message
    context = _detail_context(export) | {"run_error": error}
    if request.htmx:
        return render(request, "exports/export_detail.html#run-history", context)
    return redirect("exports:export-detail", export_id=export.id)


def _pending(check):
    return check if check is not None and check.status == CheckStatus.PENDING else None


@require_POST
@member_required(write=True)
def export_test_connection(request: HttpRequest, export_id) -> HttpResponse:
    """Queues a connection check and answers at once: the fragment says "Checking…" and polls the check."""
    export = selectors.export_get(request.principal, export_id)
    check = check_services.connection_check_start(export=export, actor=request.principal.actor)
    if request.htmx:
        context = {"export": export, "connection": check}
        return render(request, "exports/export_detail.html#connection-result", context)
    return redirect("exports:export-detail", export_id=export.id)


@member_required
def export_connection_check(request: HttpRequest, export_id, check_id) -> HttpResponse:
    """The check's fragment, polled every second until it is ok or failed (then stops the polling)."""
    export = selectors.export_get(request.principal, export_id)
    check = check_services.connection_check_expire(check=selectors.connection_check_get(export, check_id))
    if not request.htmx:
        return redirect("exports:export-detail", export_id=export.id)
    context = {"export": export, "connection": check}
    return render_polled(
        request,
        "exports/export_detail.html#connection-result",
        context,
        active=check.status == CheckStatus.PENDING,
    )


@member_required
def export_connection(request: HttpRequest, export_id) -> HttpResponse:
    """The export's connection badge (polled while the background check runs, until it has an answer)."""
    export = check_services.export_connection_settle(
        export=selectors.export_get(request.principal, export_id)
    )
    query = ConnectionBadgeQuery(request.GET)
    context = {"e": export, "show_message": query.is_valid() and query.cleaned_data["words"]}
    return render_polled(
        request,
        "exports/partials/connection_badge.html",
        context,
        active=export.connection_status == "checking",
    )


@require_POST
@member_required(write=True)
def export_delete(request: HttpRequest, export_id) -> HttpResponse:
    export = selectors.export_get(request.principal, export_id)
    try:
        export_services.export_delete(export=export)
    except ApplicationError as exc:
        from django.contrib import messages

        messages.error(request, exc.message)
        return redirect("exports:export-detail", export_id=export.id)
    return redirect("exports:export-list")


@member_required
def export_run_file(request: HttpRequest, export_id, run_id) -> HttpResponse:
    """A file a run wrote (its output or its removals), through the signed link on the run's page."""
    import posixpath

    from django.http import FileResponse

    from delivr_admin import storage

    query = RunFileQuery(request.GET)
    query.is_valid()  # never refused here: the selector says in words when the link is not intact
    name = selectors.export_run_file_resolve(
        request.principal,
        export_id,
        run_id,
        kind=query.cleaned_data["file"],
        token=query.cleaned_data["token"],
    )
    return FileResponse(storage.open_read(name), as_attachment=True, filename=posixpath.basename(name))
