"""Layout of the schedule board: which block goes where. Pure presentation arithmetic, no database."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from ris.models import Room
from scheduling.models import Exam
from scheduling.selectors import BoardRow

DEFAULT_WINDOW = (time(7), time(20))
_LABELS = dict(Exam.Status.choices)


@dataclass(slots=True)
class Block:
    """One exam as the board prints it; `top` and `height` place it in a day column (percent)."""

    url: str
    time: str
    name: str
    code: str
    procedure: str
    status_class: str
    status_label: str
    top: float = 0.0
    height: float = 0.0


@dataclass
class Column:
    title: str
    blocks: list[Block] = field(default_factory=list)


def block_for(row: BoardRow, exam_url: str, local_start: datetime) -> Block:
    """`exam_url` is the exam page's URL with {pk} where the exam's id goes."""
    given = f", {row.given_name}" if row.given_name else ""
    return Block(
        url=exam_url.format(pk=row.pk),
        time=f"{local_start:%H:%M}",
        name=f"{row.family_name.upper()}{given}",
        code=row.procedure_code,
        procedure=row.procedure_name,
        status_class=f"status-{row.status.lower()}",
        status_label=_LABELS[row.status],
    )


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


def day_columns(
    rooms: Iterable[Room], rows: Iterable[BoardRow], day: date, window: tuple[time, time], exam_url: str
) -> list[Column]:
    """One column per room; each exam a block placed by its local start and end within the window."""
    tz = timezone.get_current_timezone()
    start = datetime.combine(day, window[0], tzinfo=tz)
    span = (datetime.combine(day, window[1], tzinfo=tz) - start) / timedelta(minutes=1)
    columns = {room.pk: Column(title=f"{room.name} · {room.station_ae_title}") for room in rooms}
    for row in rows:
        column = columns.get(row.room_id)
        if column is None:
            continue
        block = block_for(row, exam_url, row.start.astimezone(tz))
        top = max(0.0, (row.start - start) / timedelta(minutes=1) / span * 100)
        bottom = min(100.0, (row.end - start) / timedelta(minutes=1) / span * 100)
        block.top, block.height = round(top, 3), round(max(bottom - top, 0.8), 3)
        column.blocks.append(block)
    return list(columns.values())


def week_grid(rooms: Iterable[Room], rows: Iterable[BoardRow], days: list[date], exam_url: str):
    """Rows of rooms, columns of days, each cell the blocks of that room and day in time order."""
    tz = timezone.get_current_timezone()
    cells: dict[tuple[int, date], list[Block]] = {}
    for row in rows:
        local_start = row.start.astimezone(tz)
        cells.setdefault((row.room_id, local_start.date()), []).append(block_for(row, exam_url, local_start))
    return [(room, [cells.get((room.pk, day), []) for day in days]) for room in rooms]
