"""Technologist and front-desk pages of the worklist app."""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from ris.access import shown, shown_patients_with_mrn
from ris.exceptions import ApplicationError
from ris.models import Role
from ris.pagination import paginate
from ris.roles import role_required
from scheduling.models import Exam
from scheduling.selectors import exams_scheduled_on, exams_with_context
from worklist.forms import ForwardLogForm, TechnologistFilterForm
from worklist.forwarding import mpps_forward_resend
from worklist.ian import availability_notification_reconcile, availability_notifications_to_reconcile
from worklist.models import AvailabilityNotification, MppsForward, PerformedProcedureStep
from worklist.selectors import mpps_forwards, performed_steps_to_reconcile
from worklist.services import mpps_reconcile

S = Exam.Status


@require_safe
@role_required(Role.TECHNOLOGIST, Role.ADMIN)
def home(request):
    """A day's exams on the modalities (today unless the filters name a day), in one room or modality if chosen;
    reported ones too, with their report's status. The page refreshes itself (static/js/refresh.js)."""
    statuses = {S.SCHEDULED, S.ARRIVED, S.IN_PROGRESS, S.COMPLETED, S.PRELIMINARY, S.FINAL, S.AMENDED}
    form = TechnologistFilterForm(request.GET)
    exams, day = None, timezone.localdate()
    if form.is_valid():
        criteria = form.criteria()
        day = criteria.pop("day")
        day_exams = exams_scheduled_on(day, statuses=statuses, **criteria)
        exams = paginate(request, day_exams.select_related("protocol__protocol"))
    context = {
        "form": form,
        "exams": exams,
        "day": day,
        "today": timezone.localdate(),
        "refresh_seconds": settings.RIS_WORKLIST_REFRESH_SECONDS,
    }
    return render(request, "worklist/home.html", context)


@require_safe
@role_required(Role.FRONT_DESK, Role.TECHNOLOGIST, Role.ADMIN)
def reconcile_list(request):
    """Procedure steps the modalities reported that match no scheduled exam."""
    page = paginate(request, performed_steps_to_reconcile())
    shown_patients_with_mrn(request, (step.patient_id for step in page))  # the patients known by the ID sent
    return render(request, "worklist/reconcile.html", {"page": page})


def _exams_named(text: str) -> tuple[list[Exam], str]:
    """The exams a comma-separated list names: each an accession number that names one exam, or
    ACCESSION/REQUESTED-PROCEDURE-ID (how the RIS writes an exam of an order whose exams share one accession)."""
    exams = []
    for token in [part.strip() for part in text.split(",") if part.strip()][:20]:
        accession, _, requested_id = token.partition("/")
        found = exams_with_context().filter(accession_number=accession.strip())
        if requested_id:
            found = found.filter(requested_procedure_id=requested_id.strip())
        found = list(found[:2])
        if len(found) != 1:
            return [], f"{token} names {'no exam' if not found else 'several exams'}; check it."
        exams.append(found[0])
    return exams, "" if exams else "Give the accession number of the exam (several, comma-separated)."


@require_POST
@role_required(Role.FRONT_DESK, Role.TECHNOLOGIST, Role.ADMIN)
def reconcile(request, pk: int):
    """Attach a step to the exams with the accession numbers given (several for a grouped step), or close it
    without one."""
    step = get_object_or_404(PerformedProcedureStep, pk=pk)
    exams: list[Exam] = []
    if request.POST.get("action") != "close":
        exams, problem = _exams_named(request.POST.get("accession_number", "")[:400])
        if problem:
            messages.error(request, problem)
            return redirect("worklist:reconcile_list")
    try:
        mpps_reconcile(step=step, exams=exams, acting_user=request.user, note=request.POST.get("note", ""))
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        settled = f" to {', '.join(exam.label for exam in exams)}" if exams else " without an exam"
        messages.success(request, f"Step {step.performed_procedure_step_id or step.pk} settled{settled}.")
    return redirect("worklist:reconcile_list")


@require_safe
@role_required(Role.ADMIN)
def forward_log(request):
    """The MPPS forwards to the DICOM destinations, newest first, narrowed by status and destination."""
    form = ForwardLogForm(request.GET)
    page = None
    if form.is_valid():
        forwards = mpps_forwards(status=form.cleaned_data["status"], destination=form.cleaned_data["destination"])
        page = paginate(request, forwards)
        accessions = {forward.accession_number for forward in page if forward.accession_number}
        if accessions:  # the exams the rows name
            shown(request, *Exam.objects.filter(accession_number__in=accessions).order_by("pk"))
    return render(request, "worklist/forward_log.html", {"form": form, "page": page})


@require_POST
@role_required(Role.ADMIN)
def forward_resend(request, pk: int):
    """Queue a FAILED forward again (the button on its row)."""
    forward = get_object_or_404(MppsForward, pk=pk)
    try:
        forward = mpps_forward_resend(forward=forward, acting_user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        forward.refresh_from_db()  # in-process delivery (no broker) may have run already
        messages.success(
            request, f"{forward.operation} {forward.sop_instance_uid} queued again: {forward.get_status_display()}."
        )
    return redirect("worklist:forward_log")


def _exam_named(request) -> Exam | None:
    """The one exam the posted accession number (or ACCESSION/REQUESTED-PROCEDURE-ID) names; None, and a message
    saying why, otherwise."""
    exams, problem = _exams_named(request.POST.get("accession_number", "")[:100])
    if not problem and len(exams) != 1:
        problem = "Give the accession number of one exam."
    if problem:
        messages.error(request, problem)
        return None
    return exams[0]


@require_safe
@role_required(Role.FRONT_DESK, Role.TECHNOLOGIST, Role.ADMIN)
def availability_list(request):
    """Instance availability notifications from the PACS for studies that match no exam."""
    page = paginate(request, availability_notifications_to_reconcile())
    return render(request, "worklist/availability.html", {"page": page})


@require_POST
@role_required(Role.FRONT_DESK, Role.TECHNOLOGIST, Role.ADMIN)
def availability_reconcile(request, pk: int):
    """Attach a notification (and the others of its study) to the exam with the accession number given, or close
    it without one."""
    notification = get_object_or_404(AvailabilityNotification, pk=pk)
    exam = None
    if request.POST.get("action") != "close":
        exam = _exam_named(request)
        if exam is None:
            return redirect("worklist:availability_list")
    try:
        availability_notification_reconcile(
            notification=notification, exam=exam, acting_user=request.user, note=request.POST.get("note", "")
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        settled = f"attached to {exam.label}: its images are recorded" if exam is not None else "closed"
        messages.success(request, f"Images of study {notification.study_instance_uid} {settled}.")
    return redirect("worklist:availability_list")
