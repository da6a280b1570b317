"""Query parameters parsed by serializers (delivr_admin.query): one 400 shape naming the parameter, blank means
the default, choices any case, and the schema documents what the view enforces."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("url", "name", "message"),
    [
        ("/api/v1/audiences?project_id=nope", "project_id", "project_id: Must be a valid UUID."),
        ("/api/v1/exports?project_id=nope", "project_id", "project_id: Must be a valid UUID."),
        ("/api/v1/lists?type=everything", "type", "type: Must be one of: contacts, suppression."),
        ("/api/v1/lists?limit=0", "limit", "limit: Must be an integer from 1 to 1,000."),
        ("/api/v1/audiences?offset=x", "offset", "offset: Must be an integer from 0 to 2,147,483,647."),
        ("/api/v1/privacy/optouts?limit=1001", "limit", "limit: Must be an integer from 1 to 1,000."),
        ("/api/v1/campaigns?from=May", "from", "from: Must be an ISO date (YYYY-MM-DD)."),
        ("/api/v1/campaigns?from=2024-05-02&to=2024-05-01", "from", "from: Must not be after to."),
    ],
)
def test_query_params_when_bad_returns_400_naming_the_parameter(tenant, url, name, message):
    r = tenant.key().get(url)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "invalid_request" and error["message"] == message
    assert list(error["fields"]) == [name]


def test_query_params_when_blank_or_any_case_use_default_and_choice(tenant):
    page = tenant.key().get("/api/v1/lists?limit=&offset=&type=CONTACTS&source=").json()
    assert (page["limit"], page["offset"], page["lists"]) == (25, 0, [])
    r = tenant.key().get(f"/api/v1/audiences?project_id={tenant.project.id}&limit=3")
    assert r.status_code == 200 and r.json()["limit"] == 3


def test_query_params_download_project_id_required_says_so(tenant):
    r = tenant.key().get("/api/v1/audiences/00000000-0000-0000-0000-000000000000/download")
    assert r.status_code == 400 and r.json()["error"]["message"] == "project_id: Required."


def test_schema_query_params_document_enum_default_and_required(client):
    paths = client.get("/api/schema/?format=json").json()["paths"]

    def param(path: str, name: str) -> dict:
        (p,) = [p for p in paths[path]["get"]["parameters"] if p["name"] == name]
        return p

    assert param("/api/v1/lists", "type")["schema"]["enum"] == ["contacts", "suppression"]
    rows = param("/api/v1/audiences/{audience_id}/download", "rows")
    assert rows["schema"]["default"] == "people" and rows["schema"]["enum"] == ["people", "records"]
    assert param("/api/v1/audiences/{audience_id}/download", "project_id")["required"] is True
    assert param("/api/v1/privacy/optouts", "limit")["schema"]["maximum"] == 1000
    assert param("/api/v1/campaigns", "from")["schema"] == {"type": "string", "format": "date"}
