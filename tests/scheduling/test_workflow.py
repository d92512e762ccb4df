"""Every exam transition, legal and illegal, through the service that performs it."""

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from ris.exceptions import ApplicationError, IllegalTransition
from scheduling import services
from scheduling.models import Exam, Order
from scheduling.workflow import order_status_for
from tests.factories import TEST_ACTOR, RoomFactory, clock, make_booked_exam, make_exam_booked_today, make_order

S = Exam.Status

# The department's workflow, written out independently of scheduling.workflow.EXAM_TRANSITIONS.
LEGAL = {
    (S.ORDERED, S.SCHEDULED),
    (S.ORDERED, S.CANCELLED),
    (S.SCHEDULED, S.SCHEDULED),
    (S.SCHEDULED, S.ARRIVED),
    (S.SCHEDULED, S.CANCELLED),
    (S.SCHEDULED, S.NO_SHOW),
    (S.ARRIVED, S.SCHEDULED),
    (S.ARRIVED, S.IN_PROGRESS),
    (S.ARRIVED, S.CANCELLED),
    (S.IN_PROGRESS, S.COMPLETED),
    (S.IN_PROGRESS, S.DISCONTINUED),
    (S.COMPLETED, S.PRELIMINARY),
    (S.COMPLETED, S.FINAL),
    (S.PRELIMINARY, S.PRELIMINARY),
    (S.PRELIMINARY, S.FINAL),
    (S.FINAL, S.AMENDED),
    (S.AMENDED, S.AMENDED),
    (S.NO_SHOW, S.SCHEDULED),
    (S.NO_SHOW, S.CANCELLED),
}

# How to bring a new exam into each state, step by step, with the real services.
PATHS = {
    S.ORDERED: [],
    S.SCHEDULED: [S.SCHEDULED],
    S.ARRIVED: [S.SCHEDULED, S.ARRIVED],
    S.IN_PROGRESS: [S.SCHEDULED, S.ARRIVED, S.IN_PROGRESS],
    S.COMPLETED: [S.SCHEDULED, S.ARRIVED, S.IN_PROGRESS, S.COMPLETED],
    S.PRELIMINARY: [S.SCHEDULED, S.ARRIVED, S.IN_PROGRESS, S.COMPLETED, S.PRELIMINARY],
    S.FINAL: [S.SCHEDULED, S.ARRIVED, S.IN_PROGRESS, S.COMPLETED, S.FINAL],
    S.AMENDED: [S.SCHEDULED, S.ARRIVED, S.IN_PROGRESS, S.COMPLETED, S.FINAL, S.AMENDED],
    S.CANCELLED: [S.CANCELLED],
    S.NO_SHOW: [S.SCHEDULED, S.NO_SHOW],
    S.DISCONTINUED: [S.SCHEDULED, S.ARRIVED, S.IN_PROGRESS, S.DISCONTINUED],
}


def apply(exam: Exam, target: str, room) -> Exam:
    """Call the one service that moves an exam to `target`."""
    if target == S.SCHEDULED:  # booked (or rebooked) yesterday for today, so that today's steps may follow
        start = (exam.scheduled_start or room_start(room)) + timedelta(hours=1)
        with clock(timezone.now() - timedelta(days=1)):
            return services.exam_book(exam=exam, room=room, start=start, acting_user=TEST_ACTOR)
    if target == S.ARRIVED:
        return services.exam_check_in(exam=exam, acting_user=TEST_ACTOR)
    if target == S.IN_PROGRESS:
        return services.exam_start(exam=exam, acting_user=TEST_ACTOR)
    if target == S.COMPLETED:
        return services.exam_complete(exam=exam, acting_user=TEST_ACTOR)
    if target in (S.PRELIMINARY, S.FINAL, S.AMENDED):
        return services.exam_set_report_status(exam=exam, status=target, acting_user=TEST_ACTOR)
    if target == S.CANCELLED:
        return services.exam_cancel(exam=exam, reason="Patient request", acting_user=TEST_ACTOR)
    if target == S.NO_SHOW:
        # recorded once the booked start has passed (the exam is booked today, the test may run before that)
        at = exam.scheduled_start + timedelta(minutes=15) if exam.scheduled_start else None
        return services.exam_mark_no_show(exam=exam, acting_user=TEST_ACTOR, at=at)
    if target == S.DISCONTINUED:
        return services.exam_discontinue(exam=exam, reason="Patient unwell", acting_user=TEST_ACTOR)
    raise AssertionError(f"no service leads to {target}")


def room_start(room):
    """Today 07:00 local (the factory's rooms open 07:00-19:00): the first booking is at 08:00."""
    return datetime.combine(timezone.localdate(), time(7), tzinfo=timezone.get_current_timezone())


def exam_in(state: str):
    order = make_order()
    exam = order.exams.get()
    room = RoomFactory(modality=exam.procedure_type.modality)
    for step in PATHS[state]:
        exam = apply(exam, step, room)
    assert exam.status == state
    return exam, room


TARGETS = [s for s in S if s != S.ORDERED]  # nothing leads back to ORDERED


@pytest.mark.django_db
@pytest.mark.parametrize("target", TARGETS, ids=str)
@pytest.mark.parametrize("current", list(S), ids=str)
def test_exam_transition_is_allowed_exactly_when_the_workflow_says(current, target):
    exam, room = exam_in(current)
    history_before = exam.history.count()
    if (current, target) in LEGAL:
        assert apply(exam, target, room).status == target
        assert exam.history.count() == history_before + 1
    else:
        with pytest.raises(IllegalTransition):
            apply(exam, target, room)
        exam.refresh_from_db()
        assert (exam.status, exam.history.count()) == (current, history_before)


@pytest.mark.django_db
def test_illegal_transition_says_what_is_possible_instead():
    exam, _ = exam_in(S.COMPLETED)
    with pytest.raises(IllegalTransition) as refused:
        services.exam_cancel(exam=exam, reason="Duplicate", acting_user=TEST_ACTOR)
    assert refused.value.message == (
        "Cannot cancel an exam that is completed. From here it can only become: final report, preliminary report."
    )


@pytest.mark.django_db
def test_cancel_needs_a_reason_and_keeps_it():
    exam = make_booked_exam()
    with pytest.raises(ApplicationError, match="reason"):
        services.exam_cancel(exam=exam, reason="  ", acting_user=TEST_ACTOR)
    cancelled = services.exam_cancel(exam=exam, reason="Patient moved away", acting_user=TEST_ACTOR)
    assert cancelled.status_reason == "Patient moved away"


@pytest.mark.django_db
def test_lifecycle_stamps_arrival_start_and_completion_times():
    exam = make_exam_booked_today()
    for step in (services.exam_check_in, services.exam_start, services.exam_complete):
        exam = step(exam=exam, acting_user=TEST_ACTOR)
    assert exam.arrived_at <= exam.started_at <= exam.completed_at


@pytest.mark.django_db
def test_order_status_follows_its_exams():
    order = make_order(procedure_types=None)
    exam = order.exams.get()
    room = RoomFactory(modality=exam.procedure_type.modality)
    seen = [Order.objects.get(pk=order.pk).status]
    for step in (S.SCHEDULED, S.ARRIVED, S.IN_PROGRESS, S.COMPLETED):
        exam = apply(exam, step, room)
        seen.append(Order.objects.get(pk=order.pk).status)
    assert seen == ["NEW", "SCHEDULED", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED"]


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], "NEW"),
        ([S.ORDERED, S.ORDERED], "NEW"),
        ([S.ORDERED, S.SCHEDULED], "SCHEDULED"),
        ([S.SCHEDULED, S.COMPLETED], "IN_PROGRESS"),
        ([S.FINAL, S.CANCELLED], "COMPLETED"),
        ([S.CANCELLED, S.CANCELLED], "CANCELLED"),
        ([S.CANCELLED, S.DISCONTINUED], "DISCONTINUED"),
        ([S.NO_SHOW], "NEW"),
    ],
)
def test_order_status_is_derived_from_the_least_advanced_live_exam(statuses, expected):
    assert order_status_for(statuses) == expected


@pytest.mark.django_db
def test_booking_refuses_a_room_of_another_modality():
    exam = make_order().exams.get()
    mr_room = RoomFactory(modality__code="MR", modality__name="Magnetic Resonance")
    with pytest.raises(ApplicationError, match="needs a CT room"):
        services.exam_book(exam=exam, room=mr_room, start=room_start(mr_room), acting_user=TEST_ACTOR)
    exam.refresh_from_db()
    assert exam.status == S.ORDERED
