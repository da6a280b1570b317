"""Dashboard pages of the privacy app."""

from django.urls import path

from . import views

app_name = "privacy"

urlpatterns = [
    path("privacy/", views.registry, name="registry"),
    path("privacy/audit-log.csv", views.audit_export, name="audit-export"),
    path("privacy/identifier/", views.identifier_detail, name="identifier-detail"),
    path("privacy/optouts/", views.optout_create, name="optout-create"),
]
