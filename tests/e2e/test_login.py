import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import login, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_browser_login_sees_dashboard_and_creates_api_client_once(page, tenant, password):
    login(page, tenant.user.email, password)
    assert page.locator("h1").inner_text().startswith("Good to see you")  # the home page greets by name
    assert tenant.org.name in page.content()
    page.click("text=Settings")
    page.fill("#clients input[name=name]", "Browser client")
    page.click("#clients button.primary")
    secret = page.locator("#new-api-secret").inner_text()
    assert len(secret) == 64
    page.reload()
    assert secret not in page.content()
    assert "Browser client" in page.content()
    screenshot(page, "login-dashboard")


def test_browser_wrong_password_shows_error(page, tenant):
    page.goto("/login/")
    page.fill("#id_username", tenant.user.email)
    page.fill("#id_password", "wrong-password")
    page.click("button[type=submit]")
    expect(page.locator("[role=alert]")).to_be_visible()  # the answer's page may still be loading
