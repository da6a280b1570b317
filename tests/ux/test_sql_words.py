"""A filter that cannot be read is explained in words with its position, never with sqlglot's class names."""

import pytest

from audiences.engine.sqlsafety import UnsafeExpression, validate_where

COLUMNS = {"country": "VARCHAR", "score": "VARCHAR"}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("country = ", "at line 1, character 9 near “=”: something is missing after it"),
        ("country = 'US' AND", "at line 1, character 18 near “AND”: something is missing after it"),
        ("(country = 'US'", "a closing bracket ) is missing"),
        ("country = 'US' foo bar", "near “bar”: this is not expected here"),
        ("country = 'US", "a quote ' is not closed"),
    ],
)
def test_filter_when_it_cannot_be_read_says_what_and_where_in_words(expr, expected):
    with pytest.raises(UnsafeExpression) as refused:
        validate_where(expr, COLUMNS)
    message = refused.value.message
    assert expected in message
    assert "class" not in message and "sqlglot" not in message and "Required keyword" not in message
