"""Liveness (/healthz: the process answers) and readiness (/readyz: it can do its work).

Readiness checks the database, the Celery broker, the output store (DELIVR_OUTPUT_URL: a probe file is
written, read back and deleted) and the columnar engine. A failing check answers 503 with what failed, in words, so
a load balancer stops sending traffic and an operator sees why.
"""

import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from audiences.engine.health import engine_ready
from delivr_admin import storage
from delivr_admin.celery import app as celery_app


def _database() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return None


def _broker() -> str | None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
        if conn.transport_cls == "filesystem" or settings.CELERY_BROKER_URL.startswith("filesystem"):
            conn.default_channel  # noqa: B018 - opening the channel checks the folders
    return None


def _output_store() -> str | None:
    storage.probe()
    return None


def _engine() -> str | None:
    from audiences import datasets

    problem = engine_ready(settings.DELIVR_DATA_ROOTS)
    spark = datasets.spark_engine()  # when the deployment reads some dataset root on Spark
    return problem or (spark.ready() if spark is not None else None)


CHECKS: dict[str, tuple[Callable[[], str | None], str]] = {
    "database": (_database, "the database does not answer"),
    "broker": (_broker, "the Celery broker cannot be reached"),
    "output_store": (_output_store, "the output store cannot be written"),
    "engine": (_engine, "the columnar engine cannot work"),
}


def readiness() -> tuple[bool, dict[str, dict]]:
    """Runs every check; each reports ok, its time in ms and, when failing, why."""
    results: dict[str, dict] = {}
    for name, (check, failure) in CHECKS.items():
        started = time.perf_counter()
        try:
            problem = check()
        except Exception as exc:  # a probe reports every failure, whatever raised it
            problem = f"{failure} ({type(exc).__name__})"
        results[name] = {"ok": problem is None, "ms": round((time.perf_counter() - started) * 1000, 1)}
        if problem is not None:
            results[name]["message"] = problem
    return all(r["ok"] for r in results.values()), results


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: answers without touching the database, the broker or storage."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    ready, checks = readiness()
    return JsonResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503
    )
