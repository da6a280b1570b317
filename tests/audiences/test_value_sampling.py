"""Value suggestions before a field was counted: a bounded sample, said to be approximate, then exact."""

import pytest

from audiences import datasets, engine
from audiences.selectors import values as value_selectors
from tests.audiences.test_builder_filters import GROUPED
from tests.conftest import wait_for
from tests.factories import MembershipFactory

DUCKDB = engine.DuckDBEngine()  # the embedded backend these tests exercise

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, tenant):
    from accounts.models import Role

    member = MembershipFactory(organization=tenant.org, role=Role.MARKETER)
    client.force_login(member.user)
    return client


@pytest.fixture
def sampling(settings):
    """A window of the test tree (12 files a day) holds more files than the sample reads."""
    settings.DELIVR_VALUE_SAMPLE_FILES = 6
    yield settings
    wait_for(lambda: not value_selectors.counting_in_background(), message="the background count")


def _selection(root, days=()):
    return datasets.selection(input_path=str(root), organization_ids=(), days=days, suppress=False)


def test_value_counts_sample_when_many_files_estimates_from_few_close_to_exact(intent_root):
    sel = _selection(intent_root)
    exact: dict[str, int] = {}
    for counts in DUCKDB.value_counts_by_day(sel, "country").values():
        for value, n in counts.items():
            exact[value] = exact.get(value, 0) + n
    estimate = DUCKDB.value_counts_sample(sel, "country", max_files=6)
    assert estimate and set(estimate) <= set(exact)
    assert 0.7 < sum(estimate.values()) / sum(exact.values()) < 1.3  # scaled by bytes to the whole window
    top = max(exact, key=exact.get)
    assert estimate[top] == max(estimate.values()) or abs(estimate[top] - exact[top]) / exact[top] < 0.3
    assert DUCKDB.value_counts_sample(sel, "country", max_files=48) is None  # no fewer files to read


def test_values_present_when_value_exists_in_any_case_finds_it_and_not_typos(intent_root):
    found = DUCKDB.values_present(_selection(intent_root), "country", ["us", "GB", "usa", ""])
    assert found == {"us", "gb"}


def test_field_values_when_not_counted_are_approximate_then_exact_after_background_count(sampling):
    window = {"lookback_days": 3}
    first = value_selectors.field_values(field="country", window=window)
    assert first and all(v.approximate for v in first)
    wait_for(lambda: not value_selectors.counting_in_background(), message="the background count")
    exact = value_selectors.field_values(field="country", window=window, sample=False)
    again = value_selectors.field_values(field="country", window=window)
    assert again == exact and not any(v.approximate for v in again)
    assert {v.value for v in first} <= {v.value for v in exact}


def test_field_values_api_when_sampled_says_approximate(tenant, sampling):
    r = tenant.key().get("/api/v1/audiences/fields/country/values?lookback_days=3")
    assert r.status_code == 200 and r.json()["approximate"] is True and r.json()["values"]
    wait_for(lambda: not value_selectors.counting_in_background(), message="the background count")
    r = tenant.key().get("/api/v1/audiences/fields/country/values?lookback_days=3")
    assert r.json()["approximate"] is False


def test_builder_values_when_sampled_label_counts_as_about(logged_in, sampling):
    form = {**GROUPED, "lookback_days": "3", "key": "c1", "filters-0-value": ""}
    html = logged_in.get("/audiences/builder/values/", form, HTTP_HX_REQUEST="true").content.decode()
    assert 'value="US"' in html and "about " in html and " rows" in html


@pytest.mark.parametrize("sample_files", [0, 6])
def test_estimate_when_value_matches_nothing_says_did_you_mean_on_first_estimate(
    logged_in, settings, sample_files
):
    settings.DELIVR_VALUE_SAMPLE_FILES = sample_files
    settings.DELIVR_VALUE_PROBE_SECONDS = 60  # the exact lookup always answers in time here
    form = {**GROUPED, "filters-0-value": "usa"}  # nothing counted before this estimate
    r = logged_in.post("/audiences/builder/estimate/", form, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    hint = html.split('id="hint-c1"')[1].split("</p>")[0]
    assert "No value like “usa” in Country; did you mean US?" in hint
    assert "No value" not in html.split('id="hint-c2"')[1].split("</p>")[0]  # "ca" exists (any case)
    wait_for(lambda: not value_selectors.counting_in_background(), message="the background count")


def test_value_counts_sample_when_partition_rows_known_scales_by_rows_listing_only_the_sample(intent_root):
    sel = _selection(intent_root, days=["2024-05-03", "2024-05-04"])
    rows = {k: n for k, (n, _removed) in DUCKDB.count_partitions(sel, DUCKDB.list_partitions(sel)).items()}
    rows["day=2024-05-01/prefix=4eyes_100/score=high"] = 10**9  # outside the selection: never counted
    estimate = DUCKDB.value_counts_sample(sel, "country", max_files=6, partition_rows=rows)
    exact = value_selectors.counts_sum(DUCKDB.value_counts_by_day(sel, "country"))
    assert estimate and set(estimate) <= set(exact)
    assert 0.7 < sum(estimate.values()) / sum(exact.values()) < 1.3
    assert DUCKDB.value_counts_sample(sel, "country", max_files=24, partition_rows=rows) is None


def test_estimate_when_lookup_outlasts_its_time_hint_says_sample_then_next_estimate_is_sure(
    logged_in, settings
):
    from audiences.selectors.values import _probes

    settings.DELIVR_VALUE_SAMPLE_FILES = 6
    settings.DELIVR_VALUE_PROBE_SECONDS = 0
    form = {**GROUPED, "filters-0-value": "usa"}
    html = logged_in.post("/audiences/builder/estimate/", form, HTTP_HX_REQUEST="true").content.decode()
    hint = html.split('id="hint-c1"')[1].split("</p>")[0]
    assert "No value like “usa” in Country (in a sample of the data); did you mean US?" in hint
    _probes.submit(lambda: None).result(timeout=60)  # the lookup queued before it has finished
    html = logged_in.post("/audiences/builder/estimate/", form, HTTP_HX_REQUEST="true").content.decode()
    hint = html.split('id="hint-c1"')[1].split("</p>")[0]
    assert "No value like “usa” in Country; did you mean US?" in hint
    wait_for(lambda: not value_selectors.counting_in_background(), message="the background count")
