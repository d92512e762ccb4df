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
# The day view's scale: at least this tall an hour (rem), and tall enough that the shortest booking on the board
# gets one line of text (SHORTEST_BLOCK_REM), whatever its duration (never counted below MIN_MINUTES).
HOUR_REM = 4.0
SHORTEST_BLOCK_REM = 1.35
MIN_MINUTES = 5
TWO_LINES_REM = 2.6  # a block less tall than this prints one line (time and name), the rest in its title
MOVABLE = frozenset({Exam.Status.SCHEDULED})  # what a drop on the board may reschedule


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
    pk: int = 0
    movable: bool = False
    top: float = 0.0
    height: float = 0.0
    left: float = 0.0  # lanes: blocks that overlap in time (a no-show and the exam booked into its slot) side by side
    width: float = 100.0
    compact: bool = False  # a short booking: one line, the rest in its title

    @property
    def title(self) -> str:
        return f"{self.time} {self.name} · {self.procedure} · {self.status_label}"


@dataclass
class Column:
    title: str
    room_id: int = 0
    blocks: list[Block] = field(default_factory=list)
    closed: list[tuple[float, float]] = field(default_factory=list)  # (top, height) in percent: the room is shut


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
        pk=row.pk,
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


def _minutes(value: time) -> int:
    return value.hour * 60 + value.minute


def track_height_rem(rows: Iterable[BoardRow], window: tuple[time, time]) -> float:
    """How tall the day view's tracks are: HOUR_REM an hour, more when a short booking would not get its line."""
    shortest = min((max((row.end - row.start) / timedelta(minutes=1), MIN_MINUTES) for row in rows), default=60.0)
    per_minute = max(HOUR_REM / 60, SHORTEST_BLOCK_REM / shortest)
    return round((_minutes(window[1]) - _minutes(window[0])) * per_minute, 2)


def now_offset(day: date, window: tuple[time, time], now: datetime | None = None) -> float | None:
    """Where the "now" line goes on `day`'s board (percent from the top), or None when now is not on it."""
    local = timezone.localtime(now or timezone.now())
    if local.date() != day:
        return None
    span = _minutes(window[1]) - _minutes(window[0])
    offset = (local.hour * 60 + local.minute + local.second / 60 - _minutes(window[0])) / span * 100
    return round(offset, 3) if 0 <= offset <= 100 else None


def closed_spans(room: Room, day: date, window: tuple[time, time]) -> list[tuple[float, float]]:
    """The parts of the window in which the room is closed on `day` (its OpeningHours), as (top, height) in
    percent: the board shades them."""
    start, end = _minutes(window[0]), _minutes(window[1])
    span = end - start
    periods = sorted(
        (max(_minutes(h.opens_at), start), min(_minutes(h.closes_at), end))
        for h in room.opening_hours.all()
        if h.weekday == day.weekday()
    )
    spans, cursor = [], start
    for opens, closes in periods:
        if opens > cursor:
            spans.append((cursor, opens))
        cursor = max(cursor, closes)
    if cursor < end:
        spans.append((cursor, end))
    return [(round((a - start) / span * 100, 3), round((b - a) / span * 100, 3)) for a, b in spans if b > a]


def _lay_out_lanes(placed: list[tuple[float, float, Block]]) -> None:
    """Give blocks that overlap in time side-by-side lanes (each cluster of overlapping blocks shares the width)."""
    cluster: list[tuple[float, float, Block]] = []
    cluster_end = -1.0

    def settle(group):
        lanes: list[float] = []  # each lane's end
        assigned = []
        for top, bottom, block in group:
            lane = next((i for i, lane_end in enumerate(lanes) if lane_end <= top), None)
            if lane is None:
                lanes.append(bottom)
                lane = len(lanes) - 1
            else:
                lanes[lane] = bottom
            assigned.append((lane, block))
        for lane, block in assigned:
            block.width = round(100 / len(lanes), 3)
            block.left = round(lane * block.width, 3)

    for item in sorted(placed, key=lambda item: (item[0], item[1])):
        if cluster and item[0] >= cluster_end:
            settle(cluster)
            cluster, cluster_end = [], -1.0
        cluster.append(item)
        cluster_end = max(cluster_end, item[1])
    if cluster:
        settle(cluster)


def day_columns(
    rooms: Iterable[Room],
    rows: Iterable[BoardRow],
    day: date,
    window: tuple[time, time],
    exam_url: str,
    *,
    may_move: bool = False,
    track_rem: float = 52.0,
) -> list[Column]:
    """One column per room; each exam a block placed by its local start and end within the window (the real
    duration: the track is tall enough for the shortest, see track_height_rem), its closed hours shaded."""
    tz = timezone.get_current_timezone()
    start = datetime.combine(day, window[0], tzinfo=tz)
    span = (datetime.combine(day, window[1], tzinfo=tz) - start) / timedelta(minutes=1)
    rooms = list(rooms)
    columns = {
        room.pk: Column(
            title=f"{room.name} · {room.station_ae_title}", room_id=room.pk, closed=closed_spans(room, day, window)
        )
        for room in rooms
    }
    placed: dict[int, list[tuple[float, float, Block]]] = {pk: [] for pk in columns}
    for row in rows:
        column = columns.get(row.room_id)
        if column is None:
            continue
        block = block_for(row, exam_url, row.start.astimezone(tz))
        top = max(0.0, (row.start - start) / timedelta(minutes=1) / span * 100)
        bottom = min(100.0, (row.end - start) / timedelta(minutes=1) / span * 100)
        block.top = round(top, 3)
        block.height = round(max(round(bottom, 3) - block.top, 0.3), 3)  # ends where the next begins
        block.compact = block.height / 100 * track_rem < TWO_LINES_REM
        block.movable = may_move and row.status in MOVABLE
        column.blocks.append(block)
        placed[row.room_id].append((top, bottom, block))
    for blocks in placed.values():
        _lay_out_lanes(blocks)
    return list(columns.values())


def week_grid(rooms: Iterable[Room], rows: Iterable[BoardRow], days: list[date], exam_url: str):
    """Rows of rooms, columns of days, each cell the blocks of that room and day in time order."""
    tz = timezone.get_current_timezone()
    cells: dict[tuple[int, date], list[Block]] = {}
    for row in rows:
        local_start = row.start.astimezone(tz)
        cells.setdefault((row.room_id, local_start.date()), []).append(block_for(row, exam_url, local_start))
    return [(room, [cells.get((room.pk, day), []) for day in days]) for room in rooms]
