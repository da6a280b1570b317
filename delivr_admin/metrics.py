"""Prometheus metrics: request latency, Celery task (and so export run) durations, queue depth, engine time.

prometheus_client is the exporter. Several processes (gunicorn workers, Celery workers) write their samples to
PROMETHEUS_MULTIPROC_DIR when it is set (bin/run sets it; production must too, one empty folder per host), and
``/metrics`` aggregates them; without it each process reports only itself. ``/metrics`` answers callers with
``Authorization: Bearer $DELIVR_METRICS_TOKEN`` when that token is set, else only callers on loopback.
"""

import functools
import hmac
import inspect
import ipaddress
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from celery import signals
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from delivr_admin import logcontext

REQUEST_LATENCY = Histogram(
    "delivr_http_request_duration_seconds",
    "Time to answer an HTTP request, by route, method and status class.",
    ["route", "method", "status"],
)
TASK_DURATION = Histogram(
    "delivr_task_duration_seconds",
    "Time a Celery task ran (export runs are exports.tasks.export_run_execute), by task and outcome.",
    ["task", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
ENGINE_DURATION = Histogram(
    "delivr_engine_duration_seconds",
    "Time an engine spent in one public operation (count, preview, unload, ...), by backend (duckdb, spark).",
    ["operation", "engine"],
)


class RequestMetricsMiddleware:
    """Observes every request's latency under its URL route (not its path, which would explode the labels)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None else "unmatched"
        REQUEST_LATENCY.labels(route or "/", request.method, f"{response.status_code // 100}xx").observe(
            time.perf_counter() - started
        )
        return response


def observe_engine(operation: str, seconds: float, engine: str = "duckdb") -> None:
    """Records one engine operation's duration (registered with the engine in DelivrAdminConfig.ready)."""
    ENGINE_DURATION.labels(operation, engine).observe(seconds)


# -- Celery: durations and the ids bound to log records ------------------------------------------------------

_started: dict[str, tuple[float, object]] = {}


@functools.cache
def _object_id_position(task_name: str, run: Callable) -> str | None:
    """The name of a task's first parameter when it is an object id (run_id, audience_id, ...)."""
    params = list(inspect.signature(run).parameters)
    return params[0] if params and params[0].endswith("_id") else None


@signals.task_prerun.connect
def _task_prerun(task_id: str = "", task=None, args=(), kwargs=None, **_: object) -> None:
    run_id = ""
    name = _object_id_position(task.name, task.run) if task is not None else None
    if name is not None:
        value = (kwargs or {}).get(name, args[0] if args else "")
        run_id = value if isinstance(value, str) else ""
    scope = logcontext.bound(task_id=task_id or "", run_id=run_id)
    scope.__enter__()
    _started[task_id] = (time.perf_counter(), scope)


@signals.task_postrun.connect
def _task_postrun(task_id: str = "", task=None, state: str | None = None, **_: object) -> None:
    started, scope = _started.pop(task_id, (None, None))
    if started is not None and task is not None:
        TASK_DURATION.labels(task.name, (state or "UNKNOWN").lower()).observe(time.perf_counter() - started)
    if scope is not None:
        scope.__exit__(None, None, None)


# -- /metrics ---------------------------------------------------------------------------------------------------


class QueueDepthCollector:
    """Messages waiting in the broker's default queue, read at scrape time (Redis list or filesystem folder)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = queue_depth()
        if depth is not None:
            family = GaugeMetricFamily(
                "delivr_queue_depth", "Messages waiting in the Celery queue.", labels=["queue"]
            )
            family.add_metric(["celery"], depth)
            yield family


def queue_depth() -> int | None:
    """Messages waiting in the 'celery' queue, or None when the broker cannot be asked."""
    url = settings.CELERY_BROKER_URL
    try:
        if url.startswith("redis"):
            import redis

            client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
            return int(client.llen("celery"))
        if url.startswith("filesystem"):
            folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
            return sum(1 for entry in folder.iterdir() if entry.name.endswith(".msg"))
    except Exception:  # a scrape must still answer when the broker is down; /readyz reports that
        return None
    return None


def _allowed(request: HttpRequest) -> bool:
    token = settings.DELIVR_METRICS_TOKEN
    if token:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(supplied.encode(), token.encode())
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _registry() -> CollectorRegistry:
    """A registry for one scrape: every process's samples when multiprocess mode is on, else this process's."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        for metric in (REQUEST_LATENCY, TASK_DURATION, ENGINE_DURATION):
            registry.register(metric)
    registry.register(QueueDepthCollector())
    return registry


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return HttpResponse(
            "Forbidden: metrics are served to loopback or with DELIVR_METRICS_TOKEN.", status=403
        )
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
