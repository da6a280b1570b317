from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from accounts import selectors as account_selectors

from .decorators import member_required
from .services import worker_status


@member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    context = {
        "projects": account_selectors.project_list(principal),
        "worker": worker_status(),
    }
    return render(request, "dashboard.html", context)


@member_required
def worker_status_fragment(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard.html#worker-status", {"worker": worker_status()})


def healthz(request: HttpRequest) -> JsonResponse:
    status = worker_status()
    return JsonResponse({"web": "ok", "worker_online": status["online"]})
