from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from . import health, metrics, views

handler400 = "delivr_admin.errors.json_400"
handler403 = "delivr_admin.errors.json_403"
handler404 = "delivr_admin.errors.json_404"
handler500 = "delivr_admin.errors.json_500"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("dashboard/worker-status/", views.worker_status_fragment, name="worker-status"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("", include("accounts.urls")),
    path("", include("accounts.urls_api")),
    path("", include("audiences.urls")),
    path("", include("audiences.urls_api")),
    path("", include("exports.urls")),
    path("", include("exports.urls_api")),
    path("", include("campaigns.urls")),
    path("", include("campaigns.urls_api")),
    path("", include("privacy.urls")),
    path("", include("privacy.urls_api")),
    path("", include("pixels.urls")),
    path("", include("pixels.urls_api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # the split view serves its start-up script as a file: no inline script under the CSP
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("django-admin/", admin.site.urls),
]
