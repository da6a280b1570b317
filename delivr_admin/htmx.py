"""The one way a polled partial is answered: rendered as usual while work is under way, and as django-htmx's
HttpResponseStopPolling (status 286) once it is idle, which tells htmx to stop polling."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django_htmx.http import HttpResponseStopPolling


def render_polled(request: HttpRequest, template_name: str, context: dict, *, active: bool) -> HttpResponse:
    """The partial; while `active` htmx keeps polling it, once idle the same markup stops the polling."""
    if active:
        return render(request, template_name, context)
    return HttpResponseStopPolling(render_to_string(template_name, context, request))


def render_page_or_polled(
    request: HttpRequest, template_name: str, partial: str, context: dict, *, active: bool
) -> HttpResponse:
    """The whole page; for htmx's polling (a GET from the page) only its `partial`, see `render_polled`."""
    if request.htmx and request.method == "GET":
        return render_polled(request, f"{template_name}#{partial}", context, active=active)
    return render(request, template_name, context)
