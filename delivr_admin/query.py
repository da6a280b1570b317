"""Query parameters, one way: a DRF serializer per endpoint (`class XQuery(serializers.Serializer)`).

`query_parse(XQuery, request)` validates `request.query_params`; a bad value is a ValidationError, which the
API exception handler turns into the usual 400 `{"error": {"code": "invalid_request", "message":
"<name>: <what is wrong>", "fields": {...}}}`. `@extend_schema(parameters=[XQuery])` documents the same
fields (types, bounds, enums, defaults), so the schema says what the view enforces. A blank value
(`?limit=`) counts as absent: the field's default applies.
"""

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request


class QueryIntegerField(serializers.IntegerField):
    """An integer from `low` to `high`; one message naming the bounds for anything else."""

    def __init__(self, *, low: int, high: int, note: str = "", **kwargs: Any) -> None:
        message = f"Must be an integer from {low:,} to {high:,}."
        default = kwargs.get("default")
        bounds = f"{low:,}..{high:,}" + (f", default {default:,}" if isinstance(default, int) else "")
        kwargs.setdefault("help_text", bounds + note)
        kwargs.setdefault("required", False)
        super().__init__(
            min_value=low,
            max_value=high,
            error_messages={
                key: message for key in ("invalid", "max_value", "min_value", "max_string_length")
            },
            **kwargs,
        )


class QueryChoiceField(serializers.ChoiceField):
    """One of `choices`, any case and surrounding spaces; the message lists them."""

    def __init__(self, choices: Any, *, message: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(choices, **kwargs)
        self.error_messages["invalid_choice"] = message or f"Must be one of: {', '.join(self.choices)}."

    def to_internal_value(self, data: Any) -> Any:
        return super().to_internal_value(str(data).strip().lower())


class QueryUUIDField(serializers.UUIDField):
    default_error_messages = {"invalid": "Must be a valid UUID.", "required": "Required."}

    def to_internal_value(self, data: Any) -> Any:
        return super().to_internal_value(str(data).strip())


class QueryDateField(serializers.DateField):
    default_error_messages = {"invalid": "Must be an ISO date (YYYY-MM-DD)."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(input_formats=["iso-8601"], **kwargs)


def query_parse(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    """The validated query parameters (absent ones at their defaults); a 400 naming the first bad one."""
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return dict(query.validated_data)
