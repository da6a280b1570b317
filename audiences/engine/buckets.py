"""Ordered buckets: scores (low < medium < high) and company employee-count ranges.

Both are stored as strings, so a plain SQL comparison would order them alphabetically ("51-200" > "201-500").
These helpers turn a comparison into the explicit list of buckets that satisfy it; the SQL validator rewrites
user filters into ``IN`` lists with them, and the audience builder can reuse them for form filters.
"""

from __future__ import annotations

import math
import re

SCORES: tuple[str, ...] = ("low", "medium", "high")
EMPLOYEE_BUCKETS: tuple[str, ...] = (
    "1-10",
    "11-50",
    "51-200",
    "201-500",
    "501-1000",
    "1001-5000",
    "5001-10000",
    "10001+",
)
OPERATORS: frozenset[str] = frozenset({"=", "!=", "<", "<=", ">", ">=", "between"})


class BucketError(ValueError):
    """A value that is not a known bucket (or number), or an unsupported operator."""


def _bounds(bucket: str) -> tuple[float, float]:
    m = re.fullmatch(r"(\d+)-(\d+)", bucket)
    if m:
        return float(m.group(1)), float(m.group(2))
    m = re.fullmatch(r"(\d+)\+", bucket)
    if m:
        return float(m.group(1)), math.inf
    raise BucketError(f"not an employee-count bucket: {bucket!r}")


_EMPLOYEE_BOUNDS = {b: _bounds(b) for b in EMPLOYEE_BUCKETS}


def _as_range(value: str | int | float) -> tuple[float, float]:
    """A bucket name is its range; a number ``n`` is the point range ``[n, n]``."""
    if isinstance(value, bool):
        raise BucketError(f"not an employee-count bucket or number: {value!r}")
    if isinstance(value, int | float):
        return float(value), float(value)
    text = str(value).strip()
    if text in _EMPLOYEE_BOUNDS:
        return _EMPLOYEE_BOUNDS[text]
    try:
        number = float(text)
    except ValueError:
        raise BucketError(
            f"unknown employee-count bucket {value!r}; expected one of {', '.join(EMPLOYEE_BUCKETS)} "
            "or a number"
        ) from None
    return number, number


def _operator(op: str, value: object, what: str) -> str:
    """``op`` lower-cased (``<>`` as ``!=``) when it is known, with a (low, high) pair for ``between``; else
    BucketError saying so (``what``: the kind of buckets, for the message)."""
    op = op.lower().strip()
    op = "!=" if op == "<>" else op
    if op == "between":
        if not isinstance(value, tuple | list) or len(value) != 2:
            raise BucketError("between needs a (low, high) pair")
    elif op not in OPERATORS:
        raise BucketError(f"unsupported operator for {what}: {op!r}")
    return op


def employee_buckets_in_range(op: str, value: str | int | float | tuple) -> tuple[str, ...]:
    """Buckets wholly satisfying ``company_employee_count <op> value``, in bucket order.

    ``value`` is a bucket name (``'51-200'``) or a number; for ``between`` it is a ``(low, high)`` pair.
    ``> '51-200'`` keeps buckets starting above 200, ``>= 200`` buckets starting at 200 or more,
    ``< 500`` buckets ending below 500, ``BETWEEN '11-50' AND '201-500'`` buckets inside 11..500.
    ``=``/``!=`` with a number select the bucket containing it (or all the others).
    """
    op = _operator(op, value, "employee-count buckets")
    if op == "between":
        low, high = _as_range(value[0])[0], _as_range(value[1])[1]
        return tuple(b for b, (lo, hi) in _EMPLOYEE_BOUNDS.items() if lo >= low and hi <= high)
    vlo, vhi = _as_range(value)  # type: ignore[arg-type]
    tests = {
        ">": lambda lo, hi: lo > vhi,
        ">=": lambda lo, hi: lo >= vlo,
        "<": lambda lo, hi: hi < vlo,
        "<=": lambda lo, hi: hi <= vhi,
        "=": lambda lo, hi: lo <= vlo and vhi <= hi,
        "!=": lambda lo, hi: not (lo <= vlo and vhi <= hi),
    }
    return tuple(b for b, (lo, hi) in _EMPLOYEE_BOUNDS.items() if tests[op](lo, hi))


def _score_rank(value: str) -> int:
    text = str(value).strip().lower()
    if text not in SCORES:
        raise BucketError(f"unknown score {value!r}; expected one of {', '.join(SCORES)}")
    return SCORES.index(text)


def score_buckets(op: str, value: str | tuple) -> tuple[str, ...]:
    """Scores satisfying ``score <op> value`` by the order low < medium < high (``between``: a pair)."""
    op = _operator(op, value, "scores")
    if op == "between":
        low, high = _score_rank(value[0]), _score_rank(value[1])
        return tuple(s for i, s in enumerate(SCORES) if low <= i <= high)
    rank = _score_rank(value)  # type: ignore[arg-type]
    tests = {
        ">": lambda i: i > rank,
        ">=": lambda i: i >= rank,
        "<": lambda i: i < rank,
        "<=": lambda i: i <= rank,
        "=": lambda i: i == rank,
        "!=": lambda i: i != rank,
    }
    return tuple(s for i, s in enumerate(SCORES) if tests[op](i))
