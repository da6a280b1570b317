"""Field mapping validation: every March code, multi-byte lengths, and the vectorised path == the reference."""

import math

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exports.validation import (
    MappingError,
    mapping_parse,
    validate_batch,
    validate_batch_full,
    validate_records_reference,
)

COLUMNS = {"email": "VARCHAR", "name": "VARCHAR", "tags": "VARCHAR", "industry": "VARCHAR", "n": "INTEGER"}


def run_both(rows: list[dict], raw_mapping: list[dict], schema: pa.Schema | None = None):
    mapping = mapping_parse(raw_mapping)
    batch = pa.RecordBatch.from_pylist(rows, schema=schema)
    table, errors = validate_batch(batch, mapping)
    ref_valid, ref_errors = validate_records_reference(batch.to_pylist(), mapping)
    assert errors == ref_errors
    assert _same(table.to_pylist(), ref_valid)
    return table.to_pylist(), errors


def _same(a: list[dict], b: list[dict]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x.keys() != y.keys():
            return False
        for k in x:
            if isinstance(x[k], float) and isinstance(y[k], float):
                if not (x[k] == y[k] or (math.isnan(x[k]) and math.isnan(y[k]))):
                    return False
            elif x[k] != y[k]:
                return False
    return True


def codes(errors):
    return [(row, target, code) for row, target, code, _ in errors]


def test_required_when_empty_null_or_blank_is_required_field_missing():
    rows = [{"email": None}, {"email": ""}, {"email": "   "}, {"email": "a@b.co"}]
    valid, errors = run_both(
        rows, [{"source": "email", "target": "Email", "required": True, "type": "email"}]
    )
    assert codes(errors) == [(i, "Email", "REQUIRED_FIELD_MISSING") for i in range(3)]
    assert errors[0][3] == "Email is required"
    assert valid == [{"Email": "a@b.co"}]


def test_default_when_empty_fills_and_satisfies_required():
    rows = [{"industry": None}, {"industry": ""}, {"industry": "Retail"}]
    valid, errors = run_both(
        rows, [{"source": "industry", "target": "Industry", "required": True, "default": "Other"}]
    )
    assert errors == []
    assert [r["Industry"] for r in valid] == ["Other", "Other", "Retail"]


@pytest.mark.parametrize("value", ["日本語テキ", "😀😀😀😀😀", "ééééé", "abcde"])
def test_length_when_multibyte_at_limit_passes_and_one_more_is_string_too_long(value):
    mapping = [{"source": "name", "target": "Name", "max_length": 5}]
    valid, errors = run_both([{"name": value}, {"name": value + value[0]}], mapping)
    assert valid == [{"Name": value}]
    assert codes(errors) == [(1, "Name", "STRING_TOO_LONG")]


def test_truncate_when_set_cuts_code_points_not_bytes():
    mapping = [{"source": "name", "target": "Name", "max_length": 3, "truncate": True}]
    valid, errors = run_both([{"name": "😀日本語"}, {"name": "ab"}], mapping)
    assert errors == []
    assert valid == [{"Name": "😀日本"}, {"Name": "ab"}]


def test_multi_value_when_joined_past_limit_is_multi_value_too_long_never_truncated():
    mapping = [{"source": "tags", "target": "Tags", "multi_value": True, "max_length": 7, "truncate": True}]
    valid, errors = run_both([{"tags": "ab, cd"}, {"tags": "ab,cd,ef"}, {"tags": " , "}], mapping)
    assert valid == [{"Tags": "ab;cd"}, {"Tags": None}]
    assert codes(errors) == [(1, "Tags", "MULTI_VALUE_TOO_LONG")]


def test_multi_value_when_source_is_a_list_joins_with_semicolon():
    schema = pa.schema([("tags", pa.list_(pa.string()))])
    mapping = [{"source": "tags", "target": "Tags", "multi_value": True, "picklist": ["Red", "Blue"]}]
    valid, errors = run_both(
        [{"tags": ["red", " BLUE "]}, {"tags": ["red", "green"]}, {"tags": []}], mapping, schema
    )
    assert valid == [{"Tags": "Red;Blue"}, {"Tags": None}]
    assert codes(errors) == [(1, "Tags", "INVALID_PICKLIST_VALUE")]


def test_picklist_when_case_differs_passes_with_picklist_spelling():
    mapping = [{"source": "industry", "target": "Industry", "picklist": ["Retail", "Software"]}]
    valid, errors = run_both(
        [{"industry": "RETAIL"}, {"industry": "software"}, {"industry": "Mining"}], mapping
    )
    assert valid == [{"Industry": "Retail"}, {"Industry": "Software"}]
    assert codes(errors) == [(2, "Industry", "INVALID_PICKLIST_VALUE")]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("a@b.co", True),
        ("A.B@Example.COM", True),
        ("ab.co", False),
        ("a@bco", False),
        ("@b.co", False),
        ("a@b.", False),
    ],
)
def test_email_when_missing_at_or_dot_is_invalid_email_format(value, ok):
    valid, errors = run_both([{"email": value}], [{"source": "email", "target": "Email", "type": "email"}])
    if ok:
        assert valid == [{"Email": value.lower()}] and errors == []
    else:
        assert codes(errors) == [(0, "Email", "INVALID_EMAIL_FORMAT")]


def test_number_when_not_numeric_is_invalid_number_format_and_numbers_pass():
    rows = [{"n": "12"}, {"n": " 1.5e2 "}, {"n": "twelve"}, {"n": None}]
    valid, errors = run_both(rows, [{"source": "n", "target": "N", "type": "number"}])
    assert [r["N"] for r in valid] == [12.0, 150.0, None]
    assert codes(errors) == [(2, "N", "INVALID_NUMBER_FORMAT")]
    valid, errors = run_both(
        [{"n": 3}, {"n": None}], [{"source": "n", "target": "N", "type": "number", "default": "7"}]
    )
    assert [r["N"] for r in valid] == [3.0, 7.0]


def test_several_fields_failing_report_each_field_once_in_row_then_field_order():
    mapping = [
        {"source": "email", "target": "Email", "type": "email", "required": True},
        {"source": "name", "target": "Name", "max_length": 2},
    ]
    _, errors = run_both([{"email": "x", "name": "abc"}, {"email": "a@b.co", "name": "ab"}], mapping)
    assert codes(errors) == [(0, "Email", "INVALID_EMAIL_FORMAT"), (0, "Name", "STRING_TOO_LONG")]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "non-empty"),
        ([{"source": "nope", "target": "X"}], "no column"),
        ([{"source": "email", "target": ""}], "target"),
        ([{"source": "email", "target": "E"}, {"source": "name", "target": "e"}], "mapped twice"),
        ([{"source": "email", "target": "E", "type": "date"}], "type"),
        ([{"source": "email", "target": "E", "max_length": 0}], "max_length"),
        ([{"source": "email", "target": "E", "max_length": True}], "max_length"),
        ([{"source": "email", "target": "E", "required": "yes"}], "true or false"),
        ([{"source": "email", "target": "E", "picklist": ["a", "A"]}], "repeats"),
        ([{"source": "email", "target": "E", "picklist": ["a"], "default": "b"}], "default"),
        ([{"source": "email", "target": "E", "type": "email", "default": "nope"}], "default"),
        ([{"source": "email", "target": "E", "bogus": 1}], "unknown"),
    ],
)
def test_mapping_parse_when_invalid_names_the_problem(raw, message):
    with pytest.raises(MappingError, match=message):
        mapping_parse(raw, COLUMNS)


# Multi-byte text (2, 3 and 4 UTF-8 bytes per code point), separators, blanks and case pairs.
ALPHABET = st.sampled_from(list("abcXYZ @.,;-") + ["é", "ß", "Ω", "日", "本", "😀", "İ", " ", "\t"])
TEXT = st.text(ALPHABET, max_size=12)
ROW = st.fixed_dictionaries(
    {
        "email": st.one_of(st.none(), TEXT, st.sampled_from(["a@b.co", "X@Y.ORG", "é@日.本"])),
        "name": st.one_of(st.none(), TEXT),
        "tags": st.one_of(st.none(), TEXT, st.sampled_from(["red,blue", "RED, green", "blue"])),
        "industry": st.one_of(st.none(), TEXT, st.sampled_from(["retail", "SOFTWARE", "Mining"])),
        "n": st.one_of(st.none(), st.sampled_from(["1", " 2.5 ", "x", "-3e2", "."])),
    }
)
MAPPING_CHOICES = [
    [
        {"source": "email", "target": "Email", "type": "email", "required": True},
        {"source": "name", "target": "Name", "max_length": 5, "truncate": True},
        {
            "source": "tags",
            "target": "Tags",
            "multi_value": True,
            "max_length": 6,
            "picklist": ["Red", "Blue", "Green"],
        },
        {
            "source": "industry",
            "target": "Industry",
            "picklist": ["Retail", "Software"],
            "default": "retail",
        },
        {"source": "n", "target": "N", "type": "number"},
    ],
    [
        {"source": "name", "target": "Name", "max_length": 4, "required": True},
        {"source": "tags", "target": "Tags", "multi_value": True, "max_length": 5, "default": "x,y"},
        {"source": "email", "target": "Email", "max_length": 6},
        {"source": "industry", "target": "Industry", "required": True, "default": "Ω日"},
    ],
]
MAPPINGS = st.sampled_from(MAPPING_CHOICES)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(ROW, min_size=1, max_size=40), raw=MAPPINGS)
def test_vectorised_when_random_batches_equals_reference(rows, raw):
    schema = pa.schema([(k, pa.string()) for k in ("email", "name", "tags", "industry", "n")])
    run_both(rows, raw, schema)


def test_validate_batch_full_counts_errors_per_code_and_field():
    mapping = mapping_parse([{"source": "email", "target": "Email", "type": "email", "required": True}])
    batch = pa.RecordBatch.from_pylist(
        [{"email": None}, {"email": "bad"}, {"email": "worse"}, {"email": "a@b.c"}]
    )
    result = validate_batch_full(batch, mapping)
    assert result.error_counts == {
        ("REQUIRED_FIELD_MISSING", "Email"): 1,
        ("INVALID_EMAIL_FORMAT", "Email"): 2,
    }
    assert result.valid.tolist() == [False, False, False, True]


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(ROW, min_size=1, max_size=40), raw=MAPPINGS)
def test_vectorised_when_no_value_holds_a_comma_equals_reference(rows, raw):
    # one value per multi-value row: the fast path that neither splits nor joins
    rows = [{k: v.replace(",", " ") if isinstance(v, str) else v for k, v in row.items()} for row in rows]
    schema = pa.schema([(k, pa.string()) for k in ("email", "name", "tags", "industry", "n")])
    run_both(rows, raw, schema)


def test_picklist_when_exact_case_differing_unknown_blank_and_null_mixed_matches_reference():
    mapping = [
        {"source": "industry", "target": "Industry", "picklist": ["Retail", "Software", "İstanbul"]},
        {"source": "tags", "target": "Tags", "multi_value": True, "picklist": ["Red", "Blue"]},
    ]
    rows = [
        {"industry": "Retail", "tags": "Red"},
        {"industry": "software", "tags": "blue"},
        {"industry": "istanbul", "tags": "RED"},
        {"industry": "Mining", "tags": "green"},
        {"industry": " ", "tags": " "},
        {"industry": None, "tags": None},
    ]
    valid, errors = run_both(rows, mapping)
    assert valid[:2] == [{"Industry": "Retail", "Tags": "Red"}, {"Industry": "Software", "Tags": "Blue"}]
    assert (3, "Industry", "INVALID_PICKLIST_VALUE") in codes(errors)
    assert (3, "Tags", "INVALID_PICKLIST_VALUE") in codes(errors)


def test_vectorised_when_batch_is_validated_on_threads_equals_reference(monkeypatch):
    import exports.validation as validation

    monkeypatch.setattr(validation, "PARALLEL_MIN_ROWS", 1)
    rows = [
        {"email": "A@B.CO", "name": "日本語テキスト", "tags": "red, BLUE", "industry": "retail", "n": "1.5"},
        {"email": "bad", "name": None, "tags": "green", "industry": "Mining", "n": "x"},
        {"email": None, "name": "ab", "tags": "", "industry": None, "n": None},
    ] * 50
    schema = pa.schema([(k, pa.string()) for k in ("email", "name", "tags", "industry", "n")])
    for raw in MAPPING_CHOICES:
        run_both(rows, raw, schema)


def test_failing_when_more_rows_fail_than_shown_counts_all_and_ends_with_the_last():
    mapping = mapping_parse(
        [
            {"source": "email", "target": "Email", "type": "email", "required": True},
            {"source": "name", "target": "Name", "max_length": 2},
        ]
    )
    rows = [
        {"email": "bad", "name": "abc"} if i % 3 else {"email": "a@b.co", "name": "ab"} for i in range(30)
    ]
    result = validate_batch_full(pa.RecordBatch.from_pylist(rows), mapping)
    failing_rows = sorted({row for row, *_ in result.errors})
    count, shown = result.failing(5)
    assert count == len(failing_rows) == 20
    assert [row for row, _, _ in shown] == failing_rows[:5] + [failing_rows[-1]]
    assert all(code == "INVALID_EMAIL_FORMAT" for _, code, _ in shown)  # the first error of each row
    assert (
        result.failing(100)[1]
        == [(row, code, message) for row, _, code, message in result.errors if row % 3][::2]
    )


def test_validation_threads_when_process_forks_the_child_uses_its_own_pool(monkeypatch):
    import os
    import signal
    import time

    import exports.validation as validation

    monkeypatch.setattr(validation, "PARALLEL_MIN_ROWS", 1)
    mapping = mapping_parse(
        [{"source": "email", "target": "Email", "type": "email"}, *MAPPING_CHOICES[1][:1]]
    )
    batch = pa.RecordBatch.from_pylist([{"email": "a@b.co", "name": "abc"}] * 10)
    validate_batch_full(batch, mapping)  # the parent's pool exists now
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        try:
            os._exit(0 if validate_batch_full(batch, mapping).table.num_rows == 10 else 1)
        except BaseException:
            os._exit(2)
    deadline = time.monotonic() + 30  # an inherited pool has no threads: the child would wait forever
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if done[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung on the parent's thread pool")
    assert os.WEXITSTATUS(done[1]) == 0
