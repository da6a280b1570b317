"""The topic catalogue: CSV import (idempotent, errors per row in words), per-organization overrides, sizes."""

import pytest
from django.core.management import call_command

from audiences.models import Topic
from audiences.selectors.topics import topic_catalogue, topic_options, topic_sizes
from audiences.services.topics import topic_import

pytestmark = pytest.mark.django_db

CSV = (
    "Code,Name,Category,Description\n"
    "4eyes_100,CRM Software,Sales,Customer relationship management\n"
    "4eyes_101,Marketing Automation,Marketing,\n"
    ",No code,Sales,\n"
    "4eyes_102,,Sales,\n"
    "4eyes_100,CRM again,Sales,\n"
)


def test_topic_import_when_run_twice_changes_nothing_and_reports_bad_rows_in_words():
    first = topic_import(content=CSV.encode())
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    assert first.errors == [
        "Line 4: the code is empty.",
        "Line 5: topic 4eyes_102 has no name.",
        "Line 6: topic 4eyes_100 is already on line 2; this line is skipped.",
    ]
    second = topic_import(content=CSV.encode())
    assert (second.created, second.updated, second.unchanged) == (0, 0, 2)
    assert Topic.objects.get(code="4eyes_100").description == "Customer relationship management"


def test_import_topics_command_updates_changed_rows_and_prints_errors(tmp_path, capsys):
    path = tmp_path / "topics.csv"
    path.write_text(CSV)
    call_command("import_topics", str(path))
    path.write_text("code,name,category\n4eyes_100,CRM Platforms,Sales\n")
    call_command("import_topics", str(path))
    out = capsys.readouterr()
    assert "0 created, 1 updated, 0 unchanged, 0 rows skipped" in out.out
    assert "Line 4: the code is empty." in out.err
    assert Topic.objects.get(code="4eyes_100").name == "CRM Platforms"


def test_import_topics_command_when_header_lacks_name_says_which_column(tmp_path):
    from django.core.management.base import CommandError

    path = tmp_path / "topics.csv"
    path.write_text("code,title\n4eyes_100,CRM\n")
    with pytest.raises(CommandError, match="missing: name"):
        call_command("import_topics", str(path))


def test_topic_catalogue_when_organization_overrides_a_code_uses_its_name(tenant, other_tenant):
    topic_import(content=CSV.encode())
    topic_import(content=b"code,name\n4eyes_100,Our CRM\n", organization=tenant.org)
    assert topic_catalogue(tenant.org.pk)["4eyes_100"].name == "Our CRM"
    assert topic_catalogue(other_tenant.org.pk)["4eyes_100"].name == "CRM Software"


def test_topic_options_when_prefix_is_not_catalogued_shows_it_by_code_with_its_size(manifest):
    topic_import(content=CSV.encode())
    sizes = topic_sizes({"lookback_days": 2})
    everything = topic_sizes({})
    assert set(sizes) == {"4eyes_100", "4eyes_101", "4eyes_102", "4eyes_103"}
    assert sum(everything.values()) == manifest["total_rows"]
    assert 0 < sum(sizes.values()) < sum(everything.values())
    options = topic_options(organization_id=None, prefixes=sorted(sizes), sizes=sizes)
    assert [(o.code, o.label) for o in options] == [
        ("4eyes_101", "Marketing Automation"),
        ("4eyes_100", "CRM Software"),
        ("4eyes_102", "4eyes_102"),
        ("4eyes_103", "4eyes_103"),
    ]
    assert options[0].rows == sizes["4eyes_101"]


def test_demo_seed_topics_names_every_demo_prefix_once_when_run_twice():
    from audiences import demo

    demo.seed_topics()
    demo.seed_topics()
    topics = {t.code: t for t in Topic.objects.filter(organization=None)}
    assert sorted(topics) == [f"4eyes_{n}" for n in range(100, 110)]
    assert all(t.name and t.category and t.description for t in topics.values())
    assert topics["4eyes_100"].name == "CRM Software"
