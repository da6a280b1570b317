from datetime import timedelta

from django import forms

from audiences.engine.buckets import SCORES
from audiences.models import RECORD_LIMIT_MAX, OutputFormat
from delivr_admin.errors import ApplicationError

SCORE_CHOICES = [(s, s.capitalize()) for s in reversed(SCORES)]  # highest first


class TaskForm(forms.Form):
    """The dashboard's form for an intent task: a day range, topic prefixes and scores, as the API takes them."""

    start_day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end_day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    topic_id_prefixes = forms.MultipleChoiceField(choices=[], widget=forms.SelectMultiple(attrs={"size": 6}))
    scores = forms.MultipleChoiceField(
        choices=SCORE_CHOICES, widget=forms.CheckboxSelectMultiple, initial=["high", "medium"]
    )
    where_expr = forms.CharField(
        label="Filter",
        required=False,
        max_length=4000,
        widget=forms.TextInput(attrs={"placeholder": "e.g. country = 'US' AND score >= 'medium'"}),
    )
    select = forms.CharField(
        label="Columns",
        required=False,
        max_length=4000,
        widget=forms.TextInput(attrs={"placeholder": "e.g. person_id, email, company_domain"}),
    )
    limit = forms.IntegerField(
        label="Row limit per job", required=False, min_value=1, max_value=RECORD_LIMIT_MAX
    )
    perform_unload = forms.BooleanField(
        required=False,
        initial=False,
        help_text="Unload right after counting (otherwise review the count first).",
    )
    format = forms.ChoiceField(choices=OutputFormat.choices, initial=OutputFormat.PARQUET)

    def __init__(self, *args, prefixes: list[str] = (), labels: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        labels = labels or {}
        self.fields["topic_id_prefixes"].choices = [
            (p, f"{labels[p]} ({p})" if p in labels else p) for p in prefixes
        ]

    def clean(self):
        data = super().clean()
        start, end = data.get("start_day"), data.get("end_day")
        if start and end:
            if end < start:
                raise forms.ValidationError("The end day is before the start day.")
            if (end - start).days > 365:
                raise forms.ValidationError("At most 366 days per task.")
            data["days"] = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        return data


class ValuesField(forms.Field):
    """Every value posted under the name (checkboxes, chips), blanks left out; no fixed choices."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[str]:
        return [v for v in (value or []) if v]


class BuilderForm(forms.Form):
    """The audience builder's own fields: topics, scores and the time window (the filter rows are read by
    audiences.views.filters). `definition()` gives them as the API's definition takes them; the service's
    definition_normalize checks them, so the builder and the API refuse the same things with the same words.
    Only a lookback that is not a number is refused here, since the definition could not even hold it."""

    name = forms.CharField(required=False, strip=False)
    project_id = forms.CharField(required=False)
    topic_id_prefixes = ValuesField(required=False)
    scores = ValuesField(required=False)
    window = forms.ChoiceField(choices=[("lookback", "lookback"), ("range", "range")], required=False)
    lookback_days = forms.IntegerField(
        required=False, error_messages={"invalid": "Lookback days must be a whole number."}
    )
    date_from = forms.CharField(required=False)
    date_to = forms.CharField(required=False)
    preview_limit = forms.IntegerField(required=False)

    def is_range(self) -> bool:
        return self.data.get("window") == "range"

    def definition(self) -> dict:
        """Topics, scores and window of the definition; ApplicationError (field lookback_days) when the lookback
        is not a whole number."""
        self.is_valid()
        definition: dict = {
            "topic_id_prefixes": self.cleaned_data.get("topic_id_prefixes", []),
            "scores": self.cleaned_data.get("scores", []),
        }
        if self.is_range():
            dates = self.time_window()
            return definition | (dates if any(dates.values()) else {})
        if "lookback_days" in self.errors:
            raise ApplicationError(self.errors["lookback_days"][0], extra={"field": "lookback_days"})
        lookback = self.cleaned_data.get("lookback_days")
        return definition | ({"lookback_days": lookback} if lookback is not None else {})

    def time_window(self) -> dict:
        """The window the builder's hints and suggestions read: the dates as typed, or the lookback (None when
        blank or 0; no window when it is not a number)."""
        self.is_valid()
        if self.is_range():
            return {
                "date_from": self.data.get("date_from") or None,
                "date_to": self.data.get("date_to") or None,
            }
        if "lookback_days" in self.errors:
            return {}
        return {"lookback_days": self.cleaned_data.get("lookback_days") or None}

    def preview_size(self, allowed: tuple[int, ...], fallback: int) -> int:
        self.is_valid()
        value = self.cleaned_data.get("preview_limit")
        return value if value in allowed else fallback

    def raw_state(self) -> dict:
        """The fields exactly as typed (even when invalid), to show them again with the error."""
        data, is_range = self.data, self.is_range()
        return {
            "topic_id_prefixes": data.getlist("topic_id_prefixes"),
            "scores": data.getlist("scores"),
            "lookback_days": None if is_range else data.get("lookback_days"),
            "date_from": data.get("date_from") if is_range else None,
            "date_to": data.get("date_to") if is_range else None,
        }
