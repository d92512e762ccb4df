"""The department dashboard's figures: turnaround, exams per day, room use, no-shows, and what needs attention now.

One place for the definitions (docs/dashboard.md gives them in words, and the page's legend):

- A period is a range of local calendar days (settings.TIME_ZONE), both ends included: from midnight of the first
  day to midnight after the last.
- Order to exam: from the order's entry (Order.created_at) to the exam's start (started_at, else completed_at), for
  the exams performed in the period (completed_at in it). An order entered after its exam began (entered
  retrospectively) waited nothing: it counts as 0.
- Exam to final report: from the exam's completion to the signature of its FINAL report (Report.signed_at), for the
  reports signed final in the period.
- Both as the median and the 90th percentile in hours, interpolated linearly between the nearest durations (as
  PostgreSQL's percentile_cont), per modality and over all.
- Exams per day: the exams performed (completed) per local day of the period, per modality.
- Room utilisation: booked minutes (scheduled_end - scheduled_start of the exams booked in the room to start in the
  period, cancelled ones excluded, no-shows included: their slot was held) over open minutes (the room's opening
  hours summed over the days of the period). Bookings are counted whole on the day they start; a room booked
  outside its opening hours can exceed 100%.
- No-show rate: exams marked no-show over the exams booked to start in the period and by now (a slot still to
  come has no outcome yet), cancelled ones excluded; as the exams stand now (a no-show rebooked is no longer one).
- Now (neither the period nor the modality applies): critical results not closed, with the oldest one's age; the
  HL7 queue depth (outbound messages waiting to be sent, with the oldest one's age); failed messages: outbound ones
  whose retries are exhausted (waiting for an administrator) and inbound ones not applied (AE error or AR reject)
  in the last 24 hours.

The dashboard reads every app's tables, as the URLconf wires every app's views: it sits above the apps and no app
imports it. On PostgreSQL the percentiles are computed by the database (percentile_cont, each modality's in the same
pass through FILTER), from covering indexes (scheduling migration 0006, reporting 0004): < 300 ms for the page with
1,000,000 exams (bench/dashboard.py). SQLite has no percentile_cont: there the durations are fetched and the same
interpolation is done in Python.
"""

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import connections
from django.db.models import (
    Aggregate,
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Min,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Greatest, TruncDate
from django.utils import timezone

from interfaces.models import InboundMessage, OutboundMessage
from reporting.models import CriticalResult, Report
from ris.models import ProcedureType, Room
from scheduling.models import Exam
from scheduling.workflow import PERFORMED

S = Exam.Status
DEFAULT_DAYS = 30  # the period shown when none is chosen: the last 30 days, today included
MAX_DAYS = 366  # the longest period the page takes (a year, leap day included)
FAILED_INBOUND_HOURS = 24  # inbound messages not applied count as failed for this long
ALL = "All"  # the label of a figure over every modality


# --- Database pieces -------------------------------------------------------------------------------------------


class PercentileCont(Aggregate):
    """PostgreSQL's `percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)`: the linearly interpolated
    percentile of a column (SQL:2003 inverse distribution function)."""

    function = "percentile_cont"
    name = "PercentileCont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        if not 0 <= fraction <= 1:
            raise ValueError(f"A percentile fraction lies between 0 and 1, not {fraction}.")
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


class EpochSeconds(Func):
    """The seconds of a PostgreSQL interval as a double: date_part('epoch', ...), the double precision form of
    EXTRACT(EPOCH FROM ...), which gives numeric since PostgreSQL 14 and is slower to compute and sort."""

    template = "date_part('epoch', %(expressions)s)"
    output_field = FloatField()


def percentile(values: list[float], fraction: float) -> float | None:
    """The percentile of sorted `values` as percentile_cont computes it: linear between the two nearest ranks."""
    if not values:
        return None
    position = fraction * (len(values) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(values) - 1)
    return values[lower] + (values[upper] - values[lower]) * (position - lower)


# --- The figures -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Local calendar days `first` to `last`, both included."""

    first: date
    last: date

    @classmethod
    def last_days(cls, days: int = DEFAULT_DAYS, today: date | None = None) -> "Period":
        today = today or timezone.localdate()
        return cls(today - timedelta(days=days - 1), today)

    @property
    def start(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.first, time.min))

    @property
    def end(self) -> datetime:
        """Midnight after the last day (excluded)."""
        return timezone.make_aware(datetime.combine(self.last + timedelta(days=1), time.min))

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


@dataclass(frozen=True)
class Turnaround:
    """Median and 90th percentile of a turnaround, in hours, over `count` durations of a modality (or ALL)."""

    modality: str
    count: int
    median_hours: float | None
    p90_hours: float | None


@dataclass(frozen=True)
class ExamsPerDay:
    days: list[date]
    by_modality: dict[str, list[int]]  # modality code -> exams performed on each of `days`

    @property
    def total(self) -> int:
        return sum(sum(counts) for counts in self.by_modality.values())

    def totals(self) -> list[tuple[str, int, float]]:
        """(modality code, exams, exams per day on average)."""
        days = len(self.days) or 1
        return [(code, sum(counts), sum(counts) / days) for code, counts in self.by_modality.items()]

    def rows(self) -> list[tuple[date, list[int], int]]:
        """(day, exams per modality in by_modality's order, all exams) for each day of the period."""
        columns = list(self.by_modality.values())
        return [
            (day, [counts[n] for counts in columns], sum(counts[n] for counts in columns))
            for n, day in enumerate(self.days)
        ]


@dataclass(frozen=True)
class RoomUse:
    room: str
    station_ae_title: str
    modality: str
    booked_minutes: float
    open_minutes: float

    @property
    def share(self) -> float | None:
        """Booked over open minutes (a fraction; None for a room never open in the period)."""
        return self.booked_minutes / self.open_minutes if self.open_minutes else None

    @property
    def percent(self) -> float | None:
        return _percent(self.share)

    @property
    def booked_hours(self) -> float:
        return self.booked_minutes / 60

    @property
    def open_hours(self) -> float:
        return self.open_minutes / 60


@dataclass(frozen=True)
class NoShows:
    modality: str
    due: int  # booked to start in the period and by now, not cancelled
    no_shows: int

    @property
    def rate(self) -> float | None:
        return self.no_shows / self.due if self.due else None

    @property
    def percent(self) -> float | None:
        return _percent(self.rate)


@dataclass(frozen=True)
class Attention:
    """What needs attention now, whatever the period."""

    open_critical: int
    oldest_critical_age: timedelta | None
    queue_depth: int
    oldest_queued_age: timedelta | None
    outbound_failed: int
    inbound_failed: int  # not applied (ERROR, REJECTED) in the last FAILED_INBOUND_HOURS

    @property
    def failed(self) -> int:
        return self.outbound_failed + self.inbound_failed


@dataclass(frozen=True)
class Dashboard:
    period: Period
    modality: str | None  # a modality code, None for all
    order_to_exam: list[Turnaround]
    exam_to_final: list[Turnaround]
    exams_per_day: ExamsPerDay
    rooms: list[RoomUse]
    no_shows: list[NoShows]  # per modality, then ALL
    attention: Attention
    now: datetime = field(compare=False)

    @property
    def all_rooms(self) -> RoomUse:
        """The rooms together: their booked over their open minutes."""
        return RoomUse(
            room="All",
            station_ae_title="",
            modality="",
            booked_minutes=sum(room.booked_minutes for room in self.rooms),
            open_minutes=sum(room.open_minutes for room in self.rooms),
        )


def dashboard(*, period: Period, modality: str | None = None, now: datetime | None = None) -> Dashboard:
    """Every figure of the dashboard for `period` and a modality code (None: all modalities)."""
    now = now or timezone.now()
    catalog = Catalog.load()
    bookings = Bookings.read(period=period, modality=modality, now=now, catalog=catalog)
    return Dashboard(
        period=period,
        modality=modality,
        order_to_exam=order_to_exam_turnaround(period=period, modality=modality, catalog=catalog),
        exam_to_final=exam_to_final_turnaround(period=period, modality=modality, catalog=catalog),
        exams_per_day=exams_per_day(period=period, modality=modality, catalog=catalog),
        rooms=room_utilisation(period=period, modality=modality, catalog=catalog, bookings=bookings),
        no_shows=no_show_rates(period=period, modality=modality, catalog=catalog, bookings=bookings),
        attention=attention(now=now),
        now=now,
    )


@dataclass(frozen=True)
class Catalog:
    """The modality of each procedure type. The figures group and filter exams by their procedure type (a column
    of the indexes they read) and name the modality from this small table, instead of joining two more tables
    into every aggregate over tens of thousands of exams."""

    modality_of: dict[int, str]  # procedure type id -> modality code

    @classmethod
    def load(cls) -> "Catalog":
        return cls(dict(ProcedureType.objects.order_by().values_list("id", "modality__code")))

    @property
    def codes(self) -> list[str]:
        return sorted(set(self.modality_of.values()))

    def types_of(self, modality: str) -> list[int]:
        return sorted(pk for pk, code in self.modality_of.items() if code == modality)

    def narrow(self, queryset: QuerySet, modality: str | None, type_path: str = "procedure_type_id") -> QuerySet:
        """`queryset` limited to the procedure types of `modality` (unchanged for None: every modality)."""
        return queryset.filter(**{f"{type_path}__in": self.types_of(modality)}) if modality else queryset


def exams_performed(*, period: Period, modality: str | None = None, catalog: Catalog | None = None):
    """Exams performed in the period: completed in it (their status has moved on to reporting since, perhaps)."""
    performed = Exam.objects.filter(
        status__in=PERFORMED, completed_at__gte=period.start, completed_at__lt=period.end
    ).order_by()
    return (catalog or Catalog.load()).narrow(performed, modality)


def order_to_exam_turnaround(
    *, period: Period, modality: str | None = None, catalog: Catalog | None = None
) -> list[Turnaround]:
    catalog = catalog or Catalog.load()
    waited = ExpressionWrapper(
        Coalesce("started_at", "completed_at", output_field=DateTimeField()) - F("order__created_at"),
        output_field=DurationField(),
    )
    performed = exams_performed(period=period, modality=modality, catalog=catalog)
    return _turnaround(performed, waited, "procedure_type_id", catalog, modality, clamp=True)


def exam_to_final_turnaround(
    *, period: Period, modality: str | None = None, catalog: Catalog | None = None
) -> list[Turnaround]:
    catalog = catalog or Catalog.load()
    signed = Report.objects.filter(
        status=Report.Status.FINAL,
        signed_at__gte=period.start,
        signed_at__lt=period.end,
        exam__completed_at__isnull=False,
    ).order_by()
    type_path = "exam__procedure_type_id"
    waited = ExpressionWrapper(F("signed_at") - F("exam__completed_at"), output_field=DurationField())
    return _turnaround(catalog.narrow(signed, modality, type_path), waited, type_path, catalog, modality, clamp=False)


def _turnaround(
    rows: QuerySet, waited, type_path: str, catalog: Catalog, modality: str | None, *, clamp: bool
) -> list[Turnaround]:
    """Per modality (sorted by code), then ALL; nothing when there are no durations."""
    if connections[rows.db].vendor == "postgresql":
        return _turnaround_in_database(rows, waited, type_path, catalog, modality, clamp=clamp)
    return _turnaround_in_python(rows, waited, type_path, catalog, clamp=clamp)


def _turnaround_in_database(
    rows: QuerySet, waited, type_path: str, catalog: Catalog, modality: str | None, *, clamp: bool
) -> list[Turnaround]:
    """One pass over the rows: the overall figures, and each modality's through FILTER (WHERE its types)."""
    seconds = EpochSeconds(waited)
    if clamp:
        seconds = Greatest(seconds, Value(0.0))
    codes = [] if modality else catalog.codes  # one modality chosen: its figures are the overall ones
    figures = {"n": Count("*"), "median": PercentileCont(seconds, 0.5), "p90": PercentileCont(seconds, 0.9)}
    for number, code in enumerate(codes):
        within = Q(**{f"{type_path}__in": catalog.types_of(code)})
        figures[f"n_{number}"] = Count(type_path, filter=within)
        figures[f"median_{number}"] = PercentileCont(seconds, 0.5, filter=within)
        figures[f"p90_{number}"] = PercentileCont(seconds, 0.9, filter=within)
    found = rows.aggregate(**figures)
    if not found["n"]:
        return []
    per_modality = [
        _in_hours(code, found[f"n_{number}"], found[f"median_{number}"], found[f"p90_{number}"])
        for number, code in enumerate(codes)
        if found[f"n_{number}"]
    ]
    if modality:
        per_modality = [_in_hours(modality, found["n"], found["median"], found["p90"])]
    return [*per_modality, _in_hours(ALL, found["n"], found["median"], found["p90"])]


def _turnaround_in_python(rows: QuerySet, waited, type_path: str, catalog: Catalog, *, clamp: bool) -> list[Turnaround]:
    durations: dict[str, list[float]] = defaultdict(list)
    for procedure_type, duration in rows.annotate(waited=waited).values_list(type_path, "waited"):
        seconds = duration.total_seconds()
        durations[catalog.modality_of[procedure_type]].append(max(seconds, 0.0) if clamp else seconds)
    everything = sorted(s for values in durations.values() for s in values)
    result = []
    for code in sorted(durations):
        values = sorted(durations[code])
        result.append(_in_hours(code, len(values), percentile(values, 0.5), percentile(values, 0.9)))
    if result:
        result.append(_in_hours(ALL, len(everything), percentile(everything, 0.5), percentile(everything, 0.9)))
    return result


def _in_hours(code: str, count: int, median: float | None, p90: float | None) -> Turnaround:
    return Turnaround(code, count, None if median is None else median / 3600, None if p90 is None else p90 / 3600)


def exams_per_day(*, period: Period, modality: str | None = None, catalog: Catalog | None = None) -> ExamsPerDay:
    catalog = catalog or Catalog.load()
    days = period.days()
    counted = (
        exams_performed(period=period, modality=modality, catalog=catalog)
        .values("procedure_type_id", day=TruncDate("completed_at", tzinfo=timezone.get_current_timezone()))
        .annotate(n=Count("*"))
        .values_list("day", "procedure_type_id", "n")
    )
    index = {day: n for n, day in enumerate(days)}
    by_modality: dict[str, list[int]] = {}
    for day, procedure_type, n in counted:
        by_modality.setdefault(catalog.modality_of[procedure_type], [0] * len(days))[index[day]] += n
    return ExamsPerDay(days, dict(sorted(by_modality.items())))


def exams_booked(*, period: Period, modality: str | None = None, catalog: Catalog | None = None):
    """Exams booked on a room to start in the period, cancelled ones excluded."""
    booked = (
        Exam.objects.filter(room__isnull=False, scheduled_start__gte=period.start, scheduled_start__lt=period.end)
        .exclude(status=S.CANCELLED)
        .order_by()
    )
    return (catalog or Catalog.load()).narrow(booked, modality)


def open_minutes(room: Room, days: Iterable[date]) -> float:
    """The minutes the room's opening hours (wall-clock times, prefetched) give over `days`."""
    per_weekday = [0.0] * 7
    for hours in room.opening_hours.all():
        opens, closes = (datetime.combine(date.min, t) for t in (hours.opens_at, hours.closes_at))
        per_weekday[hours.weekday] += (closes - opens).total_seconds() / 60
    return sum(per_weekday[day.weekday()] for day in days)


@dataclass(frozen=True)
class Bookings:
    """The exams booked in a period (cancelled ones excluded) summed per room and procedure type: what room use
    and no-shows are computed from, read in one pass."""

    rows: list[tuple[int, int, timedelta, int, int]]  # room, procedure type, booked time, exams due, no-shows

    @classmethod
    def read(cls, *, period: Period, modality: str | None, now: datetime, catalog: Catalog) -> "Bookings":
        due = Q(scheduled_start__lt=now)
        duration = ExpressionWrapper(F("scheduled_end") - F("scheduled_start"), output_field=DurationField())
        summed = (
            exams_booked(period=period, modality=modality, catalog=catalog)
            .values("room_id", "procedure_type_id")
            .annotate(
                booked=Sum(duration),
                due=Count("procedure_type_id", filter=due),
                no_shows=Count("procedure_type_id", filter=due & Q(status=S.NO_SHOW)),
            )
            .values_list("room_id", "procedure_type_id", "booked", "due", "no_shows")
        )
        return cls(list(summed))


def room_utilisation(
    *, period: Period, modality: str | None = None, catalog: Catalog | None = None, bookings: Bookings | None = None
) -> list[RoomUse]:
    """Every active room of the modality, and any other with bookings in the period, by modality and name."""
    catalog = catalog or Catalog.load()
    bookings = bookings or Bookings.read(period=period, modality=modality, now=timezone.now(), catalog=catalog)
    booked: dict[int, timedelta] = defaultdict(timedelta)
    for room, _procedure_type, time_booked, _due, _no_shows in bookings.rows:
        booked[room] += time_booked or timedelta()
    rooms = Room.objects.filter(Q(active=True) | Q(pk__in=list(booked)))
    rooms = rooms.filter(modality__code=modality) if modality else rooms
    rooms = rooms.select_related("modality").prefetch_related("opening_hours").order_by("modality__code", "name")
    days = period.days()
    return [
        RoomUse(
            room=room.name,
            station_ae_title=room.station_ae_title,
            modality=room.modality.code,
            booked_minutes=booked[room.pk].total_seconds() / 60,
            open_minutes=open_minutes(room, days),
        )
        for room in rooms
    ]


def no_show_rates(
    *,
    period: Period,
    modality: str | None = None,
    now: datetime | None = None,
    catalog: Catalog | None = None,
    bookings: Bookings | None = None,
) -> list[NoShows]:
    """Per modality with exams due, sorted by code, then ALL."""
    catalog = catalog or Catalog.load()
    bookings = bookings or Bookings.read(period=period, modality=modality, now=now or timezone.now(), catalog=catalog)
    counted: dict[str, list[int]] = {}
    for _room, procedure_type, _booked, due, no_shows in bookings.rows:
        if due:
            figures = counted.setdefault(catalog.modality_of[procedure_type], [0, 0])
            figures[0] += due
            figures[1] += no_shows
    rates = [NoShows(code, due, no_shows) for code, (due, no_shows) in sorted(counted.items())]
    total = NoShows(ALL, sum(r.due for r in rates), sum(r.no_shows for r in rates))
    return [*rates, total]


def attention(*, now: datetime | None = None) -> Attention:
    now = now or timezone.now()
    critical = CriticalResult.objects.filter(closed_at__isnull=True).aggregate(n=Count("pk"), oldest=Min("created_at"))
    waiting = OutboundMessage.Status.PENDING
    outbound = OutboundMessage.objects.filter(status__in=[waiting, OutboundMessage.Status.FAILED]).aggregate(
        pending=Count("pk", filter=Q(status=waiting)),
        oldest=Min("created_at", filter=Q(status=waiting)),
        failed=Count("pk", filter=Q(status=OutboundMessage.Status.FAILED)),
    )
    inbound_failed = InboundMessage.objects.filter(
        status__in=[InboundMessage.Status.ERROR, InboundMessage.Status.REJECTED],
        created_at__gte=now - timedelta(hours=FAILED_INBOUND_HOURS),
    ).count()
    return Attention(
        open_critical=critical["n"],
        oldest_critical_age=now - critical["oldest"] if critical["oldest"] else None,
        queue_depth=outbound["pending"],
        oldest_queued_age=now - outbound["oldest"] if outbound["oldest"] else None,
        outbound_failed=outbound["failed"],
        inbound_failed=inbound_failed,
    )


# --- The figures as rows: the CSV export, one row per number -----------------------------------------------------

CSV_HEADER = ("section", "key", "measure", "value")


def _number(value: float | None, places: int = 2) -> str:
    return "" if value is None else f"{value:.{places}f}"


def _hours(age: timedelta | None) -> str:
    return "" if age is None else _number(age.total_seconds() / 3600)


def dashboard_rows(board: Dashboard) -> Iterator[tuple[str, str, str, str | int]]:
    """(section, key, measure, value) for every figure; an empty value is a figure without data (no exams)."""
    yield "period", "from", "date", board.period.first.isoformat()
    yield "period", "to", "date", board.period.last.isoformat()
    yield "period", "modality", "code", board.modality or ALL
    yield "period", "time_zone", "name", settings.TIME_ZONE
    yield "period", "computed_at", "datetime", timezone.localtime(board.now).isoformat(timespec="seconds")
    for section, turnarounds in (("order_to_exam", board.order_to_exam), ("exam_to_final", board.exam_to_final)):
        for t in turnarounds:
            yield section, t.modality, "count", t.count
            yield section, t.modality, "median_hours", _number(t.median_hours)
            yield section, t.modality, "p90_hours", _number(t.p90_hours)
    per_day = board.exams_per_day
    for code, counts in per_day.by_modality.items():
        for day, n in zip(per_day.days, counts, strict=True):
            yield "exams_per_day", day.isoformat(), code, n
    for room in board.rooms:
        key = f"{room.room} [{room.station_ae_title}]"
        yield "room_utilisation", key, "modality", room.modality
        yield "room_utilisation", key, "booked_minutes", _number(room.booked_minutes, 0)
        yield "room_utilisation", key, "open_minutes", _number(room.open_minutes, 0)
        yield "room_utilisation", key, "utilisation_percent", _number(room.percent, 1)
    total = board.all_rooms
    yield "room_utilisation", ALL, "booked_minutes", _number(total.booked_minutes, 0)
    yield "room_utilisation", ALL, "open_minutes", _number(total.open_minutes, 0)
    yield "room_utilisation", ALL, "utilisation_percent", _number(total.percent, 1)
    for rate in board.no_shows:
        yield "no_show", rate.modality, "due", rate.due
        yield "no_show", rate.modality, "no_shows", rate.no_shows
        yield "no_show", rate.modality, "rate_percent", _number(rate.percent, 1)
    now = board.attention
    yield "now", "critical_results_open", "count", now.open_critical
    yield "now", "critical_results_open", "oldest_age_hours", _hours(now.oldest_critical_age)
    yield "now", "hl7_queue", "pending", now.queue_depth
    yield "now", "hl7_queue", "oldest_age_hours", _hours(now.oldest_queued_age)
    yield "now", "hl7_failed", "outbound_failed", now.outbound_failed
    yield "now", "hl7_failed", f"inbound_not_applied_{FAILED_INBOUND_HOURS}h", now.inbound_failed


def _percent(share: float | None) -> float | None:
    return None if share is None else share * 100
