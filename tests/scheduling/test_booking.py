"""Free slots, booking, rescheduling and STAT: and no two exams in one room at once, held by the database."""

import threading
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from ris.exceptions import ApplicationError
from ris.models import OpeningHours
from scheduling import services
from scheduling.models import Exam, Order
from scheduling.selectors import exams_holding_room, room_free_slots
from scheduling.slots import free_starts, overlaps
from tests.factories import TEST_ACTOR, ProcedureTypeFactory, RoomFactory, make_booked_exam, make_order

S = Exam.Status
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def at(hour: int, minute: int = 0, *, day=None):
    day = day or timezone.localdate() + timedelta(days=1)
    return datetime.combine(day, time(hour, minute), tzinfo=timezone.get_current_timezone())


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


# --- pure slot arithmetic ------------------------------------------------------------------------------------


def test_free_starts_follow_the_grid_and_skip_bookings():
    period = (T0, T0 + minutes(120))
    busy = [(T0 + minutes(30), T0 + minutes(50))]
    starts = free_starts([period], busy, duration=minutes(20), step=minutes(30))
    # 08:00 fits; 08:30 is taken; 08:50 right after the booking; 09:00, 09:30; 10:00 would end after closing.
    assert [(s - T0) // minutes(1) for s in starts] == [0, 50, 60, 90]


def test_free_starts_respect_a_break_and_not_before():
    periods = [(T0, T0 + minutes(60)), (T0 + minutes(120), T0 + minutes(180))]
    starts = free_starts(periods, [], duration=minutes(30), step=minutes(30), not_before=T0 + minutes(20))
    assert [(s - T0) // minutes(1) for s in starts] == [30, 120, 150]


@given(
    busy=st.lists(st.tuples(st.integers(0, 600), st.integers(5, 120)), max_size=12),
    duration=st.integers(5, 120),
    step=st.sampled_from([5, 10, 15, 30]),
)
def test_no_free_start_overlaps_a_booking_or_leaves_the_period(busy, duration, step):
    period = (T0, T0 + minutes(600))
    intervals = [(T0 + minutes(a), T0 + minutes(a + length)) for a, length in busy]
    starts = free_starts([period], intervals, duration=minutes(duration), step=minutes(step))
    for start in starts:
        slot = (start, start + minutes(duration))
        assert period[0] <= slot[0]
        assert slot[1] <= period[1]
        assert not any(overlaps(slot, interval) for interval in intervals)
    for k in range(0, 600 // step + 1):  # every free grid point is offered
        slot = (T0 + minutes(k * step), T0 + minutes(k * step + duration))
        if slot[1] <= period[1] and not any(overlaps(slot, i) for i in intervals):
            assert slot[0] in starts


# --- slots from the database ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_room_free_slots_leave_out_booked_times_and_closed_hours(settings):
    settings.RIS_SLOT_STEP_MINUTES = 30
    room = RoomFactory(open_all_week=False)
    day = timezone.localdate() + timedelta(days=1)
    OpeningHours.objects.create(room=room, weekday=day.weekday(), opens_at=time(8), closes_at=time(10))
    make_booked_exam(room=room, start=at(8, 30), procedure_types=[ProcedureTypeFactory(default_duration_minutes=30)])
    slots = room_free_slots(room, day, 30)
    assert [timezone.localtime(s).strftime("%H:%M") for s in slots] == ["08:00", "09:00", "09:30"]


@pytest.mark.django_db
def test_no_slots_in_the_past():
    room = RoomFactory()
    today = timezone.localdate()
    now = datetime.combine(today, time(12, 5), tzinfo=timezone.get_current_timezone())
    slots = room_free_slots(room, today, 20, now=now)
    assert slots
    assert min(slots) >= now


# --- booking -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_booking_outside_opening_hours_is_refused():
    exam = make_order().exams.get()
    room = RoomFactory(modality=exam.procedure_type.modality)  # open 07:00-19:00
    with pytest.raises(ApplicationError, match="not open from 18:50"):
        services.exam_book(exam=exam, room=room, start=at(18, 50), acting_user=TEST_ACTOR)


@pytest.mark.django_db
def test_booking_an_overlapping_slot_is_refused_and_writes_nothing():
    first = make_booked_exam(start=at(9))
    second = make_order(procedure_types=[first.procedure_type]).exams.get()
    history = second.history.count()
    with pytest.raises(ApplicationError, match="slot is no longer free"):
        services.exam_book(exam=second, room=first.room, start=at(9, 10), acting_user=TEST_ACTOR)
    second.refresh_from_db()
    assert (second.status, second.room, second.history.count()) == (S.ORDERED, None, history)


@pytest.mark.django_db
def test_back_to_back_bookings_are_allowed():
    first = make_booked_exam(start=at(9))
    second = make_order(procedure_types=[first.procedure_type]).exams.get()
    booked = services.exam_book(exam=second, room=first.room, start=first.scheduled_end, acting_user=TEST_ACTOR)
    assert booked.status == S.SCHEDULED


@pytest.mark.django_db
def test_a_cancelled_exam_frees_its_slot():
    first = make_booked_exam(start=at(9))
    services.exam_cancel(exam=first, reason="Patient request", acting_user=TEST_ACTOR)
    second = make_order(procedure_types=[first.procedure_type]).exams.get()
    assert services.exam_book(exam=second, room=first.room, start=at(9), acting_user=TEST_ACTOR).room == first.room


@pytest.mark.django_db
def test_reschedule_keeps_the_previous_slot_in_the_history():
    exam = make_booked_exam(start=at(9))
    services.exam_book(exam=exam, room=exam.room, start=at(11), acting_user=TEST_ACTOR, reason="patient asked")
    starts = [timezone.localtime(h.scheduled_start).hour for h in exam.history.order_by("history_id") if h.room_id]
    assert starts == [9, 11]
    assert exam.history.latest().history_change_reason == "patient asked"


@pytest.mark.django_db
def test_stat_exam_goes_into_the_first_free_slot_today():
    procedure = ProcedureTypeFactory(default_duration_minutes=20)
    room = RoomFactory(modality=procedure.modality, open_all_week=False)
    today = timezone.localdate()
    OpeningHours.objects.create(room=room, weekday=today.weekday(), opens_at=time(0, 0), closes_at=time(23, 59))
    now = datetime.combine(today, time(10, 2), tzinfo=timezone.get_current_timezone())
    make_booked_exam(room=room, start=now.replace(minute=15), procedure_types=[procedure], booked_at=now)  # taken
    stat = make_order(procedure_types=[procedure], priority="STAT").exams.get()
    booked = services.exam_book_first_free(exam=stat, acting_user=TEST_ACTOR, now=now)
    assert timezone.localtime(booked.scheduled_start).strftime("%H:%M") == "10:35"


@pytest.mark.django_db
def test_stat_without_a_free_room_today_says_so():
    stat = make_order(priority="STAT").exams.get()
    with pytest.raises(ApplicationError, match="No CT room has a free slot left today"):
        services.exam_book_first_free(exam=stat, acting_user=TEST_ACTOR)


# --- held by the database (PostgreSQL) -----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_database_refuses_overlapping_bookings_that_bypass_the_service(postgresql):
    first = make_booked_exam(start=at(9))
    second = make_order(procedure_types=[first.procedure_type]).exams.get()
    with pytest.raises(IntegrityError, match="exam_room_no_overlap"), transaction.atomic():
        Exam.objects.filter(pk=second.pk).update(
            room=first.room, scheduled_start=at(9, 5), scheduled_end=at(9, 25), status=S.SCHEDULED
        )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_twenty_threads_booking_one_slot_get_exactly_one_booking(postgresql):
    procedure = ProcedureTypeFactory()
    room = RoomFactory(modality=procedure.modality)
    exams = [make_order(procedure_types=[procedure]).exams.get() for _ in range(20)]
    start_line = threading.Barrier(20)
    booked, refused, other = [], [], []

    def book(exam: Exam) -> None:
        try:
            start_line.wait(timeout=30)
            services.exam_book(exam=exam, room=room, start=at(10), acting_user=TEST_ACTOR)
            booked.append(exam.pk)
        except ApplicationError as error:
            refused.append(error.message)
        except BaseException as error:
            other.append(error)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=book, args=(exam,)) for exam in exams]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert other == []
    assert len(booked) == 1
    assert refused == [services.SLOT_TAKEN] * 19
    assert Exam.objects.filter(room=room, status=S.SCHEDULED).count() == 1
    losers = Exam.objects.exclude(pk=booked[0]).filter(pk__in=[e.pk for e in exams])
    assert set(losers.values_list("status", "room", "scheduled_start")) == {(S.ORDERED, None, None)}
    assert all(exam.history.count() == 1 for exam in losers)  # only the "ordered" row: nothing half-written
    assert Order.objects.filter(status=Order.Status.SCHEDULED).count() == 1


@pytest.mark.django_db
def test_a_long_exam_still_holds_its_room_hours_after_it_started():
    long_exam = make_booked_exam(start=at(7, 30), procedure_types=[ProcedureTypeFactory(default_duration_minutes=690)])
    assert list(exams_holding_room(long_exam.room, at(18, 50), at(19))) == [long_exam]
    assert not exams_holding_room(long_exam.room, at(19), at(19, 10)).exists()  # ended at 19:00: free again
