"""Actions tied to the schedule: check-in and start on the booked day (earlier only with an "arrived early" reason),
a no-show only after the booked start, no booking or rescheduling into the past; the modality's report is a fact."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from ris.exceptions import ApplicationError, IllegalTransition
from ris.models import OpeningHours
from scheduling import services
from scheduling.models import Exam
from scheduling.services import Action, exam_action_refusal
from tests.factories import (
    TEST_ACTOR,
    ProcedureTypeFactory,
    RoomFactory,
    local_at,
    make_booked_exam,
    make_exam_booked_today,
    make_exam_due,
    make_order,
)
from worklist.services import mpps_create
from worklist.translate import StepReport

pytestmark = pytest.mark.django_db
S = Exam.Status


def yesterday() -> datetime:
    return timezone.now() - timedelta(days=1)


# --- check-in and start -----------------------------------------------------------------------------------------


def test_check_in_and_start_on_the_booked_day_need_no_reason():
    exam = make_exam_booked_today(hour=18)  # later today, or already past: either way the booked day
    assert exam_action_refusal(exam, Action.CHECK_IN) == ""
    exam = services.exam_check_in(exam=exam, acting_user=TEST_ACTOR)
    exam = services.exam_start(exam=exam, acting_user=TEST_ACTOR)
    assert exam.status == S.IN_PROGRESS


def test_check_in_days_before_the_booked_day_is_refused_without_an_early_arrival_reason():
    exam = make_booked_exam(start=local_at(timezone.localdate() + timedelta(days=3), 9))
    with pytest.raises(ApplicationError, match='only with an "arrived early" reason') as refused:
        services.exam_check_in(exam=exam, acting_user=TEST_ACTOR)
    assert refused.value.field == "early_reason"
    exam.refresh_from_db()
    assert exam.status == S.SCHEDULED
    assert exam_action_refusal(exam, Action.CHECK_IN) != ""
    assert exam_action_refusal(exam, Action.CHECK_IN, early_reason="came early") == ""


def test_an_early_check_in_keeps_its_reason_in_the_history_and_the_start_that_day_follows():
    exam = make_booked_exam()  # tomorrow 09:00
    exam = services.exam_check_in(exam=exam, acting_user=TEST_ACTOR, early_reason="  Slot free today, asked  ")
    assert exam.status == S.ARRIVED
    assert exam.history.latest().history_change_reason == "arrived early: Slot free today, asked"
    exam = services.exam_start(exam=exam, acting_user=TEST_ACTOR)  # the early arrival is on record today
    assert exam.status == S.IN_PROGRESS


def test_a_start_on_an_earlier_day_than_the_check_in_day_and_the_booked_day_needs_a_reason():
    exam = make_booked_exam(start=local_at(timezone.localdate() + timedelta(days=2), 9))
    services.exam_check_in(
        exam=exam, acting_user=TEST_ACTOR, early_reason="came early", at=timezone.now() - timedelta(days=1)
    )
    exam.refresh_from_db()
    with pytest.raises(ApplicationError, match="arrived early"):
        services.exam_start(exam=exam, acting_user=TEST_ACTOR)
    assert services.exam_start(exam=exam, acting_user=TEST_ACTOR, early_reason="still here").status == S.IN_PROGRESS


def test_check_in_on_a_later_day_than_the_booked_one_is_refused_even_with_a_reason():
    exam = make_booked_exam(
        start=local_at(timezone.localdate() - timedelta(days=2), 9), booked_at=yesterday() - timedelta(days=3)
    )
    with pytest.raises(ApplicationError, match="cannot be checked in on a later day"):
        services.exam_check_in(exam=exam, acting_user=TEST_ACTOR, early_reason="late")


def test_the_booked_day_is_the_departments_local_date_not_the_utc_date(settings):
    settings.TIME_ZONE = "America/Chicago"  # 23:30 in Chicago is 05:30 UTC the next day
    procedure = ProcedureTypeFactory()
    room = RoomFactory(modality=procedure.modality, open_all_week=False)
    OpeningHours.objects.bulk_create(
        OpeningHours(room=room, weekday=day, opens_at=time(0), closes_at=time(23, 59)) for day in range(7)
    )
    day = timezone.localdate() + timedelta(days=5)
    exam = make_booked_exam(room=room, start=local_at(day, 23, 30), procedure_types=[procedure])
    evening = local_at(day, 20)  # 02:00 UTC on the next UTC day
    assert timezone.localdate(evening) == day
    assert evening.astimezone(UTC).date() != day
    assert exam_action_refusal(exam, Action.CHECK_IN, at=evening) == ""
    assert "later day" in exam_action_refusal(exam, Action.CHECK_IN, at=local_at(day + timedelta(days=1), 0, 30))
    assert "arrived early" in exam_action_refusal(exam, Action.CHECK_IN, at=local_at(day - timedelta(days=1), 23))


def test_a_transition_the_workflow_forbids_is_still_an_illegal_transition():
    exam = make_order().exams.get()
    assert exam_action_refusal(exam, Action.CHECK_IN).startswith("Cannot check in an exam that is ordered")
    with pytest.raises(IllegalTransition):
        services.exam_check_in(exam=exam, acting_user=TEST_ACTOR, early_reason="early")


# --- no-show ----------------------------------------------------------------------------------------------------


def test_a_no_show_before_the_booked_start_is_refused():
    exam = make_booked_exam()  # tomorrow
    with pytest.raises(ApplicationError, match="a no-show can be recorded only after that time"):
        services.exam_mark_no_show(exam=exam, acting_user=TEST_ACTOR)
    exam.refresh_from_db()
    assert exam.status == S.SCHEDULED


def test_a_no_show_after_the_booked_start_is_recorded():
    exam = make_exam_due()
    assert exam_action_refusal(exam, Action.NO_SHOW) == ""
    assert services.exam_mark_no_show(exam=exam, acting_user=TEST_ACTOR).status == S.NO_SHOW


# --- booking never in the past ----------------------------------------------------------------------------------


def test_booking_last_friday_is_refused_with_a_clear_message():
    exam = make_order().exams.get()
    room = RoomFactory(modality=exam.procedure_type.modality)
    today = timezone.localdate()
    friday = today - timedelta(days=(today.weekday() - 4) % 7 or 7)
    with pytest.raises(ApplicationError, match="is in the past: an exam can only be booked from now on") as refused:
        services.exam_book(exam=exam, room=room, start=local_at(friday, 10), acting_user=TEST_ACTOR)
    assert refused.value.field == "start"
    exam.refresh_from_db()
    assert (exam.status, exam.scheduled_start) == (S.ORDERED, None)


def test_rescheduling_into_the_past_is_refused_and_the_booking_stays():
    exam = make_booked_exam()
    before = exam.scheduled_start
    with pytest.raises(ApplicationError, match="is in the past"):
        services.exam_book(
            exam=exam, room=exam.room, start=before - timedelta(days=3), acting_user=TEST_ACTOR, reason="moved"
        )
    exam.refresh_from_db()
    assert exam.scheduled_start == before


def test_a_walk_in_booked_into_the_slot_that_just_began_is_accepted():
    procedure = ProcedureTypeFactory(default_duration_minutes=10)
    room = RoomFactory(modality=procedure.modality, open_all_week=False)
    OpeningHours.objects.bulk_create(
        OpeningHours(room=room, weekday=day, opens_at=time(0), closes_at=time(23, 59)) for day in range(7)
    )
    now = local_at(timezone.localdate(), 12, 3)
    exam = make_order(procedure_types=[procedure]).exams.get()
    start = now - services.BOOKING_GRACE + timedelta(minutes=1)
    assert services.exam_book(exam=exam, room=room, start=start, acting_user=TEST_ACTOR, now=now).status == S.SCHEDULED
    other = make_order(procedure_types=[procedure]).exams.get()
    with pytest.raises(ApplicationError, match="in the past"):
        services.exam_book(
            exam=other,
            room=room,
            start=now - services.BOOKING_GRACE - timedelta(minutes=1),
            acting_user=TEST_ACTOR,
            now=now,
        )


# --- the modality's report (MPPS) is a fact ----------------------------------------------------------------------


def test_mpps_in_progress_on_another_day_is_recorded_and_the_history_says_so():
    exam = make_booked_exam()  # tomorrow 09:00; the scanner starts it today
    report = StepReport(
        status="IN PROGRESS",
        patient_id=exam.order.patient.mrn,
        scheduled=[(exam.accession_number, exam.requested_procedure_id, exam.scheduled_procedure_step_id, "")],
    )
    report.started_at = timezone.now()
    step = mpps_create(sop_instance_uid="1.2.826.0.1.9", report=report, attributes={}, calling_ae="CT1")
    exam.refresh_from_db()
    assert (step.exam_id, exam.status) == (exam.pk, S.IN_PROGRESS)
    notes = list(exam.history.order_by("-history_id").values_list("history_change_reason", flat=True)[:2])
    days = f"on {timezone.localdate():%Y-%m-%d}, not the booked day {timezone.localdate(exam.scheduled_start):%Y-%m-%d}"
    assert notes == [f"start reported by the modality CT1 {days}", f"arrival reported by the modality CT1 {days}"]


def test_mpps_on_the_booked_day_adds_no_note():
    exam = make_exam_booked_today()
    report = StepReport(status="IN PROGRESS", scheduled=[(exam.accession_number, "", "", "")])
    report.started_at = timezone.now()
    mpps_create(sop_instance_uid="1.2.826.0.1.10", report=report, attributes={}, calling_ae="CT1")
    exam.refresh_from_db()
    assert exam.status == S.IN_PROGRESS
    assert exam.history.latest().history_change_reason == "in progress"
