"""The department dashboard (administrators and radiologists): the figures of dashboard.selectors as charts, tables and
a CSV, for a period of local days and a modality chosen in a GET form."""

from datetime import timedelta

from django import forms
from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from dashboard.selectors import (
    ALL,
    CSV_HEADER,
    DEFAULT_DAYS,
    MAX_DAYS,
    Dashboard,
    Period,
    Turnaround,
    dashboard,
    dashboard_rows,
)
from ris import csvsafe
from ris.forms import DateRangeMixin, errors_text
from ris.models import Modality, Role
from ris.roles import role_required

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
ROLES = (Role.ADMIN, Role.RADIOLOGIST)


class DashboardFilterForm(DateRangeMixin, forms.Form):
    date_from = forms.DateField(label="From", widget=DATE)
    date_to = forms.DateField(label="To", widget=DATE)
    modality = forms.ModelChoiceField(
        Modality.objects.all(), to_field_name="code", required=False, empty_label="All modalities"
    )

    @classmethod
    def for_query(cls, query: QueryDict) -> "DashboardFilterForm":
        """Bound to the query string, the days left empty filled in: the last DEFAULT_DAYS days up to today."""
        data = query.copy()
        default = Period.last_days(DEFAULT_DAYS)
        if not data.get("date_to"):
            data["date_to"] = default.last.isoformat()
        if not data.get("date_from"):
            data["date_from"] = default.first.isoformat()
        return cls(data)

    def clean(self) -> dict:
        data = super().clean()
        first, last = data.get("date_from"), data.get("date_to")
        if first and last and first <= last and (last - first).days + 1 > MAX_DAYS:
            self.add_error("date_from", f"Choose at most {MAX_DAYS} days.")
        return data

    def period(self) -> Period:
        return Period(self.cleaned_data["date_from"], self.cleaned_data["date_to"])

    def modality_code(self) -> str | None:
        modality = self.cleaned_data["modality"]
        return modality.code if modality else None


@require_safe
@role_required(*ROLES)
def home(request):
    """The figures for the period and modality of the form: charts, and the numbers beside them."""
    form = DashboardFilterForm.for_query(request.GET)
    board = dashboard(period=form.period(), modality=form.modality_code()) if form.is_valid() else None
    context = {"form": form, "board": board, "max_days": MAX_DAYS}
    if board is not None:
        context["charts"] = chart_data(board)
        context["csv_url"] = f"{reverse('dashboard:csv')}?{form.data.urlencode()}"
        context["turnaround_rows"] = turnaround_rows(board)
        context["time_zone"] = settings.TIME_ZONE
        context["ages"] = {
            "critical": age_text(board.attention.oldest_critical_age),
            "queued": age_text(board.attention.oldest_queued_age),
        }
    return render(request, "dashboard/home.html", context)


@require_safe
@role_required(*ROLES)
def csv_export(request):
    """Every figure of the page as rows of section, key, measure and value (docs/dashboard.md)."""
    form = DashboardFilterForm.for_query(request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest(
            f"Correct the filters: {errors_text(form)}", content_type="text/plain; charset=utf-8"
        )
    board = dashboard(period=form.period(), modality=form.modality_code())
    period = board.period
    name = f"dashboard_{period.first:%Y%m%d}-{period.last:%Y%m%d}_{board.modality or 'all'}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csvsafe.writer(response)
    writer.writerow(CSV_HEADER)
    writer.writerows(dashboard_rows(board))
    return response


def _rounded(value: float | None, places: int = 2) -> float | None:
    return None if value is None else round(value, places)


def turnaround_labels(board: Dashboard) -> list[str]:
    """The modalities with either turnaround, in code order, then ALL (nothing when neither has data)."""
    codes = sorted({t.modality for t in [*board.order_to_exam, *board.exam_to_final]} - {ALL})
    return [*codes, ALL] if codes else []


def turnaround_rows(board: Dashboard) -> list[tuple[str, list[Turnaround | None]]]:
    """(modality, [order to exam, exam to final]) for the table; None where a modality has no such durations."""
    kinds = [{t.modality: t for t in board.order_to_exam}, {t.modality: t for t in board.exam_to_final}]
    return [(code, [kind.get(code) for kind in kinds]) for code in turnaround_labels(board)]


def chart_data(board: Dashboard) -> dict:
    """What static/js/dashboard.js draws (through json_script): plain lists, null where there is no figure."""
    labels = turnaround_labels(board)

    def series(turnarounds) -> dict:
        by_code = {t.modality: t for t in turnarounds}
        return {
            "median": [_rounded(getattr(by_code.get(code), "median_hours", None)) for code in labels],
            "p90": [_rounded(getattr(by_code.get(code), "p90_hours", None)) for code in labels],
        }

    per_day = board.exams_per_day
    return {
        "turnaround": {
            "labels": labels,
            "orderToExam": series(board.order_to_exam),
            "examToFinal": series(board.exam_to_final),
        },
        "perDay": {
            "labels": [day.isoformat() for day in per_day.days],
            "series": [{"label": code, "data": counts} for code, counts in per_day.by_modality.items()],
        },
        "rooms": {
            "labels": [room.room for room in board.rooms],
            "percent": [_rounded(room.percent, 1) for room in board.rooms],
        },
        "noShow": {
            "labels": [rate.modality for rate in board.no_shows],
            "percent": [_rounded(rate.percent, 1) for rate in board.no_shows],
        },
    }


def age_text(age: timedelta | None) -> str:
    """'3 d 4 h', '2 h 5 min', '12 min'; an em dash for none."""
    if age is None:
        return "—"
    minutes = int(age.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
