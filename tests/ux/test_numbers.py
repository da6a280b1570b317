"""Every number a page shows has thousands separators (issue 11 item 10): no template prints a count, a total
or a length bare. A value inside an HTML attribute (a form value, data-*, max=) stays machine-readable."""

import re
from pathlib import Path

import pytest

from delivr_admin.templatetags.ui import num

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# the last name of a variable that holds a number ("campaigns_count", "paginator.count", "total_jobs", "n")
NUMERIC = re.compile(r"(^|_)(count|total|rows|records|jobs|days|pages|number|pending|length|limit)(_|$)|^n$")
FORMATTED = re.compile(r"\|(num|intcomma|floatformat|pluralize|dt|day|default_if_none)|_display\b|json|url")


def _inside_attribute(text: str, at: int) -> bool:
    """Whether position `at` is inside a tag's attribute value (an odd number of quotes since the tag's "<")."""
    tag = text.rfind("<", 0, at)
    return tag > text.rfind(">", 0, at) and text.count('"', tag, at) % 2 == 1


def _bare_numbers() -> list[str]:
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text()
        for m in re.finditer(r"\{\{\s*([^}]+?)\s*\}\}", text):
            expr = m.group(1)
            variable = expr.split("|")[0]
            if variable.startswith(('"', "'")) or ".errors." in f".{variable}":  # a literal; an error message
                continue
            if not (NUMERIC.search(variable.split(".")[-1]) or "|length" in expr):
                continue
            if FORMATTED.search(expr) or _inside_attribute(text, m.start()):
                continue
            if expr.startswith(("forloop.", "form.", "csrf")):
                continue
            line = text.count("\n", 0, m.start()) + 1
            found.append(f"{path.relative_to(TEMPLATES)}:{line}: {{{{ {expr} }}}}")
    return found


def test_templates_when_printing_a_count_always_use_the_number_filter():
    assert _bare_numbers() == []


@pytest.mark.parametrize(
    ("value", "shown"),
    [(1234567, "1,234,567"), (0, "0"), ("12000", "12,000"), (None, "—"), (1500.5, "1,500.5")],
)
def test_num_when_value_is_large_shows_thousands_separators(value, shown):
    assert num(value) == shown
