"""The PDF of a final report (for the clinical roles) and the critical results list (for radiologists)."""

import io
import logging

from django.contrib import messages
from django.http import FileResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from reporting import services
from reporting.forms_outputs import CriticalCloseForm, CriticalFlagForm, CriticalNotifyForm
from reporting.models import CriticalResult
from reporting.pdf import report_filename, report_pdf
from reporting.selectors import critical_results_open
from reporting.status import final_report_of, report_status_for
from ris.access import shown, shown_in_answer
from ris.exceptions import ApplicationError
from ris.models import Role
from ris.pagination import paginate
from ris.roles import role_required
from scheduling.forms import add_service_error
from scheduling.selectors import exams_with_context

logger = logging.getLogger(__name__)

PDF_READERS = (Role.RADIOLOGIST, Role.TECHNOLOGIST, Role.FRONT_DESK, Role.ADMIN)  # not billing: no report text
CRITICAL = (Role.RADIOLOGIST, Role.ADMIN)


@require_safe
@role_required(*PDF_READERS)
def report_pdf_download(request, exam_pk: int):
    """The final report as a PDF attachment; 404 with an explanation while the report is not final."""
    exam = get_object_or_404(exams_with_context(), pk=exam_pk)
    report = final_report_of(exam)
    if report is None:
        context = {"exam": exam, "report_status": report_status_for([exam])[exam.pk]}
        return render(request, "reporting/pdf_missing.html", context, status=404)
    shown(request, exam, report)
    data = report_pdf(report)
    accession = exam.accession_number
    logger.info("report PDF of exam %s (accession %s) by user %s", exam.pk, accession, request.user.pk)
    response = FileResponse(
        io.BytesIO(data),
        as_attachment=True,
        filename=report_filename(exam.accession_number),
        content_type="application/pdf",
    )
    response["Cache-Control"] = "private, no-store"  # a patient's report: not for shared caches
    return response


# --- critical results ---------------------------------------------------------------------------------------


def _notify_form(critical: CriticalResult, data=None) -> CriticalNotifyForm:
    return CriticalNotifyForm(data, auto_id=f"id_critical{critical.pk}_%s")


def _critical_page(request, *, bound: dict | None = None):
    """The open critical results, oldest first, each with its notify and close forms (`bound` ones keep errors)."""
    bound = bound or {}
    criticals = critical_results_open().select_related("report__exam__procedure_type", "report__signed_by")
    page = paginate(request, criticals)
    rows = [
        {
            "critical": critical,
            "notify_form": bound.get(("notify", critical.pk)) or _notify_form(critical),
            "close_form": bound.get(("close", critical.pk)) or CriticalCloseForm(),
        }
        for critical in page
    ]
    shown(request, *(row["critical"].report for row in rows))  # each row names its patient
    if request.method == "POST":  # a form sent back with its error: the list is shown again
        shown_in_answer(request)
    return render(request, "reporting/critical.html", {"rows": rows, "page": page})


def _open_critical(request, pk: int) -> CriticalResult | None:
    critical = get_object_or_404(CriticalResult, pk=pk)
    if critical.closed_at is not None:
        messages.info(request, "That critical result is closed already.")
        return None
    return critical


@require_safe
@role_required(*CRITICAL)
def critical_list(request):
    return _critical_page(request)


@require_POST
@role_required(*CRITICAL)
def critical_notify(request, pk: int):
    """Record who was told, how and when."""
    critical = _open_critical(request, pk)
    if critical is None:
        return redirect("reports:critical")
    form = _notify_form(critical, request.POST)
    if form.is_valid():
        try:
            services.critical_notify(
                critical=critical,
                user=request.user,
                person=form.cleaned_data["notified_person"],
                method=form.cleaned_data["notification_method"],
                at=form.cleaned_data["notified_at"],
            )
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Notification of {form.cleaned_data['notified_person']} recorded.")
            return redirect("reports:critical")
    return _critical_page(request, bound={("notify", pk): form})


@require_POST
@role_required(*CRITICAL)
def critical_close(request, pk: int):
    critical = _open_critical(request, pk)
    if critical is None:
        return redirect("reports:critical")
    form = CriticalCloseForm(request.POST)
    try:
        services.critical_close(critical=critical, user=request.user)
    except ApplicationError as error:
        add_service_error(form, error)
        return _critical_page(request, bound={("close", pk): form})
    messages.success(request, "Critical result closed.")
    return redirect("reports:critical")


@require_POST
@role_required(Role.RADIOLOGIST)
def critical_flag(request, exam_pk: int):
    """Flag a critical result on the exam's report, from the editor; it joins the open list."""
    exam = get_object_or_404(exams_with_context(), pk=exam_pk)
    report = getattr(exam, "report", None)
    form = CriticalFlagForm(request.POST)
    if report is None:
        messages.error(request, "Save the report first; a critical result belongs to a report.")
    elif not form.is_valid():
        messages.error(request, "Choose a category and say what the critical finding is.")
    else:
        try:
            services.critical_flag(report=report, user=request.user, **form.cleaned_data)
            messages.success(request, "Critical result flagged: record who you notified on the critical results list.")
        except ApplicationError as error:
            messages.error(request, error.message)
    return redirect("reporting:editor", exam_pk=exam.pk)
