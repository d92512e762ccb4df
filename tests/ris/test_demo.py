"""python manage.py seed_demo: a whole department, idempotent, and every demo user can sign in."""

import io
import random
from datetime import datetime, time, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from ris import demo as core_demo
from ris.audit import Interface
from ris.demo import DEMO_PASSWORD, DEMO_USERS, ROOMS
from ris.models import Patient, ProcedureType, Room
from ris.roles import ROLE_HOME
from scheduling import demo as scheduling_demo
from scheduling.models import Exam, Order
from tests.factories import clock


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in (Patient, ProcedureType, Room, Order, Exam)} | {
        "patient_history": Patient.history.count(),
        "exam_history": Exam.history.count(),
    }


@pytest.mark.django_db
@pytest.mark.slow
def test_seed_demo_builds_the_department_once_and_its_users_sign_in(client, settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    first = counts()
    call_command("seed_demo", stdout=io.StringIO())
    assert counts() == first, "a second run must change nothing"

    assert first["Patient"] == 200
    assert first["ProcedureType"] >= 40
    assert set(Room.objects.values_list("modality__code", flat=True)) == {"CT", "MR", "US", "DX"}
    assert Patient.objects.filter(family_name="Müller", given_name="Jürgen").exists()
    assert Patient.objects.filter(family_name="Øster", given_name="Åse").exists()
    statuses = set(Exam.objects.values_list("status", flat=True))
    assert {"SCHEDULED", "COMPLETED", "ORDERED"} <= statuses
    assert Exam.objects.filter(scheduled_start__isnull=False).count() > 300
    started = Exam.objects.filter(started_at__isnull=False)
    assert started.exists()
    assert not started.filter(order__created_at__gte=F("started_at")).exists(), "orders come in before their exams"

    for username, _first, _last, role, _title in DEMO_USERS:
        client.logout()
        response = client.post(reverse("login"), {"username": username, "password": DEMO_PASSWORD}, follow=True)
        assert response.redirect_chain[-1][0] == reverse(ROLE_HOME[role]), username
        assert response.status_code == 200


@pytest.mark.django_db
def test_seed_demo_refuses_production_without_force(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--force"):
        call_command("seed_demo")
    assert not Patient.objects.exists()


@pytest.mark.django_db
@pytest.mark.slow
def test_seeded_demo_orders_respect_the_catalogs_sex_and_age_limits(settings, monkeypatch):
    settings.DEBUG = True
    # Every demo order goes through the same plausibility check: one week of them (each weekday once, so about 20
    # limited ones whatever today is) is enough to read; the test above seeds the whole demo.
    monkeypatch.setattr(scheduling_demo, "DAYS_BACK", 1)
    monkeypatch.setattr(scheduling_demo, "DAYS_AHEAD", 5)
    call_command("seed_demo", stdout=io.StringIO())
    obstetric = ProcedureType.objects.get(code="USOB1")
    assert (obstetric.allowed_sex, obstetric.min_age_years, obstetric.max_age_years) == ("F", 12, 55)
    assert ProcedureType.objects.get(code="MRBREAST").allowed_sex == "A", "men get breast imaging too"
    limited = ProcedureType.objects.exclude(allowed_sex="A", min_age_years=None, max_age_years=None)
    exams = Exam.objects.select_related("order__patient", "procedure_type").filter(procedure_type__in=limited)
    assert exams.count() > 10, "the demo orders the limited procedures too"
    today = timezone.localdate()  # the day the demo entered its orders (it backdates their entry afterwards)
    for exam in exams:
        patient = exam.order.patient
        assert not exam.procedure_type.implausibility(sex=patient.sex, birth_date=patient.birth_date, on=today), (
            exam.accession_number
        )
    assert not Order.objects.exclude(plausibility_override="").exists()


def test_the_demo_department_has_a_room_open_every_day_of_the_week():
    open_days = {weekday for *_room, hours in ROOMS for weekday, periods in hours.items() if periods}
    assert open_days == set(range(7))


@pytest.mark.django_db
@pytest.mark.slow
def test_a_weekend_day_of_the_demo_has_exams_waiting_until_the_afternoon(settings):
    """The demo follows the calendar: a Saturday or a Sunday has work, spread over the hours the rooms are open."""
    actor = Interface("CLI", "seed_demo")
    core_demo.seed(rng=random.Random(1), actor=actor, log=lambda _line: None)  # noqa: S311
    plan = scheduling_demo._Plan(random.Random(2), actor)  # noqa: S311
    now = timezone.localtime()
    for weekday in (5, 6):
        day = now.date() + timedelta(days=7 + (weekday - now.weekday()) % 7)  # next week's, wholly in the future
        for room in Room.objects.filter(opening_hours__weekday=weekday).distinct():
            procedures = list(ProcedureType.objects.filter(modality=room.modality, active=True).order_by("code"))
            scheduling_demo._book_day(plan, room, day, procedures, now)
        starts = [
            timezone.localtime(start)
            for start in Exam.objects.filter(scheduled_start__date=day).values_list("scheduled_start", flat=True)
        ]
        assert len(starts) >= 8, day
        assert max(starts).hour >= 13, day


@pytest.mark.django_db
@pytest.mark.slow
@pytest.mark.parametrize("hour", [time(14, 35), time(21, 40)])
def test_seeded_on_a_sunday_the_demo_has_ct_work_waiting_later_today_on_the_five_minute_marks(
    settings, monkeypatch, hour
):
    """Whatever the hour of seeding, the emergency CT has bookings waiting after now (the README's findscu example
    asks for today's CT items), and every booking starts on a whole five minutes."""
    settings.DEBUG = True
    # Today is what this test reads: the days around it only cost time (a whole demo is seeded by the tests above).
    monkeypatch.setattr(scheduling_demo, "DAYS_BACK", 1)
    monkeypatch.setattr(scheduling_demo, "DAYS_AHEAD", 1)
    today = timezone.localdate()
    sunday = today + timedelta(days=7 + (6 - today.weekday()) % 7)
    afternoon = datetime.combine(sunday, hour, tzinfo=timezone.get_current_timezone())
    with clock(afternoon):
        call_command("seed_demo", stdout=io.StringIO())
    waiting = Exam.objects.filter(
        scheduled_start__gte=afternoon, scheduled_start__date=sunday, status=Exam.Status.SCHEDULED
    )
    assert waiting.filter(room__station_ae_title="CT1").exists()
    starts = Exam.objects.exclude(scheduled_start=None).values_list("scheduled_start", flat=True)
    assert {(start.minute % 5, start.second, start.microsecond) for start in starts} == {(0, 0, 0)}
