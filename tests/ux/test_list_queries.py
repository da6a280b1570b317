"""List pages read with a fixed number of queries: ten times the rows costs no extra query (no N+1), and each
page stays under its bound."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
from pixels.services import pixel_create
from tests.factories import AudienceFactory, ContactListFactory, ExportRunFactory, OptOutFactory, TaskFactory

pytestmark = pytest.mark.django_db


def _add(member, kind: str, n: int, start: int) -> None:
    org, project, now = member.org, member.project, timezone.now()
    for i in range(start, start + n):
        if kind == "audiences":
            AudienceFactory(organization=org, project=project, record_count=i)
        elif kind == "exports":
            ExportRunFactory(
                export__organization=org, export__project=project, status="failed", records_failed=1
            )
        elif kind == "tasks":
            TaskFactory(organization=org, project=project)  # not expired: the page lists it
        elif kind == "lists":
            ContactListFactory(organization=org, project=project)
        elif kind == "optouts":
            OptOutFactory(organization=org, opted_out_at=now - timedelta(minutes=i))
        elif kind == "pixels":
            pixel_create(organization=org, name=f"P{i}")


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


# page, the rows it lists, the most queries it may take, the role that opens it
PAGES = [
    ("/", "exports", 16, Role.MARKETER),
    ("/", "optouts", 10, Role.SUPPORT),
    ("/audiences/", "audiences", 10, Role.ADMIN),
    ("/exports/", "exports", 10, Role.ADMIN),
    ("/tasks/", "tasks", 10, Role.ADMIN),
    ("/lists/", "lists", 10, Role.ADMIN),
    ("/privacy/", "optouts", 12, Role.SUPPORT),
    ("/pixels/", "pixels", 10, Role.ADMIN),
    ("/settings/", "pixels", 12, Role.ADMIN),
]


@pytest.mark.parametrize(("url", "kind", "bound", "role"), PAGES)
def test_list_page_when_rows_grow_tenfold_takes_no_extra_query(
    client, tenant_factory, django_assert_max_num_queries, url, kind, bound, role
):
    member = tenant_factory(role=role)
    client.force_login(member.user)
    _add(member, kind, 2, 0)
    few = _queries(client, url)
    _add(member, kind, 18, 2)
    with django_assert_max_num_queries(bound):
        many = _queries(client, url)
    assert many == few, f"{url}: {few} queries with 2 {kind}, {many} with 20"
