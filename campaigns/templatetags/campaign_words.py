"""`{% load campaign_words %}`: a DSP sync's error in words (campaigns/wording.py)."""

from django import template

from campaigns import wording

register = template.Library()


@register.filter
def sync_error(error) -> str:
    return wording.sync_error_words(error)
