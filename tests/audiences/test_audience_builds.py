"""Audience size over time: each build records its counts; the detail page charts them with the change."""

import io
from datetime import timedelta

import pytest
from django.utils import timezone

from audiences.models import AudienceBuild
from audiences.selectors.audiences import audience_build_change, audience_build_history
from audiences.services import audiences as audience_services
from tests.factories import AudienceBuildFactory

pytestmark = pytest.mark.django_db

DEFINITION = {"topic_id_prefixes": ["4eyes_101"], "scores": ["high"], "lookback_days": 2}


@pytest.fixture
def create(tenant, django_capture_on_commit_callbacks):
    """Creates an audience of the tenant; its first build (queued on commit) runs now."""

    def make(definition=DEFINITION):
        with django_capture_on_commit_callbacks(execute=True):
            return audience_services.audience_create(
                principal=tenant.principal, project_id=tenant.project.id, name="Sized", definition=definition
            )

    return make


def test_audience_build_when_run_twice_records_one_history_row_per_build(tenant, create):
    audience = create()
    audience_services.audience_build(audience_id=audience.pk)
    audience.refresh_from_db()
    builds = audience_build_history(audience)
    assert len(builds) == 2
    assert [b.record_count for b in builds] == [audience.record_count] * 2
    assert builds[-1].distinct_profile_count == audience.distinct_profile_count
    assert builds[-1].built_at == audience.last_built_at


def test_build_change_when_two_builds_gives_difference_and_percent(tenant, create):
    audience = create()
    now = timezone.now()
    AudienceBuild.objects.all().delete()
    AudienceBuildFactory(
        audience=audience, built_at=now - timedelta(days=1), record_count=2000, distinct_profile_count=1000
    )
    AudienceBuildFactory(audience=audience, built_at=now, record_count=3234, distinct_profile_count=979)
    change = audience_build_change(audience_build_history(audience))
    assert change["records"]["diff"] == 1234 and round(change["records"]["percent"], 1) == 61.7
    assert change["profiles"]["diff"] == -21 and round(change["profiles"]["percent"], 1) == -2.1


def test_detail_page_when_builds_exist_shows_chart_and_change_in_words(client, tenant, create):
    audience = create()
    now = timezone.now()
    AudienceBuild.objects.all().delete()
    AudienceBuildFactory(
        audience=audience, built_at=now - timedelta(days=1), record_count=2000, distinct_profile_count=1000
    )
    AudienceBuildFactory(audience=audience, built_at=now, record_count=3234, distinct_profile_count=979)
    client.force_login(tenant.user)
    html = client.get(f"/audiences/{audience.pk}/").content.decode()
    assert 'id="chart-audience-size"' in html and "plotly/plotly.min.js" in html
    assert "records +1,234 (+61.7%)" in html and "distinct profiles −21 (−2.1%)" in html
    AudienceBuild.objects.filter(built_at__lt=now).delete()
    html = client.get(f"/audiences/{audience.pk}/").content.decode()
    assert 'id="size-empty"' in html and "chart-audience-size" not in html


def test_demo_seed_when_run_twice_creates_the_same_history_once(tenant, django_capture_on_commit_callbacks):
    from audiences import demo
    from delivr_admin.management.commands.seed_demo import DemoContext

    context = DemoContext(
        organization=tenant.org, project=tenant.project, admin=tenant.user, stdout=io.StringIO()
    )
    with django_capture_on_commit_callbacks(execute=True):
        demo.seed_audiences(context)
    first = sorted(
        AudienceBuild.objects.filter(built_at__lt=timezone.now() - timedelta(hours=12)).values_list(
            "audience__name", "record_count", "distinct_profile_count"
        )
    )
    with django_capture_on_commit_callbacks(execute=True):
        demo.seed_audiences(context)
    again = sorted(
        AudienceBuild.objects.filter(built_at__lt=timezone.now() - timedelta(hours=12)).values_list(
            "audience__name", "record_count", "distinct_profile_count"
        )
    )
    assert first == again
    grouped = [row for row in first if row[0].startswith("North American")]
    assert len(grouped) == demo.HISTORY_BUILDS and any(row[1] > 0 for row in grouped)
