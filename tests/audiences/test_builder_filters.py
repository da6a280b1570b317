"""The builder's filter groups, per-condition messages and value suggestions (HTMX fragments)."""

import pytest

from accounts.models import Role
from audiences.views.filters import filters_from_form
from tests.audiences.builder_post import rows_post
from tests.audiences.truth import rows_where
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

BASE = {
    "topic_id_prefixes": ["4eyes_101", "4eyes_102"],
    "scores": ["high", "medium"],
    "window": "lookback",
    "lookback_days": "2",
    "preview_limit": "10",
}
# (country us OR country ca) AND company size >= 201-500
GROUPED = {
    **BASE,
    **rows_post(
        [
            ("ga", "c1", "country", "=", "us"),
            ("ga", "c2", "country", "=", "ca"),
            ("gb", "c3", "company_employee_count", ">=", "201-500"),
        ],
        groups=[("ga", "or"), ("gb", "and")],
    ),
}


@pytest.fixture
def logged_in(client, tenant):
    member = MembershipFactory(organization=tenant.org, role=Role.MARKETER)
    client.force_login(member.user)
    return client


def expected(root):
    return rows_where(root, countries=("US", "CA"))


def test_filters_from_form_when_grouped_gives_or_group_and_positions():
    filters, positions = filters_from_form(GROUPED)
    assert filters["op"] == "and" and [g["op"] for g in filters["groups"]] == ["or", "and"]
    assert positions == {(0, 0): "c1", (0, 1): "c2", (1, 0): "c3"}


def test_filters_from_form_when_one_and_group_keeps_flat_list():
    form = {**BASE, **rows_post([("", "c1", "country", "=", "US")])}
    assert filters_from_form(form)[0] == [{"field": "country", "op": "=", "value": "US"}]


def test_estimate_when_groups_counts_a_or_b_and_c(logged_in, intent_root):
    r = logged_in.post("/audiences/builder/estimate/", GROUPED, HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    html = r.content.decode()
    assert f'data-value="{len(expected(intent_root))}"' in html
    for key in ("c1", "c2", "c3"):  # every row's hint slot is refreshed out of band
        assert f'id="hint-{key}"' in html and "hx-swap-oob" in html


def test_estimate_when_row_has_no_value_shows_hint_next_to_it_and_keeps_counting(logged_in):
    form = {**GROUPED, "filters-1-value": ""}
    r = logged_in.post("/audiences/builder/estimate/", form, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert 'id="estimate-records"' in html
    hint = html[html.index('id="hint-c2"') :]
    assert hint.split("</p>")[0].endswith("Enter a value: this condition is not counted until it has one.")


def test_estimate_when_condition_invalid_puts_words_next_to_that_row(logged_in):
    form = {**GROUPED, "filters-2-value": "huge"}
    r = logged_in.post("/audiences/builder/estimate/", form, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    hint = html[html.index('id="hint-c3"') :].split("</p>")[0]
    assert "“huge” is not a company size" in hint
    assert "filters[" not in html and "sqlglot" not in html and "definition." not in html


def test_estimate_when_value_matches_nothing_says_did_you_mean(logged_in):
    form = {**GROUPED, "filters-0-value": "usa"}
    values = logged_in.get(
        "/audiences/builder/values/",
        {**form, "key": "c1", "filters-0-value": ""},
        HTTP_HX_REQUEST="true",
    )  # focusing the value box counts the field's values (and caches them)
    assert values.status_code == 200 and 'value="US"' in values.content.decode()
    r = logged_in.post("/audiences/builder/estimate/", form, HTTP_HX_REQUEST="true")
    hint = r.content.decode().split('id="hint-c1"')[1].split("</p>")[0]
    assert "No value like “usa” in Country; did you mean US?" in hint


def test_values_when_field_is_bucketed_lists_buckets_in_order_with_counts(logged_in, intent_root):
    form = {**GROUPED, "key": "c3", "filters-2-value": ""}
    html = logged_in.get("/audiences/builder/values/", form, HTTP_HX_REQUEST="true").content.decode()
    order = [
        b for b in ("1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000") if f'value="{b}"' in html
    ]
    assert order and [html.index(f'value="{b}"') for b in order] == sorted(
        html.index(f'value="{b}"') for b in order
    )
    assert " rows" in html and "<html" not in html


def test_values_when_typing_filters_and_private_fields_give_nothing(logged_in):
    form = {**GROUPED, "key": "c1", "filters-0-value": "g"}
    html = logged_in.get("/audiences/builder/values/", form, HTTP_HX_REQUEST="true").content.decode()
    assert 'value="GB"' in html and 'value="US"' not in html
    private = {**GROUPED, "key": "c1", "filters-0-field": "email"}
    html = logged_in.get("/audiences/builder/values/", private, HTTP_HX_REQUEST="true").content.decode()
    assert "<option" not in html


def test_filter_group_fragment_is_one_group_with_one_labelled_row(logged_in):
    r = logged_in.get("/audiences/builder/filter-group/?op=or", HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert html.count('class="filter-group"') == 1 and html.count('class="filter-row"') == 1
    assert 'value="or" selected' in html and "<label>Field" in html and "<html" not in html


def test_builder_edit_when_audience_grouped_prefills_groups(
    logged_in, tenant, django_capture_on_commit_callbacks
):

    from audiences.services import audiences as audience_services

    definition = {
        "lookback_days": 2,
        "filters": {
            "op": "and",
            "groups": [
                {"op": "or", "conditions": [{"field": "country", "op": "=", "value": "US"},
                                            {"field": "country", "op": "=", "value": "CA"}]},
                {"op": "and", "conditions": [{"field": "company_employee_count", "op": ">=", "value": "201-500"}]},
            ],
        },
    }  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        audience = audience_services.audience_create(
            principal=tenant.principal, project_id=tenant.project.id, name="G", definition=definition
        )
    html = logged_in.get(f"/audiences/{audience.pk}/edit/").content.decode()
    assert html.count('class="filter-group"') == 2 and html.count('class="filter-row"') == 3
    assert 'value="or" selected' in html


def test_builder_page_warms_value_counts_so_hints_read_the_cache(logged_in):
    from django.core.cache import cache

    from audiences.selectors import values as value_selectors
    from audiences.services import values as value_services

    cache.clear()
    value_services._warm_queued_at = -1e9
    assert value_selectors.cached_field_values(field="country", window={"lookback_days": 2}) is None
    assert logged_in.get("/audiences/new/").status_code == 200  # queues the warm-up (eager in tests)
    cached = value_selectors.cached_field_values(field="country", window={"lookback_days": 2})
    assert cached and {v.value for v in cached} >= {"US", "GB"}
