"""The Audience API's task endpoints, as delivr-audience-api.txt describes them."""

import re
from datetime import date, datetime

from django.http import FileResponse
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import ERROR
from audiences.engine.buckets import SCORES
from audiences.models import RECORD_LIMIT_MAX, OutputFormat, TaskKind
from audiences.selectors import tasks as task_selectors
from audiences.services import tasks as task_services
from delivr_admin.fields import StrictBooleanField, StrictCharField, StrictIntegerField
from delivr_admin.pagination import KeyedLimitOffsetPagination
from delivr_admin.permissions import CanWrite, principal_of
from delivr_admin.query import QueryIntegerField, query_parse

_PREFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


@extend_schema_field({"type": "string", "example": "2024-05-01", "description": "YYYY-MM-DD or YYYYMMDD"})
class DayField(serializers.Field):
    """A day as `2024-05-01` or `20240502`."""

    default_error_messages = {"invalid": "Days are dates like 2024-05-01 or 20240502."}

    def to_internal_value(self, data) -> date:
        if not isinstance(data, str):
            self.fail("invalid")
        for fmt in ("%Y-%m-%d", "%Y%m%d"):
            try:
                return datetime.strptime(data.strip(), fmt).date()
            except ValueError:
                continue
        self.fail("invalid")

    def to_representation(self, value) -> str:
        return value.isoformat()


class PrefixField(StrictCharField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not _PREFIX_RE.match(value):
            raise serializers.ValidationError(f"{value!r} is not a topic id prefix (letters, digits, _ . -).")
        return value


class ScoreField(StrictCharField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data).lower()
        if value not in SCORES:
            raise serializers.ValidationError(f"{value!r} is not a score bucket ({', '.join(SCORES)}).")
        return value


class CommonTaskInput(serializers.Serializer):
    limit = StrictIntegerField(required=False, min_value=1, max_value=RECORD_LIMIT_MAX, allow_null=True)
    perform_unload = StrictBooleanField(required=False, default=True)
    select = StrictCharField(required=False, allow_blank=True, max_length=4000, allow_null=True)
    where_expr = StrictCharField(required=False, allow_blank=True, max_length=4000, allow_null=True)
    format = serializers.ChoiceField(
        choices=OutputFormat.choices, required=False, default=OutputFormat.PARQUET
    )


PLANNED_JOBS_HELP = (
    "Work units of the task. 0 until a worker has listed the data and planned them (a moment after creation; "
    "the status stays in_progress, or unloading when limit skips the count, meanwhile)."
)


class TaskCreatedSerializer(serializers.Serializer):
    task_id = serializers.UUIDField()
    status = serializers.CharField()
    total_jobs = serializers.IntegerField(help_text=PLANNED_JOBS_HELP)
    completed_jobs = serializers.IntegerField()


class PartitionDictField(serializers.DictField):
    """{partition: value} the selector built with values of the right type already: shown as they are. The
    child field documents the values; checking each of a 2,000-partition status's 6,000 values one by one
    cost the busiest endpoint ~20 ms (and more under load) while a client polls it."""

    def to_representation(self, value) -> dict:
        return dict(value)


class TaskStatusSerializer(serializers.Serializer):
    task_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["in_progress", "counted", "unloading", "completed", "failed"])
    total_jobs = serializers.IntegerField(help_text=PLANNED_JOBS_HELP)
    completed_jobs = serializers.IntegerField()
    total_count = serializers.IntegerField(allow_null=True)
    suppressed_count = serializers.IntegerField(help_text="Rows left out because their identity opted out.")
    counts = PartitionDictField(
        child=serializers.IntegerField(), help_text="Keyed day=.../prefix=.../score=..."
    )
    outputs = PartitionDictField(
        child=serializers.CharField(),
        help_text="Keyed as counts: each file's storage URL (gs://..., s3://..., or file:///... on one machine).",
    )
    output_links = PartitionDictField(
        child=serializers.CharField(),
        help_text="Download links, expire in 15 minutes: presigned by the object store, else signed by Delivr.",
    )
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField()
    error = serializers.CharField(required=False)
    partitions_total = serializers.IntegerField(
        required=False, help_text="Only on a paged status: how many partitions the task has in all."
    )
    counts_offset = serializers.IntegerField(
        required=False, help_text="Only on a paged status: the first partition shown (0-based)."
    )
    counts_limit = serializers.IntegerField(
        required=False, help_text="Only on a paged status: the most partitions shown."
    )


def _created(task) -> Response:
    body = {
        "task_id": task.pk,
        "status": task.status,
        "total_jobs": task.total_jobs,
        "completed_jobs": task.completed_jobs,
    }
    return Response(TaskCreatedSerializer(body).data, status=status.HTTP_201_CREATED)


def _create(request, kind: str, v: dict, **source) -> Response:
    """Creates the task the validated body `v` asks for (`source`: what it reads) and answers 201."""
    task = task_services.task_create(
        principal=principal_of(request),
        kind=kind,
        limit=v.get("limit"),
        perform_unload=v["perform_unload"],
        select=v.get("select"),
        where_expr=v.get("where_expr"),
        output_format=v["format"],
        request_data=request.data,
        **source,
    )
    return _created(task)


def _base_url(request) -> str:
    return request.build_absolute_uri("/")[:-1]


class IntentHiveTaskCreateApi(APIView):
    permission_classes = [CanWrite]

    class InputSerializer(CommonTaskInput):
        days = serializers.ListField(child=DayField(), min_length=1, max_length=366)
        topic_id_prefixes = serializers.ListField(child=PrefixField(), min_length=1, max_length=1000)
        scores = serializers.ListField(child=ScoreField(), min_length=1, max_length=3)
        input_path = StrictCharField(required=False, allow_blank=True, max_length=1024, allow_null=True)

    @extend_schema(
        request=InputSerializer, responses={201: TaskCreatedSerializer, 400: ERROR, 401: ERROR, 503: ERROR}
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        return _create(
            request,
            TaskKind.INTENT_HIVE,
            v,
            input_path=v.get("input_path"),
            days=v["days"],
            topic_id_prefixes=v["topic_id_prefixes"],
            scores=v["scores"],
        )


class GenericParquetTaskCreateApi(APIView):
    permission_classes = [CanWrite]

    class InputSerializer(CommonTaskInput):
        input_path = StrictCharField(max_length=1024)

    @extend_schema(
        request=InputSerializer, responses={201: TaskCreatedSerializer, 400: ERROR, 401: ERROR, 503: ERROR}
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        return _create(request, TaskKind.GENERIC_PARQUET, v, input_path=v["input_path"])


class TaskPagination(KeyedLimitOffsetPagination):
    key = "tasks"
    default_limit = 100


class TaskListApi(APIView):
    @extend_schema(
        operation_id="tasks_list",
        parameters=[
            *TaskPagination.parameters(),
        ],
        responses={
            200: TaskPagination.schema("TaskList", TaskStatusSerializer(many=True)),
            400: ERROR,
        },
    )
    def get(self, request):
        base = _base_url(request)

        def items(page: list) -> list:
            jobs = task_selectors.task_jobs_by_task(page)
            return [task_selectors.task_status(t, base_url=base, jobs=jobs[t.pk]) for t in page]

        return TaskPagination.respond(request, task_selectors.task_list(principal_of(request)), items)


class TaskStatusQuery(serializers.Serializer):
    counts_offset = QueryIntegerField(
        low=0, high=10**9, note=": the first partition of counts/outputs/output_links to show"
    )
    counts_limit = QueryIntegerField(low=1, high=10_000, note=": the most partitions to show")


class TaskStatusApi(APIView):
    """The task's status. Up to DELIVR_TASK_STATUS_PARTITIONS partitions (2,000) it lists them all, as the
    reference shows; a larger task, or a request with counts_offset/counts_limit, gets one page of counts,
    outputs and output_links with partitions_total, counts_offset and counts_limit."""

    @extend_schema(
        parameters=[TaskStatusQuery], responses={200: TaskStatusSerializer, 400: ERROR, 404: ERROR}
    )
    def get(self, request, task_id):
        page = query_parse(TaskStatusQuery, request)
        task = task_selectors.task_get(principal_of(request), task_id)
        body = task_selectors.task_status(
            task,
            base_url=_base_url(request),
            offset=page.get("counts_offset"),
            limit=page.get("counts_limit"),
        )
        return Response(TaskStatusSerializer(body).data)


class TaskUnloadApi(APIView):
    permission_classes = [CanWrite]

    @extend_schema(request=None, responses={202: TaskStatusSerializer, 404: ERROR, 409: ERROR})
    def post(self, request, task_id):
        task = task_selectors.task_get(principal_of(request), task_id)
        task = task_services.task_unload_start(task=task)
        body = task_selectors.task_status(task, base_url=_base_url(request))
        return Response(TaskStatusSerializer(body).data, status=status.HTTP_202_ACCEPTED)


class TaskOutputDownloadQuery(serializers.Serializer):
    token = serializers.CharField(
        error_messages={"required": "Required.", "blank": "Required."},
        help_text="The signed token of the link the task status gives (valid 15 minutes).",
    )
    part = QueryIntegerField(
        low=0, high=10**9, default=0, note=": which partition of the job (the link says)"
    )


class TaskOutputDownloadApi(APIView):
    """Streams one output file; the link must be signed, fresh (15 min) and used by the owning org.

    No token is a 400 like any missing parameter; a token that is forged, expired or another task's is a 404."""

    @extend_schema(
        parameters=[TaskOutputDownloadQuery],
        responses={(200, "application/octet-stream"): bytes, 400: ERROR, 404: ERROR},
    )
    def get(self, request, task_id, job_id):
        from delivr_admin import storage

        query = query_parse(TaskOutputDownloadQuery, request)
        output = task_selectors.output_resolve(
            principal_of(request), task_id, job_id, query["token"], query.get("part") or 0
        )
        filename = task_selectors.output_file_name(output.partition, output.name)
        return FileResponse(storage.open_read(output.name), as_attachment=True, filename=filename)
