"""The export form: a Django Form for the export's own fields and a formset for the field mapping's rows.

The forms read the page's inputs into the shapes the API takes (destination_config, credentials,
field_mapping entries, record_limit); the rules stay in the service (export_create/export_update and the
mapping's FieldMappingEntrySerializer), so the page and the API refuse the same things with the same words.
The few values a form must turn into numbers first (a row's max length, the record limit) are refused with
the service's own message.

Mapping rows keep their markup: each row posts `map_row=<rid>` and `map-<rid>-<field>` inputs, because rows
are added (an HTMX fragment with a fresh rid) and removed in the page without renumbering the others.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django import forms
from django.forms.formsets import BaseFormSet, ManagementForm, formset_factory

from .destinations.base import get_destination
from .services.exports import RECORD_LIMIT_MESSAGE
from .validation import FIELD_TYPES, MAX_LENGTH_LIMIT, MAX_LENGTH_MESSAGE

NUMBER_SETTINGS = ("timeout_seconds", "rate_limit")

# The mapping table's column headings, for the page's words about a row ("Field mapping, row 2, Source: …").
MAPPING_COLUMNS = {
    "source": "Source",
    "target": "Target",
    "type": "Type",
    "required": "Required",
    "max_length": "Max length",
    "truncate": "Truncate",
    "multi_value": "Multi-value",
    "picklist": "Picklist",
    "default": "Default",
}
_MAPPING_PATH = re.compile(r"^field_mapping\[(\d+)\](?:\.(\w+))?: ")
_RECORD_LIMIT_PATH = re.compile(r"^record_limit\.maxRecords ")


def error_words(message: str) -> str:
    """A form or service message for the page: the API's paths ("field_mapping[1].source: …",
    "record_limit.maxRecords …") in the words of the form's own headings and labels."""

    def row(match: re.Match) -> str:
        column = MAPPING_COLUMNS.get(match.group(2) or "", match.group(2))
        return f"Field mapping, row {int(match.group(1)) + 1}" + (f", {column}: " if column else ": ")

    message = _MAPPING_PATH.sub(row, message)
    return _RECORD_LIMIT_PATH.sub("Record limit (max records) ", message)


class MappingRowForm(forms.Form):
    """One row of the mapping table; blank when it names neither a source nor a target (then left out).

    With ``columns`` (the audience's column names, when its data can be read) the source must be one of them,
    refused with the service's words (FieldMappingEntrySerializer) next to the row's Source.
    """

    source = forms.CharField(required=False)
    target = forms.CharField(required=False)
    type = forms.ChoiceField(
        choices=[(t, t) for t in FIELD_TYPES],
        required=False,
        error_messages={"invalid_choice": f"Must be one of {', '.join(FIELD_TYPES)}."},
    )
    required = forms.BooleanField(required=False)
    max_length = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_LENGTH_LIMIT,
        error_messages=dict.fromkeys(("invalid", "min_value", "max_value"), MAX_LENGTH_MESSAGE),
    )
    truncate = forms.BooleanField(required=False)
    multi_value = forms.BooleanField(required=False)
    picklist = forms.CharField(required=False, help_text="Allowed values, separated by commas.")
    default = forms.CharField(required=False, strip=False)

    def __init__(self, *args: Any, columns: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.columns = {c.lower() for c in columns} if columns else None

    def clean_source(self) -> str:
        source = self.cleaned_data["source"]
        if source and self.columns is not None and source.lower() not in self.columns:
            raise forms.ValidationError(f"the audience has no column {source!r}.")
        return source

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return not data.get("source") and not data.get("target")

    def entry(self) -> dict[str, Any]:
        """The row as a mapping entry (the API's shape)."""
        data = self.cleaned_data
        return {
            "source": data["source"],
            "target": data["target"],
            "type": data["type"] or "string",
            "required": data["required"],
            "max_length": data["max_length"],
            "truncate": data["truncate"],
            "multi_value": data["multi_value"],
            "picklist": [p.strip() for p in data["picklist"].split(",") if p.strip()],
            "default": data["default"] if data["default"].strip() else None,
        }


class BaseMappingFormSet(BaseFormSet):
    """Rows named by the rid each row posts in `map_row` (not by position): no management form to keep."""

    def __init__(self, data: Any = None, columns: list[str] | None = None, **kwargs: Any) -> None:
        self.rids = data.getlist("map_row") if data is not None else []
        super().__init__(data, prefix="map", form_kwargs={"columns": columns}, **kwargs)

    @property
    def management_form(self) -> ManagementForm:
        counts = {"TOTAL_FORMS": len(self.rids), "INITIAL_FORMS": 0}
        form = ManagementForm({f"{self.prefix}-{k}": v for k, v in counts.items()}, prefix=self.prefix)
        form.full_clean()
        return form

    def total_form_count(self) -> int:
        return len(self.rids)

    def add_prefix(self, index: int | str) -> str:
        rid = self.rids[index] if isinstance(index, int) and index < len(self.rids) else index
        return f"{self.prefix}-{rid}"

    def entries(self) -> list[dict[str, Any]]:
        """The filled rows without errors as mapping entries, in page order."""
        return [form.entry() for form in self.forms if not form.errors and not form.is_blank()]

    def rows(self) -> list[dict[str, Any]]:
        """Every filled row to show again, as typed when the row has an error."""
        out = []
        for form in self.forms:
            if form.errors:
                raw = {name: form[name].value() for name in form.fields}
                out.append(
                    raw
                    | {"picklist": [p.strip() for p in (raw["picklist"] or "").split(",") if p.strip()]}
                    | {"errors": {name: messages[0] for name, messages in form.errors.items()}}
                )
            elif not form.is_blank():
                out.append(form.entry())
        return out

    def first_error(self) -> str:
        """'field_mapping[i].<field>: <message>' of the first row in error (i counts filled rows, as the service)."""
        index = 0
        for form in self.forms:
            if form.errors:
                name, messages = next(iter(form.errors.items()))
                return f"field_mapping[{index}].{name}: {messages[0]}"
            index += 0 if form.is_blank() else 1
        return ""


MappingFormSet = formset_factory(MappingRowForm, formset=BaseMappingFormSet, extra=0)


class ExportForm(forms.Form):
    """The export's fields; the chosen destination's settings (`cfg_<key>`) and secrets (`cred_<key>`)."""

    name = forms.CharField(required=False, strip=False)
    audience_id = forms.CharField(required=False)
    destination_type = forms.CharField(required=False)
    schedule = forms.CharField(required=False)
    record_limit_max = forms.IntegerField(required=False, error_messages={"invalid": RECORD_LIMIT_MESSAGE})
    record_limit_fail_mode = forms.CharField(required=False)
    list_name = forms.CharField(required=False, strip=False)
    sync_mode = forms.CharField(required=False)

    def __init__(
        self, data: Any, columns_of: Callable[[str], list[str]] | None = None, **kwargs: Any
    ) -> None:
        """``columns_of(audience_id)``: the chosen audience's columns (empty when unknown or unreadable), which
        the mapping's sources must be among; called once the form has read the audience id."""
        super().__init__(data, **kwargs)
        self.columns_of = columns_of
        try:
            cls = get_destination(data.get("destination_type", ""))
        except Exception:  # noqa: BLE001 - an unknown kind has no fields (the service says it is unknown)
            cls = None
        self.config_keys = list(cls.config_fields) if cls else []
        self.credential_keys = list(cls.credential_fields) if cls else []
        for key in self.config_keys:
            self.fields[f"cfg_{key}"] = forms.CharField(required=False)
        for key in self.credential_keys:
            self.fields[f"cred_{key}"] = forms.CharField(required=False, strip=False)
        self.mapping = MappingFormSet(data)

    def is_valid(self) -> bool:
        own = super().is_valid()
        if self.columns_of is not None:  # before the rows are built: their sources are checked against these
            self.mapping.form_kwargs["columns"] = self.columns_of(self.cleaned_data["audience_id"]) or None
        return self.mapping.is_valid() and own

    def first_error(self) -> str:
        for name, messages in self.errors.items():
            return messages[0] if name == "record_limit_max" else f"{name}: {messages[0]}"
        return self.mapping.first_error()

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        for key in self.config_keys:
            value = self.cleaned_data.get(f"cfg_{key}", "")
            if value:
                config[key] = int(value) if key in NUMBER_SETTINGS and value.isdigit() else value
        return config

    def _record_limit(self) -> dict | None:
        max_records = self.cleaned_data.get("record_limit_max")
        if max_records is None:
            return None
        return {
            "maxRecords": max_records,
            "failMode": self.cleaned_data.get("record_limit_fail_mode") or "truncate",
        }

    def values(self) -> dict[str, Any]:
        """The export as the service takes it (after is_valid; fields in error are left out or empty)."""
        data = self.cleaned_data
        return {
            "name": data.get("name", ""),
            "audience_id": data.get("audience_id", ""),
            "destination_type": data.get("destination_type", ""),
            "destination_config": self._config(),
            "credentials": {
                key: data[f"cred_{key}"] for key in self.credential_keys if data.get(f"cred_{key}")
            },
            "field_mapping": self.mapping.entries(),
            "schedule": data.get("schedule") or "manual",
            "record_limit": self._record_limit(),
            "list_name": data.get("list_name", ""),
            "sync_mode": data.get("sync_mode") or None,
        }


class ExportFormQuery(forms.Form):
    """The query of the export form's fragments (hx-get when a select changes, the target list's polling):
    what the form holds now. Nothing is refused: an unknown id is no export or audience, and a poll count that
    is not a whole number from 0 starts the count again."""

    destination_type = forms.CharField(required=False)
    export_id = forms.CharField(required=False)
    audience_id = forms.CharField(required=False)
    list_name = forms.CharField(required=False, strip=False)
    sync_mode = forms.CharField(required=False)
    n = forms.IntegerField(required=False, min_value=0)

    def __init__(self, data: Any, *, destination_default: str = "") -> None:
        super().__init__(data)
        self.destination_default = destination_default
        self.is_valid()

    def clean_destination_type(self) -> str:
        # The destination select always sends its value; a request without one asks for the default.
        return (
            self.cleaned_data["destination_type"]
            if "destination_type" in self.data
            else self.destination_default
        )

    def value(self, name: str) -> Any:
        """The field's clean value; for the poll count, 0 when absent or unusable."""
        fallback = 0 if name == "n" else ""
        value = self.cleaned_data.get(name)
        return fallback if value is None else value


class ConnectionBadgeQuery(forms.Form):
    """The connection badge's query: `words=1` shows the check's message next to the badge."""

    words = forms.BooleanField(required=False)


class RunFileQuery(forms.Form):
    """A signed run-file link's query: which file (`file`, the output by default) and its signature."""

    file = forms.CharField(required=False)
    token = forms.CharField(required=False, strip=False)

    def clean_file(self) -> str:
        return self.cleaned_data["file"] if "file" in self.data else "output"
