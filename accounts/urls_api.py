from django.urls import path

from . import api

urlpatterns = [
    path("auth/v1/register", api.RegisterApi.as_view(), name="auth-register"),
    path("auth/v1/login", api.LoginApi.as_view(), name="auth-login"),
    path("client/v1", api.ApiClientCreateApi.as_view(), name="client-create"),
    path("api/app/get", api.ApiClientListApi.as_view(), name="app-list"),
    path("api/app/retrieve/<uuid:app_id>", api.ApiClientRetrieveApi.as_view(), name="app-retrieve"),
    path("api/v1/projects", api.ProjectListApi.as_view(), name="project-list"),
    path("api/v1/organizations", api.OrganizationListApi.as_view(), name="organization-list"),
]
