"""JSON API of the privacy app."""

from django.urls import path

from . import api

urlpatterns = [
    path("api/v1/uid2/optout", api.Uid2OptoutApi.as_view(), name="uid2-optout"),
    path("api/v1/privacy/optouts", api.OptOutListApi.as_view(), name="optout-list"),
    path("api/v1/privacy/optouts/<uuid:optout_id>", api.OptOutRetrieveApi.as_view(), name="optout-retrieve"),
]
