from django.contrib import admin

from .models import Campaign, CampaignDailyPerformance, CampaignList, CampaignSync, DspAccount


@admin.register(DspAccount)
class DspAccountAdmin(admin.ModelAdmin):
    list_display = ("name", "external_id", "organization", "created_at")
    search_fields = ("name", "external_id")


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "budget", "cpm", "start_date", "end_date", "account")
    list_filter = ("status",)
    search_fields = ("name", "external_id")
    raw_id_fields = ("account", "organization")


@admin.register(CampaignDailyPerformance)
class CampaignDailyPerformanceAdmin(admin.ModelAdmin):
    list_display = ("campaign", "date", "impressions", "clicks", "spend", "cpm")
    raw_id_fields = ("campaign",)
    date_hierarchy = "date"


@admin.register(CampaignList)
class CampaignListAdmin(admin.ModelAdmin):
    list_display = ("list_name", "campaign", "identifiers_count", "matched_count")
    raw_id_fields = ("campaign",)


@admin.register(CampaignSync)
class CampaignSyncAdmin(admin.ModelAdmin):
    list_display = ("account", "status", "created_at", "started_at", "finished_at", "rows", "error")
    list_filter = ("status",)
    raw_id_fields = ("account", "organization")
