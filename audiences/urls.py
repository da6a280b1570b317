"""Dashboard pages of the audiences app."""

from django.urls import path  # noqa: F401

app_name = "audiences"

urlpatterns: list = []
