"""Structured logs: every record carries the request id (web) or the task and run ids (worker).

The ids live in context variables, set by ``RequestIdMiddleware`` for requests and by Celery's task signals
(see ``delivr_admin.metrics``) for tasks, so any logger anywhere gets them without passing them around.
``DELIVR_LOG_FORMAT=json`` writes one JSON object per line (python-json-logger); the default is plain text
with the ids as ``key=value`` pairs.
"""

import contextvars
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # settings import this module: keep Django's request machinery out of that path
    from django.http import HttpRequest, HttpResponse

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
task_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("task_id", default="")
run_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("run_id", default="")

# A caller-supplied id is kept only when it is short and plain, so it cannot forge log lines.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class ContextFilter(logging.Filter):
    """Adds request_id, task_id and run_id (empty when unknown) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.task_id = task_id_var.get()
        record.run_id = run_id_var.get()
        return True


class RequestIdMiddleware:
    """Gives each request an id (the caller's X-Request-ID when it is safe, else a new one), logs with it and
    returns it in the X-Request-ID response header so a user's report can be matched to the server's logs."""

    def __init__(self, get_response: "Callable[[HttpRequest], HttpResponse]"):
        self.get_response = get_response

    def __call__(self, request: "HttpRequest") -> "HttpResponse":
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


@contextmanager
def bound(*, task_id: str = "", run_id: str = "") -> Iterator[None]:
    """Binds task and run ids to the log records written inside the block."""
    tokens = [(task_id_var, task_id_var.set(task_id)), (run_id_var, run_id_var.set(run_id))]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def logging_config(*, level: str, fmt: str) -> dict:
    """The LOGGING dict: one console handler, plain or JSON, with the context ids on every record."""
    if fmt == "json":
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(task_id)s %(run_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    else:
        formatter = {
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s "
            "request_id=%(request_id)s task_id=%(task_id)s run_id=%(run_id)s"
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "delivr_admin.logcontext.ContextFilter"},
            # request lines and paths: no UID2 values, emails or signed-link tokens (see logredact)
            "redact": {"()": "delivr_admin.logredact.RedactFilter"},
        },
        "formatters": {"main": formatter},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "main", "filters": ["context"]}
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.request": {"level": "ERROR", "filters": ["redact"]},
            "django.server": {"filters": ["redact"]},
        },
    }
