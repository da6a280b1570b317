"""Tasks pages: the org's tasks with live progress, a form to start one, per-partition counts and downloads."""

import shutil
import tempfile
import zipfile
from datetime import date

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.dateformat import format as date_format
from django.views.decorators.http import require_POST

from audiences.forms import TaskForm
from audiences.models import TaskKind, TaskStatus
from audiences.selectors import tasks as task_selectors
from audiences.selectors.audiences import dataset_overview
from audiences.selectors.topics import topic_catalogue
from audiences.services import tasks as task_services
from delivr_admin import storage
from delivr_admin.decorators import member_required
from delivr_admin.errors import ApplicationError
from delivr_admin.htmx import render_page_or_polled

RUNNING = (TaskStatus.IN_PROGRESS, TaskStatus.UNLOADING)
# the service's error codes that are about one form field: the error shows next to that field, without the
# API's "where_expr: " prefix
FIELD_OF_ERROR = {"invalid_where_expr": "where_expr", "invalid_select": "select"}


@member_required(write=True)
def task_list(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    overview = dataset_overview(None)
    initial = {}
    if overview["days"]:
        initial = {
            "start_day": overview["days"][-7] if len(overview["days"]) >= 7 else overview["days"][0],
            "end_day": overview["days"][-1],
            "topic_id_prefixes": overview["prefixes"][:3],
        }
    labels = {code: t.name for code, t in topic_catalogue(principal.organization.pk).items()}
    form = TaskForm(request.POST or None, prefixes=overview["prefixes"], labels=labels, initial=initial)
    if request.method == "POST" and form.is_valid() and not _empty_range(form, overview["days"]):
        v = form.cleaned_data
        try:
            task = task_services.task_create(
                principal=principal,
                kind=TaskKind.INTENT_HIVE,
                input_path=None,
                days=v["days"],
                topic_id_prefixes=v["topic_id_prefixes"],
                scores=v["scores"],
                limit=v.get("limit"),
                perform_unload=v["perform_unload"],
                select=v.get("select"),
                where_expr=v.get("where_expr"),
                output_format=v["format"],
                request_data={
                    k: (str(x) if not isinstance(x, list | bool | int) else x)
                    for k, x in v.items()
                    if k not in ("start_day", "end_day", "days")
                },
            )
        except ApplicationError as exc:
            field = FIELD_OF_ERROR.get(exc.code)
            form.add_error(field, exc.message.removeprefix(f"{field}: ") if field else exc.message)
        else:
            return redirect("audiences:task-detail", task_id=task.pk)
    tasks = list(task_selectors.task_list(principal).select_related("organization")[:50])
    context = {
        "form": form,
        "tasks": tasks,
        "overview": overview,
        "any_running": any(t.status in RUNNING for t in tasks),
        "running_statuses": RUNNING,
    }
    return render_page_or_polled(
        request, "audiences/tasks.html", "task-table", context, active=context["any_running"]
    )


def _empty_range(form: TaskForm, available: list[str]) -> bool:
    """True (with a form error saying so) when no chosen day has data: such a task would count nothing."""
    days = form.cleaned_data.get("days") or []
    if not available or not days or {d.isoformat() for d in days} & set(available):
        return False
    first, last = date.fromisoformat(available[0]), date.fromisoformat(available[-1])
    form.add_error(
        None,
        f"There is no data from {date_format(days[0], 'j M Y')} to {date_format(days[-1], 'j M Y')}: "
        f"the data covers {date_format(first, 'j M Y')} to {date_format(last, 'j M Y')}. "
        "Choose days in that range; a task over no data would count nothing.",
    )
    return True


@member_required
def task_detail(request: HttpRequest, task_id) -> HttpResponse:
    task = task_selectors.task_get(request.principal, task_id)
    jobs = task_selectors.task_jobs(task)
    status = task_selectors.task_status(task, jobs=jobs)
    rows: dict[str, dict] = {}
    for kind in ("count", "unload"):
        for part in task_selectors.partition_rows(task, jobs, kind, 0, status.get("counts_limit")):
            row = rows.setdefault(part.partition, {"partition": part.partition})
            row[kind] = part
            if part.name:
                row["link"] = status["output_links"].get(part.partition)
    context = {
        "task": task,
        "status": status,
        "rows": list(rows.values()),
        "running": task.status in RUNNING,
        "planning": task.planned_at is None and task.status in RUNNING,
    }
    return render_page_or_polled(
        request, "audiences/task_detail.html", "task-progress", context, active=context["running"]
    )


@require_POST
@member_required(write=True)
def task_unload(request: HttpRequest, task_id) -> HttpResponse:
    task = task_selectors.task_get(request.principal, task_id)
    try:
        task_services.task_unload_start(task=task)
    except ApplicationError as exc:
        from django.contrib import messages

        messages.error(request, exc.message)
    return redirect("audiences:task-detail", task_id=task.pk)


@member_required
def task_download_all(request: HttpRequest, task_id) -> HttpResponse:
    """One zip of every output of the task (Parquet stored as is, CSV deflated), built in a temporary file
    that spills to disk, so a large task does not sit in memory."""
    task = task_selectors.task_get(request.principal, task_id)
    files = task_selectors.task_output_files(task)
    if not files:
        raise Http404("This task has no output to download yet.")
    archive = tempfile.TemporaryFile()
    with zipfile.ZipFile(archive, "w") as zf:
        for arcname, name in files:
            info = zipfile.ZipInfo(arcname, date_time=task.created_at.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED if arcname.endswith(".csv") else zipfile.ZIP_STORED
            with storage.open_read(name) as src, zf.open(info, "w", force_zip64=True) as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
    archive.seek(0)
    stamp = task.created_at.strftime("%Y%m%d-%H%M")
    return FileResponse(archive, as_attachment=True, filename=f"task-{stamp}-outputs.zip")
