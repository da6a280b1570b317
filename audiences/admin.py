from django.contrib import admin

from audiences.models import Topic


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    """The topic catalogue (global rows have no organization; an organization's row overrides the code)."""

    list_display = ("code", "name", "category", "organization", "updated_at")
    list_filter = ("category",)
    search_fields = ("code", "name", "category", "description")
    list_select_related = ("organization",)
