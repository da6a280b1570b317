"""Dashboard pages of the privacy app."""

from django.urls import path  # noqa: F401

app_name = "privacy"

urlpatterns: list = []
