from django.contrib import admin

from .models import Pixel, PixelEvent


@admin.register(Pixel)
class PixelAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "mode", "regeneration_pending", "generated_at")
    readonly_fields = ("snippet", "generated_at")


@admin.register(PixelEvent)
class PixelEventAdmin(admin.ModelAdmin):
    list_display = ("received_at", "pixel", "event_type", "visitor_id")
    list_select_related = ("pixel",)
