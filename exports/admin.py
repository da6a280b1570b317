from django.contrib import admin

from .models import Export, ExportRun


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "destination_type", "schedule", "created_at")
    list_filter = ("destination_type", "schedule")
    search_fields = ("name",)
    exclude = ("credentials_encrypted",)


@admin.register(ExportRun)
class ExportRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "export",
        "status",
        "records_total",
        "records_exported",
        "records_failed",
        "queued_at",
    )
    list_filter = ("status", "failure_kind")
