import pytest

from audiences.models import Task, TaskStatus, Topic

pytestmark = pytest.mark.django_db


def _task_form(**fields) -> dict:
    """The Tasks page's form: one day of topic 4eyes_101, high intent, Parquet; `fields` add or replace."""
    return {
        "start_day": "2024-05-01",
        "end_day": "2024-05-01",
        "topic_id_prefixes": ["4eyes_101"],
        "scores": ["high"],
        "format": "parquet",
        **fields,
    }


def test_tasks_page_lists_tasks_and_creates_one(client, tenant, django_capture_on_commit_callbacks):
    client.force_login(tenant.user)
    r = client.get("/tasks/")
    assert r.status_code == 200 and b"New intent task" in r.content and b"4eyes_101" in r.content
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post("/tasks/", _task_form(end_day="2024-05-02"))
    assert r.status_code == 302
    task = Task.objects.get(organization=tenant.org)
    assert task.status == TaskStatus.COUNTED and task.days == ["2024-05-01", "2024-05-02"]
    Topic.objects.create(code="4eyes_101", name="CRM Software")
    r = client.get(r["Location"])
    html = r.content.decode()
    # each part of the data in words: the day, the topic's name, the score's label; never the folder name
    assert "Unload" in html and "1 May 2024 · CRM Software · High intent" in html
    assert "2 May 2024 · CRM Software · High intent" in html
    assert "prefix=" not in html and "day=" not in html and "score=high" not in html


def test_tasks_page_shows_form_error_for_unsafe_filter(client, tenant):
    client.force_login(tenant.user)
    r = client.post("/tasks/", _task_form(where_expr="read_csv('/etc/passwd')"))
    assert r.status_code == 200 and b"read_csv" in r.content and not Task.objects.exists()
    # the error sits next to the Filter field, in words: no API field name in front of it
    error = r.context["form"].errors["where_expr"][0]
    assert not error.startswith("where_expr") and "read_csv" in error
    assert not r.context["form"].non_field_errors()
    html = r.content.decode()
    assert 'id="where-expr-error"' in html and "where_expr:" not in html


def test_tasks_page_shows_sql_syntax_error_next_to_the_field_with_its_position(client, tenant):
    client.force_login(tenant.user)
    r = client.post("/tasks/", _task_form(where_expr="country = ", select="person_id, nosuchcolumn"))
    assert r.status_code == 200 and not Task.objects.exists()
    error = r.context["form"].errors["where_expr"][0]
    assert not error.startswith("where_expr") and "line 1, character" in error


def test_task_detail_htmx_returns_partial_and_stops_polling_when_done(
    client, tenant, django_capture_on_commit_callbacks
):
    client.force_login(tenant.user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/tasks/", _task_form(perform_unload="on"))
    task = Task.objects.get()
    r = client.get(f"/tasks/{task.pk}/", HTTP_HX_REQUEST="true")
    assert r.status_code == 286  # htmx stops polling a finished task
    assert b"<html" not in r.content and b"task-progress" in r.content and b"download-link" in r.content
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.IN_PROGRESS)
    r = client.get(f"/tasks/{task.pk}/", HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and b'hx-trigger="every 2s"' in r.content


def test_task_pages_of_other_org_are_404(client, tenant, other_tenant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        task_id = (
            tenant.key()
            .post(
                "/api/v1/intent_hive_tasks",
                {"days": ["2024-05-01"], "topic_id_prefixes": ["4eyes_101"], "scores": ["high"]},
                format="json",
            )
            .json()["task_id"]
        )
    client.force_login(other_tenant.user)
    assert client.get(f"/tasks/{task_id}/").status_code == 404
    assert client.post(f"/tasks/{task_id}/unload/").status_code == 404
    assert task_id.encode() not in client.get("/tasks/").content


def test_support_sees_tasks_but_cannot_start_or_unload(client, tenant_factory):
    support = tenant_factory(role="support")
    client.force_login(support.user)
    r = client.get("/tasks/")
    assert r.status_code == 200 and b"New intent task" not in r.content
    r = client.post("/tasks/", _task_form())
    assert r.status_code == 403


def test_tasks_page_when_range_has_no_data_warns_and_creates_nothing(client, tenant):
    client.force_login(tenant.user)
    r = client.post("/tasks/", _task_form(start_day="2023-01-01", end_day="2023-01-31"))
    body = r.content.decode()
    assert r.status_code == 200 and not Task.objects.exists()
    assert "There is no data from 1 Jan 2023 to 31 Jan 2023: the data covers 1 May 2024 to 4 May 2024" in body


def test_task_download_all_when_unloaded_gives_one_zip_of_every_output(
    client, tenant, other_tenant, django_capture_on_commit_callbacks
):
    import io
    import zipfile

    import pyarrow.parquet as pq

    client.force_login(tenant.user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/tasks/", _task_form(end_day="2024-05-02", scores=["high", "medium"], perform_unload="on")
        )
    task = Task.objects.get()
    assert b'id="download-all"' in client.get(f"/tasks/{task.pk}/").content
    r = client.get(f"/tasks/{task.pk}/download/")
    assert r.status_code == 200 and r["Content-Disposition"].startswith("attachment; filename=")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(r.streaming_content)))
    names = sorted(archive.namelist())
    assert names == [
        f"day-2024-05-0{d}_prefix-4eyes_101_score-{s}.parquet" for d in (1, 2) for s in ("high", "medium")
    ]
    rows = sum(pq.read_table(io.BytesIO(archive.read(n))).num_rows for n in names)
    assert rows == task.rows_unloaded > 0
    client.force_login(other_tenant.user)
    assert client.get(f"/tasks/{task.pk}/download/").status_code == 404


def test_partition_words_reads_days_topics_scores_and_unknown_parts():
    from audiences.selectors.tasks import partition_words

    catalogue = {"4eyes_101": Topic(code="4eyes_101", name="CRM Software")}
    assert partition_words("day=2024-05-01/prefix=4eyes_101/score=medium", catalogue) == (
        "1 May 2024 · CRM Software · Medium intent"
    )
    assert partition_words("day=2024-12-31/prefix=4eyes_999/score=low", catalogue) == (
        "31 Dec 2024 · 4eyes_999 · Low intent"
    )
    assert partition_words("", catalogue) == "All data" == partition_words("all", catalogue)
    assert partition_words("region=eu_west", catalogue) == "region eu_west"


def test_task_detail_when_columns_chosen_names_them_in_words(
    client, tenant, django_capture_on_commit_callbacks
):
    client.force_login(tenant.user)
    form = _task_form(select="person_id, company_employee_count, seen_at")
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post("/tasks/", form)
    assert r.status_code == 302, r.content.decode()[:400]
    html = client.get(r["Location"]).content.decode()
    assert '<dd id="task-columns">Person ID, Company size (employees), Last seen</dd>' in html
    assert "company_employee_count" not in html
