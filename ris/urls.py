"""URL configuration: one prefix per app; every page but the login page requires a signed-in user."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from ris import (
    drf_schema,  # noqa: F401  (registers the OpenAPI description of the API's sign-ins)
    security,
    views,
    views_health,
)

admin.site.site_header = "RIS administration"
admin.site.site_title = "RIS"
admin.site.login = security.admin_login  # one sign-in for everything, with the second factor

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views_health.healthz, name="healthz"),
    path("healthz/ready", views_health.healthz_ready, name="healthz_ready"),
    path("accounts/login/", security.SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/keep-alive/", security.keep_alive, name="keep_alive"),
    path("accounts/two-factor/", views.two_factor, name="two_factor"),
    path("administration/", include("ris.web_urls")),
    path("dashboard/", include("dashboard.urls")),
    path("scheduling/", include("scheduling.urls")),
    path("worklist/", include("worklist.urls")),
    path("clinical/", include("clinical.urls")),
    path("reporting/", include("reporting.urls")),
    path("reports/", include("reporting.urls_outputs")),
    path("billing/", include("billing.urls")),
    path("interfaces/", include("interfaces.urls")),
    path("api/dicomweb/", include("worklist.dicomweb_urls")),
    path("api/", include("ris.api_urls")),
    path("fhir/r4/", include("interfaces.fhir.urls")),
    path("admin/", admin.site.urls),
]
