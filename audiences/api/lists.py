"""List uploads (March 2026 update: type/source filters, batch delete) with import reports as CSV files,
the way Brevo's import processes report invalid and duplicate rows."""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse, Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import parsers, renderers, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import ERROR
from audiences.api.audiences import CSVRenderer
from audiences.models import ListSource, ListStatus, ListType
from audiences.selectors import lists as list_selectors
from audiences.services import lists as list_services
from delivr_admin.errors import ApplicationError
from delivr_admin.fields import StrictUUIDField
from delivr_admin.pagination import KeyedLimitOffsetPagination
from delivr_admin.permissions import CanWrite, principal_of
from delivr_admin.query import QueryChoiceField, query_parse

BATCH_MAX = 1000


class ContactListOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    project_id = serializers.UUIDField()
    organization_id = serializers.UUIDField()
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=ListType.choices)
    source = serializers.ChoiceField(choices=ListSource.choices)
    status = serializers.ChoiceField(choices=ListStatus.choices)
    row_count = serializers.IntegerField(help_text="Data rows in the uploaded file (blank lines skipped).")
    imported_count = serializers.IntegerField()
    invalid_count = serializers.IntegerField()
    duplicate_count = serializers.IntegerField()
    invalid_report_url = serializers.CharField(allow_null=True, help_text="CSV of the invalid rows.")
    duplicates_report_url = serializers.CharField(allow_null=True, help_text="CSV of the duplicate rows.")
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)


def list_body(contact_list, request) -> dict:
    def link(kind: str, name: str) -> str | None:
        if not name:
            return None
        return request.build_absolute_uri(reverse("api-list-report", args=[contact_list.pk, kind]))

    return ContactListOutputSerializer(
        {
            "id": contact_list.pk,
            "project_id": contact_list.project_id,
            "organization_id": contact_list.organization_id,
            "name": contact_list.name,
            "type": contact_list.type,
            "source": contact_list.source,
            "status": contact_list.status,
            "row_count": contact_list.row_count,
            "imported_count": contact_list.imported_count,
            "invalid_count": contact_list.invalid_count,
            "duplicate_count": contact_list.duplicate_count,
            "invalid_report_url": link("invalid", contact_list.invalid_report_name),
            "duplicates_report_url": link("duplicates", contact_list.duplicate_report_name),
            "error": contact_list.error,
            "created_at": contact_list.created_at,
            "completed_at": contact_list.completed_at,
        }
    ).data


class ContactListListQuery(serializers.Serializer):
    type = QueryChoiceField(ListType.values, default=None, help_text="Only lists of this type.")
    source = QueryChoiceField(ListSource.values, default=None, help_text="Only lists from this source.")


class ContactListPagination(KeyedLimitOffsetPagination):
    key = "lists"


class ContactListListApi(APIView):
    permission_classes = [CanWrite]
    parser_classes = [parsers.MultiPartParser, parsers.FormParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(
            help_text="CSV (UTF-8) with a header row; at most DELIVR_MAX_UPLOAD_BYTES."
        )
        name = serializers.CharField(max_length=255)
        type = serializers.ChoiceField(choices=ListType.choices, default=ListType.CONTACTS)
        project_id = StrictUUIDField()

    @extend_schema(
        operation_id="lists_list",
        parameters=[ContactListListQuery, *ContactListPagination.parameters()],
        responses={
            200: ContactListPagination.schema("ContactListPage", ContactListOutputSerializer(many=True)),
            400: ERROR,
        },
    )
    def get(self, request):
        query = query_parse(ContactListListQuery, request)
        lists = list_selectors.contact_list_list(
            principal_of(request), type=query["type"], source=query["source"]
        )
        return ContactListPagination.respond(
            request, lists, lambda page: [list_body(c, request) for c in page]
        )

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={202: ContactListOutputSerializer, 400: ERROR, 403: ERROR, 413: ERROR, 415: ERROR},
        description="Uploads a CSV; the import runs in the background (poll GET /api/v1/lists/{id}).",
    )
    def post(self, request):
        # Refuse an oversized body before parsing it into a temporary file.
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > settings.DELIVR_MAX_UPLOAD_BYTES + 64 * 1024:
            raise ApplicationError(
                f"The upload is larger than {settings.DELIVR_MAX_UPLOAD_BYTES:,} bytes.",
                code="payload_too_large",
                status=413,
            )
        principal = principal_of(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        contact_list = list_services.contact_list_upload(
            principal=principal,
            project_id=v["project_id"],
            name=v["name"],
            type=v["type"],
            upload=v["file"],
            source=ListSource.API,
        )
        contact_list.refresh_from_db()
        return Response(list_body(contact_list, request), status=status.HTTP_202_ACCEPTED)


class ContactListDetailApi(APIView):
    permission_classes = [CanWrite]

    @extend_schema(responses={200: ContactListOutputSerializer, 404: ERROR})
    def get(self, request, list_id):
        return Response(list_body(list_selectors.contact_list_get(principal_of(request), list_id), request))

    @extend_schema(responses={204: None, 404: ERROR, 409: ERROR})
    def delete(self, request, list_id):
        contact_list = list_selectors.contact_list_get(principal_of(request), list_id)
        list_services.contact_list_delete(contact_list=contact_list)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ContactListBatchDeleteApi(APIView):
    permission_classes = [CanWrite]

    class InputSerializer(serializers.Serializer):
        ids = serializers.ListField(child=StrictUUIDField(), min_length=1, max_length=BATCH_MAX)

    class OutputSerializer(serializers.Serializer):
        deleted_count = serializers.IntegerField(help_text="Lists of yours that were deleted.")
        in_use_ids = serializers.ListField(
            child=serializers.UUIDField(), help_text="Lists kept because an audience reads them."
        )

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer, 400: ERROR, 403: ERROR})
    def delete(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deleted, in_use = list_services.contact_list_delete_batch(
            principal=principal_of(request), ids=data.validated_data["ids"]
        )
        return Response(self.OutputSerializer({"deleted_count": deleted, "in_use_ids": in_use}).data)


class ContactListReportApi(APIView):
    renderer_classes = [renderers.JSONRenderer, CSVRenderer]

    @extend_schema(
        parameters=[OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=["invalid", "duplicates"])],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="The report rows as CSV."),
            404: ERROR,
        },
    )
    def get(self, request, list_id, kind):
        from delivr_admin import storage

        contact_list = list_selectors.contact_list_get(principal_of(request), list_id)
        name = list_selectors.contact_list_report_name(contact_list, kind)
        if not name:
            raise Http404("This import has no such report (no rows were reported).")
        response = FileResponse(
            storage.open_read(name),
            content_type="text/csv; charset=utf-8",
            as_attachment=True,
            filename=f"{contact_list.name[:60]}-{kind}.csv",
        )
        response["Cache-Control"] = "no-store"
        return response
