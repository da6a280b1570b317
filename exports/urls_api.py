"""JSON API of the exports app (paths as the March 2026 update names them)."""

from django.urls import path

from . import api

urlpatterns = [
    path("api/v1/exports", api.ExportListApi.as_view(), name="api-export-list"),
    path("api/v1/exports/<uuid:export_id>", api.ExportDetailApi.as_view(), name="api-export-detail"),
    path("api/v1/exports/<uuid:export_id>/runs", api.ExportRunListApi.as_view(), name="api-export-run-list"),
    path(
        "api/v1/exports/<uuid:export_id>/runs/<uuid:run_id>",
        api.ExportRunDetailApi.as_view(),
        name="api-export-run-detail",
    ),
    path("api/v1/exports/<uuid:export_id>/dry-run", api.ExportDryRunApi.as_view(), name="api-export-dry-run"),
    path(
        "api/v1/exports/<uuid:export_id>/test-connection",
        api.ExportTestConnectionApi.as_view(),
        name="api-export-test-connection",
    ),
    path(
        "api/v1/exports/<uuid:export_id>/test-connection/<uuid:check_id>",
        api.ExportConnectionCheckDetailApi.as_view(),
        name="api-export-connection-check-detail",
    ),
]
