"""Dashboard pages that answer htmx with a partial vary on HX-Request, so a cached partial never stands in for
the page (Back to a URL that hx-push-url recorded showed an unstyled fragment)."""

import pytest


@pytest.mark.django_db
def test_dashboard_page_when_htmx_or_not_varies_on_hx_request(client, tenant, password):
    client.login(username=tenant.user.email, password=password)
    page = client.get("/privacy/?q=x")
    partial = client.get("/privacy/?q=x", HTTP_HX_REQUEST="true")

    assert b"<nav" in page.content and b"<nav" not in partial.content
    for response in (page, partial):
        assert "HX-Request" in response.headers["Vary"]


@pytest.mark.django_db
def test_api_response_when_dashboard_vary_added_is_left_alone(client):
    response = client.get("/api/v1/uid2/optout")
    assert "HX-Request" not in response.headers.get("Vary", "")
