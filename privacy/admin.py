from django.contrib import admin

from .models import AuditEvent, OptOut, SuppressionRecord


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewing only. Opt-outs change through the privacy services, which write the audit event in the same
    transaction; an edit or delete here would bypass the audit log (and the audit log itself is append-only)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OptOut)
class OptOutAdmin(ReadOnlyAdmin):
    list_display = ("identifier_type", "value", "organization", "source", "opted_out_at", "last_received_at")
    list_filter = ("identifier_type", "source")
    search_fields = ("value",)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "actor", "action", "identifier_type", "identifier_value", "source", "ip")
    list_filter = ("action", "source", "identifier_type")
    search_fields = ("identifier_value", "actor", "request_id")


@admin.register(SuppressionRecord)
class SuppressionRecordAdmin(ReadOnlyAdmin):
    list_display = ("recorded_at", "organization", "output_kind", "output_id", "suppressed_count")
