from django import forms

from .models import Role


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=200)


class MemberForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    password = forms.CharField(
        required=False, widget=forms.PasswordInput, help_text="Only for a new user: their initial password."
    )


class ApiClientForm(forms.Form):
    name = forms.CharField(max_length=200)
    enforce_secret = forms.BooleanField(required=False, initial=True)


class OrganizationForm(forms.Form):
    name = forms.CharField(max_length=200)
