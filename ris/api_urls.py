"""The REST API under /api/: one router, each app registering its endpoints; the OpenAPI schema and its docs.

API callers sign in per request (token or HTTP Basic), which Django's login-required middleware cannot see: the
API's own authentication and `ris.drf.RolePermission` guard these URLs instead (401/403, never a login page).
The schema and its interactive docs are public: they describe the API, not the data.
"""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from billing.api import ChargeViewSet, ClaimViewSet
from reporting.api import ReportViewSet
from ris.api import (
    CoverageViewSet,
    ModalityViewSet,
    PatientViewSet,
    ProcedureTypeViewSet,
    ReferringPhysicianViewSet,
    RoomViewSet,
)
from scheduling.api import ExamViewSet, OrderViewSet

app_name = "api"

router = DefaultRouter()
router.register("patients", PatientViewSet, basename="patient")
router.register("coverages", CoverageViewSet, basename="coverage")
router.register("physicians", ReferringPhysicianViewSet, basename="physician")
router.register("modalities", ModalityViewSet, basename="modality")
router.register("rooms", RoomViewSet, basename="room")
router.register("procedure-types", ProcedureTypeViewSet, basename="procedure-type")
router.register("orders", OrderViewSet, basename="order")
router.register("exams", ExamViewSet, basename="exam")
router.register("reports", ReportViewSet, basename="report")
router.register("charges", ChargeViewSet, basename="charge")
router.register("claims", ClaimViewSet, basename="claim")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema", permission_classes=[AllowAny]), name="docs"),
    *router.urls,
]
for pattern in urlpatterns:
    pattern.callback.login_required = False  # DRF authenticates; see the module's docstring
