"""Pages of patient safety. Each view checks its input, calls one service or selector, and renders."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from clinical import protocols, services
from clinical.forms import ExamProtocolForm, FlagDecisionForm
from clinical.models import ExamProtocol
from clinical.safety import MR_DECIDERS, RADIOLOGIST, exam_safety
from ris.access import shown, shown_in_answer
from ris.exceptions import ApplicationError
from ris.models import Role
from ris.roles import role_required, user_roles
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


# --- protocoling ---------------------------------------------------------------------------------------------------

PROTOCOLERS = (Role.RADIOLOGIST, Role.ADMIN)
PROTOCOL_PAGE_SIZE = 50


@require_safe
@role_required(*PROTOCOLERS)
def protocol_worklist(request):
    """Exams waiting for a radiologist's protocol, oldest exam date first, with each patient's safety facts and the
    exam's open findings; and the exams a modality started with findings still open, to decide after the fact."""
    page = Paginator(protocols.exams_awaiting_protocol(), PROTOCOL_PAGE_SIZE).get_page(request.GET.get("page"))
    page.rows = protocols.protocol_worklist(page)
    context = {"page": page, "started_open": protocols.flags_started_open()}
    return render(request, "clinical/protocol_worklist.html", context)


@require_http_methods(["GET", "HEAD", "POST"])
@role_required(*PROTOCOLERS)
def protocol_exam(request, exam_pk: int):
    """One exam's protocol: the patient, the order's reason, the safety findings with their decision forms, and the
    protocol picker (the catalog's protocols for the procedure, else for its modality)."""
    exam = get_object_or_404(exams_with_context(), pk=exam_pk)
    shown(request, exam)
    current = ExamProtocol.objects.filter(exam=exam).select_related("protocol", "protocoled_by").first()
    offered = protocols.protocols_for(exam.procedure_type)
    initial = ExamProtocolForm.initial_from(current, exam.procedure_type) if current is not None else {}
    form = ExamProtocolForm(request.POST or None, protocols=offered, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = protocols.exam_protocol_set(exam=exam, acting_user=request.user, **form.service_arguments())
        except ApplicationError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, f"{exam.label}: protocoled ({saved}).")
            return redirect("clinical:protocols")
    if request.method == "POST":
        shown_in_answer(request)  # the form comes back with the patient's page
    context = {
        "exam": exam,
        "patient": exam.order.patient,
        "current": current,
        "form": form,
        "offered": offered,
        "editable": exam.status in protocols.PROTOCOL_STATUSES,
        "states": exam_safety(exam),
        "user_roles": user_roles(request.user),
    }
    return render(request, "clinical/protocol_exam.html", context, status=400 if form.errors else 200)
