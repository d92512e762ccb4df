"""Progress of long jobs on a page (claim export batches, catalog imports): the time left, estimated in one place.

The status views put `progress_fields(...)` into their JSON and their templates show the same values, so the page
and its poller (static/js/progress.js) never disagree about the estimate.
"""

from datetime import datetime

from django.utils import timezone


def percent(done: int, total: int, *, finished: bool) -> int:
    """Whole percent of the items done; 100 once the job is finished, whatever the counts say."""
    return 100 if finished else int(100 * done / max(total, 1))


def estimate(done: int, total: int, started_at: datetime | None, now: datetime) -> float | None:
    """Seconds left at the rate so far; None before the first item is done (no rate yet) or before the start."""
    if started_at is None or total <= 0 or done <= 0:
        return None
    if done >= total:
        return 0.0
    elapsed = (now - started_at).total_seconds()
    if elapsed <= 0:
        return None
    return elapsed * (total - done) / done


def duration_text(seconds: float) -> str:
    """A duration as people read it: "45 s", "2 min 5 s", "1 h 20 min"; to the nearest second."""
    seconds = max(round(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds} s"
    return f"{seconds} s"


def remaining_text(seconds: float | None) -> str:
    """The estimate in words, e.g. "about 2 min 5 s left"; empty when there is none yet."""
    return "" if seconds is None else f"about {duration_text(seconds)} left"


def progress_fields(
    *, done: int, total: int, started_at: datetime | None, running: bool, now: datetime | None = None
) -> dict:
    """The estimate as the status JSON and the templates carry it: eta_seconds (whole, or None) and eta_text."""
    seconds = estimate(done, total, started_at, now or timezone.now()) if running else None
    return {
        "eta_seconds": None if seconds is None else round(seconds),
        "eta_text": remaining_text(seconds),
    }
