"""The dashboard-prefixed API path /audiences/{id}/download answers JSON errors like the /api/ paths (found
by the contract fuzzing: a malformed id got Django's HTML 404 page, which the schema does not document)."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("audience_id", ["null", "0.5", "not-a-uuid"])
def test_audience_download_dashboard_path_when_id_malformed_returns_json_404(tenant, audience_id):
    r = tenant.key().get(f"/audiences/{audience_id}/download?project_id={tenant.project.id}")
    assert r.status_code == 404
    assert r["Content-Type"].startswith("application/json")
    assert r.json()["error"]["code"] == "not_found"


def test_dashboard_page_when_missing_still_returns_html_404(client):
    r = client.get("/audiences/not-a-page/")
    assert r.status_code == 404
    assert r["Content-Type"].startswith("text/html")
