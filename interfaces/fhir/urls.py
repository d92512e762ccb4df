"""/fhir/r4/: metadata, then read and search of each resource type, then a 404 OperationOutcome for anything else.

FHIR callers sign in per request (HTTP Basic or a token), which Django's login-required middleware cannot see:
DRF's authentication and role check guard these URLs instead (401/403 as OperationOutcomes, never a login page).
"""

from django.urls import path, re_path

from interfaces.fhir import views
from interfaces.fhir.search import RESOURCE_TYPES

app_name = "fhir"

urlpatterns = [path("metadata", views.MetadataView.as_view(), name="metadata")]
for name, resource in RESOURCE_TYPES.items():
    urlpatterns += [
        re_path(rf"^{name}/?$", views.SearchView.as_view(resource=resource), name=f"{name.lower()}-search"),
        re_path(
            rf"^{name}/(?P<resource_id>[^/]+)/?$",
            views.ReadView.as_view(resource=resource),
            name=f"{name.lower()}-read",
        ),
    ]
urlpatterns.append(re_path(r"^(?P<path>.*)$", views.UnknownView.as_view(), name="unknown"))

for pattern in urlpatterns:
    pattern.callback.login_required = False  # DRF authenticates; see the module's docstring
