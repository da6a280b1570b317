"""Dashboard pages of the audiences app."""

from django.urls import path

from audiences.views import audiences, filters, lists, tasks, topics

app_name = "audiences"

urlpatterns = [
    path("tasks/", tasks.task_list, name="task-list"),
    path("tasks/<uuid:task_id>/", tasks.task_detail, name="task-detail"),
    path("tasks/<uuid:task_id>/unload/", tasks.task_unload, name="task-unload"),
    path("tasks/<uuid:task_id>/download/", tasks.task_download_all, name="task-download-all"),
    path("audiences/", audiences.audience_list, name="audience-list"),
    path("audiences/new/", audiences.audience_builder, name="audience-create"),
    path("audiences/builder/estimate/", audiences.audience_estimate, name="audience-estimate"),
    path("audiences/builder/preview/", audiences.audience_preview, name="audience-preview"),
    path("audiences/builder/filter-row/", filters.audience_filter_row, name="audience-filter-row"),
    path("audiences/builder/filter-group/", filters.audience_filter_group, name="audience-filter-group"),
    path("audiences/builder/values/", filters.audience_field_values, name="audience-field-values"),
    path("audiences/summary/", audiences.audience_summary, name="audience-summary"),
    path("audiences/<uuid:audience_id>/", audiences.audience_detail, name="audience-detail"),
    path("audiences/<uuid:audience_id>/edit/", audiences.audience_builder, name="audience-edit"),
    path("audiences/<uuid:audience_id>/sample/", audiences.audience_sample, name="audience-sample"),
    path("audiences/<uuid:audience_id>/refresh/", audiences.audience_refresh, name="audience-refresh"),
    path("audiences/<uuid:audience_id>/pause/", audiences.audience_pause, name="audience-pause"),
    path("audiences/<uuid:audience_id>/resume/", audiences.audience_resume, name="audience-resume"),
    path("audiences/<uuid:audience_id>/delete/", audiences.audience_delete, name="audience-delete"),
    path("audiences/topics/", topics.topic_list, name="topic-list"),
    path("audiences/topics/<str:code>/", topics.topic_edit, name="topic-edit"),
    path("audiences/topics/<str:code>/reset/", topics.topic_reset, name="topic-reset"),
    path("lists/", lists.list_list, name="list-list"),
    path("lists/<uuid:list_id>/report/", lists.list_report, name="list-report"),
    path("lists/<uuid:list_id>/audience/", lists.list_audience_create, name="list-audience-create"),
    path("lists/<uuid:list_id>/delete/", lists.list_delete, name="list-delete"),
]
