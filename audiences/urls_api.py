"""JSON API of the audiences app (paths exactly as the Delivr reference documents say)."""

from django.urls import path

from audiences.api import audiences, lists, tasks

urlpatterns = [
    path("api/v1/intent_hive_tasks", tasks.IntentHiveTaskCreateApi.as_view(), name="task-create-intent"),
    path(
        "api/v1/generic_parquet_tasks",
        tasks.GenericParquetTaskCreateApi.as_view(),
        name="task-create-parquet",
    ),
    path("api/v1/status", tasks.TaskListApi.as_view(), name="task-list"),
    path("api/v1/status/<uuid:task_id>", tasks.TaskStatusApi.as_view(), name="task-status"),
    path("api/v1/tasks/<uuid:task_id>/unload", tasks.TaskUnloadApi.as_view(), name="task-unload"),
    path(
        "api/v1/tasks/<uuid:task_id>/outputs/<int:job_id>",
        tasks.TaskOutputDownloadApi.as_view(),
        name="task-output",
    ),
    # Audiences (March and May 2026 updates).
    path("api/v1/audiences", audiences.AudienceListApi.as_view(), name="api-audience-list"),
    path("api/v1/audiences/<uuid:audience_id>", audiences.AudienceDetailApi.as_view(), name="api-audience"),
    path(
        "api/v1/audiences/fields/<str:field>/values",
        audiences.AudienceFieldValuesApi.as_view(),
        name="api-audience-field-values",
    ),
    path("api/v1/audiences/<uuid:audience_id>/pause", audiences.AudiencePauseApi.as_view()),
    path("api/v1/audiences/<uuid:audience_id>/resume", audiences.AudienceResumeApi.as_view()),
    path("api/v1/audiences/<uuid:audience_id>/refresh", audiences.AudienceRefreshApi.as_view()),
    path("api/v1/audiences/<uuid:audience_id>/preview", audiences.AudiencePreviewApi.as_view()),
    path("api/v1/audiences/<uuid:audience_id>/sample", audiences.AudienceSampleApi.as_view()),
    path(
        "api/v1/audiences/<uuid:audience_id>/download",
        audiences.AudienceDownloadApi.as_view(),
        name="api-audience-download",
    ),
    path(
        "audiences/<uuid:audience_id>/download",
        audiences.AudienceDownloadApi.as_view(),
        name="audience-download",
    ),
    # List uploads.
    path("api/v1/lists", lists.ContactListListApi.as_view(), name="api-list-list"),
    path("api/v1/lists/batch", lists.ContactListBatchDeleteApi.as_view(), name="api-list-batch"),
    path("api/v1/lists/<uuid:list_id>", lists.ContactListDetailApi.as_view(), name="api-list"),
    path(
        "api/v1/lists/<uuid:list_id>/reports/<str:kind>",
        lists.ContactListReportApi.as_view(),
        name="api-list-report",
    ),
]
