"""/healthz: the health of the RIS and its services as JSON, for load balancers and monitoring (see ris.health)."""

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.views.decorators.http import require_safe

from ris import health


@login_not_required  # a probe has no session; the answer names services, never patients or secrets
@require_safe
def healthz(request):
    """200 with {"status": "ok", "checks": {...}} when every check passes, else 503 with "status": "fail"."""
    report = health.run_checks()
    response = JsonResponse(report.as_dict(), status=200 if report.ok else 503)
    response["Cache-Control"] = "no-store"
    return response
