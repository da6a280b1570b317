"""The definition sentence: flat and grouped definitions read as plain words, never as a dict."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiences.selectors.summary import definition_summary
from audiences.selectors.topics import TopicInfo

CATALOGUE = {
    "4eyes_100": TopicInfo(code="4eyes_100", name="CRM Software", category="Sales"),
    "4eyes_101": TopicInfo(code="4eyes_101", name="Marketing Automation", category="Marketing"),
    "4eyes_102": TopicInfo(code="4eyes_102", name="Sales Engagement", category="Sales"),
}


def _s(definition: dict) -> str:
    return definition_summary(definition, catalogue=CATALOGUE).sentence


def test_summary_of_issue_example_reads_as_the_issue_sentence():
    definition = {
        "topic_id_prefixes": ["4eyes_100", "4eyes_101"],
        "scores": ["medium", "high"],
        "lookback_days": 14,
        "filters": [
            {"field": "country", "op": "=", "value": "US"},
            {"field": "company_employee_count", "op": "between", "value": ["51-200", "201-500"]},
        ],
    }
    assert _s(definition) == (
        "People with high or medium intent for CRM Software or Marketing Automation in the last 14 days, "
        "in the US, at companies of 51–500 employees."
    )


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ({}, "People with any intent for any topic at any time."),
        (
            {"topic_id_prefixes": ["4eyes_999"], "scores": ["low"], "lookback_days": 1},
            "People with low intent for 4eyes_999 on the newest day of data.",
        ),
        (
            {"topic_id_prefixes": [], "scores": ["high"], "date_from": "2024-05-10", "date_to": "2024-05-20"},
            "People with high intent for any topic from 10 May 2024 to 20 May 2024.",
        ),
        (
            {"scores": ["high", "medium", "low"], "date_from": "2024-05-10", "date_to": "2024-05-10"},
            "People with any intent for any topic on 10 May 2024.",
        ),
        (
            {"lookback_days": 7, "filters": [{"field": "country", "op": "in", "value": ["GB", "DE", "FR"]}]},
            "People with any intent for any topic in the last 7 days, in the UK, Germany or France.",
        ),
        (
            {"lookback_days": 7, "filters": [{"field": "country", "op": "not in", "value": ["US", "CA"]}]},
            "People with any intent for any topic in the last 7 days, outside the US and Canada.",
        ),
        (
            {"lookback_days": 7, "filters": [{"field": "job_title", "op": "!=", "value": "CEO"}]},
            "People with any intent for any topic in the last 7 days, where job title is not CEO.",
        ),
        (
            {"lookback_days": 7, "filters": [{"field": "city", "op": "is empty", "value": None}]},
            "People with any intent for any topic in the last 7 days, where city is empty.",
        ),
        (
            {"lookback_days": 7, "filters": [{"field": "job_title", "op": "contains", "value": "VP Sales"}]},
            "People with any intent for any topic in the last 7 days, where job title contains “VP Sales”.",
        ),
        (
            {
                "lookback_days": 7,
                "filters": [{"field": "intent_frequency", "op": "between", "value": [2, 5]}],
            },
            "People with any intent for any topic in the last 7 days, where intent frequency is between 2 and 5.",
        ),
        (
            {"lookback_days": 7, "filters": [{"field": "state", "op": "in", "value": ["CA", "New York"]}]},
            "People with any intent for any topic in the last 7 days, where state is one of CA or “New York”.",
        ),
        (
            {"filters": [{"field": "company_employee_count", "op": ">=", "value": "1001-5000"}]},
            "People with any intent for any topic at any time, at companies of 1,001 or more employees.",
        ),
        (
            {"filters": [{"field": "company_employee_count", "op": "<", "value": "51-200"}]},
            "People with any intent for any topic at any time, at companies of fewer than 51 employees.",
        ),
        (
            {"filters": [{"field": "company_employee_count", "op": "in", "value": ["1-10", "10001+"]}]},
            "People with any intent for any topic at any time, at companies of 1–10 or 10,001 or more employees.",
        ),
        (
            {"filters": [{"field": "intent_frequency", "op": ">=", "value": 3}]},
            "People with any intent for any topic at any time, where intent frequency is at least 3.",
        ),
    ],
)
def test_summary_of_flat_definitions_reads_in_words(definition, expected):
    assert _s(definition) == expected


def test_summary_of_many_topics_names_a_few_and_counts_the_rest():
    codes = [f"4eyes_{n}" for n in range(100, 107)]
    summary = definition_summary({"topic_id_prefixes": codes, "lookback_days": 3}, catalogue=CATALOGUE)
    assert "for CRM Software, Marketing Automation, Sales Engagement or 4 other topics" in summary.sentence
    assert [c.text for c in summary.chips if c.kind == "topic"][:3] == [
        "CRM Software",
        "Marketing Automation",
        "Sales Engagement",
    ]


def test_summary_chips_when_no_topic_say_all_topics():
    chips = definition_summary({"lookback_days": 3}, catalogue=CATALOGUE).chips
    assert [c.text for c in chips] == ["All topics", "Any intent", "In the last 3 days"]


def test_summary_of_grouped_definition_reads_either_or():
    definition = {
        "lookback_days": 14,
        "filters": {
            "op": "and",
            "groups": [
                {
                    "op": "or",
                    "conditions": [
                        {"field": "country", "op": "=", "value": "US"},
                        {"field": "job_title", "op": "contains", "value": "VP"},
                    ],
                },
                {"field": "company_employee_count", "op": "=", "value": "51-200"},
            ],
        },
    }
    assert _s(definition) == (
        "People with any intent for any topic in the last 14 days, either in the US or where job title "
        "contains VP, at companies of 51–200 employees."
    )
    chips = [c.text for c in definition_summary(definition, catalogue=CATALOGUE).chips if c.kind == "filter"]
    assert chips == ["In the US or where job title contains VP", "At companies of 51–200 employees"]


def test_summary_of_groups_combined_with_or_uses_parentheses_for_and_groups():
    definition = {
        "filters": {
            "op": "or",
            "groups": [
                {
                    "op": "and",
                    "conditions": [
                        {"field": "country", "op": "=", "value": "US"},
                        {"field": "state", "op": "=", "value": "CA"},
                    ],
                },
                {"op": "and", "conditions": [{"field": "country", "op": "=", "value": "CA"}]},
            ],
        },
    }
    assert _s(definition) == (
        "People with any intent for any topic at any time, who match either (in the US and where state is CA) "
        "or in Canada."
    )


def test_summary_of_two_or_groups_and_ed_reads_each_group_in_turn():
    definition = {
        "scores": ["high"],
        "filters": {
            "op": "and",
            "groups": [
                {
                    "op": "or",
                    "conditions": [
                        {"field": "country", "op": "=", "value": "US"},
                        {"field": "country", "op": "=", "value": "CA"},
                    ],
                },
                {
                    "op": "or",
                    "conditions": [
                        {"field": "job_title", "op": "contains", "value": "marketing"},
                        {"field": "job_title", "op": "is empty"},
                    ],
                },
            ],
        },
    }
    assert _s(definition) == (
        "People with high intent for any topic at any time, in the US or Canada, "
        "either where job title contains marketing or where job title is empty."
    )


@pytest.mark.parametrize(
    "definition",
    [
        None,
        {"filters": "junk"},
        {"filters": [1, "x", {"field": "a"}]},
        {"filters": {"op": "or", "groups": 3}},
    ],
)
def test_summary_of_odd_definition_never_raises_nor_prints_a_dict(definition):
    sentence = definition_summary(definition, catalogue=CATALOGUE).sentence
    assert sentence.startswith("People with") and "{" not in sentence and "[" not in sentence


_fields = st.sampled_from(["country", "company_employee_count", "job_title", "intent_frequency", "city"])
_values = st.one_of(
    st.sampled_from(["US", "GB", "51-200", "10001+", "VP Sales", "x"]), st.integers(min_value=0, max_value=99)
)


@st.composite
def _conditions(draw):
    op = draw(
        st.sampled_from(["=", "!=", "in", "not in", "<", "<=", ">", ">=", "between", "contains", "is empty"])
    )
    if op in ("in", "not in"):
        value = draw(st.lists(_values, min_size=1, max_size=3))
    elif op == "between":
        value = draw(st.lists(_values, min_size=2, max_size=2))
    else:
        value = None if op == "is empty" else draw(_values)
    return {"field": draw(_fields), "op": op, "value": value}


_groups = st.fixed_dictionaries(
    {"op": st.sampled_from(["and", "or"]), "conditions": st.lists(_conditions(), min_size=1, max_size=3)}
)
_definitions = st.fixed_dictionaries(
    {
        "topic_id_prefixes": st.lists(st.sampled_from([*CATALOGUE, "4eyes_9"]), max_size=6, unique=True),
        "scores": st.lists(st.sampled_from(["low", "medium", "high"]), unique=True),
        "lookback_days": st.integers(min_value=1, max_value=366),
        "filters": st.one_of(
            st.lists(_conditions(), max_size=4),
            st.fixed_dictionaries(
                {
                    "op": st.sampled_from(["and", "or"]),
                    "groups": st.lists(st.one_of(_groups, _conditions()), max_size=3),
                }
            ),
        ),
    }
)


# the same examples on every run (CI stays reproducible); no health check that times a loaded machine
@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(_definitions)
def test_summary_of_any_definition_is_one_plain_sentence(definition):
    summary = definition_summary(definition, catalogue=CATALOGUE)
    sentence = summary.sentence
    assert sentence.startswith("People with ") and sentence.endswith(".") and "\n" not in sentence
    for raw in ("{", "[", "'", "!=", ">=", "<=", " = ", " < ", " > ", "not in", "is empty:", "None"):
        assert raw not in sentence, raw
    assert summary.chips and all(c.text and c.text[0].isupper() or c.text[0].isdigit() for c in summary.chips)
