"""Front-desk pages."""

from datetime import date, timedelta

from django.shortcuts import render
from django.utils import timezone

from ris.models import Role
from ris.roles import role_required
from scheduling.selectors import exam_status_counts, exams_scheduled_on


def _day_from(request) -> tuple[date, str]:
    raw = request.GET.get("day", "")
    if not raw:
        return timezone.localdate(), ""
    try:
        return date.fromisoformat(raw), ""
    except ValueError:
        return timezone.localdate(), f"{raw!r} is not a date (YYYY-MM-DD); showing today."


@role_required(Role.FRONT_DESK, Role.ADMIN)
def home(request):
    """The day's schedule of every room."""
    day, error = _day_from(request)
    exams = exams_scheduled_on(day)
    context = {
        "day": day,
        "previous_day": day - timedelta(days=1),
        "next_day": day + timedelta(days=1),
        "exams": exams,
        "status_counts": exam_status_counts(exams),
        "day_error": error,
    }
    return render(request, "scheduling/home.html", context)
