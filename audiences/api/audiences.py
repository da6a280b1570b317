"""Audience endpoints: CRUD, pause/resume, refresh (409 when paused), preview, sample and CSV download.

As delivr-api-updates-2026-03 (preview limit, download record_limit, list audiences) and 2026-05 (distinct
profile count, sample fields, 409 on paused refresh, late data, org hierarchies, bucketed ranges) describe.
Every read of audience rows goes through audience_selection, so opt-outs never leave.
"""

from __future__ import annotations

import itertools
import json

from django.http import Http404, StreamingHttpResponse
from django.utils import timezone
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import renderers, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import ERROR
from audiences import datasets, definitions, engine
from audiences.models import RECORD_LIMIT_MAX, AudienceType
from audiences.selectors import audiences as audience_selectors
from audiences.selectors import lists as list_selectors
from audiences.services import audiences as audience_services
from delivr_admin.errors import ApplicationError
from delivr_admin.fields import StrictCharField, StrictUUIDField
from delivr_admin.pagination import KeyedLimitOffsetPagination
from delivr_admin.permissions import CanWrite, principal_of
from delivr_admin.query import (
    QueryChoiceField,
    QueryDateField,
    QueryIntegerField,
    QueryUUIDField,
    query_parse,
)

PREVIEW_DEFAULT, PREVIEW_MAX = 25, 1000
SAMPLE_DEFAULT, SAMPLE_MAX = 25, 1000
DOWNLOAD_ROWS = ("people", "records")


@extend_schema_field(definitions.DefinitionSerializer)
class DefinitionField(serializers.JSONField):
    """An audience definition: a JSON object, checked by the service through definitions.DefinitionSerializer
    against the dataset's columns (a 400 invalid_definition in words otherwise); the schema is that
    serializer's."""


class AudienceOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    project_id = serializers.UUIDField()
    organization_id = serializers.UUIDField()
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=AudienceType.choices)
    status = serializers.ChoiceField(choices=["active", "paused"])
    definition = DefinitionField()
    contact_list_id = serializers.UUIDField(allow_null=True)
    record_count = serializers.IntegerField(allow_null=True, help_text="Rows (a profile may have several).")
    distinct_profile_count = serializers.IntegerField(allow_null=True, help_text="Unique person_id values.")
    suppressed_count = serializers.IntegerField(allow_null=True, help_text="Rows left out: opted out.")
    build_status = serializers.ChoiceField(choices=["never", "queued", "building", "ready", "failed"])
    build_error = serializers.CharField()
    last_built_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class AudienceListQuery(serializers.Serializer):
    project_id = QueryUUIDField(required=False, default=None, help_text="Only this project's audiences.")


class AudiencePreviewQuery(serializers.Serializer):
    limit = QueryIntegerField(low=1, high=PREVIEW_MAX, default=PREVIEW_DEFAULT)


class AudienceSampleQuery(serializers.Serializer):
    limit = QueryIntegerField(low=1, high=SAMPLE_MAX, default=SAMPLE_DEFAULT)


class AudienceDownloadQuery(serializers.Serializer):
    project_id = QueryUUIDField(help_text="The audience's project.")
    record_limit = QueryIntegerField(low=0, high=RECORD_LIMIT_MAX, default=0, note="; 0 means no limit.")
    rows = QueryChoiceField(
        DOWNLOAD_ROWS,
        default="people",
        message="Must be people (one row per person) or records (one row per intent record).",
        help_text=(
            "people (default): one row per person — the attributes of their most recent record "
            "(by seen_at), intent_frequency = the number of their intent records in the audience, "
            "impression_count = the sum over those records, last_seen_at = the newest seen_at; "
            "record_limit then counts people. records: one row per intent record, the dataset's "
            "columns as stored. A person is person_id, or for a list without one the email."
        ),
    )


class AudienceFieldValuesQuery(serializers.Serializer):
    lookback_days = QueryIntegerField(
        low=1,
        high=definitions.MAX_LOOKBACK_DAYS,
        default=None,
        note="; days ending on the newest day with data (or give date_from and date_to; neither: all)",
    )
    date_from = QueryDateField(required=False, default=None, help_text="Start of a date range.")
    date_to = QueryDateField(required=False, default=None, help_text="End of a date range.")
    q = serializers.CharField(
        required=False, default="", allow_blank=True, help_text="Only values containing this (any case)."
    )
    limit = QueryIntegerField(low=1, high=1000, default=50)


def _engine_errors(exc: engine.EngineError) -> ApplicationError:
    if isinstance(exc, engine.UnreadableFileError):
        return datasets.unreadable_error(exc)
    return ApplicationError(f"The audience's data cannot be read: {exc}", code="data_unavailable", status=409)


class AudiencePagination(KeyedLimitOffsetPagination):
    key = "audiences"


class AudienceListApi(APIView):
    permission_classes = [CanWrite]

    class InputSerializer(serializers.Serializer):
        project_id = StrictUUIDField(help_text="The workspace project; required.")
        name = StrictCharField(max_length=255)
        type = serializers.ChoiceField(
            choices=AudienceType.choices, required=False, default=AudienceType.INTENT
        )
        definition = DefinitionField(required=False, default=dict)
        contact_list_id = StrictUUIDField(required=False, allow_null=True)
        input_path = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=1024)

    @extend_schema(
        operation_id="audiences_list",
        parameters=[AudienceListQuery, *AudiencePagination.parameters()],
        responses={
            200: AudiencePagination.schema("AudienceList", AudienceOutputSerializer(many=True)),
            400: ERROR,
            401: ERROR,
        },
    )
    def get(self, request):
        query = query_parse(AudienceListQuery, request)
        audiences = audience_selectors.audience_list(principal_of(request), project_id=query["project_id"])
        return AudiencePagination.respond(
            request, audiences, lambda page: AudienceOutputSerializer(page, many=True).data
        )

    @extend_schema(
        request=InputSerializer, responses={201: AudienceOutputSerializer, 400: ERROR, 401: ERROR, 403: ERROR}
    )
    def post(self, request):
        principal = principal_of(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        contact_list = None
        if v.get("contact_list_id"):
            try:
                contact_list = list_selectors.contact_list_get(principal, v["contact_list_id"])
            except Http404 as exc:
                raise ApplicationError(
                    "contact_list_id: no list with this id in your organization.", code="invalid_list"
                ) from exc
        audience = audience_services.audience_create(
            principal=principal,
            project_id=v["project_id"],
            name=v["name"],
            type=AudienceType.LIST if contact_list is not None else v["type"],
            definition=v["definition"],
            input_path=v.get("input_path") or None,
            contact_list=contact_list,
        )
        return Response(AudienceOutputSerializer(audience).data, status=status.HTTP_201_CREATED)


class AudienceDetailApi(APIView):
    permission_classes = [CanWrite]

    class InputSerializer(serializers.Serializer):
        name = StrictCharField(max_length=255)
        definition = DefinitionField()

    class PartialInputSerializer(InputSerializer):
        name = StrictCharField(max_length=255, required=False)
        definition = DefinitionField(required=False)

    @extend_schema(responses={200: AudienceOutputSerializer, 404: ERROR})
    def get(self, request, audience_id):
        audience = audience_selectors.audience_get(principal_of(request), audience_id)
        return Response(AudienceOutputSerializer(audience).data)

    def _update(self, request, audience_id, serializer_class):
        audience = audience_selectors.audience_get(principal_of(request), audience_id)
        data = serializer_class(data=request.data)
        data.is_valid(raise_exception=True)
        audience = audience_services.audience_update(audience=audience, **data.validated_data)
        return Response(AudienceOutputSerializer(audience).data)

    @extend_schema(request=InputSerializer, responses={200: AudienceOutputSerializer, 400: ERROR, 404: ERROR})
    def put(self, request, audience_id):
        return self._update(request, audience_id, self.InputSerializer)

    @extend_schema(
        request=PartialInputSerializer, responses={200: AudienceOutputSerializer, 400: ERROR, 404: ERROR}
    )
    def patch(self, request, audience_id):
        return self._update(request, audience_id, self.PartialInputSerializer)

    @extend_schema(responses={204: None, 404: ERROR, 409: ERROR})
    def delete(self, request, audience_id):
        audience = audience_selectors.audience_get(principal_of(request), audience_id)
        audience_services.audience_delete(audience=audience)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AudiencePauseApi(APIView):
    permission_classes = [CanWrite]

    @extend_schema(request=None, responses={200: AudienceOutputSerializer, 404: ERROR})
    def post(self, request, audience_id):
        audience = audience_selectors.audience_get(principal_of(request), audience_id)
        return Response(AudienceOutputSerializer(audience_services.audience_pause(audience=audience)).data)


class AudienceResumeApi(APIView):
    permission_classes = [CanWrite]

    @extend_schema(request=None, responses={200: AudienceOutputSerializer, 404: ERROR})
    def post(self, request, audience_id):
        audience = audience_selectors.audience_get(principal_of(request), audience_id)
        return Response(AudienceOutputSerializer(audience_services.audience_resume(audience=audience)).data)


REFRESH_CONFLICT = inline_serializer(
    "AudiencePausedError",
    {
        "error": inline_serializer(
            "AudiencePausedErrorBody",
            {
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "reason": serializers.CharField(),
                "audience_id": serializers.UUIDField(),
                "status": serializers.CharField(),
            },
        )
    },
)


class AudienceRefreshApi(APIView):
    permission_classes = [CanWrite]

    class OutputSerializer(serializers.Serializer):
        audience_id = serializers.UUIDField()
        build_status = serializers.CharField()
        message = serializers.CharField()

    @extend_schema(request=None, responses={202: OutputSerializer, 404: ERROR, 409: REFRESH_CONFLICT})
    def post(self, request, audience_id):
        audience = audience_selectors.audience_get(principal_of(request), audience_id)
        audience = audience_services.audience_refresh(audience=audience)
        body = {
            "audience_id": audience.pk,
            "build_status": audience.build_status,
            "message": "A rebuild of the audience is queued.",
        }
        return Response(self.OutputSerializer(body).data, status=status.HTTP_202_ACCEPTED)


class AudiencePreviewApi(APIView):
    @extend_schema(
        parameters=[AudiencePreviewQuery],
        responses={
            200: inline_serializer(
                "AudiencePreview",
                {
                    "audience_id": serializers.UUIDField(),
                    "limit": serializers.IntegerField(),
                    "columns": serializers.ListField(child=serializers.CharField()),
                    "rows": serializers.ListField(child=serializers.DictField()),
                },
            ),
            400: ERROR,
            404: ERROR,
            409: ERROR,
            503: ERROR,
        },
    )
    def get(self, request, audience_id):
        limit = query_parse(AudiencePreviewQuery, request)["limit"]
        audience = audience_selectors.audience_get(principal_of(request), audience_id)
        try:
            columns, rows = audience_selectors.audience_preview(audience, limit)
        except engine.EngineError as exc:
            raise _engine_errors(exc) from exc
        return Response({"audience_id": audience.pk, "limit": limit, "columns": columns, "rows": rows})


class AudienceSampleApi(APIView):
    @extend_schema(
        parameters=[AudienceSampleQuery],
        responses={
            200: inline_serializer(
                "AudienceSample",
                {
                    "audience_id": serializers.UUIDField(),
                    "limit": serializers.IntegerField(),
                    "contacts": inline_serializer(
                        "AudienceSampleContact",
                        {
                            "person_id": serializers.CharField(
                                allow_null=True, help_text="Null for list rows known only by email."
                            ),
                            "email": serializers.CharField(allow_null=True),
                            "intent_frequency": serializers.IntegerField(
                                help_text="Rows of the profile in the audience over its window."
                            ),
                            "impression_count": serializers.IntegerField(
                                help_text="Impressions served to the profile over the same window."
                            ),
                        },
                        many=True,
                    ),
                },
            ),
            400: ERROR,
            404: ERROR,
            409: ERROR,
            503: ERROR,
        },
    )
    def get(self, request, audience_id):
        limit = query_parse(AudienceSampleQuery, request)["limit"]
        audience = audience_selectors.audience_get(principal_of(request), audience_id)
        try:
            contacts = audience_selectors.audience_sample(audience, limit)
        except engine.EngineError as exc:
            raise _engine_errors(exc) from exc
        return Response({"audience_id": audience.pk, "limit": limit, "contacts": contacts})


class CSVRenderer(renderers.BaseRenderer):
    """Lets `Accept: text/csv` through content negotiation; errors still go out as the JSON error body."""

    media_type = "text/csv"
    format = "csv"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode() if data is not None else b""


class AudienceDownloadApi(APIView):
    """The audience as CSV, streamed; works with an API key, a JWT or the dashboard session."""

    renderer_classes = [renderers.JSONRenderer, CSVRenderer]

    @extend_schema(
        parameters=[AudienceDownloadQuery],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description=(
                    "CSV with a header row. The X-Delivr-Rows response header and the file name "
                    "(<audience>-people-<date>.csv or <audience>-records-<date>.csv) say which rows it holds."
                ),
            ),
            400: ERROR,
            401: ERROR,
            404: ERROR,
            409: ERROR,
            503: ERROR,
        },
    )
    def get(self, request, audience_id):
        query = query_parse(AudienceDownloadQuery, request)
        project_id, record_limit, rows = query["project_id"], query["record_limit"], query["rows"]
        audience = audience_selectors.audience_get(principal_of(request), audience_id)
        if audience.project_id != project_id:
            raise ApplicationError(
                "project_id: the audience is not in this project.", code="project_mismatch"
            )
        # No check of build freshness: the download reads the data as it is now, so a day that landed after
        # the last build is simply included (the May 2026 fix for spurious 400s).
        try:
            sel = audience_selectors.audience_selection(audience)
            chunks = engine.engine_for(sel.input_path).write_csv_stream(sel, record_limit or None, rows=rows)
            first = next(chunks, b"")  # opens the scan now, so a read error is a clean 409, not a cut stream
        except engine.EngineError as exc:
            raise _engine_errors(exc) from exc
        response = StreamingHttpResponse(
            itertools.chain([first], chunks), content_type="text/csv; charset=utf-8"
        )
        name = slugify(audience.name) or "audience"
        response["Content-Disposition"] = f'attachment; filename="{name}-{rows}-{timezone.now():%Y%m%d}.csv"'
        response["X-Delivr-Rows"] = rows
        response["Cache-Control"] = "no-store"
        return response


class AudienceFieldValuesApi(APIView):
    """Values that exist in the data for a field (what the builder suggests), with their record counts."""

    class OutputSerializer(serializers.Serializer):
        field = serializers.CharField()
        approximate = serializers.BooleanField(
            help_text="True when the counts were estimated from a sample of the window's files (rare values "
            "may be missing); an exact count then runs in the background and later answers are exact."
        )
        values = inline_serializer(
            "AudienceFieldValue",
            {"value": serializers.CharField(), "records": serializers.IntegerField()},
            many=True,
        )

    @extend_schema(
        operation_id="audience_field_values",
        parameters=[AudienceFieldValuesQuery],
        responses={200: OutputSerializer, 400: ERROR, 401: ERROR, 409: ERROR, 503: ERROR},
        description=(
            "Score and company_employee_count values come in bucket order, others most frequent first. "
            "Identifiers and names (person_id, uid2, email, first/last name) and number fields have no "
            "suggestions: their list is empty."
        ),
    )  # fmt: skip
    def get(self, request, field: str):
        from audiences.selectors import values as value_selectors

        query = query_parse(AudienceFieldValuesQuery, request)
        window: dict = {"lookback_days": query["lookback_days"]}
        if query["date_from"] or query["date_to"]:
            window = {
                "date_from": query["date_from"] and query["date_from"].isoformat(),
                "date_to": query["date_to"] and query["date_to"].isoformat(),
            }
            if query["lookback_days"] is not None:
                window["lookback_days"] = query["lookback_days"]
        definitions.definition_normalize(window, {})  # a window in words or a 400
        try:
            columns = datasets.dataset_columns(datasets.default_input_path())
            if field.lower() not in {c.lower() for c in columns}:
                raise ApplicationError(
                    f"There is no field called “{field}” in this data.", code="unknown_field"
                )
            values = value_selectors.field_values(field=field, window=window) or []
        except engine.EngineError as exc:
            raise _engine_errors(exc) from exc
        shown = value_selectors.suggestions(values, query["q"], limit=query["limit"])
        body = {
            "field": field,
            "approximate": any(v.approximate for v in values),
            "values": [{"value": v.value, "records": v.rows} for v in shown],
        }
        return Response(self.OutputSerializer(body).data)
