"""Pages of patient safety. Each view checks its input, calls one service or selector, and renders."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from clinical import services
from clinical.forms import FlagDecisionForm
from clinical.safety import MR_DECIDERS, RADIOLOGIST
from ris.access import shown
from ris.exceptions import ApplicationError
from ris.models import Role
from ris.roles import role_required
from scheduling.selectors import exams_with_context

DECIDERS = tuple(RADIOLOGIST | MR_DECIDERS | {Role.ADMIN})


def back(request, default: str):
    """Redirect to the page the form was posted from (same site only), else to `default`."""
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect(default)


@require_POST
@role_required(*DECIDERS)
def flag_decide(request, exam_pk: int):
    """Record a decision on one safety finding of an exam (who may decide what is the service's rule)."""
    exam = get_object_or_404(exams_with_context(), pk=exam_pk)
    shown(request, exam)
    form = FlagDecisionForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        messages.error(request, f"{exam.label}: the decision was not recorded ({problems}).")
    else:
        try:
            flag = services.safety_flag_decide(exam=exam, acting_user=request.user, **form.cleaned_data)
        except ApplicationError as error:
            messages.error(request, f"{exam.label}: {error.message}")
        else:
            messages.success(
                request, f"{exam.label}: {flag.get_kind_display().lower()}: {flag.get_decision_display().lower()}."
            )
    return back(request, reverse("scheduling:exam", args=[exam.pk]))
