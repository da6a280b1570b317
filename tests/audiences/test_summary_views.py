"""Every page a marketer reads shows an audience as a sentence, never as a dict."""

import pytest

from audiences.services.topics import topic_import
from tests.factories import AudienceFactory, TaskFactory

pytestmark = pytest.mark.django_db

DEFINITION = {
    "topic_id_prefixes": ["4eyes_100", "4eyes_101"],
    "scores": ["high", "medium"],
    "lookback_days": 14,
    "filters": [{"field": "country", "op": "=", "value": "US"}],
}
SENTENCE = "People with high or medium intent for CRM Software or Marketing Automation in the last 14 days, in the US."


@pytest.fixture
def audience(tenant):
    topic_import(
        content=b"code,name,category\n4eyes_100,CRM Software,Sales\n4eyes_101,Marketing Automation,Marketing\n"
    )
    return AudienceFactory(
        organization=tenant.org, project=tenant.project, name="US buyers", definition=DEFINITION
    )


def _no_dict(html: str) -> None:
    assert "'topic_id_prefixes'" not in html and '"topic_id_prefixes"' not in html and "{'field'" not in html


def test_audience_list_and_detail_show_the_sentence_not_the_dict(client, tenant, audience):
    client.force_login(tenant.user)
    for url in ("/audiences/", f"/audiences/{audience.pk}/"):
        html = client.get(url).content.decode()
        assert SENTENCE in html
        _no_dict(html)
    detail = client.get(f"/audiences/{audience.pk}/").content.decode()
    assert 'class="chip chip-topic">CRM Software<' in detail and ">In the US<" in detail


def test_export_form_shows_the_chosen_audience_sentence_and_refreshes_it(client, tenant, audience):
    client.force_login(tenant.user)
    html = client.get("/exports/new/").content.decode()
    assert SENTENCE in html and 'hx-trigger="change from:#id_audience"' in html
    r = client.get(
        "/audiences/summary/",
        {
            "audience_id": str(audience.pk),
            "summary_id": "export-audience-summary",
            "refresh_from": "#id_audience",
        },
        HTTP_HX_REQUEST="true",
    )
    assert r.status_code == 200 and b"<html" not in r.content and SENTENCE in r.content.decode()
    assert 'id="export-audience-summary"' in r.content.decode()


def test_audience_summary_of_another_org_audience_shows_nothing(client, other_tenant, audience):
    client.force_login(other_tenant.user)
    r = client.get("/audiences/summary/", {"audience_id": str(audience.pk)}, HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and "People with" not in r.content.decode()


def test_tasks_page_and_task_detail_name_topics_from_the_catalogue(client, tenant, audience):
    from audiences.models import TaskKind

    client.force_login(tenant.user)
    html = client.get("/tasks/").content.decode()
    assert ">CRM Software (4eyes_100)</option>" in html
    task = TaskFactory(
        organization=tenant.org,
        kind=TaskKind.INTENT_HIVE,
        input_path="/x",
        topic_id_prefixes=["4eyes_100", "4eyes_999"],
        expires_at="2099-01-01T00:00:00Z",
    )
    detail = client.get(f"/tasks/{task.pk}/").content.decode()
    assert "<dd>CRM Software (4eyes_100), 4eyes_999</dd>" in detail


@pytest.mark.parametrize(
    ("query", "summary_id", "refresh"),
    [
        ({}, "audience-summary", False),
        ({"summary_id": "", "refresh_from": "#id_other"}, "audience-summary", False),
        ({"summary_id": 'x" onclick="evil', "refresh_from": "#id_audience"}, "audience-summary", True),
        ({"summary_id": "export-audience-summary"}, "export-audience-summary", False),
    ],
)
def test_audience_summary_when_query_odd_keeps_a_safe_id_and_refreshes_only_from_the_audience_select(
    client, tenant, audience, query, summary_id, refresh
):
    client.force_login(tenant.user)
    r = client.get("/audiences/summary/", {"audience_id": str(audience.pk), **query}, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200 and f'id="{summary_id}"' in html and SENTENCE in html
    assert ("change from:#id_audience" in html) is refresh and "evil" not in html
