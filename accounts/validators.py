"""Password rules of our own, next to Django's validators (listed in AUTH_PASSWORD_VALIDATORS)."""

from django.core.exceptions import ValidationError


class NotOnlyWhitespaceValidator:
    """Refuses a password of spaces, tabs or newlines only (eight spaces passed the length rule)."""

    def validate(self, password: str, user=None) -> None:  # noqa: ARG002 - Django's validator signature
        if not password.strip():
            raise ValidationError("This password is only spaces.", code="password_only_whitespace")

    def get_help_text(self) -> str:
        return "Your password can't be only spaces."
