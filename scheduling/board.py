"""Layout of the schedule board: where each exam's block sits. Pure presentation arithmetic, no database."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from ris.models import Room
from scheduling.models import Exam

DEFAULT_WINDOW = (time(7), time(20))


@dataclass
class Block:
    exam: Exam
    top: float  # percent of the column's height
    height: float


@dataclass
class Column:
    title: str
    blocks: list[Block] = field(default_factory=list)


def day_window(rooms: Iterable[Room], day: date) -> tuple[time, time]:
    """The earliest opening and latest closing among the rooms on that weekday (07:00-20:00 if none open)."""
    periods = [
        (h.opens_at, h.closes_at) for room in rooms for h in room.opening_hours.all() if h.weekday == day.weekday()
    ]
    if not periods:
        return DEFAULT_WINDOW
    return min(p[0] for p in periods).replace(minute=0), _ceil_hour(max(p[1] for p in periods))


def _ceil_hour(value: time) -> time:
    if value.minute == 0:
        return value
    return time(value.hour + 1) if value.hour < 23 else time(23, 59)


def hour_marks(window: tuple[time, time]) -> list[tuple[time, float]]:
    """Each full hour inside the window, with its offset from the top in percent."""
    total = (window[1].hour * 60 + window[1].minute) - (window[0].hour * 60 + window[0].minute)
    return [(time(hour), (hour - window[0].hour) * 60 / total * 100) for hour in range(window[0].hour, window[1].hour)]


def day_columns(rooms: Iterable[Room], exams: Iterable[Exam], day: date, window: tuple[time, time]) -> list[Column]:
    """One column per room; each exam a block placed by its local start and end within the window."""
    tz = timezone.get_current_timezone()
    start = datetime.combine(day, window[0], tzinfo=tz)
    end = datetime.combine(day, window[1], tzinfo=tz)
    span = (end - start) / timedelta(minutes=1)
    columns = {room.pk: Column(title=f"{room.name} · {room.station_ae_title}") for room in rooms}
    for exam in exams:
        column = columns.get(exam.room_id)
        if column is None or exam.scheduled_start is None:
            continue
        top = max(0.0, (exam.scheduled_start - start) / timedelta(minutes=1) / span * 100)
        bottom = min(100.0, (exam.scheduled_end - start) / timedelta(minutes=1) / span * 100)
        column.blocks.append(Block(exam=exam, top=round(top, 3), height=round(max(bottom - top, 0.8), 3)))
    return list(columns.values())


def week_grid(rooms: Iterable[Room], exams: Iterable[Exam], days: list[date]) -> list[tuple[Room, list[list[Exam]]]]:
    """Rows of rooms, columns of days, each cell the exams of that room and day in time order."""
    cells: dict[tuple[int, date], list[Exam]] = {}
    for exam in exams:
        cells.setdefault((exam.room_id, timezone.localtime(exam.scheduled_start).date()), []).append(exam)
    return [(room, [cells.get((room.pk, day), []) for day in days]) for room in rooms]
