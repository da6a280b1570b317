"""JSON API of the campaigns app."""

from django.urls import path

from . import api

urlpatterns = [
    path("api/v1/campaigns", api.CampaignListApi.as_view(), name="campaign-list-api"),
    path(
        "api/v1/campaigns/<uuid:campaign_id>", api.CampaignRetrieveApi.as_view(), name="campaign-retrieve-api"
    ),
    path(
        "api/v1/campaigns/<uuid:campaign_id>/match-rates",
        api.CampaignMatchRatesApi.as_view(),
        name="campaign-match-rates-api",
    ),
]
