"""Free-slot arithmetic: pure functions over aware datetimes, no database."""

from collections.abc import Iterable
from datetime import datetime, timedelta

Interval = tuple[datetime, datetime]


def overlaps(a: Interval, b: Interval) -> bool:
    """Half-open intervals [start, end) overlap: back-to-back bookings do not."""
    return a[0] < b[1] and b[0] < a[1]


def free_starts(
    periods: Iterable[Interval],
    busy: Iterable[Interval],
    *,
    duration: timedelta,
    step: timedelta,
    not_before: datetime | None = None,
) -> list[datetime]:
    """Start times at which `duration` fits inside an opening period without touching a busy interval.

    Candidates are the period's grid (its opening time plus multiples of `step`) and the end of each booking, so
    that an exam can follow another back to back. Sorted, without duplicates.
    """
    if duration <= timedelta(0) or step <= timedelta(0):
        raise ValueError("duration and step must be positive")
    busy = sorted(busy)
    starts: set[datetime] = set()
    for opens, closes in periods:
        candidates = {opens + k * step for k in range(int((closes - opens) / step) + 1)}
        candidates.update(end for _start, end in busy if opens <= end < closes)
        for start in candidates:
            slot = (start, start + duration)
            if slot[1] > closes or (not_before is not None and start < not_before):
                continue
            if not any(overlaps(slot, interval) for interval in busy):
                starts.add(start)
    return sorted(starts)
