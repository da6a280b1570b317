"""The home page per role reads with a fixed number of queries; the marketer's recent audiences and their
change since the build before come from ONE query, whatever the number of audiences and builds."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
from audiences.models import Audience, AudienceBuild
from audiences.selectors.audiences import (
    audience_build_change,
    audience_build_history,
    audience_recent_with_change,
)

pytestmark = pytest.mark.django_db

# the queries the home takes per role: session, user, membership and organization scope, then the role's cards
# (marketer: recent audiences with their change, exports, their last runs, yesterday's campaigns)
HOME_QUERIES = {Role.MARKETER: 8, Role.SUPPORT: 7, Role.ADMIN: 6}


def _audiences(member, n: int, builds: int) -> list[Audience]:
    now = timezone.now()
    out = []
    for i in range(n):
        audience = Audience.objects.create(
            organization=member.org, project=member.project, name=f"A{i}", record_count=i
        )
        for b in range(builds):
            AudienceBuild.objects.create(
                audience=audience,
                built_at=now - timedelta(days=builds - b),
                record_count=1000 * (i + 1) + 10 * b * (i - 2),
                distinct_profile_count=None if i == 1 else 500 + b,
            )
        out.append(audience)
    return out


def _home(client) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/")
    assert response.status_code == 200
    return len(ctx.captured_queries), [q["sql"] for q in ctx.captured_queries]


def test_recent_audiences_when_built_several_times_give_the_same_change_as_the_detail_page(tenant):
    audiences = _audiences(tenant, 4, 3)
    Audience.objects.create(organization=tenant.org, project=tenant.project, name="Never built")
    principal = tenant.principal
    principal.organization_ids  # noqa: B018 - resolved before counting
    with CaptureQueriesContext(connection) as ctx:
        recent = audience_recent_with_change(principal, limit=10)
    assert len(ctx.captured_queries) == 1
    by_id = {a.pk: a for a in recent}
    assert len(recent) == 5 and by_id[recent[0].pk].name == "Never built" and recent[0].change is None
    for audience in audiences:
        expected = audience_build_change(audience_build_history(audience, limit=2))
        assert by_id[audience.pk].change == expected
    assert by_id[audiences[1].pk].change["profiles"] is None  # no profile count: no profile change
    assert by_id[audiences[3].pk].change["records"]["diff"] == 10


def test_recent_audiences_when_other_org_has_audiences_shows_only_own(tenant, other_tenant):
    _audiences(other_tenant, 2, 2)
    assert audience_recent_with_change(tenant.principal, limit=10) == []


@pytest.mark.parametrize("role", [Role.MARKETER, Role.SUPPORT, Role.ADMIN])
def test_home_when_rows_grow_takes_the_same_bounded_number_of_queries(client, tenant_factory, role):
    member = tenant_factory(role=role)
    client.force_login(member.user)
    _audiences(member, 1, 2)
    few, _ = _home(client)
    _audiences(member, 8, 3)
    many, statements = _home(client)
    assert many == few == HOME_QUERIES[role], (role, few, many)
    if role == Role.MARKETER:
        touching = [
            s for s in statements if 'FROM "audiences_audience" ' in s or "audiences_audiencebuild" in s
        ]
        assert len(touching) == 1, touching
