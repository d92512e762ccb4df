"""Pages of patient safety. Each view checks its input, calls one service or selector, and renders."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from clinical import rules, services
from clinical.forms import FlagDecisionForm, PregnancyStatusForm
from clinical.safety import MR_DECIDERS, RADIOLOGIST
from clinical.selectors import latest_pregnancy
from ris.access import shown
from ris.exceptions import ApplicationError
from ris.models import Role
from ris.roles import role_required
from scheduling.forms import add_service_error
from scheduling.models import Exam
from scheduling.selectors import exams_with_context
from scheduling.services import Action, exam_action_refusal

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


CHECK_IN_ROLES = (Role.FRONT_DESK, Role.TECHNOLOGIST, Role.ADMIN)  # as scheduling's check-in


@role_required(*CHECK_IN_ROLES)
def check_in(request, exam_pk: int):
    """Check-in of an exam whose pregnancy rule applies: the pregnancy question, then the check-in, in one service
    call. For a patient already checked in (by the API, or before the question was due) it records the status."""
    exam = get_object_or_404(exams_with_context(), pk=exam_pk)
    shown(request, exam)
    exam_page = reverse("scheduling:exam", args=[exam.pk])
    if not rules.asks_pregnancy_status(exam):
        messages.error(request, f"{exam.label}: this exam does not ask for a pregnancy status.")
        return back(request, exam_page)
    checking_in = exam.status == Exam.Status.SCHEDULED
    if not checking_in and exam.status != Exam.Status.ARRIVED:
        messages.error(request, f"{exam.label} is {exam.get_status_display().lower()}: nothing to check in.")
        return back(request, exam_page)
    refusal = early = ""
    if checking_in:
        refusal = exam_action_refusal(exam, Action.CHECK_IN)
        early = refusal and not exam_action_refusal(exam, Action.CHECK_IN, early_reason="arrived early")
    form = PregnancyStatusForm(request.POST or None, early=bool(early))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.pregnancy_status_at_check_in(
                exam=exam,
                acting_user=request.user,
                status=data["status"],
                last_menstrual_period=data["last_menstrual_period"],
                note=data["note"],
                early_reason=data.get("early_reason", ""),
                check_in=checking_in,
            )
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            done = "checked in" if checking_in else "pregnancy status recorded"
            messages.success(request, f"{exam.label}, {exam.order.patient.display_name}: {done}.")
            return back(request, exam_page)
    context = {
        "exam": exam,
        "form": form,
        "checking_in": checking_in,
        "refusal": "" if early else refusal,
        "latest": latest_pregnancy(exam.order.patient),
        "next": request.POST.get("next") or request.GET.get("next", ""),
    }
    return render(request, "clinical/check_in.html", context, status=400 if request.method == "POST" else 200)
