"""The overview's filters (the period is PeriodQuery's, shared with the API): a Django form that never refuses
the page. A value it cannot use falls back: ids that are not UUIDs are skipped, an unknown status or top
means all statuses and the default top."""

from __future__ import annotations

import uuid

from django import forms

from .models import CampaignStatus

TOP_CHOICES = (10, 25, 50, 100)
DEFAULT_TOP = 25


class OverviewFilterForm(forms.Form):
    campaign = forms.Field(required=False, widget=forms.MultipleHiddenInput)
    status = forms.ChoiceField(choices=CampaignStatus.choices, required=False)
    top = forms.TypedChoiceField(choices=[(t, t) for t in TOP_CHOICES], coerce=int, required=False)

    def clean_campaign(self) -> list[uuid.UUID]:
        ids = []
        for raw in self.cleaned_data.get("campaign") or []:
            try:
                ids.append(uuid.UUID(raw))
            except ValueError:
                continue
        return ids

    def value(self, name: str):
        """The field's clean value, or its fallback when it is absent or unusable."""
        self.is_valid()
        fallback = {"campaign": [], "status": None, "top": DEFAULT_TOP}[name]
        return self.cleaned_data.get(name) or fallback


class SyncHistoryQuery(forms.Form):
    """The sync history fragment's query: `poll` set when the page polls it (htmx), so it may stop polling."""

    poll = forms.BooleanField(required=False)

    def polling(self) -> bool:
        return bool(self.is_valid() and self.cleaned_data["poll"])
