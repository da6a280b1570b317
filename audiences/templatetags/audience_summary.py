"""`{% load audience_summary %}{% definition_summary audience.definition %}`: the sentence and its chips.

The topic catalogue is read once per request (a list page renders many summaries).
"""

import datetime
import re

from django import template

from audiences.definitions import field_label
from audiences.selectors.summary import definition_summary as summarize
from audiences.selectors.topics import topic_catalogue
from delivr_admin.templatetags.ui import day, dt

register = template.Library()


def _catalogue(context) -> dict:
    request = context.get("request")
    principal = context.get("principal") or getattr(request, "principal", None)
    org_id = getattr(getattr(principal, "organization", None), "pk", None)
    cached = getattr(request, "_topic_catalogue", None) if request is not None else None
    if cached is None:
        cached = topic_catalogue(org_id)
        if request is not None:
            request._topic_catalogue = cached
    return cached


@register.inclusion_tag("audiences/partials/summary.html", takes_context=True)
def definition_summary(context, definition, chips: bool = True, element_id: str = ""):
    return {
        "summary": summarize(definition, catalogue=_catalogue(context)),
        "show_chips": chips,
        "element_id": element_id,
    }


@register.simple_tag(takes_context=True)
def topic_names(context, codes) -> str:
    """'CRM Software (4eyes_100), 4eyes_999': catalogue names with their codes; unknown codes as they are."""
    catalogue = _catalogue(context)
    return ", ".join(f"{catalogue[c].name} ({c})" if c in catalogue else str(c) for c in codes or [])


@register.simple_tag(takes_context=True)
def partition_words(context, partition) -> str:
    """A task partition in words ("1 May 2024 · CRM Software · High intent")."""
    from audiences.selectors.tasks import partition_words as words

    return words(partition, _catalogue(context))


@register.filter
def column_label(name) -> str:
    """A data column's name for people, as the builder's filters name it: "Company size (employees)"."""
    return field_label(str(name))


_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@register.filter
def cell(value) -> str:
    """A data value for a table cell: times and days in the product's one format ("1 May 2024, 12:26 UTC",
    "1 May 2024"; data without a zone is UTC), everything else as it is (None as empty)."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return dt(value)
    if isinstance(value, datetime.date):
        return day(value)
    if isinstance(value, str):
        if _ISO_DATETIME.match(value):
            try:
                return dt(datetime.datetime.fromisoformat(value.replace("Z", "+00:00")))
            except ValueError:
                return value
        if _ISO_DATE.match(value):
            return day(value)
    return value
