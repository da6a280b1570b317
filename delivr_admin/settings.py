"""Settings, all read from the environment (see .env.example), with safe defaults for local use.

The embedded default needs no server: SQLite, Celery's filesystem broker, an in-process cache
(never used for anything that must agree across processes) and rate limits in a shared SQLite file.
Production sets DATABASE_URL (PostgreSQL), CELERY_BROKER_URL and CACHE_URL (Redis).

Values are parsed by environs: a value that does not parse (DJANGO_DEBUG=maybe, DELIVR_TASK_TIME_LIMIT=1h)
stops the start with 'Environment variable "X" invalid: ...'. A blank variable counts as unset. Reading this
module makes nothing: var/ folders, the broker folders and the local secret key file are made at start-up
by delivr_admin.localstate (DelivrAdminConfig.ready()).
"""

import os
from pathlib import Path

from environs import Env
from marshmallow.validate import OneOf


class _Env(Env):
    """environs' reader, where a blank variable (`X=` in .env.example) means 'use the default'."""

    def _get_value(self, env_key: str, default):
        value = os.environ.get(env_key, "")
        return value if value.strip() else default


env = _Env()


@env.parser_for("csv")
def _csv(value: str) -> list[str]:
    """A comma-separated list, items trimmed, empty items dropped ('a, b,' is ['a', 'b'])."""
    return [item.strip() for item in value.split(",") if item.strip()]


BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env.path("DELIVR_VAR_DIR", BASE_DIR / "var").resolve()
# DELIVR_TEST_RUN keeps concurrent test runs in one checkout apart (database and rate-limit files).
DELIVR_TEST_RUN = env.str("DELIVR_TEST_RUN", "")

# The secret key from the environment, else the one kept in var/secret_key: made on first start (local use
# only) by delivr_admin.localstate.secret_key_ensure(), which also sets this setting then.
DELIVR_SECRET_KEY_FILE = VAR_DIR / "secret_key"
SECRET_KEY = env.str("DJANGO_SECRET_KEY", "") or (
    DELIVR_SECRET_KEY_FILE.read_text().strip() if DELIVR_SECRET_KEY_FILE.is_file() else ""
)
DEBUG = env.bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env.csv("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env.csv("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "delivr_admin",
    "accounts",
    "audiences",
    "exports",
    "campaigns",
    "privacy",
    "pixels",
]

MIDDLEWARE = [
    "delivr_admin.logcontext.RequestIdMiddleware",
    "delivr_admin.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "delivr_admin.csp.ContentSecurityPolicyMiddleware",
    "delivr_admin.ratelimit.SignInFloodMiddleware",  # refused sign-ins cost next to nothing
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "delivr_admin.middleware.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "delivr_admin.middleware.CurrentOrganizationMiddleware",
]

ROOT_URLCONF = "delivr_admin.urls"
WSGI_APPLICATION = "delivr_admin.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "delivr_admin.context_processors.navigation",
            ],
            # status badges, numbers, dates and copy buttons, usable in every template without {% load %}
            "builtins": ["delivr_admin.templatetags.ui"],
        },
    },
]

DATABASES = {"default": env.dj_db_url("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}", conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + immediate transactions let the web server and the Celery worker share one SQLite file.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so that a Celery worker subprocess in the tests can open the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test_db{DELIVR_TEST_RUN}.sqlite3")}
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "first_name", "last_name")},
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "accounts.validators.NotOnlyWhitespaceValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"

_cache_url = env.url("CACHE_URL", "", schemes={"redis", "rediss"}, require_tld=False)
CACHE_URL = _cache_url.geturl() if _cache_url else ""
if CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "delivr"}}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static_root"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = env.path("DELIVR_MEDIA_ROOT", VAR_DIR / "media")
# Where every output goes (delivr_admin/storage.py): file:///folder, s3://bucket/prefix or gs://bucket/prefix
# (credentials and endpoints: DELIVR_STORAGE_OPTIONS below). Empty: MEDIA_ROOT, on this machine only.
DELIVR_OUTPUT_URL = env.str("DELIVR_OUTPUT_URL", "").strip()
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Request bodies: JSON APIs are small; uploads (CSV lists) have their own bound.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DELIVR_MAX_BODY_BYTES", 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DELIVR_MAX_UPLOAD_BYTES = env.int("DELIVR_MAX_UPLOAD_BYTES", 50 * 1024 * 1024)

# Security headers and cookies.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# HSTS whenever cookies are secure (the site is served over HTTPS). Django sends it on HTTPS requests only:
# behind a TLS-terminating proxy, DJANGO_TRUST_X_FORWARDED_PROTO=true makes its X-Forwarded-Proto count.
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", 31_536_000) if SESSION_COOKIE_SECURE else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", False)
if env.bool("DJANGO_TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "delivr_admin.auth.JWTAuthentication",
        "delivr_admin.auth.ApiKeyAuthentication",
        "delivr_admin.auth.SessionPrincipalAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["delivr_admin.permissions.HasPrincipal"],
    "DEFAULT_THROTTLE_CLASSES": ["delivr_admin.ratelimit.OrganizationRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["delivr_admin.parsers.JSONParser"],  # with a nesting limit
    "EXCEPTION_HANDLER": "delivr_admin.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "delivr_admin.schema.DelivrAutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Delivr Admin API",
    "DESCRIPTION": "Audiences, tasks, exports, campaigns, privacy and pixels.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "delivr_admin.schema.error_responses_postprocess",  # 401/403/429 where views can answer them
    ],
    "ENUM_NAME_OVERRIDES": {
        "AudienceTypeEnum": "audiences.models.AudienceType",
        "ListTypeEnum": "audiences.models.ListType",
        "IdentifierTypeEnum": "privacy.models.IdentifierType",
    },
}

# Auth tokens.
JWT_SECRET = env.str("DELIVR_JWT_SECRET", "")  # empty: the secret key (accounts.services.jwt_secret)
JWT_TTL_SECONDS = env.int("DELIVR_JWT_TTL_SECONDS", 24 * 3600)

# Rate limit per organization, as Delivr publishes it: 25 requests/second with bursts of 50.
DELIVR_RATE_LIMIT_PER_SECOND = env.int("DELIVR_RATE_LIMIT_PER_SECOND", 25)
DELIVR_RATE_LIMIT_BURST = env.int("DELIVR_RATE_LIMIT_BURST", 50)
# Where the embedded default keeps every limit's buckets (shared by all processes on this machine; with
# CACHE_URL=redis://... they live in Redis instead). See delivr_admin/ratelimit.py.
DELIVR_RATELIMIT_DB = env.path("DELIVR_RATELIMIT_DB", VAR_DIR / f"ratelimit{DELIVR_TEST_RUN}.sqlite3")
# Failed sign-ins (API and dashboard), per account and per client address: N failures, then one more per
# window/N seconds. Failed API authentication (bad key, secret or JWT) per client address. Registrations
# per client address (bounds how fast anyone can probe which emails have accounts).
DELIVR_LOGIN_FAILURES_PER_ACCOUNT = env.int("DELIVR_LOGIN_FAILURES_PER_ACCOUNT", 5)
DELIVR_LOGIN_FAILURES_PER_ADDRESS = env.int("DELIVR_LOGIN_FAILURES_PER_ADDRESS", 10)
DELIVR_LOGIN_FAILURE_WINDOW_SECONDS = env.int("DELIVR_LOGIN_FAILURE_WINDOW_SECONDS", 300)
DELIVR_SIGNIN_HASHES_PER_PROCESS = env.int("DELIVR_SIGNIN_HASHES_PER_PROCESS", 1)  # concurrent, per worker
DELIVR_AUTH_FAILURES_PER_ADDRESS = env.int("DELIVR_AUTH_FAILURES_PER_ADDRESS", 30)
DELIVR_AUTH_FAILURE_WINDOW_SECONDS = env.int("DELIVR_AUTH_FAILURE_WINDOW_SECONDS", 60)
DELIVR_REGISTRATIONS_PER_ADDRESS = env.int("DELIVR_REGISTRATIONS_PER_ADDRESS", 10)
DELIVR_REGISTRATION_WINDOW_SECONDS = env.int("DELIVR_REGISTRATION_WINDOW_SECONDS", 3600)

# Celery. The embedded default is the filesystem broker: no server needed (folders made at start-up).
CELERY_FS_ROOT = env.path("CELERY_FS_ROOT", VAR_DIR / "broker").resolve()
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FS_ROOT / "queue"),
        "data_folder_out": str(CELERY_FS_ROOT / "queue"),
        "control_folder": str(CELERY_FS_ROOT / "control"),
        "store_processed": False,
        # The default 1 s poll would idle a worker between short per-partition jobs.
        "polling_interval": env.float("CELERY_FS_POLLING_INTERVAL", 0.05),
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("DELIVR_TASK_TIME_LIMIT", 3600)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Audience data (Parquet). Allowed input roots are separated by os.pathsep.
DELIVR_DEMO_DATA = env.path("DELIVR_DEMO_DATA", VAR_DIR / "data" / "intent").resolve()
# (the ':' of s3:// and gs:// roots does not separate)
_roots = env.str("DELIVR_DATA_ROOTS", str(DELIVR_DEMO_DATA.parent)).replace("://", "\0")
DELIVR_DATA_ROOTS = [r.strip().replace("\0", "://") for r in _roots.split(os.pathsep) if r.strip()]
# Object-storage credentials for reading Parquet in place (keys as the engine's configure() takes them).
# {option: environment variable}: a worker started by the tests gets the web process's options back this way.
DELIVR_STORAGE_OPTION_ENV = {
    "s3_key_id": "DELIVR_S3_ACCESS_KEY_ID",
    "s3_secret": "DELIVR_S3_SECRET_ACCESS_KEY",
    "s3_region": "DELIVR_S3_REGION",
    "s3_endpoint": "DELIVR_S3_ENDPOINT",
    "gcs_key_id": "DELIVR_GCS_KEY_ID",
    "gcs_secret": "DELIVR_GCS_SECRET",
    "gcs_endpoint": "DELIVR_GCS_ENDPOINT",
}
DELIVR_STORAGE_OPTIONS = {option: env.str(name, "") for option, name in DELIVR_STORAGE_OPTION_ENV.items()}
# Per engine process (each Celery pool child and each web worker holds its own DuckDB). 192MB, not 512MB: with
# distinct profiles built in the worker, one pool child filled 512MB (VmHWM ~735 MB) and the worker tree (2 pool
# children) peaked at 1,239-1,252 MB summed RSS; issue 14 wants < 1 GiB. Full bench at 192MB: 944 MB embedded,
# 984 MB pg (PSS 507/583), every time row met; 256MB gave 991/1,031 MB (bench/RESULTS.md, mem14).
# What does not fit spills to DELIVR_ENGINE_TEMP_DIRECTORY.
DELIVR_ENGINE_MEMORY_LIMIT = env.str("DELIVR_ENGINE_MEMORY_LIMIT", "192MB")
# Where the engine spills (a sub-folder per process id; without it DuckDB spills to .tmp in the working folder).
DELIVR_ENGINE_TEMP_DIRECTORY = env.str("DELIVR_ENGINE_TEMP_DIRECTORY", str(VAR_DIR / "engine-tmp"))
DELIVR_ENGINE_THREADS = env.int("DELIVR_ENGINE_THREADS", 2)
# Which engine reads audience data (README "Scaling"): "duckdb" (embedded, the default) or "spark" (a Spark
# cluster through Spark Connect at DELIVR_SPARK_REMOTE, sc://host:15002), for the whole deployment, or per
# dataset root with DELIVR_ENGINE_ROOTS="s3://big-trees=spark,/data/huge=spark" (longest prefix wins).
DELIVR_ENGINE = env.str("DELIVR_ENGINE", "duckdb")
DELIVR_SPARK_REMOTE = env.str("DELIVR_SPARK_REMOTE", "")
DELIVR_ENGINE_ROOTS = dict(r.rsplit("=", 1) for r in env.csv("DELIVR_ENGINE_ROOTS", "") if "=" in r)
# An engine that can write task unloads itself (Spark) writes them straight into the output location, so no
# row passes through the worker; the cluster must then be able to write there (README "Scaling"). False:
# rows stream to the worker, which writes the files.
DELIVR_ENGINE_WRITES_OUTPUTS = env.bool("DELIVR_ENGINE_WRITES_OUTPUTS", True)
# Value suggestions for days not counted yet are estimated from at most this many files of the window (and
# marked approximate) while the exact count runs in the background; 0 always counts exactly first.
DELIVR_VALUE_SAMPLE_FILES = env.int("DELIVR_VALUE_SAMPLE_FILES", 24)
# The live estimate waits this long to confirm that a typed value the sample lacks is really absent; past it
# the hint says it comes from a sample (the lookup finishes in the background for the next estimate).
DELIVR_VALUE_PROBE_SECONDS = env.float("DELIVR_VALUE_PROBE_SECONDS", 0.4)
DELIVR_TASK_RETENTION_DAYS = env.int("DELIVR_TASK_RETENTION_DAYS", 7)
# A task's partitions are planned into work units (jobs) of roughly equal bytes, one Celery message each: at
# most about DELIVR_TASK_UNITS per phase (a few per worker), none under DELIVR_TASK_UNIT_MIN_BYTES of input
# (a small selection is one unit). Counts and outputs stay per partition.
DELIVR_TASK_UNITS = env.int("DELIVR_TASK_UNITS", 8)
DELIVR_TASK_UNIT_MIN_BYTES = env.int("DELIVR_TASK_UNIT_MIN_BYTES", 64 * 1024 * 1024)
# A count that reads only the files' footers (no where_expr, no opt-out applies, a local tree) costs a footer
# per file whatever the bytes: its units are planned by files, none under this many unless the last.
DELIVR_TASK_UNIT_MIN_FILES = env.int("DELIVR_TASK_UNIT_MIN_FILES", 1000)
# ... and none of more partitions than this (a status page then unpacks one or two units, not the whole task).
DELIVR_TASK_UNIT_MAX_PARTITIONS = env.int("DELIVR_TASK_UNIT_MAX_PARTITIONS", 5000)
# A task status lists every partition up to this many; a larger task shows pages of this size (paging fields).
DELIVR_TASK_STATUS_PARTITIONS = env.int("DELIVR_TASK_STATUS_PARTITIONS", 2000)
DELIVR_SIGNED_LINK_TTL_SECONDS = env.int("DELIVR_SIGNED_LINK_TTL_SECONDS", 15 * 60)

# DelivrDSP (campaigns): "simulator" (deterministic, in-process; the default) or "http" (the DSP's JSON API).
DELIVR_DSP_PROVIDER = env.str("DELIVR_DSP_PROVIDER", "simulator")
DELIVR_DSP_BASE_URL = env.str("DELIVR_DSP_BASE_URL", "")
DELIVR_DSP_API_KEY = env.str("DELIVR_DSP_API_KEY", "")
DELIVR_DSP_TIMEOUT_SECONDS = env.int("DELIVR_DSP_TIMEOUT_SECONDS", 30)
DELIVR_DSP_RATE_LIMIT = env.int("DELIVR_DSP_RATE_LIMIT", 20)  # list API requests per second per key
DELIVR_DSP_SYNC_TIMEOUT_SECONDS = env.int("DELIVR_DSP_SYNC_TIMEOUT_SECONDS", 1800)
DELIVR_DSP_SYNC_INTERVAL_SECONDS = env.int("DELIVR_DSP_SYNC_INTERVAL_SECONDS", 3600)
# plotly.js is served from the plotly package itself (no CDN, no vendored copy).
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "campaigns.staticfiles.PlotlyJsFinder",
]

# Privacy and pixels. The UID2 webhook has its own per-source limit (the operator retries 429s); an
# allow-list (CIDRs) admits only those sources, which then skip the limit; a shared secret is optional.
DELIVR_UID2_RATE_LIMIT_PER_SECOND = env.int("DELIVR_UID2_RATE_LIMIT_PER_SECOND", 100)
DELIVR_UID2_RATE_LIMIT_BURST = env.int("DELIVR_UID2_RATE_LIMIT_BURST", 200)
DELIVR_UID2_SHARED_SECRET = env.str("DELIVR_UID2_SHARED_SECRET", "")
DELIVR_UID2_ALLOWED_IPS = env.csv("DELIVR_UID2_ALLOWED_IPS", "")
DELIVR_PIXEL_RATE_LIMIT_PER_SECOND = env.int("DELIVR_PIXEL_RATE_LIMIT_PER_SECOND", 50)
DELIVR_PIXEL_RATE_LIMIT_BURST = env.int("DELIVR_PIXEL_RATE_LIMIT_BURST", 200)
# Exports: credentials encrypted with this Fernet key (empty: derived from SECRET_KEY with HKDF-SHA256).
DELIVR_FIELD_ENCRYPTION_KEY = env.str("DELIVR_FIELD_ENCRYPTION_KEY", "")
DELIVR_EXPORT_BATCH_SIZE = env.int("DELIVR_EXPORT_BATCH_SIZE", 10_000)
DELIVR_EXPORT_HEARTBEAT_TIMEOUT_SECONDS = env.int("DELIVR_EXPORT_HEARTBEAT_TIMEOUT_SECONDS", 300)
# Outbound HTTP (delivr_admin/outbound.py): internal addresses are refused unless listed here (host, host:port,
# IP, IP:port or CIDR, comma-separated), e.g. an internal CRM. A connection test ends within this many seconds.
DELIVR_OUTBOUND_ALLOWED_HOSTS = env.csv("DELIVR_OUTBOUND_ALLOWED_HOSTS", "")
DELIVR_TEST_CONNECTION_DEADLINE_SECONDS = env.int("DELIVR_TEST_CONNECTION_DEADLINE_SECONDS", 10)
DELIVR_EXPORT_MAX_ATTEMPTS = env.int("DELIVR_EXPORT_MAX_ATTEMPTS", 3)
# Destination budgets (exports/pacing.py): requests per 10 s per HubSpot portal, per second per Brevo account.
DELIVR_HUBSPOT_RATE_LIMIT = env.int("DELIVR_HUBSPOT_RATE_LIMIT", 100)
DELIVR_BREVO_RATE_LIMIT = env.int("DELIVR_BREVO_RATE_LIMIT", 10)
# Delivr's HubSpot app, owner of the timeline event template runs create on first use (empty: no events).
DELIVR_HUBSPOT_APP_ID = env.str("DELIVR_HUBSPOT_APP_ID", "")
DELIVR_HUBSPOT_DEVELOPER_API_KEY = env.str("DELIVR_HUBSPOT_DEVELOPER_API_KEY", "")

# Periodic tasks (Celery beat), all of them.
CELERY_BEAT_SCHEDULE = {
    "healthcheck": {"task": "delivr_admin.tasks.healthcheck", "schedule": 30.0},
    "task-jobs-reap": {"task": "audiences.tasks.task_jobs_reap", "schedule": 60.0},
    "task-purge-expired": {"task": "audiences.tasks.task_purge_expired", "schedule": 3600.0},
    # value suggestions of days that landed since (a no-op when every day is counted)
    "field-values-warm": {"task": "audiences.tasks.field_values_warm", "schedule": 900.0},
    "campaigns-sync": {
        "task": "campaigns.tasks.campaign_sync_schedule_all",
        "schedule": float(DELIVR_DSP_SYNC_INTERVAL_SECONDS),
    },
    "campaigns-sync-reap": {"task": "campaigns.tasks.campaign_sync_reap", "schedule": 300.0},
    "export-schedule-due": {"task": "exports.tasks.export_schedule_due", "schedule": 60.0},
    "export-runs-reap": {"task": "exports.tasks.export_runs_reap", "schedule": 60.0},
    # opt-outs taken back from destinations within 5 min
    "export-optouts-propagate": {"task": "exports.tasks.export_optouts_propagate", "schedule": 300.0},
    "pixel-regenerate-pending": {"task": "pixels.tasks.pixel_regenerate_pending", "schedule": 60.0},
}

# /metrics: bearer token for scrapers; empty: loopback callers only.
DELIVR_METRICS_TOKEN = env.str("DELIVR_METRICS_TOKEN", "")

# Demo seed.
DEMO_ADMIN_EMAIL = env.str("DEMO_ADMIN_EMAIL", "admin@example.com")
DEMO_ADMIN_PASSWORD = env.str("DEMO_ADMIN_PASSWORD", "delivr-demo")

from delivr_admin.logcontext import logging_config  # noqa: E402 - settings are read top to bottom

LOGGING = logging_config(
    level=env.str("DELIVR_LOG_LEVEL", "INFO"),
    fmt=env.str("DELIVR_LOG_FORMAT", "plain", validate=OneOf(["plain", "json"])),
)

# Optional error reporting: set SENTRY_DSN (and SENTRY_ENVIRONMENT) to send unhandled errors to Sentry.
SENTRY_DSN = env.str("SENTRY_DSN", "")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", "production")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", 0.0)
if SENTRY_DSN:
    from delivr_admin.sentry import init_sentry  # noqa: E402

    init_sentry(dsn=SENTRY_DSN, environment=SENTRY_ENVIRONMENT, traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE)
