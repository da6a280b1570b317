"""The value-suggestion store: counts made at data load / by the warm-up answer any process with an empty cache."""

import io

import pytest
from django.core.cache import cache

from audiences import datasets, engine
from audiences.models import FieldValueCounts
from audiences.selectors import values as value_selectors
from audiences.services import values as value_services

pytestmark = pytest.mark.django_db


def _exact(root, field: str, days=()) -> dict[str, int]:
    sel = datasets.selection(input_path=str(root), organization_ids=(), days=days, suppress=False)
    return value_selectors.counts_sum(engine.DuckDBEngine().value_counts_by_day(sel, field))


def test_field_values_warm_when_run_stores_each_day_compactly_and_twice_counts_nothing(intent_root):
    first = value_services.field_values_warm()
    assert first["country"] == 4 and "person_id" not in first and "email" not in first
    rows = FieldValueCounts.objects.filter(field="country")
    assert rows.count() == 4 and all(len(bytes(r.counts)) < 200 for r in rows)
    assert value_services.field_values_warm() == dict.fromkeys(first, 0)  # a second run: nothing to count
    assert FieldValueCounts.objects.filter(field="country").count() == 4


def test_field_values_when_stored_answer_exactly_from_the_store_without_reading_data(
    intent_root, settings, django_assert_max_num_queries
):
    value_services.field_values_warm()
    cache.clear()  # a fresh process: nothing cached
    settings.DELIVR_VALUE_SAMPLE_FILES = 1  # would sample (and say "approximate") if the store did not answer
    with django_assert_max_num_queries(1):
        values = value_selectors.field_values(field="Country", window={"lookback_days": 4})
    assert values and not values[0].approximate
    assert {v.value: v.rows for v in values} == _exact(intent_root, "country")
    assert not value_selectors.counting_in_background()


def test_field_values_warm_refresh_when_tree_regenerated_recounts_stored_days(intent_root):
    value_services.field_values_warm(days=1)
    row = FieldValueCounts.objects.get(field="country")
    value_services.field_value_counts_store(root=row.root, field="country", per_day={row.day: {"XX": 1}})
    assert value_services.field_values_warm(days=1)["country"] == 0  # stored days are trusted
    value_services.field_values_warm(days=1, refresh=True)
    row.refresh_from_db()
    assert "XX" not in value_selectors._unpack(row.counts)


def test_builder_values_view_when_cache_empty_answers_from_store_in_exact_words(
    client, tenant, intent_root, settings
):
    from accounts.models import Role
    from tests.audiences.builder_post import rows_post
    from tests.factories import MembershipFactory

    member = MembershipFactory(organization=tenant.org, role=Role.MARKETER)
    client.force_login(member.user)
    value_services.field_values_warm()
    cache.clear()
    settings.DELIVR_VALUE_SAMPLE_FILES = 1
    rows = rows_post([("", "c1", "country", "=", "")])
    form = {**rows, "key": "c1", "window": "lookback", "lookback_days": "4"}
    html = client.get("/audiences/builder/values/", form, HTTP_HX_REQUEST="true").content.decode()
    assert 'value="US"' in html and "about " not in html


def test_generate_intent_data_command_when_tree_is_an_allowed_root_counts_its_values(intent_root, settings):
    from django.core.management import call_command

    out = intent_root.parent / "generated"
    call_command(
        "generate_intent_data", "--out", str(out), "--rows", "400", "--days", "2", "--prefixes", "1",
        stdout=io.StringIO(),
    )  # fmt: skip
    days = value_selectors.stored_days(datasets.input_path_resolve(str(out)), "country")
    assert len(days) == 2


def test_field_values_warm_command_when_refresh_recounts_every_stored_day(intent_root):
    from django.core.management import call_command

    out = io.StringIO()
    call_command("field_values_warm", "--days", "2", stdout=out)
    assert "counted" in out.getvalue() and FieldValueCounts.objects.filter(field="country").count() == 2
    call_command("field_values_warm", "--days", "2", stdout=out)
    assert out.getvalue().splitlines()[-1].startswith("counted 0 ")
    call_command("field_values_warm", "--days", "2", "--refresh", stdout=out)
    assert not out.getvalue().splitlines()[-1].startswith("counted 0 ")


def test_field_values_warm_queue_when_called_twice_then_queues_once_and_without_broker_only_logs(
    monkeypatch, caplog
):
    from audiences import tasks

    queued = []
    monkeypatch.setattr(value_services, "_warm_queued_at", -1e9)
    monkeypatch.setattr(tasks.field_values_warm, "delay", lambda: queued.append(1))
    value_services.field_values_warm_queue()
    value_services.field_values_warm_queue()  # within 10 minutes: not again
    assert queued == [1]

    def no_broker():
        raise ConnectionError("no broker")

    monkeypatch.setattr(value_services, "_warm_queued_at", -1e9)
    monkeypatch.setattr(tasks.field_values_warm, "delay", no_broker)
    value_services.field_values_warm_queue()  # the builder still opens
    assert "could not queue the value suggestions warm-up" in caplog.text
