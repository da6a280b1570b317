"""JSON list endpoints read with a fixed number of queries: ten times the rows costs no extra query (no N+1),
and each endpoint stays under its bound (the HTML pages have the same check in tests/ux/test_list_queries.py)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Organization, Project, Role
from audiences.models import JobKind, JobStatus
from exports.models import Export
from pixels.services import pixel_create
from tests.campaigns.factories import make_account, make_campaign
from tests.factories import (
    AudienceFactory,
    ContactListFactory,
    ExportRunFactory,
    JobFactory,
    OptOutFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db


def _export(tenant) -> Export:
    export, _ = Export.objects.get_or_create(
        organization=tenant.org, project=tenant.project, name="Runs", destination_type="webhook"
    )
    return export


def _task(tenant, i: int) -> None:
    task = TaskFactory(organization=tenant.org, project=tenant.project)
    JobFactory(task=task, kind=JobKind.COUNT, partition=f"day={i}", status=JobStatus.DONE, count=i)
    JobFactory(
        task=task,
        kind=JobKind.UNLOAD,
        partition=f"day={i}",
        status=JobStatus.DONE,
        count=i,
        output_name=f"out/{i}.parquet",
    )


def _add(tenant, kind: str, n: int, start: int) -> None:
    org, project, now = tenant.org, tenant.project, timezone.now()
    for i in range(start, start + n):
        if kind == "audiences":
            AudienceFactory(organization=org, project=project, record_count=i)
        elif kind == "lists":
            ContactListFactory(organization=org, project=project)
        elif kind == "tasks":
            _task(tenant, i)
        elif kind == "exports":
            ExportRunFactory(
                export__organization=org, export__project=project, status="failed", records_failed=1
            )
        elif kind == "runs":
            ExportRunFactory(export=_export(tenant), status="failed", records_failed=1)
        elif kind == "campaigns":
            make_campaign(org, days=3, account=make_account(org, f"acc-{i}"), name=f"C{i}")
        elif kind == "optouts":
            OptOutFactory(organization=org, opted_out_at=now - timedelta(minutes=i))
        elif kind == "pixels":
            pixel_create(organization=org, name=f"P{i}")
        elif kind == "projects":
            Project.objects.create(organization=org, name=f"Project {i}")
        elif kind == "organizations":
            Organization.objects.create(name=f"Child {i}", parent=org)
        elif kind == "clients":
            account_services.api_client_create(principal=tenant.principal, name=f"client {i}")


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, (url, response.content[:300])
    return len(ctx.captured_queries)


def _url(tenant, url: str) -> str:
    return url.replace("{export}", str(_export(tenant).pk))


# endpoint, the rows it lists, the most queries it may take (measured + 2: session, principal and page count
# reads are fixed; the task list took 5 + one per task before its jobs were read in one query)
ENDPOINTS = [
    ("/api/v1/audiences", "audiences", 7),
    ("/api/v1/lists", "lists", 7),
    ("/api/v1/status", "tasks", 8),
    ("/api/v1/exports", "exports", 7),
    ("/api/v1/exports/{export}/runs", "runs", 8),
    ("/api/v1/campaigns", "campaigns", 6),
    ("/api/v1/privacy/optouts", "optouts", 6),
    ("/api/v1/pixels", "pixels", 6),
    ("/api/v1/projects", "projects", 6),
    ("/api/v1/organizations", "organizations", 7),
    ("/api/app/get", "clients", 5),
]


@pytest.mark.parametrize(("url", "kind", "bound"), ENDPOINTS)
def test_list_endpoint_when_rows_grow_tenfold_takes_no_extra_query(
    tenant, django_assert_max_num_queries, url, kind, bound
):
    client = tenant.jwt()
    url = _url(tenant, url)
    _add(tenant, kind, 2, 0)
    client.get(url)  # warm per-process caches (principal, content types) out of the count
    few = _queries(client, url)
    _add(tenant, kind, 18, 2)
    with django_assert_max_num_queries(bound):
        many = _queries(client, url)
    assert many == few, f"{url}: {few} queries with 2 {kind}, {many} with 20"


def _add_html(member, kind: str, n: int, start: int) -> None:
    from privacy.models import AuditEvent
    from tests.factories import MembershipFactory

    for i in range(start, start + n):
        if kind == "members":
            MembershipFactory(organization=member.org, role=Role.MARKETER)
        elif kind == "clients":
            account_services.api_client_create(principal=member.principal, name=f"client {i}")
        elif kind == "audit":
            AuditEvent.objects.create(
                actor="support",
                action="opt_out",
                identifier_type="email",
                identifier_value=f"p{i}@example.com",
                source="support",
                organization_id=member.org.id,
            )


def _page_queries(client, url: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == 200, url
    return len(ctx.captured_queries), body.decode()


# the lists that have no JSON endpoint (members, API clients, audit log): page, rows, bound, role
PAGES = [
    ("/settings/", "members", 10, Role.ADMIN),
    ("/settings/", "clients", 10, Role.ADMIN),
    ("/privacy/", "audit", 9, Role.SUPPORT),
    ("/privacy/audit-log.csv", "audit", 7, Role.SUPPORT),
]


@pytest.mark.parametrize(("url", "kind", "bound", "role"), PAGES)
def test_list_page_without_api_when_rows_grow_tenfold_takes_no_extra_query(
    client, tenant_factory, django_assert_max_num_queries, url, kind, bound, role
):
    member = tenant_factory(role=role)
    client.force_login(member.user)
    _add_html(member, kind, 2, 0)
    client.get(url)
    few, _ = _page_queries(client, url)
    _add_html(member, kind, 18, 2)
    with django_assert_max_num_queries(bound):
        many, body = _page_queries(client, url)
    assert kind != "audit" or "p19@example.com" in body  # the rows are listed, not hidden behind a search
    assert many == few, f"{url}: {few} queries with 2 {kind}, {many} with 20"
