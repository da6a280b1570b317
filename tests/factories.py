import functools
from datetime import timedelta

import factory
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from accounts.models import Membership, Organization, Project, Role, User
from audiences.models import (
    Audience,
    AudienceBuild,
    ContactList,
    Job,
    JobKind,
    ListStatus,
    Task,
    TaskKind,
)
from exports.models import Export, ExportRun
from privacy.models import IdentifierType, OptOut, OptOutSource

PASSWORD = "correct-horse-battery"


@functools.cache
def password_hash() -> str:
    """PASSWORD hashed once per test process by the product's hasher (Argon2, ~0.3 s of CPU and 100 MB per hash).

    Every user gets this real hash, so logging in checks it as in production; hashing it afresh for each of
    the suite's ~1,000 users cost minutes. Services that set passwords still hash for real."""
    return make_password(PASSWORD)


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Project {n}")


class UserFactory(factory.django.DjangoModelFactory):
    """A user whose password is PASSWORD (pass `password=make_password(...)` for another: the field is the hash)."""

    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    first_name = "Test"
    last_name = "User"
    password = factory.LazyFunction(password_hash)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Role.ADMIN


# Domain objects. Each belongs to one organization: pass `organization=` (and `project=` of that
# organization); the project and the export's organization follow it. They are rows, not workflows: a test
# of a service calls the service, these only set the scene.


class _InProjectFactory(factory.django.DjangoModelFactory):
    """A row of a project: a new organization and project unless given (the project follows the organization)."""

    class Meta:
        abstract = True

    organization = factory.SubFactory(OrganizationFactory)
    project = factory.SubFactory(ProjectFactory, organization=factory.SelfAttribute("..organization"))


class AudienceFactory(_InProjectFactory):
    class Meta:
        model = Audience

    name = factory.Sequence(lambda n: f"Audience {n}")


class AudienceBuildFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AudienceBuild

    audience = factory.SubFactory(AudienceFactory)
    built_at = factory.LazyFunction(timezone.now)
    record_count = 1000


class ContactListFactory(_InProjectFactory):
    """A ready contacts list (a list being imported: status=ListStatus.PROCESSING)."""

    class Meta:
        model = ContactList

    name = factory.Sequence(lambda n: f"List {n}")
    status = ListStatus.READY


class ExportFactory(_InProjectFactory):
    class Meta:
        model = Export

    name = factory.Sequence(lambda n: f"Export {n}")
    destination_type = "webhook"


class ExportRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExportRun

    export = factory.SubFactory(ExportFactory)
    organization = factory.SelfAttribute("export.organization")


class TaskFactory(factory.django.DjangoModelFactory):
    """An intent task in progress, kept for a day."""

    class Meta:
        model = Task

    organization = factory.SubFactory(OrganizationFactory)
    kind = TaskKind.INTENT_HIVE
    input_path = "/data"
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    task = factory.SubFactory(TaskFactory)
    kind = JobKind.COUNT
    partition = factory.Sequence(lambda n: f"day={n}")


class OptOutFactory(factory.django.DjangoModelFactory):
    """An email opted out through support, for one organization (organization=None: global)."""

    class Meta:
        model = OptOut

    organization = factory.SubFactory(OrganizationFactory)
    identifier_type = IdentifierType.EMAIL
    value = factory.Sequence(lambda n: f"person{n}@example.com")
    source = OptOutSource.SUPPORT
    opted_out_at = factory.LazyFunction(timezone.now)
