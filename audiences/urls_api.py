"""JSON API of the audiences app (paths exactly as the Delivr reference documents say)."""

from django.urls import path

from audiences.api import tasks

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
]
