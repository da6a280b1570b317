from django import forms

from .events import CUSTOM_TYPES


class PixelForm(forms.Form):
    name = forms.CharField(max_length=200)
    custom_fields = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=f"One per line as name:type, type one of {', '.join(CUSTOM_TYPES)}.",
    )

    def clean_custom_fields(self) -> list[dict]:
        fields = []
        for line in self.cleaned_data["custom_fields"].splitlines():
            line = line.strip()
            if not line:
                continue
            name, _, kind = line.partition(":")
            fields.append({"name": name.strip(), "type": kind.strip() or "string"})
        return fields


class CookieSettingsForm(forms.Form):
    cookies_enabled = forms.BooleanField(required=False)
