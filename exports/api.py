"""Exports API (March 2026 update): exports with record limits, list names and field mappings; runs with
per-object results; dry runs and connection tests. Credentials are write-only: responses name the saved ones.
"""

from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import ERROR
from audiences.models import RECORD_LIMIT_MAX
from delivr_admin.errors import ApplicationError
from delivr_admin.fields import StrictCharField, StrictIntegerField, StrictUUIDField
from delivr_admin.pagination import KeyedLimitOffsetPagination
from delivr_admin.permissions import CanWrite, principal_of
from delivr_admin.query import QueryUUIDField, query_parse

from . import selectors
from .models import CheckStatus, ConnectionStatus, FailMode, Schedule, SyncMode
from .services import connection_checks as check_services
from .services import dry_run as dry_run_services
from .services import exports as export_services
from .services import runs as run_services
from .validation import FieldMappingEntrySerializer


class RecordLimitSerializer(serializers.Serializer):
    maxRecords = StrictIntegerField(min_value=1, max_value=RECORD_LIMIT_MAX)  # noqa: N815
    failMode = serializers.ChoiceField(choices=FailMode.values, required=False, default="truncate")  # noqa: N815


class StrictDictField(serializers.DictField):
    default_error_messages = {"not_a_dict": "Must be an object."}


SYNC_MODE_HELP = (
    '"changes" (default for new exports): send only records added or changed since the last successful run; '
    '"full": send every record; '
    '"mirror": changes plus removal of records that left the audience (only for destinations that can '
    "remove records)."
)


class ExportOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    project_id = serializers.UUIDField()
    audience_id = serializers.UUIDField(allow_null=True)
    audience_name = serializers.SerializerMethodField()
    name = serializers.CharField()
    destination_type = serializers.CharField()
    destination_config = serializers.DictField()
    credentials_saved = serializers.ListField(
        child=serializers.CharField(), source="credential_names", help_text="Names of the saved credentials."
    )
    field_mapping = FieldMappingEntrySerializer(many=True)
    schedule = serializers.CharField()
    next_run_at = serializers.DateTimeField(allow_null=True)
    record_limit = RecordLimitSerializer(allow_null=True)
    list_name = serializers.CharField(source="effective_list_name")
    list_name_is_default = serializers.SerializerMethodField()
    connection = serializers.SerializerMethodField(
        help_text=(
            "Whether the saved credentials work, checked in the background after every save: status "
            "unchecked | checking | connected | not_connected, and a sentence saying why."
        )
    )
    sync_mode = serializers.CharField(help_text=SYNC_MODE_HELP)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_audience_name(self, obj) -> str | None:
        return obj.audience.name if obj.audience_id else None

    def get_list_name_is_default(self, obj) -> bool:
        return not obj.list_name

    @extend_schema_field(
        inline_serializer(
            "ExportConnection",
            {
                "status": serializers.ChoiceField(choices=ConnectionStatus.values),
                "message": serializers.CharField(),
                "checked_at": serializers.DateTimeField(allow_null=True),
            },
        )
    )
    def get_connection(self, obj) -> dict:
        return {
            "status": obj.connection_status,
            "message": obj.connection_message,
            "checked_at": obj.connection_checked_at.isoformat() if obj.connection_checked_at else None,
        }


class ObjectTypeResultSerializer(serializers.Serializer):
    object_type = serializers.CharField()
    records_created = serializers.IntegerField()
    records_updated = serializers.IntegerField()
    records_failed = serializers.IntegerField()
    records_skipped = serializers.IntegerField()
    operation = serializers.CharField()
    error_message = serializers.CharField()
    errors = serializers.ListField(
        child=inline_serializer(
            "ExportRecordError",
            {
                "key": serializers.CharField(),
                "code": serializers.CharField(),
                "message": serializers.CharField(),
            },
        ),
        help_text="Individual failed records (the first 100 per object type).",
    )


def _seconds_left(run) -> int | None:
    from .services.progress import run_seconds_left

    return run_seconds_left(run)


class ExportRunOutputSerializer(serializers.Serializer):
    run_id = serializers.UUIDField(source="id")
    export_id = serializers.UUIDField()
    status = serializers.CharField()
    trigger = serializers.CharField()
    records_total = serializers.IntegerField()
    records_exported = serializers.IntegerField()
    records_failed = serializers.IntegerField()
    records_duplicated = serializers.IntegerField()
    records_expected = serializers.IntegerField(
        allow_null=True, help_text="Records the run will process (counted when it starts); null until then."
    )
    seconds_left = serializers.SerializerMethodField(
        help_text="Estimated seconds until a running run finishes, from its pace so far; null otherwise."
    )
    records_added = serializers.IntegerField(
        help_text="Records the destination did not hold before this run."
    )
    records_changed = serializers.IntegerField(
        help_text="Records whose mapped values changed since the last run."
    )
    records_unchanged = serializers.IntegerField(
        help_text="Records the destination already held with these values (not sent unless sync_mode is full)."
    )
    records_removed = serializers.IntegerField(
        help_text="Records removed from the destination because they left the audience (sync_mode mirror)."
    )
    files = serializers.SerializerMethodField(
        help_text='Signed download links (15 minutes) of the files the run wrote: "output", "removals".'
    )
    suppressed_count = serializers.IntegerField()
    object_type_results = serializers.DictField(child=ObjectTypeResultSerializer())
    validation_errors = serializers.DictField(
        source="validation_summary",
        child=serializers.DictField(child=serializers.IntegerField()),
        help_text="code -> field -> records refused before sending.",
    )
    batches_done = serializers.IntegerField()
    attempts = serializers.IntegerField()
    error = serializers.CharField()
    failure_kind = serializers.CharField(help_text="user | system | timeout, when failed.")
    details = serializers.DictField()
    list_id = serializers.UUIDField(source="contact_list_id", allow_null=True)
    queued_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_seconds_left(self, obj) -> int | None:
        return _seconds_left(obj)

    def get_files(self, obj) -> dict[str, str]:
        request = self.context.get("request")
        links = selectors.export_run_file_links(obj)
        return {k: request.build_absolute_uri(v) if request else v for k, v in links.items()}


class ExportListQuery(serializers.Serializer):
    project_id = QueryUUIDField(required=False, default=None, help_text="Only this project's exports.")


class ExportPagination(KeyedLimitOffsetPagination):
    key = "exports"


class ExportRunPagination(KeyedLimitOffsetPagination):
    key = "runs"
    max_limit = 500


class ExportListApi(APIView):
    permission_classes = [CanWrite]

    class InputSerializer(serializers.Serializer):
        project_id = StrictUUIDField(help_text="The workspace (project) of the export.")
        audience_id = StrictUUIDField()
        name = StrictCharField(max_length=255)
        destination_type = StrictCharField(max_length=40)
        destination_config = StrictDictField(required=False)
        credentials = StrictDictField(required=False, allow_null=True)
        field_mapping = FieldMappingEntrySerializer(many=True)
        schedule = serializers.ChoiceField(choices=Schedule.values, required=False, default="manual")
        record_limit = RecordLimitSerializer(required=False, allow_null=True)
        list_name = StrictCharField(max_length=255, required=False, allow_blank=True, allow_null=True)
        sync_mode = serializers.ChoiceField(choices=SyncMode.values, required=False, help_text=SYNC_MODE_HELP)

    @extend_schema(
        operation_id="exports_list",
        parameters=[ExportListQuery, *ExportPagination.parameters()],
        responses={
            200: ExportPagination.schema("ExportList", ExportOutputSerializer(many=True)),
            400: ERROR,
            401: ERROR,
        },
    )
    def get(self, request):
        query = query_parse(ExportListQuery, request)
        exports = selectors.export_list(principal_of(request), project_id=query["project_id"])
        return ExportPagination.respond(
            request, exports, lambda page: ExportOutputSerializer(page, many=True).data
        )

    @extend_schema(
        request=InputSerializer, responses={201: ExportOutputSerializer, 400: ERROR, 401: ERROR, 403: ERROR}
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        export = export_services.export_create(principal=principal_of(request), **data.validated_data)
        return Response(ExportOutputSerializer(export).data, status=status.HTTP_201_CREATED)


class ExportDetailApi(APIView):
    permission_classes = [CanWrite]

    class InputSerializer(serializers.Serializer):
        audience_id = StrictUUIDField(required=False)
        name = StrictCharField(max_length=255, required=False)
        destination_type = StrictCharField(max_length=40, required=False)
        destination_config = StrictDictField(required=False)
        credentials = StrictDictField(required=False, allow_null=True)
        field_mapping = FieldMappingEntrySerializer(many=True, required=False)
        schedule = serializers.ChoiceField(choices=Schedule.values, required=False)
        record_limit = RecordLimitSerializer(required=False, allow_null=True)
        list_name = StrictCharField(max_length=255, required=False, allow_blank=True, allow_null=True)
        sync_mode = serializers.ChoiceField(choices=SyncMode.values, required=False, help_text=SYNC_MODE_HELP)

    @extend_schema(responses={200: ExportOutputSerializer, 401: ERROR, 404: ERROR})
    def get(self, request, export_id):
        return Response(ExportOutputSerializer(selectors.export_get(principal_of(request), export_id)).data)

    @extend_schema(
        request=InputSerializer,
        responses={200: ExportOutputSerializer, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR},
        description="Partial update: omitted fields keep their value; `record_limit: null` clears the limit.",
    )
    def put(self, request, export_id):
        principal = principal_of(request)
        export = selectors.export_get(principal, export_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        export = export_services.export_update(principal=principal, export=export, **data.validated_data)
        return Response(ExportOutputSerializer(export).data)

    @extend_schema(responses={204: None, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR})
    def delete(self, request, export_id):
        export = selectors.export_get(principal_of(request), export_id)
        export_services.export_delete(export=export)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ExportRunListApi(APIView):
    permission_classes = [CanWrite]

    @extend_schema(
        operation_id="export_runs_list",
        parameters=ExportRunPagination.parameters(),
        responses={
            200: ExportRunPagination.schema("ExportRunList", ExportRunOutputSerializer(many=True)),
            400: ERROR,
            401: ERROR,
            404: ERROR,
        },
    )
    def get(self, request, export_id):
        export = selectors.export_get(principal_of(request), export_id)
        return ExportRunPagination.respond(
            request,
            selectors.export_run_list(export),
            lambda page: ExportRunOutputSerializer(page, many=True).data,
        )

    @extend_schema(
        request=None,
        responses={
            202: ExportRunOutputSerializer,
            400: ERROR,
            401: ERROR,
            403: ERROR,
            404: ERROR,
            409: ERROR,
        },
        description=(
            "Starts a run now; 202 with the queued run (poll GET .../runs/{run_id}). 409 `not_connected` when "
            "the export lacks the credentials its destination needs (e.g. a HubSpot access token), 409 "
            "`run_in_progress` when a run is already queued or running."
        ),
    )
    def post(self, request, export_id):
        principal = principal_of(request)
        export = selectors.export_get(principal, export_id)
        run = run_services.export_run_start(export=export, trigger="api", actor=principal.actor)
        run.refresh_from_db()
        return Response(ExportRunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class ExportRunDetailApi(APIView):
    @extend_schema(responses={200: ExportRunOutputSerializer, 401: ERROR, 404: ERROR})
    def get(self, request, export_id, run_id):
        export = selectors.export_get(principal_of(request), export_id)
        return Response(ExportRunOutputSerializer(selectors.export_run_get(export, run_id)).data)


class ExportDryRunApi(APIView):
    permission_classes = [CanWrite]

    class InputSerializer(serializers.Serializer):
        limit = StrictIntegerField(
            min_value=1,
            max_value=dry_run_services.MAX_LIMIT,
            required=False,
            default=dry_run_services.DEFAULT_LIMIT,
        )

    class OutputSerializer(serializers.Serializer):
        limit = serializers.IntegerField(
            help_text="How many of the audience's first records were checked at most."
        )
        audience_records = serializers.IntegerField()
        suppressed_count = serializers.IntegerField()
        records_checked = serializers.IntegerField()
        records_duplicated = serializers.IntegerField()
        records_without_key = serializers.IntegerField()
        records_valid = serializers.IntegerField()
        records_invalid = serializers.IntegerField()
        errors = serializers.ListField(
            child=inline_serializer(
                "DryRunError",
                {
                    "code": serializers.CharField(),
                    "count": serializers.IntegerField(),
                    "fields": serializers.DictField(child=serializers.IntegerField()),
                    "examples": serializers.ListField(child=serializers.DictField()),
                },
            )
        )
        record_limit = serializers.DictField(allow_null=True)

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR},
        description="Validates the audience's first `limit` records (default 10,000) with the saved mapping.",
    )
    def post(self, request, export_id):
        export = selectors.export_get(principal_of(request), export_id)
        # An absent body is `{}` (the defaults); a JSON body that is not an object (`[]`, `0`, `""`) is a 400.
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if export.audience is None:
            raise ApplicationError("The export's audience was deleted.", code="invalid_audience")
        result = dry_run_services.export_dry_run(
            audience=export.audience,
            field_mapping=export.field_mapping,
            record_limit=export.record_limit,
            limit=data.validated_data["limit"],
        )
        return Response(self.OutputSerializer(result).data)


class ConnectionCheckOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    export_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=CheckStatus.values)
    message = serializers.CharField(
        help_text="Why the check failed, or what it connected to; empty while pending."
    )
    created_at = serializers.DateTimeField()
    checked_at = serializers.DateTimeField(allow_null=True)


class ExportTestConnectionApi(APIView):
    permission_classes = [CanWrite]

    @extend_schema(
        request=None,
        responses={202: ConnectionCheckOutputSerializer, 401: ERROR, 403: ERROR, 404: ERROR, 429: ERROR},
        description=(
            "Queues a check of the saved credentials against the destination and answers at once with the check "
            "(status `pending`); poll its `Location` until the status is `ok` or `failed`. A check ends within "
            "DELIVR_TEST_CONNECTION_DEADLINE_SECONDS (10 s by default), retries included. While a check of the "
            "export is pending, asking again returns that check."
        ),
    )
    def post(self, request, export_id):
        principal = principal_of(request)
        export = selectors.export_get(principal, export_id)
        check = check_services.connection_check_start(export=export, actor=principal.actor)
        location = f"/api/v1/exports/{export.id}/test-connection/{check.id}"
        return Response(
            ConnectionCheckOutputSerializer(check).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": location},
        )


class ExportConnectionCheckDetailApi(APIView):
    @extend_schema(
        responses={200: ConnectionCheckOutputSerializer, 401: ERROR, 403: ERROR, 404: ERROR},
        description="One connection check of the export: `pending`, then `ok` or `failed` with a message.",
    )
    def get(self, request, export_id, check_id):
        export = selectors.export_get(principal_of(request), export_id)
        check = check_services.connection_check_expire(check=selectors.connection_check_get(export, check_id))
        return Response(ConnectionCheckOutputSerializer(check).data)
