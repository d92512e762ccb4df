"""The REST API under /api/: one router, each app registering its endpoints.

API callers sign in per request (token or HTTP Basic), which Django's login-required middleware cannot see: the
API's own authentication and `ris.api.RolePermission` guard these URLs instead (401/403, never a login page).
"""

from rest_framework.routers import DefaultRouter

from reporting.api import ReportViewSet

app_name = "api"

router = DefaultRouter()
router.register("reports", ReportViewSet, basename="report")

urlpatterns = router.urls
for pattern in urlpatterns:
    pattern.callback.login_required = False  # DRF authenticates; see the module's docstring
