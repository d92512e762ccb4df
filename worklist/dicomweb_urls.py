"""/api/dicomweb/: the DICOMweb Worklist Service (UPS-RS, PS3.18 11), {workitem} a UPS SOP Instance UID.

Callers sign in per request (HTTP Basic or a token), which Django's login-required middleware cannot see: DRF's
authentication and role check guard these URLs instead (401/403, never a login page).
"""

from django.urls import re_path

from worklist import api

app_name = "dicomweb"

UID = r"(?P<workitem>[0-9][0-9.]{0,63})"
urlpatterns = [
    re_path(r"^workitems/?$", api.SearchView.as_view(), name="workitems"),
    re_path(rf"^workitems/{UID}/?$", api.WorkitemView.as_view(), name="workitem"),
    re_path(rf"^workitems/{UID}/state/?$", api.StateView.as_view(), name="workitem-state"),
]
for pattern in urlpatterns:
    pattern.callback.login_required = False  # DRF authenticates; see the module's docstring
