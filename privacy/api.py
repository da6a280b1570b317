"""Privacy API: the public UID2 opt-out webhook, and registry reads/writes for support and integrators."""

import hmac
import ipaddress
import math
from datetime import UTC, datetime
from functools import lru_cache

from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import ERROR
from accounts.models import Role
from delivr_admin.errors import ApplicationError
from delivr_admin.fields import StrictCharField
from delivr_admin.parsers import JSONParser
from delivr_admin.permissions import principal_of
from delivr_admin.query import QueryIntegerField, query_parse
from delivr_admin.ratelimit import client_ip, rate_limit_hit

from . import selectors, services
from .filters import OptOutFilter
from .http import request_meta
from .models import IdentifierType, OptOutSource

UID2_ACTOR = "uid2_operator"
# Epoch values at or above this are milliseconds (1e11 seconds is the year 5138).
_EPOCH_MS_THRESHOLD = 100_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # as epoch numbers, ISO times may not be earlier


def optout_time_parse(value) -> datetime:
    """An opt-out time from ISO 8601 (naive means UTC), epoch seconds or epoch milliseconds."""
    if isinstance(value, bool):
        raise ValueError("not a time")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is None:
            parsed = datetime.fromisoformat(text)
            # In UTC here: year 1 or 9999 with an offset overflowed later, at save or display (a 500).
            parsed = parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            if parsed < _EPOCH:
                raise ValueError("before 1970")
            return parsed
    else:
        raise ValueError("not a time")
    if not math.isfinite(number) or number < 0:
        raise ValueError("not a time")
    if number >= _EPOCH_MS_THRESHOLD:
        number /= 1000.0
    return datetime.fromtimestamp(number, tz=UTC)


@extend_schema_field(
    {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "string"}, {"type": "number"}]}
)
class OptOutTimeField(serializers.Field):
    default_error_messages = {
        "invalid": "Must be an ISO 8601 timestamp, epoch seconds or epoch milliseconds.",
    }

    def to_internal_value(self, data):
        try:
            return optout_time_parse(data)
        except (ValueError, OverflowError, OSError):
            self.fail("invalid")

    def to_representation(self, value):
        return value.isoformat()


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _allow_listed(ip: str, cidrs: tuple[str, ...]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in _networks(cidrs))


def _presented_secret(request) -> str:
    header = request.META.get("HTTP_X_UID2_SIGNATURE", "")
    if header:
        return header.strip()
    auth = request.META.get("HTTP_AUTHORIZATION", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return ""


class Uid2SenderCheck(BasePermission):
    """Who may deliver opt-outs, checked in this order so that guessing the secret is rate limited too.

    1. DELIVR_UID2_ALLOWED_IPS set: only those sources; they skip the rate limit.
    2. Otherwise a per-source (IP) rate limit: 429 with Retry-After (the operator retries, nothing is lost).
    3. DELIVR_UID2_SHARED_SECRET set: X-UID2-Signature or Authorization: Bearer must equal it.
    """

    def has_permission(self, request, view) -> bool:
        ip = client_ip(request)
        cidrs = tuple(settings.DELIVR_UID2_ALLOWED_IPS)
        if cidrs:
            if not _allow_listed(ip, cidrs):
                raise ApplicationError("This source may not deliver opt-outs.", code="forbidden", status=403)
        else:
            wait = rate_limit_hit(
                f"uid2:{ip}",
                rate=settings.DELIVR_UID2_RATE_LIMIT_PER_SECOND,
                burst=settings.DELIVR_UID2_RATE_LIMIT_BURST,
            )
            if wait is not None:
                raise exceptions.Throttled(wait=wait)
        secret = settings.DELIVR_UID2_SHARED_SECRET
        if secret and not hmac.compare_digest(_presented_secret(request).encode(), secret.encode()):
            raise ApplicationError("Missing or wrong webhook secret.", code="unauthorized", status=401)
        return True


class Uid2OptoutApi(APIView):
    """UID2 opt-out webhook: `user` and `optouttime` as query parameters (or, for POST, form/JSON body)."""

    authentication_classes: list = []
    permission_classes = [Uid2SenderCheck]
    throttle_classes: list = []  # not the per-org throttle: Uid2SenderCheck limits per source
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema_serializer(component_name="Uid2OptoutInput")
    class InputSerializer(serializers.Serializer):
        user = StrictCharField(max_length=255)
        optouttime = OptOutTimeField()

    schema_parameters = [
        OpenApiParameter("user", OpenApiTypes.STR, OpenApiParameter.QUERY, required=True),
        OpenApiParameter(
            "optouttime",
            OpenApiTypes.STR,
            OpenApiParameter.QUERY,
            required=True,
            description="ISO 8601 timestamp; epoch seconds and epoch milliseconds are accepted too.",
        ),
    ]
    schema_responses = {
        204: OpenApiResponse(description="Recorded (or already recorded)."),
        400: ERROR,
        401: ERROR,
        403: ERROR,
        429: ERROR,
    }

    def _record(self, request, data: dict) -> Response:
        serializer = self.InputSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        services.optout_record(
            identifier_type=IdentifierType.UID2,
            value=serializer.validated_data["user"],
            source=OptOutSource.UID2_WEBHOOK,
            opted_out_at=serializer.validated_data["optouttime"],
            organization=None,
            actor=UID2_ACTOR,
            request_meta=request_meta(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=schema_parameters, responses=schema_responses, auth=[])
    def get(self, request):
        return self._record(request, request.query_params.dict())

    @extend_schema(
        parameters=schema_parameters,
        request={"application/json": InputSerializer, "application/x-www-form-urlencoded": InputSerializer},
        responses=schema_responses,
        auth=[],
    )
    def post(self, request):
        body = request.data
        if hasattr(body, "dict"):
            body = body.dict()
        if not isinstance(body, dict):
            raise ApplicationError("The body must be a JSON object or a form.", code="invalid_request")
        return self._record(request, {**request.query_params.dict(), **body})


class OptOutOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    identifier_type = serializers.CharField()
    value = serializers.CharField()
    organization_id = serializers.UUIDField(allow_null=True)
    source = serializers.CharField()
    opted_out_at = serializers.DateTimeField()
    first_received_at = serializers.DateTimeField()
    last_received_at = serializers.DateTimeField()


class OptOutDestinationSerializer(serializers.Serializer):
    export_id = serializers.UUIDField(allow_null=True)
    destination = serializers.CharField()
    list_name = serializers.CharField()
    sent_at = serializers.DateTimeField(allow_null=True)
    removed_at = serializers.DateTimeField(allow_null=True)
    status = serializers.CharField(help_text="removed | failed")
    summary = serializers.CharField(help_text='In words: "Sent to HubSpot (export …) on …, removed on …".')


class OptOutDetailSerializer(OptOutOutputSerializer):
    destinations = serializers.SerializerMethodField(
        help_text="Every export destination that had received this identifier, and when it was taken back."
    )

    @extend_schema_field(OptOutDestinationSerializer(many=True))
    def get_destinations(self, obj) -> list:
        from exports.selectors import optout_ledger

        rows = optout_ledger(
            organization_ids=self.context["organization_ids"],
            identifier_type=obj.identifier_type,
            identifier_value=obj.value,
        )
        return OptOutDestinationSerializer(rows, many=True).data


class CanManageOptOuts(BasePermission):
    """Reads for every member; recording an opt-out for admins, support and API clients (not marketers)."""

    message = "Your role cannot record opt-outs."

    def has_permission(self, request, view) -> bool:
        principal = principal_of(request)
        if principal is None:
            return False
        return request.method in ("GET", "HEAD", "OPTIONS") or principal.role != Role.MARKETER


class OptOutListQuery(serializers.Serializer):
    identifier = serializers.CharField(
        required=False, default="", allow_blank=True, help_text="An identifier, or the start of one."
    )
    limit = QueryIntegerField(low=1, high=1000, default=100)


class OptOutListApi(APIView):
    permission_classes = [CanManageOptOuts]

    @extend_schema_serializer(component_name="OptOutCreateInput")
    class InputSerializer(serializers.Serializer):
        identifier_type = serializers.ChoiceField(choices=IdentifierType.choices)
        value = StrictCharField(max_length=255)
        opted_out_at = OptOutTimeField(required=False)

    @extend_schema(
        parameters=[OptOutListQuery],
        responses={200: OptOutOutputSerializer(many=True), 400: ERROR, 401: ERROR},
    )
    def get(self, request):
        query = query_parse(OptOutListQuery, request)
        search = OptOutFilter(
            {"q": query["identifier"]}, queryset=selectors.optout_list(principal_of(request))
        )
        entries = search.searched(when_invalid="none")[: query["limit"]]
        return Response(OptOutOutputSerializer(entries, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: OptOutOutputSerializer,
            200: OptOutOutputSerializer,
            400: ERROR,
            401: ERROR,
            403: ERROR,
        },
    )
    def post(self, request):
        """Records an opt-out for the caller's organization (source support)."""
        principal = principal_of(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry, created = services.optout_record(
            identifier_type=data.validated_data["identifier_type"],
            value=data.validated_data["value"],
            source=OptOutSource.SUPPORT,
            opted_out_at=data.validated_data.get("opted_out_at") or timezone.now(),
            organization=principal.organization,
            actor=principal.actor,
            request_meta=request_meta(request),
        )
        return Response(OptOutOutputSerializer(entry).data, status=201 if created else 200)


class OptOutRetrieveApi(APIView):
    @extend_schema(responses={200: OptOutDetailSerializer, 401: ERROR, 404: ERROR})
    def get(self, request, optout_id):
        principal = principal_of(request)
        optout = selectors.optout_get(principal, optout_id)
        context = {"organization_ids": principal.organization_ids}
        return Response(OptOutDetailSerializer(optout, context=context).data)
