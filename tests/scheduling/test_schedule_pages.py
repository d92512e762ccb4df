"""The pages keep to the schedule: a no-show asks for confirmation and waits for the booked start, an early
check-in asks for its reason, a past slot is refused, and a cancelled exam no longer shows its slot as current."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ris.models import Role
from scheduling import services
from scheduling.models import Exam
from tests.factories import (
    TEST_ACTOR,
    RoomFactory,
    local_at,
    make_booked_exam,
    make_exam_booked_today,
    make_exam_due,
    make_order,
)

pytestmark = pytest.mark.django_db
S = Exam.Status


@pytest.fixture
def desk(client_for):
    return client_for(Role.FRONT_DESK)


def test_a_one_click_no_show_post_without_confirmation_is_refused(desk):
    exam = make_exam_due()
    response = desk.post(reverse("scheduling:exam_no_show", args=[exam.pk]))
    assert response.status_code == 400
    assert "Tick the box to confirm" in response.content.decode()
    exam.refresh_from_db()
    assert exam.status == S.SCHEDULED


def test_a_confirmed_no_show_after_the_booked_start_is_recorded(desk):
    exam = make_exam_due()
    page = desk.get(reverse("scheduling:exam", args=[exam.pk])).content.decode()
    assert reverse("scheduling:exam_no_show", args=[exam.pk]) in page
    confirm = desk.get(reverse("scheduling:exam_no_show", args=[exam.pk])).content.decode()
    assert 'name="confirm"' in confirm
    response = desk.post(reverse("scheduling:exam_no_show", args=[exam.pk]), {"confirm": "on"})
    assert response.status_code == 302
    exam.refresh_from_db()
    assert exam.status == S.NO_SHOW


def test_a_no_show_on_a_future_exam_is_refused_even_confirmed_and_not_offered(desk):
    exam = make_booked_exam()  # tomorrow
    page = desk.get(reverse("scheduling:exam", args=[exam.pk])).content.decode()
    assert reverse("scheduling:exam_no_show", args=[exam.pk]) not in page
    assert "a no-show can be recorded only after that time" in page
    response = desk.post(reverse("scheduling:exam_no_show", args=[exam.pk]), {"confirm": "on"})
    assert response.status_code == 400
    assert "a no-show can be recorded only after that time" in response.content.decode()
    exam.refresh_from_db()
    assert exam.status == S.SCHEDULED


def test_check_in_before_the_booked_day_asks_for_an_early_arrival_reason(desk):
    exam = make_booked_exam()  # tomorrow
    page = desk.get(reverse("scheduling:exam", args=[exam.pk])).content.decode()
    assert 'name="early_reason"' in page
    assert ">Check in</button>" not in page
    refused = desk.post(reverse("scheduling:exam_check_in", args=[exam.pk]), follow=True).content.decode()
    assert "arrived early" in refused
    exam.refresh_from_db()
    assert exam.status == S.SCHEDULED
    desk.post(reverse("scheduling:exam_check_in", args=[exam.pk]), {"early_reason": "bus was early"})
    exam.refresh_from_db()
    assert exam.status == S.ARRIVED
    assert exam.history.latest().history_change_reason == "arrived early: bus was early"


def test_check_in_on_the_booked_day_is_one_click(desk):
    exam = make_exam_booked_today()
    page = desk.get(reverse("scheduling:exam", args=[exam.pk])).content.decode()
    assert ">Check in</button>" in page
    assert 'name="early_reason"' not in page


def test_a_past_slot_posted_to_the_booking_page_is_refused_with_a_clear_message(desk):
    exam = make_order().exams.get()
    room = RoomFactory(modality=exam.procedure_type.modality)
    past = local_at(timezone.localdate() - timedelta(days=2), 10)
    response = desk.post(
        reverse("scheduling:exam_book", args=[exam.pk]), {"slot": f"{room.pk}@{past.isoformat()}"}, follow=True
    )
    assert "is in the past: an exam can only be booked from now on" in response.content.decode()
    exam.refresh_from_db()
    assert exam.status == S.ORDERED


def test_a_cancelled_exam_no_longer_shows_its_old_slot_as_the_current_booking(desk):
    exam = make_booked_exam()
    services.exam_cancel(exam=exam, reason="Patient moved away", acting_user=TEST_ACTOR)
    page = desk.get(reverse("scheduling:exam", args=[exam.pk])).content.decode()
    assert "<dt>Booked</dt>" not in page
    assert "None now: cancelled on" in page
    assert "It had been booked for" in page
    assert "Patient moved away" in page


def test_a_cancelled_exams_letter_is_not_printed_as_a_current_appointment(desk):
    exam = make_booked_exam()
    services.exam_cancel(exam=exam, reason="Patient moved away", acting_user=TEST_ACTOR)
    response = desk.get(reverse("scheduling:exam_letter", args=[exam.pk]), follow=True)
    assert "it has no appointment to print" in response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("scheduling:exam", args=[exam.pk])


def test_rebooking_a_no_show_says_the_old_slot_was_missed_not_current(desk):
    exam = make_exam_due()
    services.exam_mark_no_show(exam=exam, acting_user=TEST_ACTOR)
    page = desk.get(reverse("scheduling:exam_book", args=[exam.pk])).content.decode()
    assert "Now booked" not in page
    assert "Was booked (the patient did not come)" in page
