"""Creates the demo organization, project, admin user and data; safe to run again (skips what exists).

Each app with a `demo.py` module exposing `seed(context: DemoContext)` adds its own demo data.
"""

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Membership, Organization, Project, Role, User


@dataclass
class DemoContext:
    organization: Organization
    project: Project
    admin: User
    stdout: object


def _demo_user(email: str, first_name: str, last_name: str, password_hash: Callable[[], str]) -> User:
    """The demo user with this email, made with the demo password (hashed by ``password_hash``) when missing."""
    email = User.objects.normalize_email(email).lower()
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create(
            email=email, password=password_hash(), first_name=first_name, last_name=last_name
        )
    return user


def ensure_demo_accounts() -> tuple[Organization, Project, User]:
    # The three users share the demo password: hashed once, and only when a user is missing (an argon2 hash
    # costs a fraction of a second of CPU).
    password_hash = functools.cache(lambda: make_password(settings.DEMO_ADMIN_PASSWORD))
    with transaction.atomic():
        org, _ = Organization.objects.get_or_create(name="Acme Demo Co", parent=None)
        project, _ = Project.objects.get_or_create(organization=org, name="Default")
        Project.objects.get_or_create(organization=org, name="Q4 Campaigns")
        admin = _demo_user(settings.DEMO_ADMIN_EMAIL, "Demo", "Admin", password_hash)
        Membership.objects.get_or_create(user=admin, organization=org, defaults={"role": Role.ADMIN})
        for email, role, first in (
            ("marketer@example.com", Role.MARKETER, "Mara"),
            ("support@example.com", Role.SUPPORT, "Sam"),
        ):
            user = _demo_user(email, first, "Demo", password_hash)
            Membership.objects.get_or_create(user=user, organization=org, defaults={"role": role})
        # The demo's password is public (README): none of its users may reach Django admin. Earlier seeds made
        # the admin a superuser; seeding again takes that back.
        demo_emails = [settings.DEMO_ADMIN_EMAIL.lower(), "marketer@example.com", "support@example.com"]
        User.objects.filter(email__in=demo_emails).update(is_staff=False, is_superuser=False)
        child, _ = Organization.objects.get_or_create(name="Acme EMEA", parent=org)
        Project.objects.get_or_create(organization=child, name="Default")
    return org, project, admin


class Command(BaseCommand):
    help = "Create (or complete) the deterministic demo data."

    def handle(self, *args, **options):
        org, project, admin = ensure_demo_accounts()
        context = DemoContext(organization=org, project=project, admin=admin, stdout=self.stdout)
        for app_config in apps.get_app_configs():
            try:
                module = importlib.import_module(f"{app_config.name}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{app_config.name}.demo":
                    raise
                continue
            module.seed(context)
        self.stdout.write(
            f"Demo organization: {org.name}; admin: {admin.email} / {settings.DEMO_ADMIN_PASSWORD}"
            if admin.check_password(settings.DEMO_ADMIN_PASSWORD)
            else f"Demo organization: {org.name}; admin: {admin.email}"
        )
