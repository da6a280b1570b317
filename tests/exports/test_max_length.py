"""Truncation as the March 2026 document states it: `maxLength` accepted in a mapping entry; values past it cut
rune-safely when the field says so (truncate), STRING_TOO_LONG otherwise; multi-value fields never cut."""

import pyarrow as pa
import pytest

from exports.validation import MappingError, mapping_parse, validate_batch

ROWS = [{"name": "Zoë Łukasz-Müller 😀😀"}, {"name": "short"}]


def _check(entry: dict):
    table, errors = validate_batch(pa.RecordBatch.from_pylist(ROWS), mapping_parse([entry]))
    return table.column("Name").to_pylist() if "Name" in table.column_names else [], errors


def test_max_length_camel_case_when_truncate_cuts_by_characters_not_bytes():
    values, errors = _check({"source": "name", "target": "Name", "maxLength": 19, "truncate": True})
    assert errors == [] and values == ["Zoë Łukasz-Müller 😀", "short"]  # 19 runes, the emoji kept whole
    assert len(values[0].encode()) > 19


def test_max_length_camel_case_when_no_truncate_fails_with_string_too_long():
    values, errors = _check({"source": "name", "target": "Name", "maxLength": 19})
    assert [(row, target, code) for row, target, code, *_ in errors] == [(0, "Name", "STRING_TOO_LONG")]
    assert values == ["short"]


def test_max_length_when_both_spellings_disagree_is_refused_in_words():
    with pytest.raises(MappingError, match="maxLength and max_length disagree"):
        mapping_parse([{"source": "name", "target": "Name", "maxLength": 5, "max_length": 6}])


def test_max_length_when_saved_through_the_api_comes_back_as_max_length(tenant, audience, db):
    r = tenant.jwt().post(
        "/api/v1/exports",
        {
            "project_id": str(tenant.project.id),
            "audience_id": str(audience.id),
            "name": "Truncating",
            "destination_type": "file",
            "destination_config": {"format": "csv"},
            "field_mapping": [{"source": "job_title", "target": "Title", "maxLength": 10, "truncate": True}],
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    assert r.json()["field_mapping"][0]["max_length"] == 10


def test_openapi_states_the_truncation_rule(api):
    schema = api.get("/api/schema/?format=json").json()
    entry = schema["components"]["schemas"]["FieldMappingEntry"]["properties"]
    assert "STRING_TOO_LONG" in entry["max_length"]["description"]
    assert "runes" in entry["max_length"]["description"] and "maxLength" in entry["max_length"]["description"]
    assert "STRING_TOO_LONG" in entry["truncate"]["description"]
