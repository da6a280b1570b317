"""limit/offset paging shared by every list endpoint."""

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from .errors import ApplicationError

# The largest offset a page may start at: far beyond any real list, and well inside the databases' 64-bit
# OFFSET (2^63 and above failed in the driver with a 500).
MAX_OFFSET = 2**31 - 1


def page_params(request, *, default: int, maximum: int) -> tuple[int, int]:
    """limit/offset from the query string, bounded; a 400 in the error format when out of range."""

    def parse(name: str, fallback: int, low: int, high: int | None) -> int:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return fallback
        try:
            value = int(raw)
        except ValueError as exc:
            raise ApplicationError(f"{name} must be an integer.", code="invalid_request") from exc
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ApplicationError(f"{name} must be {bound}.", code="invalid_request")
        return value

    return parse("limit", default, 1, maximum), parse("offset", 0, 0, MAX_OFFSET)


def page_schema(name: str, key: str, items: serializers.BaseSerializer) -> serializers.Serializer:
    """The OpenAPI shape of a page: `{<key>: [...], "total", "limit", "offset"}` (items: a many=True serializer)."""
    return inline_serializer(
        name,
        {
            key: items,
            "total": serializers.IntegerField(),
            "limit": serializers.IntegerField(),
            "offset": serializers.IntegerField(),
        },
    )
