"""Path-like input: task input_path (both task kinds), audience input_path, list report names, static files."""

import os

import pytest
from django.urls import Resolver404, resolve

pytestmark = pytest.mark.django_db


@pytest.fixture
def data_root(settings, tmp_path):
    root = tmp_path / "data"
    (root / "intent").mkdir(parents=True)
    (root / "escape").symlink_to("/etc")
    settings.DELIVR_DATA_ROOTS = [str(root)]
    settings.DELIVR_DEMO_DATA = root / "intent"
    return root


def attacks(root) -> list[str]:
    return [
        "../../../../etc",
        "/etc",
        "/etc/passwd",
        f"{root}/../../../../etc",
        f"{root}/intent/../../../../../etc",
        f"{root}/escape",
        f"{root}/escape/ssl",
        f"{root}" + "%2f..%2f..%2fetc",
        "file:///etc/passwd",
        "http://127.0.0.1/etc",
        "~/.ssh",
        f"{root}/intent\x00/../../etc",
        str(root.parent),
    ]


def assert_refused(r, value):
    assert r.status_code == 400, (value, r.status_code, r.content[:300])
    body = r.json()
    assert body["error"]["code"] in ("invalid_input_path", "invalid_request"), (value, body)
    assert "root:x:0:0" not in r.content.decode()


@pytest.mark.parametrize("endpoint", ["/api/v1/intent_hive_tasks", "/api/v1/generic_parquet_tasks"])
def test_task_input_path_when_outside_data_roots_answers_400(tenant, data_root, endpoint):
    base = {"days": ["2024-05-01"], "topic_id_prefixes": ["4eyes_100"], "scores": ["high"]}
    for value in attacks(data_root):
        r = tenant.key().post(endpoint, {**base, "input_path": value}, format="json")
        assert_refused(r, value)


def test_audience_input_path_when_outside_data_roots_answers_400(tenant, data_root):
    try:
        resolve("/api/v1/audiences")
    except Resolver404:
        pytest.skip("the audiences API is not installed")
    for value in attacks(data_root):
        r = tenant.key().post(
            "/api/v1/audiences",
            {
                "project_id": str(tenant.project.id),
                "name": "Traversal",
                "definition": {"topic_id_prefixes": ["4eyes_100"], "scores": ["high"]},
                "input_path": value,
            },
            format="json",
        )
        assert r.status_code == 400, (value, r.status_code, r.content[:300])
        assert "root:x:0:0" not in r.content.decode()


@pytest.mark.parametrize("name", ["..", "..%2F..%2Fsettings.py", "%2e%2e", "....//", "../../etc/passwd"])
def test_path_segments_when_traversing_answer_404_without_file_content(client, tenant, name):
    import uuid

    client.force_login(tenant.user)
    for url in (
        f"/api/v1/lists/{uuid.uuid4()}/reports/{name}",
        f"/static/{name}",
        f"/static/../{name}",
        f"/pixel/{name}.js",
    ):
        r = client.get(url)
        assert r.status_code in (400, 404), (url, r.status_code)
        body = b"".join(r.streaming_content) if r.streaming else r.content
        assert b"SECRET_KEY" not in body and b"root:x:0:0" not in body


def test_task_output_download_when_token_forged_answers_404(tenant):
    import uuid

    r = tenant.key().get(f"/api/v1/tasks/{uuid.uuid4()}/outputs/1?token=../../../etc/passwd")
    assert r.status_code == 404
    assert os.sep + "etc" not in r.content.decode()
