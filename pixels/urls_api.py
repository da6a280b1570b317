"""JSON API of the pixels app, plus the public snippet URL."""

from django.urls import path

from . import api

urlpatterns = [
    path("pixel/<uuid:pixel_id>.js", api.pixel_snippet, name="pixel-snippet"),
    path("pixel/core/api/send-event", api.PixelEventSendApi.as_view(), name="pixel-send-event"),
    path("api/v1/pixels", api.PixelListApi.as_view(), name="pixel-list-api"),
    path("api/v1/pixels/<uuid:pixel_id>", api.PixelRetrieveApi.as_view(), name="pixel-retrieve-api"),
    path(
        "api/v1/organizations/<uuid:organization_id>/settings",
        api.OrganizationSettingsApi.as_view(),
        name="organization-settings",
    ),
]
