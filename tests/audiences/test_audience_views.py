import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Role
from audiences.models import Audience, AudienceStatus, BuildStatus, ContactList
from tests.audiences.builder_post import rows_post
from tests.audiences.truth import rows_where
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

FORM = {
    "topic_id_prefixes": ["4eyes_101", "4eyes_102"],
    "scores": ["high", "medium"],
    "window": "lookback",
    "lookback_days": "2",
    **rows_post([("", "c1", "company_employee_count", ">=", "201-500")]),
    "preview_limit": "25",
}


def expected_rows(root):
    return rows_where(root)


@pytest.fixture
def logged_in(client, tenant):
    client.force_login(tenant.user)
    return client


def test_builder_page_shows_dataset_prefixes_columns_and_live_estimate_wiring(logged_in):
    r = logged_in.get("/audiences/new/")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'data-code="4eyes_103"' in html and "company_employee_count" in html
    assert 'hx-trigger="change, keyup changed delay:400ms"' in html and 'hx-sync="this:replace"' in html
    assert 'hx-target="#estimate"' in html


def test_builder_estimate_htmx_returns_only_the_fragment_with_pyarrow_counts(logged_in, intent_root):
    r = logged_in.post("/audiences/builder/estimate/", FORM, HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and b"<html" not in r.content
    html = r.content.decode()
    assert html.lstrip().startswith('<div id="estimate"')
    expected = expected_rows(intent_root)
    assert f'data-value="{len(expected)}"' in html
    assert f"{len({x['person_id'] for x in expected}):,}" in html
    assert "estimateUpdated" in r["HX-Trigger"]
    # a changed filter changes the count
    narrower = {**FORM, "filters-0-value": "5001-10000"}
    r2 = logged_in.post("/audiences/builder/estimate/", narrower, HTTP_HX_REQUEST="true")
    assert f'data-value="{len(expected)}"' not in r2.content.decode()


def test_builder_estimate_when_definition_bad_shows_error_in_fragment(logged_in):
    bad = {**FORM, "filters-0-op": "~"}
    r = logged_in.post("/audiences/builder/estimate/", bad, HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and b"is not an operator" in r.content and b"<html" not in r.content
    assert "HX-Trigger" not in r


def test_builder_preview_htmx_returns_only_rows_within_range(logged_in):
    r = logged_in.post("/audiences/builder/preview/", {**FORM, "preview_limit": "10"}, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200 and "<html" not in html and html.lstrip().startswith('<div id="preview"')
    assert html.count("<tr>") == 11  # header + 10 rows
    assert "51-200" not in html.split("<tbody>")[1]


def test_builder_filter_row_returns_one_row(logged_in):
    r = logged_in.get("/audiences/builder/filter-row/", HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and r.content.decode().count('class="filter-row"') == 1


def test_builder_filter_row_when_rows_exist_takes_next_index_and_swaps_new_totals(logged_in):
    query = (
        "group=ga&groups-TOTAL_FORMS=1&groups-INITIAL_FORMS=0&filters-TOTAL_FORMS=3&filters-INITIAL_FORMS=0"
    )
    html = logged_in.get(f"/audiences/builder/filter-row/?{query}", HTTP_HX_REQUEST="true").content.decode()
    assert 'name="filters-3-field"' in html and 'name="filters-3-group" value="ga"' in html
    totals = html[html.index('id="filters-management"') :]
    assert 'hx-swap-oob="true"' in totals.split(">")[0]
    assert (
        'name="filters-TOTAL_FORMS" value="4"' in totals and 'name="groups-TOTAL_FORMS" value="1"' in totals
    )


def test_builder_filter_group_takes_next_indices_of_both_formsets(logged_in):
    query = "op=or&groups-TOTAL_FORMS=2&groups-INITIAL_FORMS=0&filters-TOTAL_FORMS=5&filters-INITIAL_FORMS=0"
    html = logged_in.get(f"/audiences/builder/filter-group/?{query}", HTTP_HX_REQUEST="true").content.decode()
    assert 'name="groups-2-key"' in html and 'name="groups-2-op"' in html and 'name="filters-5-value"' in html
    assert 'name="groups-TOTAL_FORMS" value="3"' in html and 'name="filters-TOTAL_FORMS" value="6"' in html


def test_builder_estimate_when_a_row_was_removed_skips_the_gap(logged_in, intent_root):
    """A removed row leaves its index unposted: the formset skips it and counts the rows left."""
    full = {
        **FORM,
        **rows_post(
            [("", "c0", "country", "=", "nowhere"), ("", "c1", "company_employee_count", ">=", "201-500")]
        ),
    }
    gap = {k: v for k, v in full.items() if not k.startswith("filters-0-")}
    r = logged_in.post("/audiences/builder/estimate/", gap, HTTP_HX_REQUEST="true")
    assert f'data-value="{len(expected_rows(intent_root))}"' in r.content.decode()


def test_builder_save_creates_audience_and_builds_it(
    logged_in, tenant, intent_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        r = logged_in.post(
            "/audiences/new/", {**FORM, "name": "Big buyers", "project_id": str(tenant.project.id)}
        )
    assert r.status_code == 302
    audience = Audience.objects.get(name="Big buyers")
    assert audience.build_status == BuildStatus.READY and audience.record_count == len(
        expected_rows(intent_root)
    )
    page = logged_in.get(r["Location"]).content.decode()
    assert "Big buyers" in page and f"{audience.record_count:,}" in page and "download-audience" in page
    r = logged_in.get(f"/audiences/{audience.pk}/sample/", HTTP_HX_REQUEST="true")
    assert b"<html" not in r.content and b'<th class="num">Intent frequency</th>' in r.content
    listing = logged_in.get("/audiences/").content.decode()
    assert "Big buyers" in listing and f"{audience.distinct_profile_count:,}" in listing


def test_builder_save_when_invalid_keeps_form_and_shows_error(logged_in, tenant):
    r = logged_in.post("/audiences/new/", {**FORM, "name": "", "project_id": str(tenant.project.id)})
    assert r.status_code == 400 and b"builder-error" in r.content and not Audience.objects.exists()


def test_builder_edit_prefills_and_updates(logged_in, tenant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        logged_in.post("/audiences/new/", {**FORM, "name": "A", "project_id": str(tenant.project.id)})
    audience = Audience.objects.get()
    page = logged_in.get(f"/audiences/{audience.pk}/edit/").content.decode()
    assert 'value="201-500"' in page
    with django_capture_on_commit_callbacks(execute=True):
        r = logged_in.post(f"/audiences/{audience.pk}/edit/", {**FORM, "name": "B", "scores": ["low"]})
    assert r.status_code == 302
    audience.refresh_from_db()
    assert audience.name == "B" and audience.definition["scores"] == ["low"]


def test_delete_asked_by_htmx_loads_the_list_page_and_a_plain_post_redirects(
    logged_in, tenant, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        logged_in.post("/audiences/new/", {**FORM, "name": "A", "project_id": str(tenant.project.id)})
        logged_in.post("/audiences/new/", {**FORM, "name": "B", "project_id": str(tenant.project.id)})
    first, second = Audience.objects.order_by("name")
    page = logged_in.get(f"/audiences/{first.pk}/").content.decode()
    assert 'hx-confirm="Delete A?"' in page and "data-confirm" not in page
    r = logged_in.post(f"/audiences/{first.pk}/delete/", HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and r["HX-Redirect"] == "/audiences/"
    r = logged_in.post(f"/audiences/{second.pk}/delete/")
    assert r.status_code == 302 and r["Location"] == "/audiences/"
    assert not Audience.objects.exists()


def test_detail_actions_htmx_return_status_partial_and_paused_refresh_explains(
    logged_in, tenant, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        logged_in.post("/audiences/new/", {**FORM, "name": "A", "project_id": str(tenant.project.id)})
    audience = Audience.objects.get()
    r = logged_in.post(f"/audiences/{audience.pk}/pause/", HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and b"<html" not in r.content and b"resume-audience" in r.content
    assert "audienceChanged" in r["HX-Trigger"]
    r = logged_in.post(f"/audiences/{audience.pk}/refresh/", HTTP_HX_REQUEST="true")
    assert b"resume it before requesting a refresh" in r.content
    logged_in.post(f"/audiences/{audience.pk}/resume/", HTTP_HX_REQUEST="true")
    assert Audience.objects.get().status == AudienceStatus.ACTIVE
    r = logged_in.get(f"/audiences/{audience.pk}/", HTTP_HX_REQUEST="true")
    assert r.status_code == 286 and b"<html" not in r.content  # built: polling stops
    Audience.objects.update(build_status=BuildStatus.BUILDING)
    r = logged_in.get(f"/audiences/{audience.pk}/", HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and b'hx-trigger="every 2s"' in r.content


def test_support_role_reads_but_cannot_build_or_change(client, tenant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        audience_id = (
            tenant.key()
            .post("/api/v1/audiences", {"project_id": str(tenant.project.id), "name": "A"}, format="json")
            .json()["id"]
        )
    support = MembershipFactory(organization=tenant.org, role=Role.SUPPORT)
    client.force_login(support.user)
    assert client.get("/audiences/").status_code == 200
    page = client.get(f"/audiences/{audience_id}/")
    assert page.status_code == 200 and b"pause-audience" not in page.content
    assert client.get("/audiences/new/").status_code == 403
    assert client.post("/audiences/builder/estimate/", FORM).status_code == 403
    assert client.post(f"/audiences/{audience_id}/pause/").status_code == 403
    assert b"upload-form" not in client.get("/lists/").content


def test_audience_pages_of_other_org_are_404(client, tenant, other_tenant):
    audience = Audience.objects.create(organization=tenant.org, project=tenant.project, name="Mine")
    client.force_login(other_tenant.user)
    for url in (
        f"/audiences/{audience.pk}/",
        f"/audiences/{audience.pk}/edit/",
        f"/audiences/{audience.pk}/sample/",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/audiences/{audience.pk}/pause/").status_code == 404


def test_lists_page_upload_htmx_then_create_list_audience(
    logged_in, tenant, django_capture_on_commit_callbacks
):
    f = SimpleUploadedFile("l.csv", b"EMAIL,first_name\na@x.io,A\nbad,B\na@x.io,C\nb@x.io,D\n", "text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        r = logged_in.post(
            "/lists/",
            {"name": "Leads", "type": "contacts", "project_id": str(tenant.project.id), "file": f},
            HTTP_HX_REQUEST="true",
        )
    html = r.content.decode()
    assert (
        r.status_code == 200 and "<html" not in html and html.lstrip().startswith('<div id="lists-section"')
    )
    contact_list = ContactList.objects.get()
    assert (contact_list.imported_count, contact_list.invalid_count, contact_list.duplicate_count) == (
        2,
        1,
        1,
    )
    page = logged_in.get("/lists/").content.decode()
    assert "invalid-report" in page and "duplicates-report" in page
    assert logged_in.get(f"/api/v1/lists/{contact_list.pk}/reports/invalid").status_code == 200
    r = logged_in.get("/lists/", HTTP_HX_REQUEST="true")
    assert r.status_code == 286 and b"<html" not in r.content
    with django_capture_on_commit_callbacks(execute=True):
        r = logged_in.post(f"/lists/{contact_list.pk}/audience/")
    audience = Audience.objects.get()
    assert r.status_code == 302 and audience.type == "list" and audience.record_count == 2


def test_lists_page_upload_when_not_csv_shows_error(logged_in, tenant):
    f = SimpleUploadedFile("x.png", b"\x89PNG\x00", "image/png")
    r = logged_in.post(
        "/lists/",
        {"name": "x", "type": "contacts", "project_id": str(tenant.project.id), "file": f},
        HTTP_HX_REQUEST="true",
    )
    assert (
        b"upload-error" in r.content and b"expected a CSV" in r.content and not ContactList.objects.exists()
    )


def test_builder_estimate_when_dates_reversed_puts_the_error_next_to_the_window_in_words(logged_in):
    form = {**FORM, "window": "range", "date_from": "2024-05-04", "date_to": "2024-05-02"}
    r = logged_in.post("/audiences/builder/estimate/", form, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200 and "HX-Trigger" not in r
    assert (
        '<p class="field-error" id="error-window" hx-swap-oob="true">The end date is before the start date.</p>'
        in html
    )
    assert "definition." not in html and "date_from" not in html.split('id="estimate-error"')[1][:200]
    assert 'id="preview-blocked"' in html and "No rows match" not in html


def test_builder_estimate_when_lookback_not_a_number_says_so_next_to_the_window(logged_in):
    r = logged_in.post(
        "/audiences/builder/estimate/", {**FORM, "lookback_days": "abc"}, HTTP_HX_REQUEST="true"
    )
    assert "Enter a number of days from 1 to 366." in r.content.decode()


def test_builder_estimate_shows_the_sentence_and_topic_sizes_of_the_window(logged_in):
    r = logged_in.post("/audiences/builder/estimate/", FORM, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert "People with high or medium intent for 4eyes_101 or 4eyes_102 in the last 2 days" in html
    assert 'id="topic-sizes" hidden hx-swap-oob="true" data-sizes="{&quot;4eyes_100&quot;: ' in html
    for area in ("topics", "scores", "window"):
        assert f'<p class="field-error" id="error-{area}" hx-swap-oob="true"></p>' in html


def test_builder_save_when_dates_reversed_shows_the_error_next_to_the_window(logged_in, tenant):
    form = {**FORM, "name": "X", "project_id": str(tenant.project.id), "window": "range"}
    r = logged_in.post("/audiences/new/", {**form, "date_from": "2024-05-04", "date_to": "2024-05-01"})
    html = r.content.decode()
    assert r.status_code == 400 and not Audience.objects.exists()
    assert '<p class="field-error" id="error-window">The end date is before the start date.</p>' in html


@pytest.mark.parametrize(
    ("post", "words"),
    [
        ({"name": "Leads", "type": "contacts"}, "Choose a CSV file."),
        ({"name": "Leads", "type": "contacts", "file": "x"}, "Choose a CSV file."),
        ({"name": "", "type": "", "project_id": "nope"}, "Choose a CSV file."),  # the file first
        ({"name": "Leads", "type": "contacts", "csv": 1}, "project_id is required: choose a project."),
        ({"name": " ", "type": "contacts", "csv": 1, "project": 1}, "name: a list needs a name."),
        ({"name": "Leads", "type": "", "csv": 1, "project": 1}, "type: one of contacts"),
    ],
)
def test_lists_page_upload_when_a_field_is_missing_says_which_in_the_services_words(
    logged_in, tenant, post, words
):
    data = {k: v for k, v in post.items() if k not in ("csv", "project")}
    if post.get("csv"):
        data["file"] = SimpleUploadedFile("l.csv", b"email\na@x.io\n", "text/csv")
    if post.get("project"):
        data["project_id"] = str(tenant.project.id)
    r = logged_in.post("/lists/", data)
    assert r.status_code == 400 and words in r.content.decode() and not ContactList.objects.exists()


def test_lists_page_upload_without_a_type_uploads_a_contacts_list(
    logged_in, tenant, django_capture_on_commit_callbacks
):
    f = SimpleUploadedFile("l.csv", b"email\na@x.io\n", "text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        r = logged_in.post("/lists/", {"name": "Leads", "project_id": str(tenant.project.id), "file": f})
    assert r.status_code == 302 and ContactList.objects.get().type == "contacts"


def test_list_audience_create_when_named_or_not_takes_the_name_or_the_lists(
    logged_in, tenant, django_capture_on_commit_callbacks
):
    from tests.audiences.test_lists import upload

    list_id = upload(tenant, "email\nann@acme.io\n", name="Q3 leads").json()["id"]
    with django_capture_on_commit_callbacks(execute=False):
        logged_in.post(f"/lists/{list_id}/audience/", {"name": "Named"})
        logged_in.post(f"/lists/{list_id}/audience/", {"name": ""})
    assert sorted(Audience.objects.values_list("name", flat=True)) == ["Named", "Q3 leads"]
    assert set(Audience.objects.values_list("project_id", flat=True)) == {tenant.project.id}


def test_builder_save_when_project_missing_or_of_another_org_keeps_the_form_with_the_projects_words(
    logged_in, tenant, other_tenant
):
    r = logged_in.post("/audiences/new/", {**FORM, "name": "Big buyers", "project_id": ""})
    assert r.status_code == 400 and "project_id is required: choose a project." in r.content.decode()
    r = logged_in.post(
        "/audiences/new/", {**FORM, "name": "Big buyers", "project_id": str(other_tenant.project.id)}
    )
    html = r.content.decode()
    assert r.status_code == 400 and "no project with this id in your organization" in html
    assert 'value="Big buyers"' in html and not Audience.objects.exists()
