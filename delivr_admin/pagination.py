"""limit/offset paging shared by every list endpoint: one LimitOffsetPagination subclass."""

from collections.abc import Callable, Sequence
from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response

from .query import QueryIntegerField, query_parse

# The largest offset a page may start at: far beyond any real list, and well inside the databases' 64-bit
# OFFSET (2^63 and above failed in the driver with a 500).
MAX_OFFSET = 2**31 - 1


class KeyedLimitOffsetPagination(LimitOffsetPagination):
    """`{<key>: [...], "total", "limit", "offset"}`; limit/offset out of range is a 400 (never clamped).

    A list API declares a subclass with its `key`, `default_limit` and `max_limit` and answers with `respond`
    (`paginate_queryset`, then `get_paginated_response`); `parameters()` and `schema()` document exactly that.
    """

    key = "results"
    default_limit = 25
    max_limit = 1000

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.Query = type(
            f"{cls.__name__}Query",
            (serializers.Serializer,),
            {
                cls.limit_query_param: QueryIntegerField(
                    low=1, high=cls.max_limit, default=cls.default_limit
                ),
                cls.offset_query_param: QueryIntegerField(low=0, high=MAX_OFFSET, default=0),
            },
        )

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list:
        """The page's rows (one query) and the total (one count), both parameters checked before either."""
        self.request = request
        page = query_parse(self.Query, request)
        self.limit, self.offset = page[self.limit_query_param], page[self.offset_query_param]
        rows = list(queryset[self.offset : self.offset + self.limit])
        self.count = queryset.count()
        return rows

    def get_paginated_response(self, data: Sequence) -> Response:
        return Response({self.key: data, "total": self.count, "limit": self.limit, "offset": self.offset})

    @classmethod
    def respond(cls, request: Request, queryset: Any, items: Callable[[list], Sequence]) -> Response:
        """The requested page of `queryset` as the response; `items` turns the page's rows into its items."""
        pager = cls()
        return pager.get_paginated_response(items(pager.paginate_queryset(queryset, request)))

    @classmethod
    def parameters(cls) -> list:
        """The OpenAPI `limit` and `offset` query parameters: the serializer `paginate_queryset` validates."""
        return [cls.Query]

    @classmethod
    def schema(cls, name: str, items: serializers.BaseSerializer) -> serializers.Serializer:
        """The OpenAPI shape of a page (items: a many=True serializer)."""
        return page_schema(name, cls.key, items)


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
