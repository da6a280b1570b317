"""Health endpoints, Prometheus metrics, request/task ids in logs, and optional Sentry reporting."""

import gzip
import json
import logging
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from audiences import engine
from audiences.engine.generator import GenerateParams, generate
from delivr_admin import logcontext
from delivr_admin.celery import app as celery_app

DUCKDB = engine.DuckDBEngine()  # the embedded backend these tests exercise

ROOT = Path(__file__).resolve().parent.parent


def _samples(text: str, name: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


@pytest.fixture
def data_root(tmp_path, settings):
    root = tmp_path / "data"
    generate(str(root / "intent"), GenerateParams(rows=400, days=2, prefixes=2, seed=3))
    settings.DELIVR_DATA_ROOTS = [str(root)]
    return root / "intent"


def test_healthz_when_called_answers_without_dependencies(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_when_everything_works_reports_each_check_ok(client, data_root, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "broker", "output_store", "engine"}
    assert all(check["ok"] for check in body["checks"].values())


@pytest.mark.django_db
def test_readyz_when_output_store_and_data_root_fail_answers_503_with_reasons(client, settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings.MEDIA_ROOT = str(blocker / "media")  # cannot be created, even by root
    settings.DELIVR_DATA_ROOTS = [str(tmp_path / "missing")]
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "not ready"
    assert body["checks"]["output_store"]["ok"] is False
    assert "output store" in body["checks"]["output_store"]["message"]
    assert "missing or not readable" in body["checks"]["engine"]["message"]
    assert body["checks"]["database"]["ok"] is True


@pytest.mark.django_db
def test_readyz_when_broker_is_down_answers_503(client, data_root, settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    dead = "redis://127.0.0.1:1/0"
    # Celery reads CELERY_BROKER_URL from the environment before its own conf (CI's Redis phase sets it).
    monkeypatch.setenv("CELERY_BROKER_URL", dead)
    monkeypatch.delenv("CELERY_BROKER_WRITE_URL", raising=False)
    monkeypatch.setitem(celery_app.conf, "broker_url", dead)
    monkeypatch.setitem(celery_app.conf, "broker_write_url", None)
    body = client.get("/readyz").json()
    assert body["checks"]["broker"]["ok"] is False
    assert "broker" in body["checks"]["broker"]["message"]


@pytest.mark.django_db
def test_metrics_when_requests_and_engine_ran_expose_latency_and_engine_time(client, data_root):
    client.get("/healthz")
    sel = engine.Selection(input_path=str(data_root))
    assert DUCKDB.count(sel) > 0
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    text = response.content.decode()
    latency = _samples(text, "delivr_http_request_duration_seconds_count")
    assert any(
        s.labels["route"] == "healthz" and s.labels["status"] == "2xx" and s.value >= 1 for s in latency
    )
    engine_counts = _samples(text, "delivr_engine_duration_seconds_count")
    assert any(
        s.labels["operation"] == "count" and s.labels["engine"] == "duckdb" and s.value >= 1
        for s in engine_counts
    )
    depth = _samples(text, "delivr_queue_depth")
    assert depth and depth[0].value >= 0


def test_metrics_when_caller_is_not_local_and_has_no_token_is_forbidden(client, settings):
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    settings.DELIVR_METRICS_TOKEN = "scrape-secret"
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    ok = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert ok.status_code == 200


@celery_app.task(name="tests.observability_probe")
def observability_probe(run_id: str) -> str:
    logging.getLogger("tests.observability").warning("probe ran")
    return run_id


def test_celery_task_when_run_binds_task_and_run_ids_to_logs_and_observes_duration(client, caplog):
    caplog.handler.addFilter(logcontext.ContextFilter())
    with caplog.at_level(logging.WARNING, logger="tests.observability"):
        result = observability_probe.apply(args=["run-123"])
    record = next(r for r in caplog.records if r.getMessage() == "probe ran")
    assert record.task_id == result.id
    assert record.run_id == "run-123"
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    durations = _samples(text, "delivr_task_duration_seconds_count")
    assert any(s.labels == {"task": "tests.observability_probe", "outcome": "success"} for s in durations)
    assert logcontext.task_id_var.get() == ""  # unbound after the task


def test_request_id_when_safe_is_echoed_and_when_unsafe_is_replaced(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="abc123-trace.1")["X-Request-ID"] == "abc123-trace.1"
    forged = client.get("/healthz", HTTP_X_REQUEST_ID="x\nINFO fake log line")["X-Request-ID"]
    assert "\n" not in forged and len(forged) == 32


def test_json_log_format_when_chosen_writes_one_object_per_line_with_ids():
    config = logcontext.logging_config(level="INFO", fmt="json")
    formatter_spec = dict(config["formatters"]["main"])
    factory = formatter_spec.pop("()")
    module, _, name = factory.rpartition(".")
    formatter = getattr(__import__(module, fromlist=[name]), name)(**formatter_spec)
    record = logging.LogRecord("delivr", logging.INFO, __file__, 1, "hello", None, None)
    logcontext.ContextFilter().filter(record)
    token = logcontext.request_id_var.set("req-42")
    try:
        logcontext.ContextFilter().filter(record)
    finally:
        logcontext.request_id_var.reset(token)
    line = json.loads(formatter.format(record))
    assert line["message"] == "hello" and line["request_id"] == "req-42" and line["level"] == "INFO"


class _SentryStandIn(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        type(self).received.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_sentry_when_dsn_set_reports_errors_without_personal_data(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SentryStandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {**os.environ, "SENTRY_DSN": f"http://publickey@127.0.0.1:{server.server_port}/1"}
        script = (
            "import sentry_sdk\n"
            "try:\n    1 / 0\nexcept ZeroDivisionError:\n    sentry_sdk.capture_exception()\n"
            "sentry_sdk.flush(timeout=10)\n"
        )
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True, timeout=120
        )
    finally:
        server.shutdown()
    payload = b"".join(_SentryStandIn.received)
    assert b"ZeroDivisionError" in payload
    assert b'"send_default_pii": true' not in payload
