"""`{% load export_words %}`: failed records and their reasons in words (exports/wording.py)."""

from django import template

from exports import wording

register = template.Library()


@register.filter
def record_label(key) -> str:
    return wording.record_label(key)


@register.filter
def record_reason(error) -> str:
    """A failed record's ({key, code, message}) reason: the code's phrase, else the destination's message."""
    return wording.record_error_parts(error.get("code"), error.get("message"))[0]


@register.filter
def record_detail(error) -> str:
    """What the destination said about a failed record, when the reason is a phrase ("" otherwise)."""
    return wording.record_error_parts(error.get("code"), error.get("message"))[1]


@register.filter
def error_reason(code) -> str:
    """A dry run's error code in words (the mapping's own codes all have a phrase)."""
    return wording.record_error_reason(code) or str(code or "").replace("_", " ").capitalize()


@register.filter
def last_error(stored) -> str:
    return wording.last_error_words(stored)


@register.filter
def last_error_code(stored) -> str:
    return wording.last_error_code(stored)
