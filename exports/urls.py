"""Dashboard pages of the exports app."""

from django.urls import path

from . import views

app_name = "exports"

urlpatterns = [
    path("exports/", views.export_list, name="export-list"),
    path("exports/new/", views.export_create, name="export-create"),
    path("exports/form/destination/", views.export_form_destination, name="export-form-destination"),
    path("exports/form/list-name/", views.export_form_list_name, name="export-form-list-name"),
    path("exports/form/mapping-row/", views.export_form_mapping_row, name="export-form-mapping-row"),
    path("exports/form/targets/", views.export_form_targets, name="export-form-targets"),
    path("exports/form/dry-run/", views.export_form_dry_run, name="export-form-dry-run"),
    path("exports/<uuid:export_id>/", views.export_detail, name="export-detail"),
    path("exports/<uuid:export_id>/edit/", views.export_edit, name="export-edit"),
    path("exports/<uuid:export_id>/run/", views.export_run_start, name="export-run"),
    path(
        "exports/<uuid:export_id>/test-connection/",
        views.export_test_connection,
        name="export-test-connection",
    ),
    path(
        "exports/<uuid:export_id>/test-connection/<uuid:check_id>/",
        views.export_connection_check,
        name="export-connection-check",
    ),
    path("exports/<uuid:export_id>/delete/", views.export_delete, name="export-delete"),
    path("exports/<uuid:export_id>/runs/<uuid:run_id>/file/", views.export_run_file, name="export-run-file"),
    path("exports/<uuid:export_id>/connection/", views.export_connection, name="export-connection"),
]
