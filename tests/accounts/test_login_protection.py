"""Login protection, written as the attacker's requests: floods on the API and the dashboard sign-in, email
enumeration by timing and by register, weak passwords, malformed JWT claims, and the open redirect."""

import re
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from rest_framework.test import APIClient

from accounts.services import jwt_secret
from tests.accounts.hashers import CountingArgon2PasswordHasher
from tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

MESSAGE = re.compile(r"^Too many failed sign-in attempts\. Try again in (\d+) seconds\.$")


@pytest.fixture
def counting(settings):
    """Argon2 (as in production), counting each password verification."""
    settings.PASSWORD_HASHERS = ["tests.accounts.hashers.CountingArgon2PasswordHasher"]
    CountingArgon2PasswordHasher.verified = 0
    return CountingArgon2PasswordHasher


@pytest.fixture
def small_limits(settings):
    settings.DELIVR_LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.DELIVR_LOGIN_FAILURES_PER_ADDRESS = 5
    settings.DELIVR_LOGIN_FAILURE_WINDOW_SECONDS = 300


def login(api, email, password):
    return api.post("/auth/v1/login", {"email": email, "password": password}, format="json")


def test_api_login_flood_on_one_account_answers_429_without_hashing(api, counting, small_limits):
    user = UserFactory()
    assert [login(api, user.email, "wrong-guess-1").status_code for _ in range(3)] == [401, 401, 401]
    hashed = counting.verified
    r = login(api, user.email, "wrong-guess-2")
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "too_many_attempts"
    seconds = int(MESSAGE.match(r.json()["error"]["message"]).group(1))
    assert int(r["Retry-After"]) == seconds and 1 <= seconds <= 100
    # Even the right password waits: a limited attempt is refused before any hashing.
    assert login(api, user.email, PASSWORD).status_code == 429
    assert counting.verified == hashed


def test_api_login_flood_from_one_address_over_many_emails_answers_429(api, counting, small_limits):
    statuses = [login(api, f"guess{i}@example.com", "wrong-guess").status_code for i in range(7)]
    assert statuses == [401] * 5 + [429] * 2
    assert counting.verified == 5  # unknown emails were hashed (dummy) until the limit, not after


def test_api_login_when_successful_clears_the_account_failures(api, small_limits):
    user = MembershipFactory().user
    assert [login(api, user.email, "wrong-guess").status_code for _ in range(2)] == [401, 401]
    assert login(api, user.email, PASSWORD).status_code == 200
    assert [login(api, user.email, "wrong-guess").status_code for _ in range(2)] == [401, 401]


def test_dashboard_login_flood_shows_the_limit_on_the_form_with_429(client, counting, small_limits):
    user = UserFactory()
    for _ in range(3):
        r = client.post("/login/", {"username": user.email, "password": "wrong-guess"})
        assert r.status_code == 200 and b"Please enter a correct" in r.content
    hashed = counting.verified
    r = client.post("/login/", {"username": user.email, "password": PASSWORD})
    assert r.status_code == 429 and counting.verified == hashed
    text = r.content.decode()
    match = re.search(
        r'role="alert">(Too many failed sign-in attempts\. Try again in (\d+) seconds\.)<', text
    )
    assert match, text
    assert r["Retry-After"] == match.group(2)
    assert "_auth_user_id" not in client.session


def test_login_dashboard_and_api_share_one_account_limit(api, client, small_limits):
    user = UserFactory()
    client.post("/login/", {"username": user.email, "password": "wrong-guess"})
    client.post("/login/", {"username": user.email, "password": "wrong-guess"})
    assert login(api, user.email, "wrong-guess").status_code == 401
    assert login(api, user.email, PASSWORD).status_code == 429


def test_login_when_email_unknown_or_known_both_run_the_hasher(api, counting):
    """Timing enumeration: an unknown email costs one Argon2 verification, as a wrong password does."""
    user = UserFactory()
    assert login(api, "nobody-here@example.com", "wrong-guess").status_code == 401
    assert counting.verified == 1
    assert login(api, user.email, "wrong-guess").status_code == 401
    assert counting.verified == 2
    r = login(api, "nobody-here@example.com", "wrong-guess")
    assert r.json() == login(api, user.email, "wrong-guess").json()  # the same words either way


def register(api, password, email="ann@example.com"):
    body = {"email": email, "password": password, "first_name": "Ann", "last_name": "Lee"}
    return api.post("/auth/v1/register", {**body, "organization_name": "Ann Co"}, format="json")


@pytest.mark.parametrize(
    "password,reason",
    [
        (" " * 8, "only spaces"),
        ("ann@example.com", "too similar to the email"),
        ("ann-example-com", "too similar to the email"),
        ("password123", "too common"),
        ("short", "too short"),
    ],
)
def test_register_when_password_weak_answers_400_with_the_reason_on_the_field(api, password, reason):
    r = register(api, password)
    assert r.status_code == 400, r.content
    error = r.json()["error"]
    assert error["code"] == "weak_password"
    assert any(reason in m for m in error["fields"]["password"]), error


def test_register_when_email_taken_and_password_weak_says_only_weak_password(api):
    assert register(api, "s3cret-passw0rd!").status_code == 201
    r = register(api, "password123")
    assert r.status_code == 400 and r.json()["error"]["code"] == "weak_password"


def test_register_from_one_address_is_limited(api, settings):
    settings.DELIVR_REGISTRATIONS_PER_ADDRESS = 2
    assert register(api, "s3cret-passw0rd!", "a1@example.com").status_code == 201
    assert register(api, "s3cret-passw0rd!", "a1@example.com").status_code == 409
    r = register(api, "s3cret-passw0rd!", "a2@example.com")
    assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_attempts"
    assert "Try again in" in r.json()["error"]["message"] and int(r["Retry-After"]) >= 1


def test_dashboard_member_add_when_password_weak_shows_reason_next_to_the_field(client, tenant):
    client.force_login(tenant.user)
    r = client.post(
        "/settings/members/",
        {"email": "new@example.com", "role": "marketer", "password": "new@example.com"},
        HTTP_HX_REQUEST="true",
    )
    text = r.content.decode()
    errors = re.search(r'<span class="error" id="member-password-errors">(.*?)</span>', text, re.S)
    assert errors and "too similar to the email" in errors.group(1), text
    assert 'aria-invalid="true"' in text
    from accounts.models import User

    assert not User.objects.filter(email="new@example.com").exists()


def _token(**claims) -> str:
    now = datetime.now(UTC)
    base = {"sub": "x", "org": "y", "iat": now, "exp": now + timedelta(hours=1), "typ": "access"}
    return jwt.encode({**base, **claims}, jwt_secret(), algorithm="HS256")


@pytest.mark.parametrize(
    "claims",
    [
        {"org": ["a", "b"]},
        {"org": {"id": "x"}},
        {"org": 7},
        {"sub": ["a"]},
        {"sub": {"id": 1}},
        {"sub": None},
        {"exp": "tomorrow"},
        {"iat": [1]},
        {"nbf": {"x": 1}},
    ],
)
def test_jwt_when_a_claim_has_the_wrong_type_answers_401(tenant, claims):
    claims = {"sub": str(tenant.user.id), "org": str(tenant.org.id), **claims}
    r = APIClient().get("/api/v1/projects", HTTP_AUTHORIZATION=f"Bearer {_token(**claims)}")
    assert r.status_code == 401, r.content
    assert r.json()["error"]["code"] == "unauthorized"


def test_authorization_header_of_spaces_only_is_no_credential(tenant):
    r = APIClient().get("/api/v1/projects", HTTP_AUTHORIZATION="   ")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "target", ["https://evil.example/phish", "//evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
def test_organization_switch_when_next_is_another_site_redirects_home(client, tenant, target):
    client.force_login(tenant.user)
    r = client.post("/organization/switch/", {"organization_id": str(tenant.org.id), "next": target})
    assert r.status_code == 302 and r["Location"] == "/"


def test_organization_switch_when_next_is_a_local_path_follows_it(client, tenant):
    client.force_login(tenant.user)
    r = client.post("/organization/switch/", {"organization_id": str(tenant.org.id), "next": "/settings/"})
    assert r.status_code == 302 and r["Location"] == "/settings/"


def test_django_admin_login_flood_is_limited_too(client, counting, small_limits):
    user = UserFactory(is_staff=True)
    for _ in range(3):
        client.post("/django-admin/login/", {"username": user.email, "password": "wrong-guess"})
    hashed = counting.verified
    r = client.post("/django-admin/login/", {"username": user.email, "password": PASSWORD})
    assert b"Too many failed sign-in attempts" in r.content and counting.verified == hashed


@pytest.mark.django_db(transaction=True)
def test_api_login_flood_of_concurrent_attempts_hashes_at_most_the_burst(live_server, counting, small_limits):
    """32 attempts at once: each is counted before hashing and one hash runs at a time per process, so no
    more than the account's 3 reach Argon2."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    user = UserFactory()

    def attempt(i: int) -> int:
        body = {"email": user.email, "password": f"wrong-guess-{i}"}
        return requests.post(f"{live_server.url}/auth/v1/login", json=body, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(pool.map(attempt, range(32)))
    # Attempts that found this process already hashing were told to retry (429) without being counted.
    assert 1 <= statuses.count(401) <= 3 and statuses.count(429) == 32 - statuses.count(401), statuses
    assert counting.verified == statuses.count(401)


def test_api_login_from_a_limited_address_is_refused_before_the_view(api, small_limits, monkeypatch):
    """Past the address limit the middleware answers: the sign-in service is not even called."""
    from accounts import services

    statuses = [login(api, f"guess{i}@example.com", "wrong-guess").status_code for i in range(5)]
    assert statuses == [401] * 5
    monkeypatch.setattr(services, "user_authenticate", lambda **kw: pytest.fail("reached the service"))
    r = login(api, "guess9@example.com", "wrong-guess")
    assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_attempts"
    assert MESSAGE.match(r.json()["error"]["message"]) and int(r["Retry-After"]) >= 1
