"""Dashboard pages of the pixels app."""

from django.urls import path

from . import views

app_name = "pixels"

urlpatterns = [
    path("pixels/", views.pixel_list, name="pixel-list"),
    path("pixels/new/", views.pixel_create, name="pixel-create"),
    path("pixels/settings/", views.settings_page, name="settings"),
]
