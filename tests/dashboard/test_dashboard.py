"""The department dashboard: each figure on a small data set with known answers, the filters, the roles, the CSV."""

import csv
import io
import json
import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard import selectors as figures
from dashboard.selectors import ALL, Period, percentile
from interfaces.models import InboundMessage
from reporting import services as reporting
from ris.models import Modality, OpeningHours, Role
from scheduling.models import Exam
from scheduling.services import exam_book, exam_cancel, exam_check_in, exam_complete, exam_mark_no_show, exam_start
from tests.factories import (
    TEST_ACTOR,
    TEST_PASSWORD,
    InboundMessageFactory,
    ModalityFactory,
    OutboundMessageFactory,
    ProcedureTypeFactory,
    RoomFactory,
    clock,
    make_order,
    make_radiologist,
)

pytestmark = pytest.mark.django_db

ZONE = "America/Chicago"  # local days differ from UTC days: the boundaries are tested where it matters
MONDAY = date(2026, 3, 2)  # a Monday in the past, before the change to daylight saving time (8 March)
WEEK = Period(MONDAY, MONDAY + timedelta(days=6))


@pytest.fixture(autouse=True)
def _local_time(settings):
    settings.TIME_ZONE = ZONE


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(ZONE))


# --- Building exams through the services ------------------------------------------------------------------------


def room_open_all_day(modality_code: str = "CT", **kwargs):
    room = RoomFactory(modality=ModalityFactory(code=modality_code, name=modality_code), open_all_week=False, **kwargs)
    OpeningHours.objects.bulk_create(
        OpeningHours(room=room, weekday=day, opens_at=time(0), closes_at=time(23, 59)) for day in range(7)
    )
    return room


def booked(room, start: datetime, *, ordered_at: datetime | None = None, minutes: int = 20) -> Exam:
    """An exam of the room's modality, ordered at `ordered_at` (default: a day before) and booked at `start`."""
    procedure = ProcedureTypeFactory(modality=room.modality, default_duration_minutes=minutes)
    with clock(ordered_at or start - timedelta(days=1)):
        exam = make_order(procedure_types=[procedure]).exams.get()
        # An order entered after its exam began: the exam was booked (a walk-in) when it began, never in the past.
        return exam_book(exam=exam, room=room, start=start, acting_user=TEST_ACTOR, now=min(start, timezone.now()))


def performed(room, start: datetime, *, ordered_at: datetime | None = None, completed: datetime | None = None):
    """An exam booked at `start`, begun then and completed at `completed` (default: 15 minutes later)."""
    exam = booked(room, start, ordered_at=ordered_at)
    arrived = max(start - timedelta(minutes=10), local(start.date(), 0))  # on the booked day
    exam = exam_check_in(exam=exam, acting_user=TEST_ACTOR, at=arrived)
    # As the room's modality reports it (MPPS): these exams are the department's history, whatever was screened.
    exam = exam_start(exam=exam, acting_user=TEST_ACTOR, at=start, performed_at=room.station_ae_title)
    return exam_complete(exam=exam, acting_user=TEST_ACTOR, at=completed or start + timedelta(minutes=15))


def sign_final(exam: Exam, radiologist, at: datetime):
    with clock(at):
        report = reporting.report_save_draft(exam=exam, user=radiologist, sections={"impression": "Normal."})
        return reporting.report_sign_final(report=report, user=radiologist, password=TEST_PASSWORD)


# --- Percentiles ------------------------------------------------------------------------------------------------


def test_percentile_interpolates_linearly_between_ranks_as_percentile_cont():
    assert percentile([1.0, 2.0, 10.0], 0.5) == 2.0
    assert percentile([1.0, 2.0, 10.0], 0.9) == pytest.approx(8.4)
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([], 0.5) is None


def test_postgresql_percentile_cont_and_the_python_percentiles_agree(postgresql):
    room = room_open_all_day()
    for n in range(25):
        start = local(MONDAY, 8) + timedelta(minutes=30 * n)
        performed(room, start, ordered_at=start - timedelta(minutes=(n * 1237) % 3001))  # scattered waits
    catalog = figures.Catalog.load()
    rows = figures.exams_performed(period=WEEK, catalog=catalog)
    waited = figures.ExpressionWrapper(
        figures.F("started_at") - figures.F("order__created_at"), output_field=figures.DurationField()
    )
    in_database = figures._turnaround_in_database(rows, waited, "procedure_type_id", catalog, None, clamp=True)
    in_python = figures._turnaround_in_python(rows, waited, "procedure_type_id", catalog, clamp=True)
    assert [t.modality for t in in_database] == [t.modality for t in in_python] == ["CT", ALL]
    for db, py in zip(in_database, in_python, strict=True):
        assert db.count == py.count == 25
        assert db.median_hours == pytest.approx(py.median_hours, abs=1e-9)
        assert db.p90_hours == pytest.approx(py.p90_hours, abs=1e-9)


# --- Each figure ------------------------------------------------------------------------------------------------


def test_order_to_exam_turnaround_is_the_median_and_p90_of_the_waits_in_hours():
    room = room_open_all_day()
    for hour, waited in ((8, 1), (9, 2), (10, 10)):
        start = local(MONDAY, hour)
        performed(room, start, ordered_at=start - timedelta(hours=waited))
    [ct, overall] = figures.order_to_exam_turnaround(period=WEEK)
    assert (ct.modality, ct.count) == ("CT", 3)
    assert ct.median_hours == pytest.approx(2.0)
    assert ct.p90_hours == pytest.approx(8.4)
    assert overall == figures.Turnaround(ALL, 3, ct.median_hours, ct.p90_hours)


def test_an_order_entered_after_its_exam_began_waited_nothing():
    room = room_open_all_day()
    start = local(MONDAY, 8)
    performed(room, start, ordered_at=start + timedelta(hours=3))
    [ct, _overall] = figures.order_to_exam_turnaround(period=WEEK)
    assert ct.median_hours == 0


def test_order_to_exam_counts_only_exams_performed_in_the_period():
    room = room_open_all_day()
    performed(room, local(MONDAY, 8), ordered_at=local(MONDAY, 7))
    performed(room, local(MONDAY - timedelta(days=1), 8))  # the Sunday before
    booked(room, local(MONDAY, 12))  # not performed
    [ct, _overall] = figures.order_to_exam_turnaround(period=WEEK)
    assert ct.count == 1
    assert ct.median_hours == pytest.approx(1.0)


def test_exam_to_final_turnaround_counts_reports_signed_final_in_the_period():
    room = room_open_all_day()
    radiologist = make_radiologist()
    for hour, waited in ((8, 1), (9, 3)):
        exam = performed(room, local(MONDAY, hour), completed=local(MONDAY, hour, 30))
        sign_final(exam, radiologist, local(MONDAY, hour, 30) + timedelta(hours=waited))
    late = performed(room, local(MONDAY + timedelta(days=6), 20), completed=local(MONDAY + timedelta(days=6), 21))
    sign_final(late, radiologist, local(MONDAY + timedelta(days=7), 9))  # signed after the period
    unsigned = performed(room, local(MONDAY, 11))
    with clock(local(MONDAY, 12)):
        reporting.report_save_draft(exam=unsigned, user=radiologist, sections={"impression": "Normal."})
    [ct, overall] = figures.exam_to_final_turnaround(period=WEEK)
    assert ct.count == 2
    assert ct.median_hours == pytest.approx(2.0)
    assert ct.p90_hours == pytest.approx(2.8)
    assert overall.count == 2


def test_exams_per_day_counts_performed_exams_per_local_day_and_modality():
    ct, mr = room_open_all_day("CT"), room_open_all_day("MR")
    performed(ct, local(MONDAY, 9))
    performed(ct, local(MONDAY, 23, 30))  # 05:30 UTC on Tuesday: still Monday here
    performed(mr, local(MONDAY + timedelta(days=1), 0, 5))  # 06:05 UTC on Tuesday
    booked(ct, local(MONDAY, 12))  # not performed
    per_day = figures.exams_per_day(period=Period(MONDAY, MONDAY + timedelta(days=2)))
    assert per_day.days == [MONDAY, MONDAY + timedelta(days=1), MONDAY + timedelta(days=2)]
    assert per_day.by_modality == {"CT": [2, 0, 0], "MR": [0, 1, 0]}
    assert per_day.total == 3


def test_the_period_runs_from_local_midnight_to_local_midnight():
    room = room_open_all_day()
    performed(room, local(MONDAY, 0, 1), ordered_at=local(MONDAY, 0))
    performed(room, local(MONDAY, 23, 35), ordered_at=local(MONDAY, 23), completed=local(MONDAY, 23, 58))
    performed(room, local(MONDAY + timedelta(days=1), 0, 1))
    assert figures.exams_per_day(period=Period(MONDAY, MONDAY)).total == 2
    assert figures.order_to_exam_turnaround(period=Period(MONDAY, MONDAY))[0].count == 2
    sunday = MONDAY - timedelta(days=1)
    assert figures.exams_per_day(period=Period(sunday, sunday)).total == 0


def test_room_utilisation_is_booked_over_open_minutes():
    room = RoomFactory(name="CT 1", open_all_week=False)
    OpeningHours.objects.create(room=room, weekday=MONDAY.weekday(), opens_at=time(8), closes_at=time(16))
    booked(room, local(MONDAY, 8), minutes=60)
    booked(room, local(MONDAY, 10), minutes=60)
    no_show = booked(room, local(MONDAY, 12), minutes=30)  # the slot was held: it counts
    exam_mark_no_show(exam=no_show, acting_user=TEST_ACTOR)
    cancelled = booked(room, local(MONDAY, 14), minutes=60)
    exam_cancel(exam=cancelled, reason="Patient asked to cancel", acting_user=TEST_ACTOR)
    [use] = figures.room_utilisation(period=WEEK)  # open on the Monday only: 480 minutes in the week
    assert (use.room, use.modality, use.open_minutes, use.booked_minutes) == ("CT 1", "CT", 480, 150)
    assert use.percent == pytest.approx(31.25)

    exam_cancel(exam=no_show, reason="Rebooked elsewhere", acting_user=TEST_ACTOR)
    [use] = figures.room_utilisation(period=WEEK)
    assert use.share == pytest.approx(0.25)  # 2 h of 8 h


def test_all_rooms_together_are_their_booked_over_their_open_minutes_not_the_mean_of_their_shares():
    busy, quiet = room_open_all_day("CT", name="CT 1"), room_open_all_day("MR", name="MR 1")
    OpeningHours.objects.filter(room=quiet).exclude(weekday=MONDAY.weekday()).delete()  # open 1439 min a week
    booked(busy, local(MONDAY, 8), minutes=120)
    booked(quiet, local(MONDAY, 8), minutes=60)
    total = figures.dashboard(period=WEEK, now=local(MONDAY, 17)).all_rooms
    assert (total.open_minutes, total.booked_minutes) == (8 * 1439, 180)
    assert total.share == pytest.approx(180 / (8 * 1439))


def test_open_minutes_sum_the_opening_hours_over_the_days_of_the_period():
    room = RoomFactory(open_all_week=False)
    OpeningHours.objects.create(room=room, weekday=0, opens_at=time(8), closes_at=time(12))
    OpeningHours.objects.create(room=room, weekday=0, opens_at=time(13), closes_at=time(17))
    OpeningHours.objects.create(room=room, weekday=5, opens_at=time(9), closes_at=time(10, 30))
    two_weeks = Period(MONDAY, MONDAY + timedelta(days=13))
    assert figures.open_minutes(room, two_weeks.days()) == 2 * (8 * 60 + 90)


def test_no_show_rate_is_no_shows_over_exams_due_excluding_cancelled():
    room = room_open_all_day()
    exams = [booked(room, local(MONDAY, hour)) for hour in (8, 9, 10, 11, 12)]
    exam_mark_no_show(exam=exams[0], acting_user=TEST_ACTOR)
    exam_cancel(exam=exams[1], reason="Patient asked to cancel", acting_user=TEST_ACTOR)
    for exam in exams[2:4]:
        exam = exam_check_in(exam=exam, acting_user=TEST_ACTOR, at=exam.scheduled_start)
        exam = exam_start(exam=exam, acting_user=TEST_ACTOR, at=exam.scheduled_start)
        exam_complete(exam=exam, acting_user=TEST_ACTOR, at=exam.scheduled_end)
    booked(room, local(MONDAY, 18))  # still to come at the `now` below: no outcome yet
    rates = figures.no_show_rates(period=WEEK, now=local(MONDAY, 17))
    assert rates == [figures.NoShows("CT", 4, 1), figures.NoShows(ALL, 4, 1)]
    assert rates[-1].percent == pytest.approx(25.0)


def test_attention_counts_open_critical_results_the_hl7_queue_and_failures():
    radiologist = make_radiologist()
    room = room_open_all_day()
    now = timezone.now()
    for n, hours_ago in enumerate((5, 1, 30)):
        exam = performed(room, local(MONDAY, 8 + n))
        report = reporting.report_save_draft(exam=exam, user=radiologist, sections={"impression": "Bleed."})
        with clock(now - timedelta(hours=hours_ago)):
            critical = reporting.critical_flag(report=report, user=radiologist, category="RED", description="Bleed")
        if hours_ago == 30:
            reporting.critical_notify(critical=critical, user=radiologist, person="Dr Ward", method="PHONE")
            reporting.critical_close(critical=critical, user=radiologist)
    with clock(now - timedelta(minutes=40)):
        OutboundMessageFactory(status="PENDING")
    OutboundMessageFactory(status="PENDING")
    OutboundMessageFactory(status="FAILED")
    OutboundMessageFactory(status="SENT")
    InboundMessageFactory(status="ERROR")
    InboundMessageFactory(status="REJECTED")
    InboundMessageFactory(status="APPLIED")
    old = InboundMessageFactory(status="ERROR")
    InboundMessage.objects.filter(pk=old.pk).update(created_at=now - timedelta(hours=25))
    now_figures = figures.attention(now=now)
    assert (now_figures.open_critical, now_figures.oldest_critical_age) == (2, timedelta(hours=5))
    assert (now_figures.queue_depth, now_figures.oldest_queued_age) == (2, timedelta(minutes=40))
    assert (now_figures.outbound_failed, now_figures.inbound_failed, now_figures.failed) == (1, 2, 3)


def test_a_modality_narrows_every_period_figure_to_it():
    ct, mr = room_open_all_day("CT"), room_open_all_day("MR")
    performed(ct, local(MONDAY, 8), ordered_at=local(MONDAY, 7))
    performed(mr, local(MONDAY, 8), ordered_at=local(MONDAY, 4))
    exam_mark_no_show(exam=booked(mr, local(MONDAY, 10)), acting_user=TEST_ACTOR)
    board = figures.dashboard(period=WEEK, modality="MR", now=local(MONDAY, 17))
    assert [(t.modality, t.count, t.median_hours) for t in board.order_to_exam] == [("MR", 1, 4.0), (ALL, 1, 4.0)]
    assert list(board.exams_per_day.by_modality) == ["MR"]
    assert [room.modality for room in board.rooms] == ["MR"]
    assert board.no_shows == [figures.NoShows("MR", 2, 1), figures.NoShows(ALL, 2, 1)]
    everything = figures.dashboard(period=WEEK, now=local(MONDAY, 17))
    assert [t.modality for t in everything.order_to_exam] == ["CT", "MR", ALL]
    assert everything.order_to_exam[-1].count == 2


# --- The page and the CSV -----------------------------------------------------------------------------------------


def seeded_week():
    """A CT exam waited 1 h and 3 h for its order and report, a no-show: a small week for the page and the CSV."""
    room = room_open_all_day("CT", name="CT 1")
    radiologist = make_radiologist()
    exam = performed(room, local(MONDAY, 9), ordered_at=local(MONDAY, 8), completed=local(MONDAY, 9, 30))
    sign_final(exam, radiologist, local(MONDAY, 12, 30))
    exam_mark_no_show(exam=booked(room, local(MONDAY, 11)), acting_user=TEST_ACTOR)
    Modality.objects.get_or_create(code="MR", defaults={"name": "Magnetic Resonance"})


WEEK_QUERY = {"date_from": WEEK.first.isoformat(), "date_to": WEEK.last.isoformat()}


def test_page_shows_the_figures_in_tables_and_the_chart_data(client_for):
    seeded_week()
    response = client_for(Role.ADMIN).get(reverse("dashboard:home"), WEEK_QUERY)
    assert response.status_code == 200
    html = response.content.decode()
    table = html[html.index('id="table-turnaround"') :]
    ct_row = r'<th scope="row">CT</th>\s*<td>1</td><td>1\.00</td><td>1\.00</td><td>1</td><td>3\.00</td>'
    assert re.search(ct_row, table)
    charts = json.loads(re.search(r'<script id="dashboard-data" type="application/json">(.*?)</script>', html).group(1))
    assert charts["turnaround"] == {
        "labels": ["CT", ALL],
        "orderToExam": {"median": [1.0, 1.0], "p90": [1.0, 1.0]},
        "examToFinal": {"median": [3.0, 3.0], "p90": [3.0, 3.0]},
    }
    assert charts["perDay"]["series"] == [{"label": "CT", "data": [1, 0, 0, 0, 0, 0, 0]}]
    assert charts["noShow"] == {"labels": ["CT", ALL], "percent": [50.0, 50.0]}
    assert charts["rooms"]["labels"] == ["CT 1"]
    # Scripts come from files only (the data is JSON, not script): the vendored Chart.js, then the page's.
    scripts = re.findall(r"<script\b([^>]*)>", html)
    assert all("src=" in attrs or 'type="application/json"' in attrs for attrs in scripts)
    assert "/static/vendor/chartjs/chart.umd.min.js" in html
    assert "/static/js/dashboard.js" in html


def test_page_without_filters_shows_the_last_30_days_and_every_modality(client_for):
    response = client_for(Role.RADIOLOGIST).get(reverse("dashboard:home"))
    assert response.status_code == 200
    board = response.context["board"]
    assert board.period == Period.last_days(30)
    assert board.modality is None
    assert f'value="{timezone.localdate() - timedelta(days=29):%Y-%m-%d}"' in response.content.decode()


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"date_from": "yesterday"}, "date_from", "Enter a valid date."),
        ({"date_from": "2026-03-09", "date_to": "2026-03-02"}, "date_to", "The end date is before the start date."),
        ({"date_from": "2025-01-01", "date_to": "2026-03-02"}, "date_from", "Choose at most 366 days."),
        ({"date_from": "0001-01-01"}, "date_from", "Give a date between 1900 and 2999."),
        ({"modality": "XX"}, "modality", "Select a valid choice."),
    ],
)
def test_bad_filters_give_the_form_errors_not_a_server_error(client_for, query, field, message):
    client = client_for(Role.ADMIN)
    response = client.get(reverse("dashboard:home"), query)
    assert response.status_code == 200
    assert response.context["board"] is None
    assert any(message in error for error in response.context["form"].errors[field])
    csv_response = client.get(reverse("dashboard:csv"), query)
    assert csv_response.status_code == 400
    assert f"{response.context['form'][field].label}: {message}" in csv_response.content.decode()


def test_csv_has_every_figure_as_section_key_measure_value(client_for):
    seeded_week()
    response = client_for(Role.ADMIN).get(reverse("dashboard:csv"), {**WEEK_QUERY, "modality": "CT"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="dashboard_20260302-20260308_CT.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["section", "key", "measure", "value"]
    values = {(section, key, measure): value for section, key, measure, value in rows[1:]}
    assert values[("period", "from", "date")] == "2026-03-02"
    assert values[("period", "modality", "code")] == "CT"
    assert values[("period", "time_zone", "name")] == ZONE
    assert values[("order_to_exam", ALL, "median_hours")] == "1.00"
    assert values[("exam_to_final", "CT", "p90_hours")] == "3.00"
    assert values[("exams_per_day", "2026-03-02", "CT")] == "1"
    assert values[("exams_per_day", "2026-03-03", "CT")] == "0"
    room_key = next(key for section, key, _m in values if section == "room_utilisation" and key != ALL)
    assert room_key.startswith("CT 1 [")
    assert values[("room_utilisation", room_key, "open_minutes")] == str(7 * (24 * 60 - 1))
    assert values[("room_utilisation", room_key, "booked_minutes")] == "40"
    assert values[("no_show", ALL, "rate_percent")] == "50.0"
    assert values[("now", "hl7_queue", "pending")] == "0"
    assert values[("now", "critical_results_open", "oldest_age_hours")] == ""


def test_csv_quotes_a_room_name_a_spreadsheet_would_run(client_for):
    room_open_all_day("CT", name="=HYPERLINK(1)")
    response = client_for(Role.ADMIN).get(reverse("dashboard:csv"), WEEK_QUERY)
    assert "'=HYPERLINK(1)" in response.content.decode()


@pytest.mark.parametrize("name", ["dashboard:home", "dashboard:csv"])
@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.ADMIN, 200),
        (Role.RADIOLOGIST, 200),
        (Role.FRONT_DESK, 403),
        (Role.TECHNOLOGIST, 403),
        (Role.BILLING, 403),
    ],
)
def test_only_administrators_and_radiologists_see_the_dashboard(client_for, name, role, status):
    assert client_for(role).get(reverse(name)).status_code == status


@pytest.mark.parametrize("name", ["dashboard:home", "dashboard:csv"])
def test_anonymous_callers_are_sent_to_sign_in(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_dashboard_is_in_the_navigation_of_those_who_may_see_it(client_for):
    url = reverse("dashboard:home")
    assert f'href="{url}"' in client_for(Role.RADIOLOGIST).get(reverse("dashboard:home")).content.decode()
    assert f'href="{url}"' not in client_for(Role.FRONT_DESK).get(reverse("scheduling:home")).content.decode()


def test_the_page_reads_a_fixed_number_of_queries_however_many_rooms(client_for, django_assert_max_num_queries):
    client = client_for(Role.ADMIN)
    seeded_week()
    for n in range(5):
        room_open_all_day("CT", name=f"CT {n + 2}")
    with django_assert_max_num_queries(20):
        assert client.get(reverse("dashboard:home"), WEEK_QUERY).status_code == 200
