"""Dashboard pages of the audiences app."""

from django.urls import path

from audiences.views import tasks

app_name = "audiences"

urlpatterns = [
    path("tasks/", tasks.task_list, name="task-list"),
    path("tasks/<uuid:task_id>/", tasks.task_detail, name="task-detail"),
    path("tasks/<uuid:task_id>/unload/", tasks.task_unload, name="task-unload"),
]
