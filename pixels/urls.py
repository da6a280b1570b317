"""Dashboard pages of the pixels app."""

from django.urls import path  # noqa: F401

app_name = "pixels"

urlpatterns: list = []
