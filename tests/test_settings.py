"""delivr_admin/settings.py: values parsed from the environment, clear errors for bad ones, no side effects."""

import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from environs import EnvValidationError

from delivr_admin.localstate import local_state_ensure

SETTINGS_PY = Path(__file__).resolve().parent.parent / "delivr_admin" / "settings.py"
ROOT = SETTINGS_PY.parent.parent


@pytest.fixture
def read_settings(monkeypatch, tmp_path):
    """Reads settings.py afresh with the given environment variables (a private, not yet existing var/)."""

    def read(**variables: str) -> dict:
        monkeypatch.setenv("DELIVR_VAR_DIR", str(tmp_path / "var"))
        for name in ("DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL", "DJANGO_SECRET_KEY", "SENTRY_DSN"):
            monkeypatch.delenv(name, raising=False)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(SETTINGS_PY))

    return read


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("0", False),
        ("off", False),
    ],
)
def test_boolean_when_set_is_parsed(read_settings, raw, expected):
    values = read_settings(DJANGO_DEBUG=raw, DJANGO_SECURE_COOKIES=raw)
    assert values["DEBUG"] is expected
    assert values["SESSION_COOKIE_SECURE"] is expected
    assert values["SECURE_HSTS_SECONDS"] == (31_536_000 if expected else 0)


def test_blank_variable_when_read_takes_the_default(read_settings):
    values = read_settings(DJANGO_DEBUG="", DELIVR_TASK_TIME_LIMIT=" ", DJANGO_ALLOWED_HOSTS="")
    assert values["DEBUG"] is False
    assert values["CELERY_TASK_TIME_LIMIT"] == 3600
    assert "localhost" in values["ALLOWED_HOSTS"]


def test_integers_and_lists_when_set_are_parsed(read_settings):
    values = read_settings(
        DELIVR_TASK_TIME_LIMIT="120",
        DELIVR_DSP_SYNC_INTERVAL_SECONDS="900",
        DJANGO_ALLOWED_HOSTS="admin.example.com, api.example.com",
    )
    assert values["CELERY_TASK_TIME_LIMIT"] == 120
    assert values["CELERY_TASK_SOFT_TIME_LIMIT"] == 60
    assert values["CELERY_BEAT_SCHEDULE"]["campaigns-sync"]["schedule"] == 900.0
    assert values["ALLOWED_HOSTS"] == ["admin.example.com", "api.example.com"]


def test_urls_when_set_configure_database_cache_and_broker(read_settings):
    values = read_settings(
        DATABASE_URL="postgres://delivr:pw@db.internal:5433/delivr",
        CACHE_URL="redis://cache:6379/1",
        CELERY_BROKER_URL="redis://broker:6379/0",
    )
    database = values["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["HOST"], database["PORT"], database["NAME"]) == ("db.internal", 5433, "delivr")
    assert database["CONN_HEALTH_CHECKS"] is True
    assert values["CACHES"]["default"]["LOCATION"] == "redis://cache:6379/1"
    assert values["CACHES"]["default"]["BACKEND"].endswith("RedisCache")
    assert values["CELERY_BROKER_TRANSPORT_OPTIONS"] == {"visibility_timeout": 3600}


def test_defaults_when_nothing_is_set_are_the_embedded_setup(read_settings, tmp_path):
    values = read_settings()
    assert values["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert values["DATABASES"]["default"]["NAME"] == str(tmp_path / "var" / "db.sqlite3")
    assert values["CACHES"]["default"]["BACKEND"].endswith("LocMemCache")
    assert values["SECRET_KEY"] == ""  # made at start-up, not by reading settings
    assert len(values["CELERY_BEAT_SCHEDULE"]) == 10


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("DJANGO_DEBUG", "maybe"),
        ("DELIVR_TASK_TIME_LIMIT", "1h"),
        ("DATABASE_URL", "not a url"),
        ("CACHE_URL", "memcached://cache:11211"),
        ("DELIVR_LOG_FORMAT", "xml"),
        ("CELERY_FS_POLLING_INTERVAL", "fast"),
    ],
)
def test_bad_value_when_read_names_the_variable(read_settings, name, raw):
    with pytest.raises(EnvValidationError, match=f'Environment variable "{name}" invalid'):
        read_settings(**{name: raw})


def test_reading_settings_when_var_is_missing_makes_no_file(read_settings, tmp_path):
    read_settings(CELERY_FS_ROOT=str(tmp_path / "var" / "broker"))
    assert not (tmp_path / "var").exists()


def test_local_state_when_started_makes_folders_and_one_secret_key(settings, tmp_path):
    var = tmp_path / "var"
    settings.VAR_DIR = var
    settings.STATIC_ROOT = var / "static_root"
    settings.DELIVR_SECRET_KEY_FILE = var / "secret_key"
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(var / "broker" / "queue"),
        "data_folder_out": str(var / "broker" / "queue"),
        "control_folder": str(var / "broker" / "control"),
    }
    settings.SECRET_KEY = ""
    local_state_ensure()
    key = settings.SECRET_KEY
    assert len(key) >= 50 and (var / "secret_key").read_text() == key
    assert (var / "secret_key").stat().st_mode & 0o777 == 0o600
    assert (var / "broker" / "queue").is_dir() and (var / "broker" / "control").is_dir()
    assert (var / "static_root").is_dir()
    settings.SECRET_KEY = ""  # a second process starting finds the file and uses the same key
    local_state_ensure()
    assert settings.SECRET_KEY == key


def test_manage_when_a_value_is_bad_stops_with_a_clear_error(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DELIVR_VAR_DIR": str(tmp_path), "DJANGO_DEBUG": "maybe"}
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert 'Environment variable "DJANGO_DEBUG" invalid: Not a valid boolean.' in done.stderr
