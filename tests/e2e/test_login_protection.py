"""The sign-in limit and the password rules as a person sees them in the browser (both viewports)."""

import pytest

from tests.e2e.conftest import login, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1440, "height": 900}, "mobile": {"width": 390, "height": 844}}


def test_browser_login_flood_shows_the_wait_on_the_form(page, tenant, settings):
    settings.DELIVR_LOGIN_FAILURES_PER_ACCOUNT = 2
    for _ in range(3):
        page.goto("/login/")
        page.fill("#id_username", tenant.user.email)
        page.fill("#id_password", "wrong-password")
        page.click("button[type=submit]")
    alert = page.locator("[role=alert]")
    assert alert.inner_text().startswith("Too many failed sign-in attempts. Try again in ")
    for name, size in VIEWPORTS.items():
        page.set_viewport_size(size)
        screenshot(page, f"login-too-many-attempts-{name}")


def test_browser_member_add_with_weak_password_says_why_next_to_the_field(page, tenant, password):
    login(page, tenant.user.email, password)
    page.goto("/settings/")
    page.fill("#members input[name=email]", "newbie@example.com")
    page.fill("#members input[name=password]", "newbie@example.com")
    page.click("#members button.primary")
    errors = page.locator("#member-password-errors")
    errors.wait_for()
    assert "too similar to the email" in errors.inner_text()
    for name, size in VIEWPORTS.items():
        page.set_viewport_size(size)
        page.locator("#members").scroll_into_view_if_needed()
        screenshot(page, f"settings-member-weak-password-{name}")
