import pytest

pytestmark = pytest.mark.django_db


def test_dashboard_when_anonymous_redirects_to_login(client):
    r = client.get("/")
    assert r.status_code == 302 and "/login/" in r["Location"]


def test_settings_project_create_htmx_returns_only_partial(client, tenant):
    client.force_login(tenant.user)
    r = client.post("/settings/projects/", {"name": "Launch"}, HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    assert b"<html" not in r.content and b"Launch" in r.content


def test_support_cannot_manage_clients_or_members(client, tenant_factory):
    support = tenant_factory(role="support")
    client.force_login(support.user)
    assert client.post("/settings/clients/", {"name": "x"}).status_code == 403
    assert client.post("/settings/members/", {"email": "a@b.co", "role": "admin"}).status_code == 403
    r = client.get("/settings/")
    assert r.status_code == 200 and b"API clients" not in r.content


def test_add_member_form_when_opened_offers_marketer_not_admin_first(client, tenant):
    client.force_login(tenant.user)
    body = client.get("/settings/").content.decode()
    assert '<option value="marketer" selected>Marketer</option>' in body
    assert '<option value="admin" selected>' not in body


def test_admin_adds_member_who_can_sign_in(client, tenant):
    client.force_login(tenant.user)
    r = client.post(
        "/settings/members/",
        {"email": "new@example.com", "role": "marketer", "password": "another-good-pass"},
        HTTP_HX_REQUEST="true",
    )
    assert r.status_code == 200 and b"new@example.com" in r.content
    client.logout()
    assert client.login(username="new@example.com", password="another-good-pass")


def test_api_client_secret_shown_once_in_page(client, tenant):
    client.force_login(tenant.user)
    r = client.post(
        "/settings/clients/", {"name": "Shown once", "enforce_secret": "on"}, HTTP_HX_REQUEST="true"
    )
    assert b"new-api-secret" in r.content
    r = client.get("/settings/")
    assert b"new-api-secret" not in r.content and b"Shown once" in r.content


def test_seed_demo_is_idempotent(db, settings, tmp_path):
    from django.core.management import call_command

    from accounts.models import Organization, User

    call_command("seed_demo")
    call_command("seed_demo")
    assert User.objects.filter(email=settings.DEMO_ADMIN_EMAIL).count() == 1
    assert Organization.objects.filter(name="Acme Demo Co").count() == 1


def test_organization_switch_when_member_of_it_switches_and_otherwise_keeps_the_current_one(
    client, tenant, other_tenant
):
    from tests.conftest import make_tenant
    from tests.factories import MembershipFactory

    MembershipFactory(user=tenant.user, organization=other_tenant.org)
    client.force_login(tenant.user)
    r = client.post("/organization/switch/", {"organization_id": str(other_tenant.org.id).upper()})
    assert r.status_code == 302 and client.session["org_id"] == str(other_tenant.org.id)
    stranger = make_tenant()
    client.post("/organization/switch/", {"organization_id": str(stranger.org.id)})
    assert client.session["org_id"] == str(other_tenant.org.id)  # not a member: nothing changes
    client.post("/organization/switch/", {"organization_id": ""})
    assert client.session["org_id"] == str(other_tenant.org.id)


def test_organization_switch_when_id_malformed_says_so_in_a_400_page(client, tenant):
    client.force_login(tenant.user)
    r = client.post("/organization/switch/", {"organization_id": "not-a-uuid"})
    assert r.status_code == 400 and "Choose one of your organizations." in r.content.decode()


def test_member_remove_when_membership_of_another_org_is_404(client, tenant, other_tenant):
    from accounts.models import Membership

    other = Membership.objects.get(organization=other_tenant.org)
    client.force_login(tenant.user)
    assert client.post(f"/settings/members/{other.pk}/remove/").status_code == 404
    assert Membership.objects.filter(pk=other.pk).exists()
