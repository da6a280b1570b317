"""Cross-organization isolation: a second org's user and API client never see the first org's objects.

Later features add their endpoints to ENDPOINTS_FOR (each builds one object of the first org and
returns the URLs that must answer 404 to the second org).
"""

import pytest

pytestmark = pytest.mark.django_db


def accounts_objects(first):
    return [f"/api/app/retrieve/{first.client_id}"]


def audience_tasks(first):
    from tests.factories import TaskFactory

    task = TaskFactory(organization=first.org)
    return [f"/api/v1/status/{task.pk}"]


def privacy_pixels_objects(first):
    from datetime import UTC, datetime

    from pixels.services import pixel_create
    from privacy.services import optout_record

    pixel = pixel_create(organization=first.org, name="Isolation pixel")
    optout, _ = optout_record(
        identifier_type="email",
        value="isolated@example.com",
        source="support",
        opted_out_at=datetime(2026, 3, 1, tzinfo=UTC),
        organization=first.org,
        actor="test",
    )
    return [
        f"/api/v1/pixels/{pixel.id}",
        f"/api/v1/organizations/{first.org.id}/settings",
        f"/api/v1/privacy/optouts/{optout.id}",
    ]


ENDPOINTS_FOR = [accounts_objects, audience_tasks, privacy_pixels_objects]


def campaigns_objects(first):
    from tests.campaigns.factories import make_campaign

    campaign = make_campaign(first.org, days=2)
    return [f"/api/v1/campaigns/{campaign.id}", f"/api/v1/campaigns/{campaign.id}/match-rates"]


ENDPOINTS_FOR.append(campaigns_objects)


def test_other_org_gets_404_on_every_object_of_first(tenant, other_tenant):
    urls = [url for build in ENDPOINTS_FOR for url in build(tenant)]
    assert urls
    for url in urls:
        assert tenant.jwt().get(url).status_code == 200, url
        for client in (other_tenant.jwt(), other_tenant.key()):
            r = client.get(url)
            assert r.status_code in (403, 404), (url, r.status_code)
            assert str(tenant.org.id) not in r.content.decode()
        r = other_tenant.jwt().get(url)
        assert r.status_code == 404, url


def test_listings_never_include_other_org(tenant, other_tenant):
    for url in ("/api/v1/projects", "/api/app/get", "/api/v1/organizations"):
        body = other_tenant.jwt().get(url).content.decode()
        assert str(tenant.org.id) not in body
        assert str(tenant.project.id) not in body
        assert tenant.client_id not in body


def test_parent_org_sees_child_projects_at_any_depth_but_child_not_parent(tenant):
    from accounts.models import Organization, Project

    parent = tenant.org
    chain = []
    current = parent
    for depth in range(6):
        current = Organization.objects.create(name=f"depth {depth}", parent=current)
        Project.objects.create(organization=current, name=f"p{depth}")
        chain.append(current)
    r = tenant.jwt().get("/api/v1/projects")
    assert r.status_code == 200
    assert {p["name"] for p in r.json()} == {"Default"} | {f"p{d}" for d in range(6)}
    orgs = tenant.jwt().get("/api/v1/organizations").json()
    assert len(orgs) == 7

    from accounts.selectors import organization_descendant_ids

    deepest = chain[-1]
    assert organization_descendant_ids([deepest.id]) == [deepest.id]


def test_org_tree_with_cycle_does_not_loop(tenant):
    from accounts.models import Organization
    from accounts.selectors import organization_descendant_ids

    a = Organization.objects.create(name="a", parent=tenant.org)
    b = Organization.objects.create(name="b", parent=a)
    Organization.objects.filter(id=tenant.org.id).update(parent=b)  # corrupt data: a cycle
    assert set(organization_descendant_ids([tenant.org.id])) == {tenant.org.id, a.id, b.id}


def audiences_and_lists(first):
    from tests.factories import AudienceFactory, ContactListFactory

    audience = AudienceFactory(organization=first.org, project=first.project)
    contact_list = ContactListFactory(organization=first.org, project=first.project)
    return [
        f"/api/v1/audiences/{audience.pk}",
        f"/api/v1/lists/{contact_list.pk}",
    ]


ENDPOINTS_FOR.append(audiences_and_lists)


def _file_export(first):
    """A CSV file export of the first org's project, on an audience of its own."""
    from tests.factories import AudienceFactory, ExportFactory

    return ExportFactory(
        organization=first.org,
        project=first.project,
        audience=AudienceFactory(organization=first.org, project=first.project),
        destination_type="file",
        destination_config={"format": "csv"},
        field_mapping=[{"source": "email", "target": "Email"}],
    )


def exports_objects(first):
    from tests.factories import ExportRunFactory

    export = _file_export(first)
    run = ExportRunFactory(export=export, status="completed")
    return [
        f"/api/v1/exports/{export.id}",
        f"/api/v1/exports/{export.id}/runs",
        f"/api/v1/exports/{export.id}/runs/{run.id}",
    ]


ENDPOINTS_FOR.append(exports_objects)


def connection_check_objects(first):
    from exports.models import ConnectionCheck

    export = _file_export(first)
    check = ConnectionCheck.objects.create(export=export, organization=first.org, status="ok", message="ok")
    return [f"/api/v1/exports/{export.id}/test-connection/{check.id}"]


ENDPOINTS_FOR.append(connection_check_objects)
