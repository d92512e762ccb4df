"""Technologist and front-desk pages of the worklist app."""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from ris.access import shown_patients_with_mrn
from ris.exceptions import ApplicationError
from ris.models import Role
from ris.roles import role_required
from scheduling.models import Exam
from scheduling.selectors import exams_scheduled_on, exams_with_context
from worklist.forms import TechnologistFilterForm
from worklist.ian import availability_notification_reconcile, availability_notifications_to_reconcile
from worklist.models import AvailabilityNotification, PerformedProcedureStep
from worklist.selectors import performed_steps_to_reconcile
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
        exams = exams_scheduled_on(day, statuses=statuses, **criteria).select_related("protocol__protocol")
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
    steps = list(performed_steps_to_reconcile())
    shown_patients_with_mrn(request, (step.patient_id for step in steps))  # the patients known by the ID sent
    return render(request, "worklist/reconcile.html", {"steps": steps})


@require_POST
@role_required(Role.FRONT_DESK, Role.TECHNOLOGIST, Role.ADMIN)
def reconcile(request, pk: int):
    """Attach a step to the exam with the accession number given, or close it without one."""
    step = get_object_or_404(PerformedProcedureStep, pk=pk)
    exam = None
    if request.POST.get("action") != "close":
        exam = _exam_named(request)
        if exam is None:
            return redirect("worklist:reconcile_list")
    try:
        mpps_reconcile(step=step, exam=exam, acting_user=request.user, note=request.POST.get("note", ""))
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        settled = f" to {exam.label}" if exam is not None else " without an exam"
        messages.success(request, f"Step {step.performed_procedure_step_id or step.pk} settled{settled}.")
    return redirect("worklist:reconcile_list")


def _exam_named(request) -> Exam | None:
    """The one exam with the accession number posted; None (and a message saying why) otherwise."""
    accession = request.POST.get("accession_number", "").strip()
    exams = list(exams_with_context().filter(accession_number=accession)[:2])
    if len(exams) != 1:
        found = "no exam" if not exams else "several exams"
        messages.error(request, f"Accession number {accession or '(empty)'} names {found}; check it.")
        return None
    return exams[0]


@require_safe
@role_required(Role.FRONT_DESK, Role.TECHNOLOGIST, Role.ADMIN)
def availability_list(request):
    """Instance availability notifications from the PACS for studies that match no exam."""
    return render(request, "worklist/availability.html", {"notifications": availability_notifications_to_reconcile()})


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
