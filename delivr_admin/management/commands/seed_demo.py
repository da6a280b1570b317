"""Creates the demo organization, project, admin user and data; safe to run again (skips what exists).

Each app with a `demo.py` module exposing `seed(context: DemoContext)` adds its own demo data.
"""

import importlib
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Membership, Organization, Project, Role, User


@dataclass
class DemoContext:
    organization: Organization
    project: Project
    admin: User
    stdout: object


def ensure_demo_accounts() -> tuple[Organization, Project, User]:
    with transaction.atomic():
        org, _ = Organization.objects.get_or_create(name="Acme Demo Co", parent=None)
        project, _ = Project.objects.get_or_create(organization=org, name="Default")
        Project.objects.get_or_create(organization=org, name="Q4 Campaigns")
        admin = User.objects.filter(email=settings.DEMO_ADMIN_EMAIL.lower()).first()
        if admin is None:
            admin = User.objects.create_user(
                email=settings.DEMO_ADMIN_EMAIL,
                password=settings.DEMO_ADMIN_PASSWORD,
                first_name="Demo",
                last_name="Admin",
            )
        Membership.objects.get_or_create(user=admin, organization=org, defaults={"role": Role.ADMIN})
        for email, role, first in (
            ("marketer@example.com", Role.MARKETER, "Mara"),
            ("support@example.com", Role.SUPPORT, "Sam"),
        ):
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create_user(
                    email=email, password=settings.DEMO_ADMIN_PASSWORD, first_name=first, last_name="Demo"
                )
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
