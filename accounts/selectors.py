"""Reads of accounts data. Every read is scoped to a principal's organization (and its sub-organizations)."""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from django.db.models import QuerySet
from django.http import Http404

from delivr_admin.errors import ApplicationError
from delivr_admin.selectors import one_or_404

from .models import ApiClient, Membership, Organization, Project, Role, User


def organization_descendant_ids(root_ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    """The given organizations and every organization below them, at any depth (safe against cycles)."""
    seen: list[uuid.UUID] = []
    seen_set: set[uuid.UUID] = set()
    frontier = [i for i in root_ids if i not in seen_set]
    while frontier:
        fresh = [i for i in frontier if i not in seen_set]
        seen.extend(fresh)
        seen_set.update(fresh)
        frontier = [
            child
            for child in Organization.objects.filter(parent_id__in=fresh).values_list("id", flat=True)
            if child not in seen_set
        ]
    return seen


@dataclass(eq=False)
class Principal:
    """Who is calling and on behalf of which organization: a signed-in user or an API client."""

    organization: Organization
    role: str
    user: User | None = None
    client: ApiClient | None = None
    _scope: list[uuid.UUID] | None = field(default=None, repr=False)

    @cached_property
    def organization_ids(self) -> list[uuid.UUID]:
        """The caller's organization and its sub-organizations: everything the caller may see."""
        return organization_descendant_ids([self.organization.id])

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def can_write(self) -> bool:
        """Support staff read; admins, marketers and API clients change data."""
        return self.role != Role.SUPPORT

    @property
    def actor(self) -> str:
        if self.user is not None:
            return f"user:{self.user.email}"
        if self.client is not None:
            return f"api_client:{self.client.id}"
        return "system"


CLIENT_ROLE = "integrator"


def principal_for_session(user: User, org_id: str | None) -> Principal | None:
    """The principal of a signed-in browser user: the org chosen in the session, else their first one."""
    memberships = Membership.objects.filter(user=user).select_related("organization").order_by("created_at")
    chosen = None
    for membership in memberships:
        if chosen is None or str(membership.organization_id) == str(org_id):
            chosen = membership
    if chosen is None:
        return None
    return Principal(organization=chosen.organization, role=chosen.role, user=user)


def principal_for_user(user: User, organization_id: uuid.UUID | str | None = None) -> Principal | None:
    return principal_for_session(user, str(organization_id) if organization_id else None)


def organization_list(principal: Principal) -> QuerySet[Organization]:
    return Organization.objects.filter(id__in=principal.organization_ids).select_related("parent")


def organization_get(principal: Principal, organization_id: uuid.UUID | str) -> Organization:
    return one_or_404(organization_list(principal), "organization not found", id=organization_id)


def project_list(principal: Principal) -> QuerySet[Project]:
    return (
        Project.objects.filter(organization_id__in=principal.organization_ids)
        .select_related("organization")
        .order_by("organization__name", "name")
    )


def project_get(principal: Principal, project_id: uuid.UUID | str) -> Project:
    """The project if the caller may see it; 404 otherwise (another org's project looks like no project)."""
    return one_or_404(project_list(principal), "project not found", id=project_id)


def project_resolve(principal: Principal, project_id: object) -> Project:
    """The project an API body or a form names (APIs, views and services all look it up here).

    A 400 `invalid_project` (the message and a `fields.project_id` entry) when it is missing, malformed or
    not one the caller may see.
    """
    if project_id is None or not str(project_id).strip():
        message = "project_id is required: choose a project."
    else:
        try:
            return project_get(principal, str(project_id).strip())
        except Http404:
            message = "project_id: no project with this id in your organization."
    field_message = message.removeprefix("project_id: ").capitalize()
    raise ApplicationError(message, code="invalid_project", extra={"fields": {"project_id": [field_message]}})


def project_default(principal: Principal) -> Project | None:
    """The caller's own organization's first project (used when an API call names none)."""
    return Project.objects.filter(organization=principal.organization).order_by("created_at").first()


def membership_exists(*, user: User, organization_id: uuid.UUID | None) -> bool:
    """Whether the user is a member of that organization (no organization: False)."""
    if organization_id is None:
        return False
    return Membership.objects.filter(user=user, organization_id=organization_id).exists()


def membership_get(principal: Principal, membership_id: int) -> Membership:
    """A membership of the caller's own organization; 404 otherwise."""
    return one_or_404(membership_list(principal), "membership not found", id=membership_id)


def membership_list(principal: Principal) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(organization=principal.organization)
        .select_related("user")
        .order_by("user__email")
    )


def api_client_list(principal: Principal) -> QuerySet[ApiClient]:
    return ApiClient.objects.filter(organization=principal.organization, revoked_at__isnull=True)


def api_client_get(principal: Principal, client_id: uuid.UUID | str) -> ApiClient:
    return one_or_404(api_client_list(principal), "client not found", id=client_id)
