"""A destination's required mapping targets (HubSpot upserts contacts by `email`) are checked when an export is
saved and by the form's dry run, instead of every record failing at run time."""

import pytest
from django.test import Client

from delivr_admin.errors import ApplicationError
from exports.models import Export
from exports.services.exports import export_update
from tests.exports.conftest import MAPPING

pytestmark = pytest.mark.django_db

URL = "/api/v1/exports"
HUBSPOT_MAPPING = [
    {"source": "email", "target": "email", "type": "email", "required": True},
    {"source": "company_domain", "target": "company_domain"},
]


def _body(tenant, audience, mapping):
    return {
        "project_id": str(tenant.project.id),
        "audience_id": str(audience.id),
        "name": "HubSpot sync",
        "destination_type": "hubspot",
        "destination_config": {"host": "http://127.0.0.1:9"},
        "credentials": {"access_token": "t"},
        "field_mapping": mapping,
    }


def test_create_hubspot_export_when_email_mapped_to_capitalised_target_is_400(tenant, audience):
    r = tenant.jwt().post(URL, _body(tenant, audience, MAPPING), format="json")  # MAPPING targets "Email"
    assert r.status_code == 400, r.content
    error = r.json()["error"]
    assert error["code"] == "invalid_field_mapping" and "'email'" in error["message"]


def test_create_hubspot_export_when_email_target_mapped_is_201(tenant, audience):
    r = tenant.jwt().post(URL, _body(tenant, audience, HUBSPOT_MAPPING), format="json")
    assert r.status_code == 201, r.content


def test_update_to_hubspot_when_mapping_lacks_email_target_is_refused(tenant, audience):
    r = tenant.jwt().post(
        URL,
        _body(tenant, audience, MAPPING)
        | {"destination_type": "file", "destination_config": {"format": "csv"}, "credentials": {}},
        format="json",
    )
    assert r.status_code == 201, r.content
    export = Export.objects.get(pk=r.json()["id"])
    with pytest.raises(ApplicationError, match="HubSpot needs a field mapped to the target 'email'"):
        export_update(
            principal=tenant.principal,
            export=export,
            destination_type="hubspot",
            destination_config={"host": "http://127.0.0.1:9"},
        )


def test_form_dry_run_for_hubspot_when_email_target_missing_says_so(tenant, audience):
    client = Client()
    client.force_login(tenant.user)
    data = {
        "audience_id": str(audience.id),
        "destination_type": "hubspot",
        "map_row": ["a"],
        "map-a-source": "email",
        "map-a-target": "Email",
        "map-a-type": "email",
    }
    r = client.post("/exports/form/dry-run/", data, HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    assert "HubSpot needs a field mapped to the target &#x27;email&#x27;" in r.content.decode()
    data["map-a-target"] = "email"
    r = client.post("/exports/form/dry-run/", data, HTTP_HX_REQUEST="true")
    assert "needs a field mapped" not in r.content.decode() and 'id="dry-run-checked"' in r.content.decode()
