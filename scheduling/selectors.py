"""Reads of orders and exams for the pages, the worklist and the interfaces."""

from datetime import date, datetime, time, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from scheduling.models import Exam

S = Exam.Status


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """The aware start and end of a calendar day in the department's time zone."""
    tz = timezone.get_current_timezone()
    start = datetime.combine(day, time.min, tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)


def exams_with_context() -> QuerySet[Exam]:
    return Exam.objects.select_related(
        "order", "order__patient", "order__referring_physician", "procedure_type", "procedure_type__modality", "room"
    )


def exams_scheduled_on(day: date, *, statuses: set[str] | None = None) -> QuerySet[Exam]:
    """The exams booked on a local calendar day, by room and start time."""
    start, end = local_day_bounds(day)
    exams = exams_with_context().filter(scheduled_start__gte=start, scheduled_start__lt=end)
    if statuses is not None:
        exams = exams.filter(status__in=statuses)
    return exams.order_by("room__name", "scheduled_start")


def exams_awaiting_report() -> QuerySet[Exam]:
    """Performed exams without a final report, oldest first."""
    return exams_with_context().filter(status__in=[S.COMPLETED, S.PRELIMINARY]).order_by("completed_at", "id")


def exams_performed_since(since: datetime) -> QuerySet[Exam]:
    """Exams performed (completed or reported) since `since`, newest first."""
    return (
        exams_with_context()
        .filter(status__in=[S.COMPLETED, S.PRELIMINARY, S.FINAL, S.AMENDED], completed_at__gte=since)
        .order_by("-completed_at")
    )


def exam_status_counts(exams: QuerySet[Exam]) -> dict[str, int]:
    counts = {status: 0 for status in S.values}
    for status in exams.values_list("status", flat=True):
        counts[status] += 1
    return counts
