"""The OpenAPI document says what the views enforce: error statuses every view can answer (401/403/429),
DELETE bodies, and the bounds of integer query parameters."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def document(client) -> dict:
    return client.get("/api/schema/?format=json").json()


def test_schema_when_view_authenticates_throttles_or_checks_roles_documents_401_403_429(document):
    audiences = document["paths"]["/api/v1/audiences/{audience_id}"]
    assert {"401", "429"} <= set(audiences["get"]["responses"])
    assert "403" not in audiences["get"]["responses"]  # reads are open to every role
    assert {"401", "403", "429"} <= set(audiences["put"]["responses"])
    assert audiences["delete"]["responses"]["403"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    register = document["paths"]["/auth/v1/register"]["post"]["responses"]
    assert "401" not in register and "429" in register  # no authenticator; throttled per IP


def test_schema_when_delete_declares_a_body_documents_it(document):
    batch = document["paths"]["/api/v1/lists/batch"]["delete"]
    assert batch["requestBody"]["required"] is True
    assert "requestBody" not in document["paths"]["/api/v1/lists/{list_id}"]["delete"]


@pytest.mark.parametrize(
    ("path", "name", "low", "high"),
    [
        ("/api/v1/audiences", "limit", 1, 1000),
        ("/api/v1/audiences", "offset", 0, 2_147_483_647),
        ("/api/v1/lists", "limit", 1, 1000),
        ("/api/v1/status", "limit", 1, 1000),
        ("/api/v1/exports", "limit", 1, 1000),
        ("/api/v1/exports/{export_id}/runs", "limit", 1, 500),
        ("/api/v1/audiences/{audience_id}/preview", "limit", 1, 1000),
        ("/api/v1/audiences/{audience_id}/download", "record_limit", 0, 10_000_000),
    ],
)
def test_schema_integer_query_parameters_document_enforced_bounds(document, path, name, low, high):
    (param,) = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == name]
    assert param["schema"]["minimum"] == low
    assert param["schema"].get("maximum") == high


def test_schema_audience_definition_is_an_object(document):
    schemas = document["components"]["schemas"]
    definition = schemas["AudienceDetailApiInputRequest"]["properties"]["definition"]
    if "$ref" in definition:  # a named component (the definition's own serializer)
        definition = schemas[definition["$ref"].rsplit("/", 1)[1]]
    assert definition["type"] == "object"
