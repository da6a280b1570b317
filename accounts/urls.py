from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("settings/", views.settings_home, name="settings"),
    path("settings/projects/", views.project_create, name="project-create"),
    path("settings/members/", views.member_add, name="member-add"),
    path("settings/members/<int:membership_id>/remove/", views.member_remove, name="member-remove"),
    path("settings/clients/", views.api_client_create, name="client-create"),
    path("settings/clients/<uuid:client_id>/revoke/", views.api_client_revoke, name="client-revoke"),
    path("settings/organizations/", views.organization_create, name="organization-create"),
    path("organization/switch/", views.organization_switch, name="organization-switch"),
]
