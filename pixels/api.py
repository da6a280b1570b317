"""Pixels API: the public snippet and event ingestion (CORS-friendly), pixel sources, and the organization
settings that switch cookieless mode."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from accounts import selectors as account_selectors
from accounts.api import ERROR
from delivr_admin.errors import error_response
from delivr_admin.fields import StrictBooleanField, StrictCharField
from delivr_admin.parsers import JSONParser
from delivr_admin.permissions import IsOrgAdmin, principal_of
from delivr_admin.ratelimit import client_ip, rate_limit_hit

from . import selectors, services

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}


def pixel_snippet(request: HttpRequest, pixel_id) -> HttpResponse:
    """GET /pixel/<id>.js: the pixel's stored snippet, public."""
    snippet = selectors.pixel_snippet(pixel_id)
    if snippet is None:  # the API error middleware would turn a raised Http404 into a 500
        return error_response("not_found", "Not found.", 404)
    response = HttpResponse(snippet, content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response


class PlainTextJSONParser(JSONParser):
    """JSON sent as text/plain: what browsers send without a CORS preflight (the snippet does)."""

    media_type = "text/plain"


class PixelSourceThrottle(BaseThrottle):
    """Per-source (IP) limit on ingestion requests; one request carries up to 500 events."""

    def allow_request(self, request, view) -> bool:
        self._wait = rate_limit_hit(
            f"pixel:{client_ip(request)}",
            rate=settings.DELIVR_PIXEL_RATE_LIMIT_PER_SECOND,
            burst=settings.DELIVR_PIXEL_RATE_LIMIT_BURST,
        )
        return self._wait is None

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)


EVENT_SCHEMA = inline_serializer(
    "PixelEvent",
    {
        "pixel_id": serializers.UUIDField(),
        "organization_id": serializers.UUIDField(),
        "event_type": serializers.CharField(max_length=100),
        "event_data": serializers.JSONField(
            required=False,
            help_text="geo {country, region, city, coordinates}, device {type, os, browser}, content {title, "
            "url, category}, pricing {price, currency}, plus the pixel source's custom fields as top-level keys.",
        ),
        "visitor_id": serializers.CharField(required=False, max_length=64),
    },
)


class PixelEventSendApi(APIView):
    """POST /pixel/core/api/send-event: one event, or {"events": [...]} with up to 500."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes = [PixelSourceThrottle]
    parser_classes = [JSONParser, PlainTextJSONParser]

    @extend_schema_serializer(component_name="PixelEventSendOutput")
    class OutputSerializer(serializers.Serializer):
        status = serializers.CharField()
        record_count = serializers.IntegerField()

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        for name, value in CORS_HEADERS.items():
            response[name] = value
        return response

    @extend_schema(exclude=True)
    def options(self, request, *args, **kwargs):
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request={
            "application/json": EVENT_SCHEMA,
            "text/plain": OpenApiTypes.STR,
        },
        responses={200: OutputSerializer, 400: ERROR, 404: ERROR, 413: ERROR, 429: ERROR},
        auth=[],
    )
    def post(self, request):
        count = services.pixel_events_ingest(payload=request.data)
        return Response(self.OutputSerializer({"status": "ok", "record_count": int(count)}).data)


class PixelOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    organization_id = serializers.UUIDField()
    name = serializers.CharField()
    custom_fields = serializers.ListField(child=serializers.DictField())
    mode = serializers.CharField()
    regeneration_pending = serializers.SerializerMethodField()
    snippet_url = serializers.SerializerMethodField()
    generated_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()

    def get_regeneration_pending(self, pixel) -> bool:
        return selectors.pixel_is_pending(pixel)

    def get_snippet_url(self, pixel) -> str:
        return f"/pixel/{pixel.id}.js"


class CustomFieldSerializer(serializers.Serializer):
    name = StrictCharField(max_length=64)
    type = serializers.ChoiceField(choices=["string", "number", "integer", "boolean"])


class AdminForWrites(BasePermission):
    message = "Only organization admins can do this."

    def has_permission(self, request, view) -> bool:
        principal = principal_of(request)
        if principal is None:
            return False
        return request.method in ("GET", "HEAD", "OPTIONS") or principal.is_admin


class PixelListApi(APIView):
    permission_classes = [AdminForWrites]

    @extend_schema_serializer(component_name="PixelCreateInput")
    class InputSerializer(serializers.Serializer):
        name = StrictCharField(max_length=200)
        custom_fields = CustomFieldSerializer(many=True, required=False)

    @extend_schema(responses={200: PixelOutputSerializer(many=True), 401: ERROR})
    def get(self, request):
        return Response(PixelOutputSerializer(selectors.pixel_list(principal_of(request)), many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: PixelOutputSerializer, 400: ERROR, 401: ERROR, 403: ERROR, 409: ERROR},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pixel = services.pixel_create(
            organization=principal_of(request).organization,
            name=data.validated_data["name"],
            custom_fields=[dict(f) for f in data.validated_data.get("custom_fields", [])],
        )
        return Response(PixelOutputSerializer(pixel).data, status=status.HTTP_201_CREATED)


class PixelRetrieveApi(APIView):
    @extend_schema(responses={200: PixelOutputSerializer, 401: ERROR, 404: ERROR})
    def get(self, request, pixel_id):
        return Response(PixelOutputSerializer(selectors.pixel_get(principal_of(request), pixel_id)).data)


class OrganizationSettingsOutputSerializer(serializers.Serializer):
    organization_id = serializers.UUIDField()
    cookies_enabled = serializers.BooleanField()
    pixels_pending_regeneration = serializers.IntegerField()


def _settings_out(organization) -> dict:
    return {
        "organization_id": organization.id,
        "cookies_enabled": organization.cookies_enabled,
        "pixels_pending_regeneration": selectors.pixel_pending_count(organization.id),
    }


class OrganizationSettingsApi(APIView):
    """PUT /api/v1/organizations/{id}/settings (admins): cookies_enabled (organizations start with true).

    The field is required: an empty body must not silently switch a cookieless organization back to cookies.
    """

    @extend_schema_serializer(component_name="OrganizationSettingsInput")
    class InputSerializer(serializers.Serializer):
        cookies_enabled = StrictBooleanField(help_text="false: cookieless pixels. New organizations: true.")

    def get_permissions(self):
        if self.request.method == "PUT":
            return [IsOrgAdmin()]
        return super().get_permissions()

    @extend_schema(responses={200: OrganizationSettingsOutputSerializer, 401: ERROR, 404: ERROR})
    def get(self, request, organization_id):
        organization = account_selectors.organization_get(principal_of(request), organization_id)
        return Response(OrganizationSettingsOutputSerializer(_settings_out(organization)).data)

    @extend_schema(
        request=InputSerializer,
        responses={200: OrganizationSettingsOutputSerializer, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    def put(self, request, organization_id):
        organization = account_selectors.organization_get(principal_of(request), organization_id)
        if not isinstance(request.data, dict):
            raise exceptions.ValidationError({"non_field_errors": ["The body must be a JSON object."]})
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organization = services.organization_settings_update(
            organization=organization, cookies_enabled=data.validated_data["cookies_enabled"]
        )
        return Response(OrganizationSettingsOutputSerializer(_settings_out(organization)).data)
