"""Access logs carry no UID2 values, emails or signed-link tokens: the redaction on real request lines, on
Django's request loggers, and in a real gunicorn process started as bin/run starts it."""

import logging
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from delivr_admin.logredact import RedactFilter, redact
from tests.conftest import ROOT, wait_for

UID2 = "AbC+/uid2TokenValue=="
EMAIL = "jane.doe@example.com"
TOKEN = "eyJ0YXNrIjoiMSJ9.c2lnbmF0dXJl"

LINES = [
    f"GET /api/v1/uid2/optout?user={UID2}&optouttime=1772600767 HTTP/1.1",
    "GET /api/v1/uid2/optout?optouttime=1772600767&user=AbC%2B%2Fuid2TokenValue%3D%3D HTTP/1.1",
    f"GET /api/v1/tasks/8f1c/jobs/3/download?token={TOKEN} HTTP/1.1",
    f"GET /privacy/identifier/?type=email&value={EMAIL} HTTP/1.1",
    "GET /privacy/identifier/?type=email&value=jane.doe%40example.com HTTP/1.1",
    f"GET /api/v1/optouts?identifier={EMAIL}&limit=10 HTTP/1.1",
    f"POST /api/v1/uid2/optout/{EMAIL} HTTP/1.1",
]


@pytest.mark.parametrize("line", LINES)
def test_redact_removes_uid2_emails_and_tokens_from_request_lines(line):
    out = redact(line)
    for secret in (UID2, "AbC%2B%2Fuid2TokenValue", EMAIL, "jane.doe%40example.com", TOKEN):
        assert secret not in out, out
    assert out.startswith(line.split(" ")[0]) and out.endswith("HTTP/1.1")


def test_redact_keeps_paging_ids_and_enums():
    line = "GET /api/v1/lists?limit=25&offset=50&type=contacts&status=ready HTTP/1.1"
    assert redact(line) == line
    assert (
        redact("GET /api/v1/audiences?q=secret HTTP/1.1") == "GET /api/v1/audiences?q=%5Bredacted%5D HTTP/1.1"
    )


def test_django_request_logger_messages_are_redacted(caplog):
    logger = logging.getLogger("django.server")
    record = logger.makeRecord(
        "django.server", logging.INFO, __file__, 1, '"%s" %s %s', (LINES[0], 200, 5), None
    )
    RedactFilter().filter(record)
    assert UID2 not in record.getMessage() and "optouttime=1772600767" in record.getMessage()
    from django.conf import settings

    assert "redact" in settings.LOGGING["loggers"]["django.request"]["filters"]
    assert "redact" in settings.LOGGING["loggers"]["django.server"]["filters"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_access_log_with_the_bin_run_logger_class_is_redacted(tmp_path):
    """A real gunicorn, started with the flags bin/run passes, writes the access log without the secrets."""
    assert "--logger-class delivr_admin.logredact.GunicornLogger" in (ROOT / "bin" / "run").read_text()
    port, log = _free_port(), tmp_path / "access.log"
    env = {
        **os.environ,
        "DELIVR_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "delivr_admin.settings",
    }
    server = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "gunicorn"),
            "delivr_admin.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--access-logfile",
            str(log),
            "--logger-class",
            "delivr_admin.logredact.GunicornLogger",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        paths = [
            f"/api/v1/no-such-thing?user={UID2}&optouttime=1",
            f"/api/v1/tasks/x/jobs/1/download?token={TOKEN}",
            "/privacy/identifier/?type=email&value=jane.doe%40example.com",
        ]

        def get(path: str) -> int:
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30).status
            except urllib.error.HTTPError as exc:
                return exc.code
            except OSError:
                return 0

        wait_for(lambda: get("/healthz") or server.poll() is not None, timeout=60, message="gunicorn up")
        assert server.poll() is None, "gunicorn exited"
        for path in paths:
            assert get(path) >= 200
        wait_for(lambda: log.exists() and log.read_text().count("\n") >= 1 + len(paths), message="access log")
        text = log.read_text()
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "/api/v1/no-such-thing?user=%5Bredacted%5D&optouttime=1" in text
    for secret in ("uid2TokenValue", TOKEN, "jane.doe", "example.com"):
        assert secret not in text, text
