"""Contract fuzzing: schemathesis generates requests from the OpenAPI schema (drf-spectacular) and checks
every response: no 5xx, the status code is documented, the body matches the documented schema.

Only the finished endpoint groups are fuzzed (FINISHED). The app runs in-process (WSGI) on the test
database, authenticated as a seeded organization's API client (or its admin's JWT where the endpoint needs
a signed-in user).
"""

import zlib
from collections import Counter

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from delivr_admin.wsgi import application

FINISHED = (
    r"^/(auth/|client/|api/app/|pixel/"
    r"|api/v1/(projects|organizations|status|intent_hive_tasks|generic_parquet_tasks|tasks/"
    r"|campaigns|uid2/optout|privacy/optouts|pixels))"
)
# The signed-in admin (JWT) where an endpoint needs a person or an admin, and for admin writes; the API
# client (key + secret) everywhere else.
JWT_PATHS = ("/client/", "/api/app/", "/api/v1/pixels", "/api/v1/organizations/{organization_id}/settings")
ADMIN_WRITES = ("/api/v1/projects", "/api/v1/organizations")
AUTH_HEADERS = {"authorization", "x-api-key", "x-api-secret", "cookie"}
MAX_EXAMPLES = 25
SEEN: dict[str, Counter] = {}  # operation -> status code counts, filled by the fuzzing test

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application).include(path_regex=FINISHED)


@pytest.fixture(autouse=True)
def _keep_test_connection():
    """Django closes the connection at each request's end; in WSGI mode that is the test's own connection."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def seeded(settings, tenant, tmp_path):
    """An organization with a little of everything: a completed task, a campaign, a pixel, an opt-out."""
    from datetime import timedelta

    from django.utils import timezone

    from audiences.models import Job, JobKind, JobStatus, Task, TaskKind, TaskStatus
    from pixels import services as pixel_services
    from privacy import services as privacy_services
    from tests.campaigns.factories import make_campaign

    settings.DELIVR_RATE_LIMIT_PER_SECOND = 100_000
    settings.DELIVR_RATE_LIMIT_BURST = 100_000
    settings.DELIVR_UID2_RATE_LIMIT_PER_SECOND = 100_000
    settings.DELIVR_UID2_RATE_LIMIT_BURST = 100_000
    settings.DELIVR_PIXEL_RATE_LIMIT_PER_SECOND = 100_000
    settings.DELIVR_PIXEL_RATE_LIMIT_BURST = 100_000
    settings.DELIVR_DATA_ROOTS = [str(tmp_path)]
    settings.DELIVR_DEMO_DATA = tmp_path / "intent"
    settings.MEDIA_ROOT = tmp_path / "media"

    now = timezone.now()
    task = Task.objects.create(
        organization=tenant.org,
        kind=TaskKind.INTENT_HIVE,
        status=TaskStatus.COMPLETED,
        input_path=str(tmp_path / "intent"),
        total_jobs=1,
        completed_jobs=1,
        total_count=5,
        completed_at=now,
        expires_at=now + timedelta(days=7),
    )
    Job.objects.create(
        task=task, kind=JobKind.COUNT, partition="day=2024-05-01", status=JobStatus.DONE, count=5
    )
    unload = Job.objects.create(
        task=task,
        kind=JobKind.UNLOAD,
        partition="day=2024-05-01",
        status=JobStatus.DONE,
        count=5,
        output_name=f"tasks/{tenant.org.id}/{task.id}/day=2024-05-01/part-0.parquet",
    )
    campaign = make_campaign(tenant.org, days=3)
    pixel = pixel_services.pixel_create(organization=tenant.org, name="Site")
    optout, _ = privacy_services.optout_record(
        identifier_type="email",
        value="gone@example.com",
        source="support",
        opted_out_at=now,
        organization=tenant.org,
        actor="tests",
    )
    tenant.ids = {
        "app_id": tenant.client_id,
        "campaign_id": str(campaign.id),
        "organization_id": str(tenant.org.id),
        "pixel_id": str(pixel.id),
        "optout_id": str(optout.id),
        "task_id": str(task.id),
        "job_id": unload.id,
    }
    return tenant


def use_seeded_ids(case, ids: dict) -> None:
    """Half of the cases (chosen by their content, so runs repeat) address the seeded objects, not 404s."""
    params = case.path_parameters
    if params and zlib.crc32(repr(sorted(params.items())).encode()) % 2 == 0:
        for name in params:
            if name in ids:
                params[name] = ids[name]


def auth_headers(tenant, method: str, path: str) -> dict[str, str]:
    if path.startswith(JWT_PATHS) or (method.upper() != "GET" and path in ADMIN_WRITES):
        return {"Authorization": f"Bearer {tenant.token}"}
    return {"X-API-Key": tenant.api_key, "X-Api-Secret": tenant.api_secret}


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI stays reproducible
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_api_when_fuzzed_answers_documented_status_and_body(case, seeded):
    # The schema declares the auth schemes, so schemathesis fills them with random values: use real ones.
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() not in AUTH_HEADERS}
    case.cookies = {}
    use_seeded_ids(case, seeded.ids)
    response = case.call_and_validate(
        headers=auth_headers(seeded, case.method, case.path),
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )
    if case.method.upper() == case.operation.method.upper():  # not the "unexpected method" probes
        SEEN.setdefault(f"{case.method} {case.path}", Counter())[response.status_code] += 1


def test_fuzzing_reached_every_endpoint_with_valid_credentials():
    """Runs after the fuzzing above: no endpoint answered only 401/403 (the credentials worked)."""
    if not SEEN:
        pytest.skip("run together with the fuzzing test")
    refused = {op: dict(c) for op, c in SEEN.items() if set(c) <= {401, 403}}
    assert not refused, refused
    print({op: dict(c) for op, c in sorted(SEEN.items())})
