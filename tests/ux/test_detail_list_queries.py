"""Pages that list an object's children (an audience's builds, an export's runs, a task's jobs) read them with a
fixed number of queries: ten times the children costs no extra query (no N+1), and each page stays under its
bound."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
from audiences.models import JobKind, JobStatus
from tests.factories import (
    AudienceBuildFactory,
    AudienceFactory,
    ExportFactory,
    ExportRunFactory,
    JobFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db


def _parent(member, kind: str):
    org, project = member.org, member.project
    if kind == "builds":
        return AudienceFactory(organization=org, project=project)
    if kind == "runs":
        return ExportFactory(organization=org, project=project)
    return TaskFactory(organization=org, project=project)


def _add(parent, kind: str, n: int, start: int) -> None:
    now = timezone.now()
    for i in range(start, start + n):
        if kind == "builds":
            AudienceBuildFactory(audience=parent, built_at=now - timedelta(hours=i), record_count=100 + i)
        elif kind == "runs":
            ExportRunFactory(export=parent, status="failed", records_failed=1)
        else:
            JobFactory(
                task=parent, kind=JobKind.COUNT, status=JobStatus.DONE, partition=f"day=2024-05-{i + 1:02d}"
            )


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


# page of the parent, the children it lists, the most queries it may take
PAGES = [
    ("/audiences/{id}/", "builds", 12),
    ("/exports/{id}/", "runs", 14),
    ("/tasks/{id}/", "jobs", 10),
]


@pytest.mark.parametrize(("url", "kind", "bound"), PAGES)
def test_detail_page_when_children_grow_tenfold_takes_no_extra_query(
    client, tenant_factory, django_assert_max_num_queries, url, kind, bound
):
    member = tenant_factory(role=Role.ADMIN)
    client.force_login(member.user)
    parent = _parent(member, kind)
    url = url.format(id=parent.pk)
    _add(parent, kind, 2, 0)
    client.get(url)  # caches (dataset overview, topic labels) filled once
    few = _queries(client, url)
    _add(parent, kind, 18, 2)
    with django_assert_max_num_queries(bound):
        many = _queries(client, url)
    assert many == few, f"{url}: {few} queries with 2 {kind}, {many} with 20"


def _add_org_rows(member, kind: str, n: int, start: int) -> None:
    from audiences.models import Topic
    from campaigns.models import CampaignSync, DspAccount

    for i in range(start, start + n):
        if kind == "topics":
            Topic.objects.create(organization=member.org, code=f"own_{i}", name=f"Own topic {i}")
        else:
            account = DspAccount.objects.create(organization=member.org, name=f"DSP {i}", external_id=f"x{i}")
            CampaignSync.objects.create(organization=member.org, account=account, status="succeeded")


# organization-wide lists not covered by test_list_queries: page, rows, bound
ORG_PAGES = [
    ("/audiences/topics/", "topics", 10),
    ("/campaigns/sync/history/", "syncs", 8),
]


@pytest.mark.parametrize(("url", "kind", "bound"), ORG_PAGES)
def test_org_list_page_when_rows_grow_tenfold_takes_no_extra_query(
    client, tenant_factory, django_assert_max_num_queries, url, kind, bound
):
    member = tenant_factory(role=Role.ADMIN)
    client.force_login(member.user)
    _add_org_rows(member, kind, 2, 0)
    client.get(url)
    few = _queries(client, url)
    _add_org_rows(member, kind, 8, 2)
    with django_assert_max_num_queries(bound):
        many = _queries(client, url)
    assert many == few, f"{url}: {few} queries with 2 {kind}, {many} with 10"
