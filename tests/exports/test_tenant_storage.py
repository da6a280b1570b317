"""Tenant storage: an export's path_prefix picks a folder inside the owner's export folder, never another
organization's; task, list and export outputs all live under `<area>/<organization id>/`."""

import pytest
from django.core.files.storage import default_storage

from delivr_admin.storage import StoragePathError, tenant_path, user_prefix
from tests.exports.conftest import MAPPING

pytestmark = pytest.mark.django_db

URL = "/api/v1/exports"


def create(tenant, audience, path_prefix: str):
    return tenant.jwt().post(
        URL,
        {
            "project_id": str(tenant.project.id),
            "audience_id": str(audience.id),
            "name": "File export",
            "destination_type": "file",
            "destination_config": {"format": "csv", "path_prefix": path_prefix},
            "field_mapping": MAPPING,
        },
        format="json",
    )


@pytest.mark.parametrize(
    "prefix",
    ["../x", "a/../../b", "/etc", "/media/exports", "..", "a\\..\\b", "tasks/\x00", "x" * 300, "a/./../.."],
)
def test_export_when_path_prefix_escapes_answers_400(tenant, audience, prefix):
    response = create(tenant, audience, prefix)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_destination" and "path_prefix" in error["message"]


def test_export_with_another_orgs_id_as_prefix_writes_into_own_folder(tenant, other_tenant, audience):
    for prefix in (
        f"exports/{other_tenant.org.id}",
        f"tasks/{other_tenant.org.id}",
        str(other_tenant.org.id),
    ):
        response = create(tenant, audience, prefix)
        assert response.status_code == 201, response.content
        export_id = response.json()["id"]
        run = tenant.jwt().post(f"{URL}/{export_id}/runs").json()
        run = tenant.jwt().get(f"{URL}/{export_id}/runs/{run['run_id']}").json()
        assert run["status"] in ("completed", "completed_with_errors"), run  # some rows fail the mapping
        name = run["details"]["file_name"]
        assert name == f"exports/{tenant.org.id}/{prefix}/{export_id}/{run['run_id']}.csv"
        assert default_storage.exists(name)
    assert not default_storage.exists(f"exports/{other_tenant.org.id}")  # nothing in the other's folder


def test_tenant_path_normalises_and_refuses_escapes():
    org = "6f1c2a44-0000-4000-8000-000000000001"
    assert tenant_path("exports", org, "a//b/", "e1", "r1.csv") == f"exports/{org}/a/b/e1/r1.csv"
    assert user_prefix("./a/./b/") == "a/b" and user_prefix("") == ""
    with pytest.raises(StoragePathError):
        tenant_path("exports", org, "../other")
    with pytest.raises(StoragePathError):
        tenant_path("../exports", org)
    with pytest.raises(ValueError):
        tenant_path("exports", "../../etc")  # the organization part is a real id or nothing
    for bad in ("../a", "/a", "a/../..", "a\\b", "a b"):
        with pytest.raises(StoragePathError):
            user_prefix(bad)


def test_task_and_list_outputs_live_under_the_owner_folder(tenant):
    from audiences.models import ContactList, Task
    from audiences.services.lists import _list_dir
    from audiences.services.tasks import output_name

    task = Task(organization=tenant.org)
    assert output_name(task, "day=2024-05-01/prefix=a/score=high").startswith(f"tasks/{tenant.org.id}/")
    with pytest.raises(StoragePathError):
        output_name(task, "../../../lists/x")
    assert _list_dir(ContactList(organization=tenant.org)).startswith(f"lists/{tenant.org.id}/")
