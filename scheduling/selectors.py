"""Reads of orders and exams for the pages, the worklist and the interfaces."""

from datetime import date, datetime, time, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from ris.models import ProcedureType, Room
from ris.models.catalog import MAX_PROCEDURE_MINUTES
from ris.validators import ACCESSION_MAX_LENGTH
from scheduling.models import Exam, Order
from scheduling.slots import Interval, free_starts
from scheduling.workflow import HOLDS_ROOM, PERFORMED, REPORTED

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


def exams_scheduled_on(
    day: date, *, statuses: set[str] | None = None, room_id: int | None = None, modality_code: str = ""
) -> QuerySet[Exam]:
    """The exams booked on a local calendar day, by room and start time; optionally in one room or modality."""
    start, end = local_day_bounds(day)
    exams = exams_with_context().filter(scheduled_start__gte=start, scheduled_start__lt=end)
    if statuses is not None:
        exams = exams.filter(status__in=statuses)
    if room_id is not None:
        exams = exams.filter(room_id=room_id)
    if modality_code:
        exams = exams.filter(room__modality__code=modality_code)
    return exams.order_by("room__name", "scheduled_start")


def exams_performed_since(since: datetime) -> QuerySet[Exam]:
    """Exams performed (completed or reported) since `since`, newest first."""
    return exams_with_context().filter(status__in=PERFORMED, completed_at__gte=since).order_by("-completed_at", "-pk")


def exams_reported_since(since: datetime) -> QuerySet[Exam]:
    """Exams performed since `since` whose final report is on file, newest first."""
    return exams_performed_since(since).filter(status__in=REPORTED)


# What "most ordered" counts: the procedures of the orders entered in this many recent days.
MOST_ORDERED_DAYS = 90


def procedure_types_most_ordered(*, limit: int = 8, days: int = MOST_ORDERED_DAYS) -> list[int]:
    """The IDs of the active procedures ordered most often in the last `days` days, most first (ties by name)."""
    since = timezone.now() - timedelta(days=days)
    rows = (
        Exam.objects.filter(order__created_at__gte=since, procedure_type__active=True)
        .values("procedure_type")
        .annotate(orders=Count("order", distinct=True))
        .order_by("-orders", "procedure_type__name")[:limit]
    )
    return [row["procedure_type"] for row in rows]


def exam_status_counts(exams: QuerySet[Exam]) -> dict[str, int]:
    counts = {status: 0 for status in S.values}
    for status in exams.values_list("status", flat=True):
        counts[status] += 1
    return counts


def room_open_periods(room: Room, day: date) -> list[Interval]:
    """The room's opening periods on a local calendar day, as aware datetimes."""
    tz = timezone.get_current_timezone()
    return [
        (datetime.combine(day, hours.opens_at, tzinfo=tz), datetime.combine(day, hours.closes_at, tzinfo=tz))
        for hours in room.opening_hours.all()
        if hours.weekday == day.weekday()
    ]


def exams_holding_room(room: Room, start: datetime, end: datetime) -> QuerySet[Exam]:
    """Exams that hold the room at some moment between `start` and `end` (half-open: back to back is free).

    The lower bound on the start (no exam is longer than MAX_PROCEDURE_MINUTES) keeps the scan on the
    (room, scheduled_start) index to the day in question instead of the room's whole history.
    """
    return Exam.objects.filter(
        room=room,
        status__in=HOLDS_ROOM,
        scheduled_start__gte=start - timedelta(minutes=MAX_PROCEDURE_MINUTES),
        scheduled_start__lt=end,
        scheduled_end__gt=start,
    )


def room_busy_intervals(room: Room, start: datetime, end: datetime, *, exclude_exam_id: int | None = None):
    """Scheduled times of the exams holding the room between `start` and `end`."""
    exams = exams_holding_room(room, start, end).exclude(pk=exclude_exam_id)
    return list(exams.values_list("scheduled_start", "scheduled_end"))


def room_free_slots(
    room: Room, day: date, duration_minutes: int, *, now: datetime | None = None, exclude_exam_id: int | None = None
) -> list[datetime]:
    """Start times on `day` at which the room is open and free for `duration_minutes` (none in the past)."""
    periods = room_open_periods(room, day)
    if not periods:
        return []
    busy = room_busy_intervals(room, periods[0][0], periods[-1][1], exclude_exam_id=exclude_exam_id)
    return free_starts(
        periods,
        busy,
        duration=timedelta(minutes=duration_minutes),
        step=timedelta(minutes=settings.RIS_SLOT_STEP_MINUTES),
        not_before=now or timezone.now(),
    )


def rooms_for(procedure_type: ProcedureType) -> QuerySet[Room]:
    """Active rooms whose modality performs the procedure, with their opening hours."""
    return (
        Room.objects.filter(active=True, modality_id=procedure_type.modality_id)
        .prefetch_related("opening_hours")
        .order_by("name")
    )


def free_slots_by_room(exam: Exam, day: date, *, now: datetime | None = None) -> list[tuple[Room, list[datetime]]]:
    """For each suitable room, the free start times on `day` for this exam (its own booking does not count)."""
    minutes = exam.procedure_type.default_duration_minutes
    return [
        (room, room_free_slots(room, day, minutes, now=now, exclude_exam_id=exam.pk))
        for room in rooms_for(exam.procedure_type)
    ]


def next_day_with_free_slot(exam: Exam, after: date, *, within_days: int = 31) -> date | None:
    """The first day after `after` on which some suitable room has a free slot for the exam."""
    rooms = list(rooms_for(exam.procedure_type))
    minutes = exam.procedure_type.default_duration_minutes
    for offset in range(1, within_days + 1):
        day = after + timedelta(days=offset)
        if any(room_free_slots(room, day, minutes, exclude_exam_id=exam.pk) for room in rooms):
            return day
    return None


class BoardRow(NamedTuple):
    pk: int
    room_id: int
    start: datetime
    end: datetime
    status: str
    family_name: str
    given_name: str
    procedure_code: str
    procedure_name: str


def board_rows(rooms, start: date, days: int = 1) -> list[BoardRow]:
    """What the board shows of the exams booked in the rooms over `days` local days, cancelled ones left out.

    Only the columns a block prints, as tuples: a week of a busy modality is thousands of exams.
    """
    first, _ = local_day_bounds(start)
    _, last = local_day_bounds(start + timedelta(days=days - 1))
    exams = (
        Exam.objects.filter(room__in=rooms, scheduled_start__gte=first, scheduled_start__lt=last)
        .exclude(status=Exam.Status.CANCELLED)
        .order_by("room_id", "scheduled_start")
    )
    columns = (
        "pk",
        "room_id",
        "scheduled_start",
        "scheduled_end",
        "status",
        "order__patient__family_name",
        "order__patient__given_name",
        "procedure_type__code",
        "procedure_type__name",
    )
    return [BoardRow(*values) for values in exams.values_list(*columns)]


def arrivals_expected(day: date) -> QuerySet[Exam]:
    """Today's booked exams whose patient has not yet arrived, and those waiting, by time."""
    start, end = local_day_bounds(day)
    return (
        exams_with_context()
        .filter(Q(status__in=[Exam.Status.SCHEDULED, Exam.Status.ARRIVED]))
        .filter(scheduled_start__gte=start, scheduled_start__lt=end)
        .order_by("scheduled_start", "room__name")
    )


def order_by_number(*, placer_application: str, placer_order_number: str, filler_order_number: str) -> Order | None:
    """The order a placer (ORC-2 with its application) or the RIS's own filler number (ORC-3) names."""
    orders = Order.objects.select_related("patient")
    if filler_order_number:
        found = orders.filter(filler_order_number=filler_order_number).first()
        if found is not None:
            return found
    if placer_order_number:
        return orders.filter(placer_application=placer_application, placer_order_number=placer_order_number).first()
    return None


def patients_by_accession(token: str) -> list[int]:
    """The patients whose exams carry this accession number (as typed or in capitals), for ris patient search.
    A word without a digit or longer than DICOM SH allows is no accession number: no query for a name."""
    if len(token) > ACCESSION_MAX_LENGTH or not any(char.isdigit() for char in token):
        return []
    numbers = {token, token.upper()}
    return list(Exam.objects.filter(accession_number__in=numbers).values_list("order__patient_id", flat=True))
