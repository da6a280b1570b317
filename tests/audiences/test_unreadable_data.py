"""A truncated Parquet file in the dataset: said in words (which file for admins and support), never a crash
and never "the dataset is empty"; the API answers 503 dataset_unreadable."""

import pytest

from accounts.models import Role
from audiences import datasets, engine
from audiences.engine.generator import GenerateParams, generate
from tests.audiences.test_builder_filters import GROUPED
from tests.factories import MembershipFactory

DUCKDB = engine.DuckDBEngine()  # the embedded backend these tests exercise

pytestmark = pytest.mark.django_db

FIRST = "day=2024-05-01/prefix=4eyes_100/score=high/part-0.parquet"
LATER = "day=2024-05-02/prefix=4eyes_101/score=medium/part-0.parquet"


def _truncate(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture
def broken_tree(tmp_path, settings):
    """A small tree (2 days x 2 prefixes x 3 scores) as the default dataset; the test truncates a file."""
    root = tmp_path / "data" / "intent"
    generate(str(root), GenerateParams(rows=3000, days=2, prefixes=2, seed=5, start_day="2024-05-01",
                                       first_prefix=100))  # fmt: skip
    settings.DELIVR_DEMO_DATA = root
    settings.DELIVR_DATA_ROOTS = [str(root.parent)]
    settings.DELIVR_VALUE_SAMPLE_FILES = 0
    return root


def _member(client, tenant, role):
    member = MembershipFactory(organization=tenant.org, role=role)
    client.force_login(member.user)
    return client


def test_engine_when_file_truncated_raises_unreadable_naming_it_inside_the_dataset(broken_tree):
    _truncate(broken_tree / LATER)
    sel = datasets.selection(input_path=str(broken_tree), organization_ids=(), suppress=False)
    with pytest.raises(engine.UnreadableFileError) as caught:
        DUCKDB.count_summary(sel)
    assert caught.value.file == LATER and str(broken_tree) not in str(caught.value)
    first = datasets.selection(
        input_path=str(broken_tree), organization_ids=(), days=["2024-05-01"], suppress=False
    )
    assert DUCKDB.count(first) > 0  # the other day still reads


@pytest.mark.parametrize("path", ["/audiences/new/", "/tasks/"])
def test_pages_when_first_file_truncated_say_part_of_data_unreadable_not_empty(
    client, tenant, broken_tree, path
):
    _truncate(broken_tree / FIRST)
    html = _member(client, tenant, Role.MARKETER).get(path).content.decode()
    assert "Part of the data could not be read" in html and "dataset is empty" not in html
    assert FIRST not in html and str(broken_tree) not in html  # marketers: no file names
    html = _member(client, tenant, Role.ADMIN).get(path).content.decode()
    assert f"Unreadable file: <code>{FIRST}</code>" in html and str(broken_tree) not in html


def test_builder_estimate_and_preview_when_file_truncated_explain_in_words(client, tenant, broken_tree):
    _truncate(broken_tree / LATER)
    form = {**GROUPED, "topic_id_prefixes": ["4eyes_100", "4eyes_101"], "filters-2-value": "1-10"}
    marketer = _member(client, tenant, Role.MARKETER)
    r = marketer.post("/audiences/builder/estimate/", form, HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and "Part of the data could not be read" in r.content.decode()
    assert LATER not in r.content.decode()
    # A preview stops at its first rows, so it may never open a file outside its scope: narrow the form to the
    # truncated file's own partition, so every preview has to read it (whatever order the scan threads take).
    only_later = {**form, "topic_id_prefixes": ["4eyes_101"], "scores": ["medium"], "window": "range",
                  "date_from": "2024-05-02", "date_to": "2024-05-02"}  # fmt: skip
    admin = _member(client, tenant, Role.ADMIN)
    r = admin.post("/audiences/builder/preview/", only_later, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200 and f"Unreadable file: {LATER}" in html and "No rows match" not in html


def test_api_when_file_truncated_answers_503_dataset_unreadable(tenant, broken_tree):
    _truncate(broken_tree / LATER)
    r = tenant.key().get("/api/v1/audiences/fields/country/values")
    assert r.status_code == 503
    error = r.json()["error"]
    assert error["code"] == "dataset_unreadable" and error["file"] == LATER
    assert str(broken_tree) not in error["message"]


def test_task_api_when_first_file_truncated_answers_503_not_a_crash(tenant, broken_tree):
    _truncate(broken_tree / FIRST)
    r = tenant.key().post(
        "/api/v1/intent_hive_tasks",
        {"days": ["2024-05-01"], "topic_id_prefixes": ["4eyes_100"], "scores": ["high"]},
        format="json",
    )
    assert r.status_code == 503, r.json()
    assert r.json()["error"]["code"] == "dataset_unreadable" and r.json()["error"]["file"] == FIRST


def test_task_when_a_later_file_truncated_fails_saying_which_file_on_its_page(client, tenant, broken_tree):
    from django.test import TestCase

    from audiences.models import Task

    _truncate(broken_tree / LATER)
    with TestCase.captureOnCommitCallbacks(execute=True):
        r = tenant.key().post(
            "/api/v1/intent_hive_tasks",
            {"days": ["2024-05-02"], "topic_id_prefixes": ["4eyes_101"], "scores": ["medium", "low"]},
            format="json",
        )
    assert r.status_code == 201, r.json()
    task = Task.objects.get(pk=r.json()["task_id"])
    assert task.status == "failed"
    assert task.error.startswith("Part of the data could not be read: " + LATER)
    html = _member(client, tenant, Role.ADMIN).get(f"/tasks/{task.pk}/").content.decode()
    assert "Part of the data could not be read" in html and str(broken_tree) not in html
