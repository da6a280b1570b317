import secrets
from datetime import timedelta

from django import forms

from audiences.definitions import MAX_FILTERS
from audiences.engine.buckets import SCORES
from audiences.models import RECORD_LIMIT_MAX, ListType, OutputFormat
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
    """The audience builder's own fields: topics, scores and the time window (the filter rows are the two
    formsets below, read by :func:`filter_rows`). `definition()` gives them as the API's definition takes them; the service's
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

    def audience_fields(self) -> tuple[str, str | None]:
        """(the name as typed, the chosen project's id or None) of a save; the service checks both."""
        self.is_valid()
        return self.cleaned_data.get("name", ""), self.cleaned_data.get("project_id") or None

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


COMBINE_CHOICES = [("and", "and"), ("or", "or")]


class CombineField(forms.ChoiceField):
    """How conditions (or groups) combine: "and" or "or", any case; anything else (or nothing) is "and"."""

    def __init__(self, **kwargs) -> None:
        super().__init__(choices=COMBINE_CHOICES, required=False, **kwargs)

    def to_python(self, value) -> str:
        return "or" if str(value or "").strip().lower() == "or" else "and"

    def has_changed(self, initial, data) -> bool:
        return bool(data)


class FilterKeyField(forms.CharField):
    """A row's or group's key as posted; keys only tie rows to groups and messages to rows, so a missing or odd
    one is replaced by a fresh key rather than refused."""

    def __init__(self, prefix: str, **kwargs) -> None:
        self.prefix = prefix
        super().__init__(required=False, widget=forms.HiddenInput, **kwargs)

    def to_python(self, value) -> str:
        raw = super().to_python(value)
        return raw if raw and raw.replace("-", "").isalnum() and len(raw) <= 40 else new_key(self.prefix)

    def has_changed(self, initial, data) -> bool:
        return bool(data)  # a gap left by a removed row has no key


def new_key(prefix: str) -> str:
    return prefix + secrets.token_hex(4)


class FilterGroupForm(forms.Form):
    """A group of condition rows: its key (the rows name it) and how its conditions combine."""

    key = FilterKeyField("g")
    op = CombineField()


class FilterRowForm(forms.Form):
    """One condition row as typed. Every part may be blank while it is being filled in: an unfinished row is
    left out of the definition with a hint next to it, and the definition's own check (the service's) words
    any other problem, so no row is refused here."""

    group = forms.CharField(required=False, widget=forms.HiddenInput)
    key = FilterKeyField("c")
    field = forms.CharField(required=False)
    op = forms.CharField(required=False)
    value = forms.CharField(required=False, strip=False)


# Rows are added by htmx (each with the next index) and removed from the page, which leaves gaps: every form
# is "extra" (INITIAL_FORMS 0), so a gap is an empty form that is skipped, not an error.
FilterGroupFormSet = forms.formset_factory(FilterGroupForm, extra=0, max_num=MAX_FILTERS, absolute_max=1000)
FilterRowFormSet = forms.formset_factory(FilterRowForm, extra=0, max_num=MAX_FILTERS, absolute_max=1000)
GROUPS_PREFIX, ROWS_PREFIX = "groups", "filters"


def filter_rows(data) -> tuple[str, list[dict]]:
    """(how groups combine, the groups as typed: [{"key", "op", "rows": [{"key", "field", "op", "value"}]}])
    from the builder's two formsets. Rows naming no posted group join the first group (one AND group when
    there is none); posted data without the formsets has no rows."""
    top = CombineField().clean(data.get("filters_op"))
    groups: dict[str, dict] = {}
    for form in _posted(FilterGroupFormSet(data, prefix=GROUPS_PREFIX)):
        key = form.cleaned_data["key"]
        groups[key] = {"key": key, "op": form.cleaned_data["op"], "rows": []}
    for form in _posted(FilterRowFormSet(data, prefix=ROWS_PREFIX)):
        row = form.cleaned_data
        group_key = row["group"] if row["group"] in groups else next(iter(groups), "") or new_key("g")
        groups.setdefault(group_key, {"key": group_key, "op": "and", "rows": []})
        groups[group_key]["rows"].append(
            {
                "key": row["key"],
                "field": row["field"].strip(),
                "op": row["op"].strip() or "=",
                "value": row["value"],
            }
        )
    return top, list(groups.values())


def next_index(data, prefix: str) -> int:
    """The index a new form of the formset `prefix` takes: its posted total (0 without one)."""
    management = forms.formsets.ManagementForm(data, prefix=prefix)
    return management.cleaned_data[forms.formsets.TOTAL_FORM_COUNT] if management.is_valid() else 0


def _posted(formset: forms.BaseFormSet) -> list[forms.Form]:
    """The formset's forms that were posted (gaps left by removed rows skipped); none without its management
    form (a post from before the formsets, or no filters at all)."""
    if not formset.management_form.is_valid():
        return []
    formset.is_valid()
    return [form for form in formset.forms if form.has_changed() and form.is_valid()]


class ListUploadForm(forms.Form):
    """The lists page's upload: only a missing file is refused here; the service (the same as the API's)
    checks the name, the type, the project and the file's content, in its own words."""

    name = forms.CharField(required=False, strip=False)
    type = forms.CharField(required=False)
    project_id = forms.CharField(required=False)
    file = forms.FileField(allow_empty_file=True, error_messages={"required": "Choose a CSV file."})

    def clean_type(self) -> str:
        # A post without a type (the page's select always sends one) uploads a contacts list.
        return self.cleaned_data["type"] if "type" in self.data else ListType.CONTACTS


class ListAudienceForm(forms.Form):
    """Build a list audience from a list: its name, the list's own name when left blank."""

    name = forms.CharField(required=False, strip=False)


REPORT_KINDS = ("invalid", "duplicates")


class ReportPageField(forms.IntegerField):
    """A report page number: 1 for anything that is not a positive whole number (a pager link never fails)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(required=False, **kwargs)

    def clean(self, value) -> int:
        try:
            return max(1, super().clean(value) or 1)
        except forms.ValidationError:
            return 1


class ListReportQueryForm(forms.Form):
    """A list report's query: each report's page (`invalid_page`, `duplicates_page`) and, from a pager link,
    the one report to render (`kind`; anything else renders the page)."""

    invalid_page = ReportPageField()
    duplicates_page = ReportPageField()
    kind = forms.ChoiceField(choices=[(k, k) for k in REPORT_KINDS], required=False)

    def pages(self) -> dict[str, int]:
        self.is_valid()
        return {kind: self.cleaned_data[f"{kind}_page"] for kind in REPORT_KINDS}

    def wanted(self) -> str:
        self.is_valid()
        return self.cleaned_data.get("kind") or ""


class TopicOverrideForm(forms.Form):
    """An organization's own name for a topic; the service (the same as the CSV import's) checks and trims
    the values, in its own words, so nothing is refused here."""

    name = forms.CharField(required=False, strip=False)
    category = forms.CharField(required=False, strip=False)
    description = forms.CharField(required=False, strip=False)

    @classmethod
    def for_row(cls, row) -> "TopicOverrideForm":
        """The form prefilled with what the organization sees now: its own entry, else the global one."""
        topic = row.override or row.global_topic
        return cls(initial={name: getattr(topic, name, "") for name in ("name", "category", "description")})


class AudienceSummaryQuery(forms.Form):
    """The summary fragment's query: the audience (none when blank or not the caller's), the fragment's DOM id
    (letters, digits and hyphens, else the default) and the only select allowed to refresh it."""

    DEFAULT_ID = "audience-summary"

    audience_id = forms.CharField(required=False)
    summary_id = forms.CharField(required=False)
    refresh_from = forms.ChoiceField(choices=[("#id_audience", "#id_audience")], required=False)

    def clean_summary_id(self) -> str:
        value = self.cleaned_data["summary_id"]
        return value if value.replace("-", "").isalnum() else self.DEFAULT_ID

    def values(self) -> dict:
        self.is_valid()
        return {
            "audience_id": self.cleaned_data["audience_id"],
            "summary_id": self.cleaned_data["summary_id"],
            "refresh_from": self.cleaned_data.get("refresh_from") or "",
        }
