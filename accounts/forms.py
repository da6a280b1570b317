from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from delivr_admin.errors import ApplicationError
from delivr_admin.ratelimit import TooManyAttempts, client_ip

from . import services
from .models import Role


class LoginForm(AuthenticationForm):
    """The dashboard's sign-in, through the same service (and the same failure limits) as the API's."""

    retry_after: int | None = None

    def clean(self):
        email, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if email is None or password is None:
            return self.cleaned_data
        try:
            self.user_cache = services.user_authenticate(
                email=email, password=password, client_address=client_ip(self.request)
            )
        except TooManyAttempts as exc:
            self.retry_after = max(1, int(exc.wait + 0.999))
            raise forms.ValidationError(str(exc.detail), code="too_many_attempts") from exc
        except ApplicationError as exc:
            raise self.get_invalid_login_error() from exc
        self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class AdminLoginForm(LoginForm, AdminAuthenticationForm):
    """Django admin's sign-in under the same limits (its own form called authenticate() unlimited)."""


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=200)


class MemberForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MARKETER)  # an admin is chosen on purpose
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


class OrganizationSwitchForm(forms.Form):
    """The organization picker: an organization id (blank: the user's first) and the page to go back to."""

    organization_id = forms.UUIDField(
        required=False, error_messages={"invalid": "Choose one of your organizations."}
    )
    next = forms.CharField(required=False, strip=False)
