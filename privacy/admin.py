from django.contrib import admin

from .models import AuditEvent, OptOut, SuppressionRecord


@admin.register(OptOut)
class OptOutAdmin(admin.ModelAdmin):
    list_display = ("identifier_type", "value", "organization", "source", "opted_out_at", "last_received_at")
    list_filter = ("identifier_type", "source")
    search_fields = ("value",)
    readonly_fields = ("first_received_at", "last_received_at")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only."""

    list_display = ("occurred_at", "actor", "action", "identifier_type", "identifier_value", "source", "ip")
    list_filter = ("action", "source", "identifier_type")
    search_fields = ("identifier_value", "actor", "request_id")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SuppressionRecord)
class SuppressionRecordAdmin(admin.ModelAdmin):
    list_display = ("recorded_at", "organization", "output_kind", "output_id", "suppressed_count")
