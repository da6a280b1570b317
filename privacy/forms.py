from django import forms

from .models import IdentifierType


class RegistrySearchForm(forms.Form):
    """The registry search's form (its fields come from privacy.filters' FilterSets): a valid day range."""

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError("The start date is after the end date.")
        return data


class OptOutForm(forms.Form):
    """A support agent records an opt-out for their organization (a person asked by email or phone)."""

    identifier_type = forms.ChoiceField(
        choices=[c for c in IdentifierType.choices if c[0] != IdentifierType.UID2],
        initial=IdentifierType.EMAIL,
    )
    value = forms.CharField(max_length=255, label="Identifier")


class IdentifierQueryForm(forms.Form):
    """A person's page's query: the identifier's type and value. Nothing is refused here: the selector answers
    404 (in words) for a type it does not know or an identifier not in the registry."""

    type = forms.CharField(required=False)
    value = forms.CharField(required=False, strip=False)

    def values(self) -> tuple[str, str]:
        self.is_valid()
        return self.cleaned_data["type"], self.cleaned_data["value"]
