import pytest

from audiences.engine.buckets import BucketError, employee_buckets_in_range, score_buckets
from audiences.engine.sqlsafety import UnsafeExpression, validate_select, validate_where

COLUMNS = {
    "person_id": "VARCHAR",
    "email": "VARCHAR",
    "score": "VARCHAR",
    "company_employee_count": "VARCHAR",
    "intent_frequency": "INTEGER",
    "day": "DATE",
    "Job_Title": "VARCHAR",
}


@pytest.mark.parametrize(
    ("expr", "part"),
    [
        ("read_parquet('/etc/passwd') IS NULL", "read_parquet"),
        ("person_id IN (SELECT * FROM read_csv('/etc/passwd'))", "subquery"),
        ("upper(email) = 'A@B.C'", "upper"),
        ("lower(getenv('HOME')) = 'x'", "getenv"),
        ("getenv('HOME') = 'x'", "getenv"),
        ("person_id IN (SELECT person_id FROM glob('/tmp/*'))", "subquery"),
        ("person_id = (SELECT 1)", "subquery"),
        ("score = 'high'; DROP TABLE x", ";"),
        ("score = 'high';", ";"),
        ("score = 'high' -- and more", "--"),
        ("score = 'high' /* hidden */", "/*"),
        ("nonexistent = 1", "nonexistent"),
        ("*", "*"),
        ("count(*) > 1", "count"),
        ("intent_frequency::VARCHAR = '1'", "CAST"),
        ("CAST(intent_frequency AS VARCHAR) = '1'", "CAST"),
        ("intent_frequency + 1 > 2", "+"),
        ("intent_frequency * 2 > 2", "*"),
        ("t.person_id = 'x'", "t.person_id"),
        ("score = ", "score"),
        ("score >= 'ultra'", "ultra"),
        ("person_id", "person_id"),
        ("person_id LIKE 'a%' ESCAPE '!'", "ESCAPE"),
    ],
)
def test_validate_where_when_unsafe_then_raises_naming_part(expr, part):
    with pytest.raises(UnsafeExpression) as info:
        validate_where(expr, COLUMNS)
    err = info.value
    assert part.lower() in (err.message + " " + err.offending).lower()


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("upper(email) = 'x'", "function"),
        ("lower('x') = 'x'", "accepts only a column"),
        ("person_id = (SELECT 1)", "subquery"),
        ("a = 1; b = 2", "semicolon"),
        ("score = 'x' -- c", "comment"),
        ("score = 'x' /* c */", "comment"),
        ("nope = 1", "unknown column"),
        ("*", "star"),
        ("intent_frequency::int = 1", "cast"),
        ("intent_frequency - 1 = 0", "arithmetic"),
        ("((", "could not be read"),
    ],
)
def test_validate_where_when_unsafe_then_message_says_why(expr, message):
    with pytest.raises(UnsafeExpression, match=message):
        validate_where(expr, COLUMNS)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("PERSON_ID = 'p_1'", "\"person_id\" = 'p_1'"),
        ("job_title ILIKE '%ceo%'", "\"Job_Title\" ILIKE '%ceo%'"),
        (
            "email IS NOT NULL AND NOT (intent_frequency BETWEEN 1 AND 3)",
            'NOT "email" IS NULL AND NOT ("intent_frequency" BETWEEN 1 AND 3)',
        ),
        (
            "intent_frequency IN (1, -2) OR day >= '2024-05-02'",
            '"intent_frequency" IN (1, -2) OR "day" >= \'2024-05-02\'',
        ),
        ("person_id = 'a -- b; /* c */'", "\"person_id\" = 'a -- b; /* c */'"),
        ("score >= 'medium'", "\"score\" IN ('medium', 'high')"),
        ("'medium' > score", "\"score\" IN ('low')"),
        ("score BETWEEN 'low' AND 'medium'", "\"score\" IN ('low', 'medium')"),
        (
            "company_employee_count > '51-200'",
            "\"company_employee_count\" IN ('201-500', '501-1000', '1001-5000', '5001-10000', '10001+')",
        ),
        ("company_employee_count < 1", "FALSE"),
        ("email IS NULL OR TRUE", '"email" IS NULL OR TRUE'),
    ],
)
def test_validate_where_when_allowed_then_rewritten(expr, expected):
    assert validate_where(expr, COLUMNS) == expected


def test_validate_where_when_output_revalidated_then_stable():
    once = validate_where("score > 'low' AND company_employee_count <= 200", COLUMNS)
    assert validate_where(once, COLUMNS) == once


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        (">", "51-200", ("201-500", "501-1000", "1001-5000", "5001-10000", "10001+")),
        (">=", "51-200", ("51-200", "201-500", "501-1000", "1001-5000", "5001-10000", "10001+")),
        ("<", "201-500", ("1-10", "11-50", "51-200")),
        ("<=", "201-500", ("1-10", "11-50", "51-200", "201-500")),
        ("between", ("11-50", "201-500"), ("11-50", "51-200", "201-500")),
        (">=", 200, ("201-500", "501-1000", "1001-5000", "5001-10000", "10001+")),
        (">=", 201, ("201-500", "501-1000", "1001-5000", "5001-10000", "10001+")),
        (">", 10000, ("10001+",)),
        ("<", 500, ("1-10", "11-50", "51-200")),
        ("<=", 500, ("1-10", "11-50", "51-200", "201-500")),
        ("between", (11, 500), ("11-50", "51-200", "201-500")),
        ("=", 300, ("201-500",)),
    ],
)
def test_employee_buckets_in_range_when_compared_then_whole_buckets(op, value, expected):
    assert employee_buckets_in_range(op, value) == expected


def test_score_buckets_when_compared_then_ordered():
    assert score_buckets(">=", "medium") == ("medium", "high")
    assert score_buckets("<", "high") == ("low", "medium")
    assert score_buckets("!=", "low") == ("medium", "high")
    assert score_buckets("between", ("medium", "high")) == ("medium", "high")
    with pytest.raises(BucketError):
        score_buckets(">", "huge")
    with pytest.raises(BucketError):
        employee_buckets_in_range(">", "lots")


def test_validate_select_when_plain_names_then_dataset_casing():
    assert validate_select('person_id, JOB_TITLE , "email", person_id', COLUMNS) == (
        "person_id",
        "Job_Title",
        "email",
    )
    assert validate_select("  ", COLUMNS) == ()


@pytest.mark.parametrize(
    ("select", "part"),
    [
        ("*", "*"),
        ("person_id, *", "*"),
        ("person_id,", ","),
        ("nope", "nope"),
        ("lower(email)", "("),
        ("person_id; DROP TABLE x", ";"),
        ("person_id -- x", "--"),
        ("person_id AS p", "AS"),
        ("'person_id'", "person_id"),
        ("person_id + 1", "+"),
        ("read_parquet('x')", "("),
    ],
)
def test_validate_select_when_not_column_list_then_raises(select, part):
    with pytest.raises(UnsafeExpression) as info:
        validate_select(select, COLUMNS)
    assert part.lower() in (info.value.message + " " + info.value.offending).lower()
