"""The registry and audit-log searches as django-filter FilterSets (the support pages and the opt-out API).

Both search the same way: an identifier (exact, or "starts with"; an email also finds its SHA-256 form), its
type, the source, and a day range on the entry's opt-out time or the event's time.
"""

from datetime import date, datetime, time, timedelta

import django_filters
from django.db.models import Q, QuerySet
from django.utils import timezone

from delivr_admin.emails import email_sha256

from .forms import RegistrySearchForm
from .models import AuditEvent, IdentifierType, OptOut, OptOutSource


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def identifier_q(text: str, value_field: str, *, prefix: bool = False) -> Q:
    """Rows whose `value_field` is the identifier (or starts with it); Q() when the text is empty."""
    text = text.strip()
    if not text:
        return Q()
    if prefix:
        # Emails and hashes are stored lower-cased; UID2s and person ids keep their case.
        return Q(**{f"{value_field}__startswith": text}) | Q(**{f"{value_field}__startswith": text.lower()})
    q = Q(**{value_field: text}) | Q(**{value_field: text.lower()})
    if "@" in text:  # an email also finds its hashed form
        q |= Q(**{value_field: email_sha256(text)})
    return q


class _RegistrySearch(django_filters.FilterSet):
    """The shared search; subclasses name the identifier column and the time column."""

    value_field = ""
    time_field = ""

    q = django_filters.CharFilter(method="filter_identifier", max_length=255, label="Identifier")
    match = django_filters.ChoiceFilter(
        choices=[("exact", "Exact"), ("prefix", "Starts with")], empty_label=None, method="filter_match"
    )
    identifier_type = django_filters.ChoiceFilter(choices=IdentifierType.choices, empty_label="Any type")
    source = django_filters.ChoiceFilter(choices=OptOutSource.choices, empty_label="Any source")
    date_from = django_filters.DateFilter(method="filter_date_from")
    date_to = django_filters.DateFilter(method="filter_date_to")

    def filter_identifier(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        prefix = self.form.cleaned_data.get("match") == "prefix"
        return queryset.filter(identifier_q(value, self.value_field, prefix=prefix))

    def filter_match(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset  # read by filter_identifier

    def filter_date_from(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return queryset.filter(**{f"{self.time_field}__gte": _day_start(value)})

    def filter_date_to(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return queryset.filter(**{f"{self.time_field}__lt": _day_start(value + timedelta(days=1))})

    def searched(self, *, when_invalid: str = "all") -> QuerySet:
        """The filtered rows; when the search is invalid (e.g. the start date is after the end date), every
        row (`when_invalid="all"`) or none (`"none"`)."""
        if self.is_valid():
            return self.qs
        return self.queryset.all() if when_invalid == "all" else self.queryset.none()


class OptOutFilter(_RegistrySearch):
    value_field = "value"
    time_field = "opted_out_at"

    class Meta:
        model = OptOut
        fields = ["q", "match", "identifier_type", "source", "date_from", "date_to"]
        form = RegistrySearchForm


class AuditEventFilter(_RegistrySearch):
    value_field = "identifier_value"
    time_field = "occurred_at"

    class Meta:
        model = AuditEvent
        fields = ["q", "match", "identifier_type", "source", "date_from", "date_to"]
        form = RegistrySearchForm
