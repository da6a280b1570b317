import pyarrow.dataset as ds
import pytest

from audiences import engine
from audiences.models import Audience, BuildStatus
from audiences.selectors.audiences import audience_selection
from audiences.services import audiences as audience_services
from delivr_admin.errors import ApplicationError

DUCKDB = engine.DuckDBEngine()  # the embedded backend these tests exercise

pytestmark = pytest.mark.django_db


def table(intent_root):
    return ds.dataset(
        str(intent_root), format="parquet", partitioning="hive", ignore_prefixes=["_", "."]
    ).to_table()


def rows_matching(intent_root, predicate):
    return [r for r in table(intent_root).to_pylist() if predicate(r)]


@pytest.fixture
def create(tenant, django_capture_on_commit_callbacks):
    """Creates an audience of the tenant; its first build (queued on commit) runs now."""

    def make(definition, name="A"):
        with django_capture_on_commit_callbacks(execute=True):
            return audience_services.audience_create(
                principal=tenant.principal, project_id=tenant.project.id, name=name, definition=definition
            )

    return make


def test_audience_build_counts_records_and_distinct_profiles_like_pyarrow(tenant, intent_root, create):
    audience = create(
        {
            "topic_id_prefixes": ["4eyes_101", "4eyes_102"],
            "scores": ["high", "medium"],
            "lookback_days": 2,
            "filters": [{"field": "Country", "op": "in", "value": ["US", "GB"]}],
        },
    )
    audience.refresh_from_db()
    expected = rows_matching(
        intent_root,
        lambda r: (
            r["prefix"] in ("4eyes_101", "4eyes_102")
            and r["score"] in ("high", "medium")
            and str(r["day"]) in ("2024-05-03", "2024-05-04")
            and r["country"] in ("US", "GB")
        ),
    )
    assert audience.build_status == BuildStatus.READY
    assert audience.record_count == len(expected) > 0
    assert audience.distinct_profile_count == len({r["person_id"] for r in expected})
    assert audience.definition["filters"][0]["field"] == "country"  # stored in the dataset's casing


@pytest.mark.parametrize(
    "op,value,inside",
    [
        (">", "51-200", {"201-500", "501-1000", "1001-5000", "5001-10000", "10001+"}),
        ("<", "201-500", {"1-10", "11-50", "51-200"}),
        (">=", 200, {"201-500", "501-1000", "1001-5000", "5001-10000", "10001+"}),
        ("between", ["11-50", "201-500"], {"11-50", "51-200", "201-500"}),
    ],
)
def test_bucketed_range_filters_return_only_buckets_inside(tenant, intent_root, op, value, inside, create):
    audience = create({"filters": [{"field": "company_employee_count", "op": op, "value": value}]})
    audience.refresh_from_db()
    expected = rows_matching(intent_root, lambda r: r["company_employee_count"] in inside)
    assert audience.record_count == len(expected) > 0


def test_score_filter_compares_by_order(tenant, intent_root, create):
    audience = create({"filters": [{"field": "score", "op": ">=", "value": "medium"}]})
    audience.refresh_from_db()
    assert audience.record_count == len(
        rows_matching(intent_root, lambda r: r["score"] in ("medium", "high"))
    )


@pytest.mark.parametrize(
    "op,value,predicate",
    [
        ("contains", "ceo", lambda r: "ceo" in (r["job_title"] or "").lower()),
        ("!=", "US", lambda r: r["country"] != "US"),
        ("not in", ["US", "GB"], lambda r: r["country"] not in ("US", "GB")),
        ("is empty", None, lambda r: not r["email"]),
    ],
)
def test_attribute_operators_match_pyarrow(tenant, intent_root, op, value, predicate, create):
    field = {"contains": "job_title", "is empty": "email"}.get(op, "country")
    audience = create({"filters": [{"field": field, "op": op, "value": value}]})
    audience.refresh_from_db()
    assert audience.record_count == len(rows_matching(intent_root, predicate))


@pytest.mark.parametrize(
    "definition",
    [
        {"filters": [{"field": "nope", "op": "=", "value": 1}]},
        {"filters": [{"field": "country", "op": "~", "value": "US"}]},
        {"filters": [{"field": "intent_frequency", "op": ">", "value": "many"}]},
        {"scores": ["huge"]},
        {"lookback_days": 0},
        {"lookback_days": "7"},
        {"date_from": "2024-05-03", "date_to": "2024-05-01"},
        {"unexpected": 1},
        ["not", "an", "object"],
    ],
)
def test_bad_definition_is_refused(tenant, definition, create):
    with pytest.raises(ApplicationError):
        create(definition)
    assert not Audience.objects.exists()


def test_lookback_window_ends_on_newest_day_with_data(tenant, intent_root, create):
    audience = create({"lookback_days": 1})
    sel = audience_selection(audience)
    assert [d.isoformat() for d in sel.days] == ["2024-05-04"]
    assert DUCKDB.count(sel) == len(rows_matching(intent_root, lambda r: str(r["day"]) == "2024-05-04"))


def test_refresh_when_paused_returns_structured_409(tenant, create):
    audience = create({})
    audience_services.audience_pause(audience=audience)
    with pytest.raises(ApplicationError) as info:
        audience_services.audience_refresh(audience=audience)
    assert info.value.status == 409 and info.value.extra["reason"] == "audience_paused"
