"""Reads for radiologists: the reading worklist, an exam's report with its addenda, priors, the viewer link."""

from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from reporting.models import CriticalResult, Report
from scheduling.models import Exam, Priority
from scheduling.selectors import local_day_bounds

S = Exam.Status


def reading_worklist(
    *,
    user=None,
    modality: str = "",
    body_part: str = "",
    referring_physician: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    mine: bool = False,
    now: datetime | None = None,
) -> QuerySet[Exam]:
    """Exams performed and not yet final: STAT first, then the oldest; with who holds each (a live claim)."""
    now = now or timezone.now()
    exams = Exam.objects.filter(status__in=[S.COMPLETED, S.PRELIMINARY]).select_related(
        "order__patient", "order__referring_physician", "procedure_type__modality", "room", "report"
    )
    if modality:
        exams = exams.filter(procedure_type__modality__code=modality)
    if body_part:
        exams = exams.filter(procedure_type__body_part=body_part)
    if referring_physician:
        exams = exams.filter(order__referring_physician_id=referring_physician)
    if date_from:
        exams = exams.filter(completed_at__gte=local_day_bounds(date_from)[0])
    if date_to:
        exams = exams.filter(completed_at__lt=local_day_bounds(date_to)[1])
    if mine and user is not None:
        live = now - timedelta(minutes=settings.RIS_READING_CLAIM_MINUTES)
        exams = exams.filter(
            Q(reading_claim__user=user, reading_claim__last_activity__gte=live) | Q(report__author=user)
        )
    stat_first = Case(When(order__priority=Priority.STAT, then=Value(0)), default=Value(1), output_field=IntegerField())
    return exams.order_by(stat_first, "completed_at", "id")


def report_of(exam: Exam) -> Report | None:
    return Report.objects.select_related("signed_by", "author", "template").filter(exam=exam).first()


def priors(exam: Exam, *, limit: int = 20) -> QuerySet[Exam]:
    """Other performed exams of the same patient (merged records followed), newest first, with their reports."""
    return (
        Exam.objects.filter(order__patient_id=exam.order.patient_id, status__in=[S.FINAL, S.AMENDED, S.PRELIMINARY])
        .exclude(pk=exam.pk)
        .select_related("procedure_type__modality", "report")
        .order_by("-completed_at", "-id")[:limit]
    )


def viewer_url(exam: Exam) -> str:
    """The PACS viewer link of RIS_VIEWER_URL_TEMPLATE ({study_uid}, {accession}); empty when none is set."""
    template = settings.RIS_VIEWER_URL_TEMPLATE
    if not template:
        return ""
    return template.format(study_uid=exam.study_instance_uid, accession=exam.order.accession_number)


def critical_results_open() -> QuerySet[CriticalResult]:
    """Critical results not closed yet, oldest first: the list stays visible until each is closed."""
    return (
        CriticalResult.objects.filter(closed_at__isnull=True)
        .select_related("report__exam__order__patient", "flagged_by")
        .order_by("created_at")
    )
