"""Writes of accounts data: registration, login tokens, API clients, projects, members."""

import hashlib
import secrets
import threading
import uuid
from datetime import UTC, datetime, timedelta

import jwt
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import check_password, get_hasher, make_password
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from delivr_admin.errors import ApplicationError
from delivr_admin.ratelimit import (
    TooManyAttempts,
    rate_limit_hit,
    rate_limit_refund,
    rate_limit_reset,
    rate_limit_wait,
    retry_seconds,
    signin_address_limit,
)

from .models import ApiClient, Membership, Organization, Project, Role, User
from .selectors import CLIENT_ROLE, Principal, principal_for_user

API_KEY_PREFIX = "dlvr_"


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def password_check(*, password: str, email: str, first_name: str = "", last_name: str = "") -> None:
    """Django's password validators (length, common passwords, similarity to the email and names, not only
    spaces); ApplicationError `weak_password` whose `fields.password` lists every reason in words."""
    try:
        password_validation.validate_password(
            password, User(email=email, first_name=first_name, last_name=last_name)
        )
    except ValidationError as exc:
        raise ApplicationError(
            " ".join(exc.messages), code="weak_password", extra={"fields": {"password": list(exc.messages)}}
        ) from exc


@transaction.atomic
def user_register(
    *,
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    organization_name: str,
    client_address: str = "",
) -> tuple[User, Organization]:
    """Creates a user, their organization (with a default project) and makes them its admin.

    An email that has an account answers 409 email_taken: the reference's flow (register, then log in at
    once) needs to know the account was not created, and there is no email channel to tell the owner. What
    limits probing is the per-address registration limit (429), checked first, and the password rules being
    checked before the email, so a weak password says nothing about the email.
    """
    limit = _registration_limit()
    wait = rate_limit_hit(f"register:{client_address}", **limit) if client_address else None
    if wait is not None:
        raise TooManyAttempts(
            wait, f"Too many sign-ups from this address. Try again in {retry_seconds(wait)} seconds."
        )
    email = email.strip().lower()
    password_check(password=password, email=email, first_name=first_name, last_name=last_name)
    if User.objects.filter(email=email).exists():
        raise ApplicationError("An account with this email already exists.", code="email_taken", status=409)
    try:
        user = User.objects.create_user(
            email=email, password=password, first_name=first_name, last_name=last_name
        )
    except IntegrityError as exc:
        raise ApplicationError(
            "An account with this email already exists.", code="email_taken", status=409
        ) from exc
    org = Organization.objects.create(name=organization_name.strip())
    Project.objects.create(organization=org, name="Default")
    Membership.objects.create(user=user, organization=org, role=Role.ADMIN)
    return user, org


def _registration_limit() -> dict:
    count, seconds = settings.DELIVR_REGISTRATIONS_PER_ADDRESS, settings.DELIVR_REGISTRATION_WINDOW_SECONDS
    return {"rate": count / seconds, "burst": count}


def _login_limits(email: str, client_address: str) -> list[tuple[str, dict]]:
    per_account, seconds = (
        settings.DELIVR_LOGIN_FAILURES_PER_ACCOUNT,
        settings.DELIVR_LOGIN_FAILURE_WINDOW_SECONDS,
    )
    return [
        (f"login:account:{_sha256(email)}", {"rate": per_account / seconds, "burst": per_account}),
        signin_address_limit(client_address),
    ]


def _login_attempt_count(limits: list[tuple[str, dict]]) -> None:
    """Counts a sign-in attempt against every limit before any hashing, as if it failed (so concurrent
    attempts cannot all slip past the check); TooManyAttempts, with nothing counted, when one is spent."""
    counted: list[tuple[str, dict]] = []
    wait = max((w for key, limit in limits if (w := rate_limit_wait(key, **limit))), default=None)
    for key, limit in limits if wait is None else []:
        wait = rate_limit_hit(key, **limit)
        if wait is not None:
            break
        counted.append((key, limit))
    if wait is not None:
        for key, limit in counted:
            rate_limit_refund(key, rate=limit["rate"])
        raise TooManyAttempts(
            wait, f"Too many failed sign-in attempts. Try again in {retry_seconds(wait)} seconds."
        )


# At most this many sign-in password hashes at once in a process: Argon2 (Django's parameters: 8 lanes,
# 100 MB) takes every core while it runs, so threads busy hashing starve every other request. An attempt
# arriving while the slots are taken is told to retry in a second, with nothing counted.
_hash_slots = threading.BoundedSemaphore(max(1, settings.DELIVR_SIGNIN_HASHES_PER_PROCESS))

_dummy_hashes: dict[str, str] = {}


def _dummy_hash() -> str:
    """A hash of a random password made by the current hasher, so an unknown email costs one hash too."""
    algorithm = get_hasher().algorithm
    if algorithm not in _dummy_hashes:
        _dummy_hashes[algorithm] = make_password(secrets.token_urlsafe(16))
    return _dummy_hashes[algorithm]


def user_authenticate(*, email: str, password: str, client_address: str) -> User:
    """The active user with this email and password (API and dashboard sign-in).

    Refused with TooManyAttempts (429, no hashing at all) while the account or the client address has too
    many recent failures, or while this process is already hashing a sign-in; an unknown email runs the
    hasher on a dummy hash so that both answers take as long.
    Raises ApplicationError invalid_credentials (401) otherwise.
    """
    email = email.strip().lower()
    limits = _login_limits(email, client_address)
    _login_attempt_count(limits)
    user = User.objects.filter(email=email, is_active=True).first()
    if not _hash_slots.acquire(blocking=False):
        for key, limit in limits:
            rate_limit_refund(key, rate=limit["rate"])
        raise TooManyAttempts(1.0, "Too many sign-in attempts right now. Try again in 1 second.")
    try:
        if user is None:
            check_password(password, _dummy_hash())  # as long as a real check; never valid
            valid = False
        else:
            valid = user.check_password(password)
    finally:
        _hash_slots.release()
    if valid:
        (account_key, _), (address_key, address_limit) = limits
        rate_limit_reset(account_key)
        rate_limit_refund(address_key, rate=address_limit["rate"])  # an office's sign-ins are no failures
        return user
    raise ApplicationError("Email or password is incorrect.", code="invalid_credentials", status=401)


def user_login(
    *, email: str, password: str, client_address: str, organization_id: uuid.UUID | None = None
) -> tuple[User, Principal, str]:
    """Checks the password (see user_authenticate) and returns the user, their principal and a signed JWT."""
    user = user_authenticate(email=email, password=password, client_address=client_address)
    principal = principal_for_user(user, organization_id)
    if principal is None or (organization_id and principal.organization.id != organization_id):
        raise ApplicationError(
            "This user has no access to that organization.", code="no_organization", status=403
        )
    return user, principal, jwt_issue(user=user, organization=principal.organization)


def jwt_secret() -> str:
    """The key JWTs are signed with: DELIVR_JWT_SECRET, else the secret key."""
    return settings.JWT_SECRET or settings.SECRET_KEY


def jwt_issue(*, user: User, organization: Organization) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user.id),
        "org": str(organization.id),
        "iat": now,
        "exp": now + timedelta(seconds=settings.JWT_TTL_SECONDS),
        "typ": "access",
    }
    return jwt.encode(claims, jwt_secret(), algorithm="HS256")


def jwt_principal(token: str) -> Principal | None:
    """The principal a JWT stands for, or None when the token is invalid, expired or its access is gone."""
    try:
        claims = jwt.decode(token, jwt_secret(), algorithms=["HS256"], options={"require": ["exp", "sub"]})
        sub, org = claims.get("sub"), claims.get("org")
        if not isinstance(sub, str) or not isinstance(org, str):  # a list or object claim is no id
            return None
        user = User.objects.get(id=uuid.UUID(sub), is_active=True)
        org_id = uuid.UUID(org)
    except (jwt.PyJWTError, User.DoesNotExist, ValueError, KeyError, TypeError, AttributeError):
        return None
    principal = principal_for_user(user, org_id)
    if principal is None or principal.organization.id != org_id:
        return None
    return principal


@transaction.atomic
def api_client_create(
    *, principal: Principal, name: str, enforce_secret: bool = True
) -> tuple[ApiClient, str, str]:
    """Creates an API client; returns it with the api_key and api_secret, which are never shown again."""
    api_key = API_KEY_PREFIX + secrets.token_hex(24)
    api_secret = secrets.token_hex(32)
    client = ApiClient.objects.create(
        organization=principal.organization,
        name=name.strip() or "API client",
        key_prefix=api_key[:12],
        key_hash=_sha256(api_key),
        secret_hash=_sha256(api_secret),
        enforce_secret=enforce_secret,
        created_by=principal.user,
    )
    return client, api_key, api_secret


class ApiKeyRejected(Exception):
    """Why an API key (and secret) pair was refused; the message is safe to show the caller."""


def api_client_authenticate(*, api_key: str, api_secret: str | None) -> Principal:
    """The principal of a valid key (and its secret, when the client enforces it); ApiKeyRejected otherwise."""
    if not api_key or not api_key.startswith(API_KEY_PREFIX):
        raise ApiKeyRejected("Invalid API key.")
    key_hash = _sha256(api_key)
    # The lookup is cached briefly in a shared cache (Redis; keyed by the key hash): it was a third of the
    # cost of a cheap API call under load. Revocation deletes the entry, so every process sees it on its
    # next request. An in-process cache (the embedded default) could not be cleared in the other workers,
    # so there every request reads the row.
    shared = _client_cache_is_shared()
    client = cache.get(_client_cache_key(key_hash)) if shared else None
    if client is None:
        client = (
            ApiClient.objects.select_related("organization")
            .filter(key_hash=key_hash, revoked_at__isnull=True)
            .first()
        )
        if client is None:
            raise ApiKeyRejected("Invalid API key.")
        if shared:
            cache.set(_client_cache_key(key_hash), client, API_CLIENT_CACHE_SECONDS)
    if api_secret is None and client.enforce_secret:
        raise ApiKeyRejected("This API client requires its secret: send it in the X-Api-Secret header.")
    if api_secret is not None and not secrets.compare_digest(_sha256(api_secret), client.secret_hash):
        raise ApiKeyRejected("The API secret does not match this API key.")
    now = timezone.now()
    if client.last_used_at is None or now - client.last_used_at > timedelta(minutes=1):
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
        client.last_used_at = now
        if shared:
            cache.set(_client_cache_key(key_hash), client, API_CLIENT_CACHE_SECONDS)
    return Principal(organization=client.organization, role=CLIENT_ROLE, client=client)


API_CLIENT_CACHE_SECONDS = 10


def _client_cache_is_shared() -> bool:
    return not isinstance(caches["default"], LocMemCache)


def _client_cache_key(key_hash: str) -> str:
    return f"apiclient:{key_hash}"


@transaction.atomic
def api_client_revoke(*, client: ApiClient) -> None:
    ApiClient.objects.filter(pk=client.pk).update(revoked_at=timezone.now())
    # Now, and again after commit in case a concurrent request cached the row before the update committed.
    cache.delete(_client_cache_key(client.key_hash))
    transaction.on_commit(lambda: cache.delete(_client_cache_key(client.key_hash)))


@transaction.atomic
def project_create(*, principal: Principal, name: str, organization: Organization | None = None) -> Project:
    org = organization or principal.organization
    name = name.strip()
    if not name:
        raise ApplicationError("A project needs a name.", code="invalid_request")
    if Project.objects.filter(organization=org, name=name).exists():
        raise ApplicationError(f"A project named {name!r} already exists.", code="conflict", status=409)
    return Project.objects.create(organization=org, name=name)


@transaction.atomic
def organization_create_child(*, principal: Principal, name: str) -> Organization:
    """Creates a sub-organization of the caller's organization, with a default project."""
    org = Organization.objects.create(name=name.strip(), parent=principal.organization)
    Project.objects.create(organization=org, name="Default")
    if principal.user is not None:
        Membership.objects.create(user=principal.user, organization=org, role=Role.ADMIN)
    return org


@transaction.atomic
def member_add(
    *,
    principal: Principal,
    email: str,
    role: str,
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
) -> Membership:
    """Adds a member by email, creating the user when new (a password is then required)."""
    if role not in Role.values:
        raise ApplicationError(f"Unknown role {role!r}.", code="invalid_request")
    email = email.strip().lower()
    user = User.objects.filter(email=email).first()
    if user is None:
        if not password:
            raise ApplicationError("A new member needs an initial password.", code="invalid_request")
        password_check(password=password, email=email, first_name=first_name, last_name=last_name)
        user = User.objects.create_user(
            email=email, password=password, first_name=first_name, last_name=last_name
        )
    membership, created = Membership.objects.get_or_create(
        user=user, organization=principal.organization, defaults={"role": role}
    )
    if not created:
        raise ApplicationError(f"{email} is already a member.", code="conflict", status=409)
    return membership


@transaction.atomic
def member_remove(*, principal: Principal, membership: Membership) -> None:
    if membership.organization_id != principal.organization.id:
        raise ApplicationError("Not found.", code="not_found", status=404)
    if membership.role == Role.ADMIN and (
        Membership.objects.filter(organization=membership.organization, role=Role.ADMIN).count() <= 1
    ):
        raise ApplicationError("An organization keeps at least one admin.", code="conflict", status=409)
    membership.delete()


@transaction.atomic
def organization_cookies_set(*, organization: Organization, cookies_enabled: bool) -> Organization:
    """Turns cookie-based pixel collection on or off for one organization (pixels follow on their next cycle)."""
    Organization.objects.filter(pk=organization.pk).update(cookies_enabled=cookies_enabled)
    organization.cookies_enabled = cookies_enabled
    return organization
