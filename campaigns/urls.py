"""Dashboard pages of the campaigns app."""

from django.urls import path

from . import views

app_name = "campaigns"

urlpatterns = [
    path("campaigns/", views.overview, name="overview"),
    path("campaigns/overview.csv", views.overview_csv, name="overview-csv"),
    path("campaigns/sync/", views.sync_start, name="sync-start"),
    path("campaigns/sync/history/", views.sync_history, name="sync-history"),
    path("campaigns/<uuid:campaign_id>/", views.campaign_detail, name="campaign-detail"),
    path("campaigns/<uuid:campaign_id>/daily.csv", views.campaign_csv, name="campaign-csv"),
]
