"""A task is planned by a worker, not in the web request: creation validates and answers at once; the worker
lists the data, creates the work units and queues them; the status meanwhile says in_progress (or unloading
when limit skips the count) with no jobs; data that cannot be listed fails the task in words."""

import shutil
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from audiences.engine.generator import GenerateParams, generate
from audiences.models import Job, JobKind, JobStatus, Task, TaskStatus
from audiences.services import tasks as task_services
from tests.audiences.test_tasks_api import create, selected_keys, status_of
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def plans(monkeypatch) -> list[str]:
    """The planning messages the requests send, kept instead of run (as if no worker had taken them yet)."""
    sent: list[str] = []
    monkeypatch.setattr("audiences.tasks.task_plan.delay", lambda task_id: sent.append(task_id))
    return sent


def _run_jobs(task_id) -> None:
    """Runs the task's queued units here, as a worker would (one message each)."""
    for pk in Job.objects.filter(task_id=task_id).order_by("id").values_list("pk", flat=True):
        task_services.task_jobs_run(job_ids=[pk])


def test_create_when_not_planned_yet_then_201_in_progress_with_no_jobs_until_a_worker_plans(
    tenant, manifest, plans, settings
):
    settings.DELIVR_TASK_UNITS, settings.DELIVR_TASK_UNIT_MIN_BYTES = 3, 1  # a few units
    settings.DELIVR_TASK_UNIT_MIN_FILES = 1
    client = tenant.key()
    r = create(client, perform_unload=False)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == "in_progress" and body["total_jobs"] == body["completed_jobs"] == 0
    assert plans == [body["task_id"]]
    assert not Job.objects.filter(task_id=body["task_id"]).exists()  # nothing listed in the request
    status = status_of(client, body["task_id"])
    assert status["status"] == "in_progress" and status["total_jobs"] == 0
    assert status["counts"] == {} and status["total_count"] is None

    task_services.task_plan(task_id=body["task_id"])
    task = Task.objects.get(pk=body["task_id"])
    assert task.planned_at is not None and task.status == TaskStatus.IN_PROGRESS
    units = Job.objects.filter(task=task).order_by("id")
    assert task.total_jobs == units.count() > 1 and {u.kind for u in units} == {JobKind.COUNT}
    # the planner ran the first unit itself; the others wait for their messages
    assert [u.status for u in units] == [JobStatus.DONE] + [JobStatus.QUEUED] * (task.total_jobs - 1)
    assert task.completed_jobs == 1
    keys = selected_keys() & set(manifest["partitions"])
    assert sorted(k for u in units for k in u.partitions) == sorted(keys)

    task_services.task_plan(task_id=task.pk)  # a second delivery of the planning plans nothing again
    assert Job.objects.filter(task=task).count() == task.total_jobs
    assert Task.objects.get(pk=task.pk).total_jobs == task.total_jobs

    _run_jobs(task.pk)
    status = status_of(client, task.pk)
    assert status["status"] == "counted"
    assert status["counts"] == {k: manifest["partitions"][k] for k in keys}
    assert status["completed_jobs"] == status["total_jobs"] == task.total_jobs


def test_create_when_limit_skips_the_count_then_unloading_and_planned_as_unload_units(
    tenant, manifest, plans
):
    client = tenant.key()
    body = create(client, limit=5, perform_unload=True).json()
    assert body["status"] == "unloading" and body["total_jobs"] == 0
    task_services.task_plan(task_id=body["task_id"])
    assert {u.kind for u in Job.objects.filter(task_id=body["task_id"])} == {JobKind.UNLOAD}
    _run_jobs(body["task_id"])
    status = status_of(client, body["task_id"])
    keys = selected_keys() & set(manifest["partitions"])
    assert status["status"] == "completed" and set(status["outputs"]) == keys
    assert status["counts"] == {k: min(5, manifest["partitions"][k]) for k in keys}


def test_create_when_nothing_selected_exists_then_planned_to_counted_zero(tenant, plans):
    body = create(tenant.key(), days=["2031-01-01"], perform_unload=False).json()
    assert body["status"] == "in_progress"
    task_services.task_plan(task_id=body["task_id"])
    status = status_of(tenant.key(), body["task_id"])
    assert status["status"] == "counted" and status["total_count"] == 0 and status["total_jobs"] == 0


def test_plan_when_the_data_is_gone_before_the_worker_lists_it_then_failed_in_words(
    tenant, tmp_path, settings, plans
):
    root = tmp_path / "data" / "intent"
    generate(str(root), GenerateParams(rows=500, days=1, prefixes=1, seed=3, start_day="2024-05-01",
                                       first_prefix=101))  # fmt: skip
    settings.DELIVR_DEMO_DATA = root
    settings.DELIVR_DATA_ROOTS = [str(root.parent)]
    body = create(tenant.key(), days=["2024-05-01"]).json()
    shutil.rmtree(root)  # removed between the request (which read its first footer) and the planning
    task_services.task_plan(task_id=body["task_id"])
    status = status_of(tenant.key(), body["task_id"])
    assert status["status"] == "failed" and status["total_jobs"] == 0
    assert status["error"].startswith("The data could not be listed:")
    assert str(root) not in status["error"] and str(tmp_path) not in status["error"]
    task_services.task_plan(task_id=body["task_id"])  # a redelivery leaves the failed task as it is
    assert Task.objects.get(pk=body["task_id"]).status == TaskStatus.FAILED


def test_reaper_when_a_planning_message_was_lost_then_resends_it_once_stale(
    tenant, plans, django_capture_on_commit_callbacks
):
    task_id = create(tenant.key()).json()["task_id"]
    assert plans == [task_id]
    with django_capture_on_commit_callbacks(execute=True):
        assert task_services.task_jobs_reap()["resent"] == 0  # fresh: its message may still be on its way
    long_ago = timezone.now() - task_services.QUEUED_RESEND_AFTER - timedelta(seconds=5)
    Task.objects.filter(pk=task_id).update(created_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        assert task_services.task_jobs_reap()["resent"] == 1
    assert plans == [task_id, task_id]
    task_services.task_plan(task_id=task_id)
    with django_capture_on_commit_callbacks(execute=True):
        assert task_services.task_jobs_reap()["resent"] == 0  # planned: nothing to resend


def test_task_page_when_planning_then_says_so_instead_of_no_data(client, tenant, plans):
    task_id = create(tenant.key()).json()["task_id"]
    member = MembershipFactory(organization=tenant.org, role=Role.MARKETER)
    client.force_login(member.user)
    html = client.get(f"/tasks/{task_id}/").content.decode()
    assert "Planning…" in html and 'id="task-planning"' in html
    assert "No data matched" not in html
    assert "planning…" in client.get("/tasks/").content.decode()
    task_services.task_plan(task_id=task_id)
    html = client.get(f"/tasks/{task_id}/").content.decode()
    assert "Planning…" not in html and 'id="task-planning"' not in html
