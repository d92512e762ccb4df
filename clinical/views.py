"""Pages of patient safety. Each view checks its input, calls one service or selector, and renders."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from clinical import documentation, services, technique
from clinical.forms import DocumentationForm, FlagDecisionForm
from clinical.models import ExamProtocol
from clinical.safety import MR_DECIDERS, RADIOLOGIST, uses_contrast
from ris.access import shown
from ris.exceptions import ApplicationError
from ris.models import Role
from ris.roles import role_required
from scheduling.forms import add_service_error
from scheduling.models import Exam
from scheduling.selectors import exams_with_context
from scheduling.workflow import PERFORMED

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


@role_required(Role.TECHNOLOGIST, Role.ADMIN)
def exam_documentation(request, exam_pk: int):
    """The technologist's record of an exam: completes an exam in progress with it, or corrects it afterwards."""
    exam = get_object_or_404(exams_with_context(), pk=exam_pk)
    shown(request, exam)
    completing = exam.status == Exam.Status.IN_PROGRESS
    if not completing and exam.status not in PERFORMED:
        messages.error(request, f"{exam.label} is {exam.get_status_display().lower()}: it is documented once started.")
        return redirect("scheduling:exam", exam.pk)
    form = DocumentationForm(
        request.POST if request.method == "POST" else None,
        initial=technique.documentation_initial(exam),
        dose_fields=documentation.dose_fields(exam),
        contrast_expected=uses_contrast(exam),
    )
    if request.method == "POST" and form.is_valid():
        save = documentation.exam_complete_documented if completing else documentation.exam_document
        try:
            save(exam=exam, acting_user=request.user, **form.documentation())
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            done = "completed and documented" if completing else "documentation saved"
            messages.success(request, f"{exam.label}, {exam.order.patient.display_name}: {done}.")
            return back(request, reverse("scheduling:exam", args=[exam.pk]))
    context = {
        "exam": exam,
        "form": form,
        "completing": completing,
        "protocol": ExamProtocol.objects.filter(exam=exam).select_related("protocol").first(),
        "documentation": technique.documentation_of(exam),
        "next": request.POST.get("next") or request.GET.get("next", ""),
    }
    return render(request, "clinical/exam_documentation.html", context, status=400 if form.errors else 200)
