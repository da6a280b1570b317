"""The demo exists only when seeded and has no Django admin rights; Django admin cannot alter opt-outs or the
audit log, nor show password or API client hashes."""

from datetime import UTC, datetime

import pytest
from django.conf import settings

from accounts.models import Organization, User
from delivr_admin.management.commands.seed_demo import ensure_demo_accounts
from privacy import services as privacy_services
from privacy.models import AuditEvent, OptOut

pytestmark = pytest.mark.django_db

DEMO_EMAILS = [settings.DEMO_ADMIN_EMAIL, "marketer@example.com", "support@example.com"]


def test_demo_does_not_exist_without_the_seed():
    assert not Organization.objects.filter(name="Acme Demo Co").exists()
    assert not User.objects.filter(email__in=DEMO_EMAILS).exists()


def test_demo_seed_users_are_not_staff_nor_superuser_and_a_reseed_demotes_old_ones(client):
    User.objects.create_superuser(email=settings.DEMO_ADMIN_EMAIL, password=settings.DEMO_ADMIN_PASSWORD)
    ensure_demo_accounts()  # an earlier version seeded a superuser: seeding again takes it back
    users = User.objects.filter(email__in=DEMO_EMAILS)
    assert users.count() == 3
    assert not users.filter(is_staff=True).exists() and not users.filter(is_superuser=True).exists()
    assert client.login(email=settings.DEMO_ADMIN_EMAIL, password=settings.DEMO_ADMIN_PASSWORD)
    response = client.get("/django-admin/privacy/optout/")
    assert response.status_code == 302 and "/django-admin/login/" in response["Location"]


@pytest.fixture
def superuser_client(client):
    user = User.objects.create_superuser(email="root@ops.example", password="a long operator passphrase")
    client.force_login(user)
    return client


@pytest.fixture
def optout(tenant):
    entry, _ = privacy_services.optout_record(
        identifier_type="email",
        value="gone@example.com",
        source="support",
        opted_out_at=datetime.now(UTC),
        organization=tenant.org,
        actor="tests",
    )
    return entry


def test_admin_cannot_add_change_or_delete_optouts_or_audit_events(superuser_client, optout):
    event = AuditEvent.objects.get()
    for model, obj in (("optout", optout), ("auditevent", event)):
        base = f"/django-admin/privacy/{model}"
        assert superuser_client.get(f"{base}/").status_code == 200  # still visible
        assert superuser_client.get(f"{base}/add/").status_code == 403
        change = superuser_client.get(f"{base}/{obj.pk}/change/")
        assert change.status_code == 200 and b'name="_save"' not in change.content  # view only
        assert superuser_client.post(f"{base}/{obj.pk}/change/", {"value": "x"}).status_code == 403
        assert superuser_client.post(f"{base}/{obj.pk}/delete/", {"post": "yes"}).status_code == 403
        bulk = superuser_client.post(
            f"{base}/", {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"}
        )
        assert bulk.status_code in (200, 302, 403)
    assert OptOut.objects.filter(pk=optout.pk, value="gone@example.com").exists()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_admin_shows_no_password_or_api_client_hashes(superuser_client, tenant):
    from accounts.models import ApiClient

    api_client = ApiClient.objects.get(organization=tenant.org)
    page = superuser_client.get(f"/django-admin/accounts/apiclient/{api_client.pk}/change/").content.decode()
    assert api_client.key_hash not in page and api_client.secret_hash not in page
    assert superuser_client.get("/django-admin/accounts/apiclient/add/").status_code == 403
    page = superuser_client.get(f"/django-admin/accounts/user/{tenant.user.pk}/change/").content.decode()
    assert tenant.user.password not in page and "argon2" not in page
