from datetime import timedelta

from django import forms

from audiences.engine.buckets import SCORES
from audiences.models import RECORD_LIMIT_MAX, OutputFormat

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
