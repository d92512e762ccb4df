"""The schedule board's day view: short bookings readable and apart, closed hours shaded, a "now" line on today,
and a drop on the board rescheduling through the booking page (the same service and reason as the page)."""

from datetime import date, datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ris.models import OpeningHours, Role
from scheduling import board
from scheduling.selectors import BoardRow
from tests.factories import ProcedureTypeFactory, RoomFactory, local_at, make_booked_exam

WINDOW = (time(8), time(14))
DAY = date(2026, 3, 2)


def row(pk: int, start: datetime, minutes: int, status: str = "SCHEDULED", room_id: int = 1) -> BoardRow:
    return BoardRow(pk, room_id, start, start + timedelta(minutes=minutes), status, f"F{pk}", "G", "P", "Proc")


def at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(DAY, time(hour, minute), tzinfo=timezone.get_current_timezone())


def test_the_track_grows_so_that_a_ten_minute_booking_gets_its_line():
    assert board.track_height_rem([], WINDOW) == 24.0  # 6 hours at HOUR_REM
    tall = board.track_height_rem([row(1, at(9), 10), row(2, at(10), 40)], WINDOW)
    assert tall / (6 * 60) * 10 >= board.SHORTEST_BLOCK_REM
    assert board.track_height_rem([row(1, at(9), 1)], WINDOW) == board.track_height_rem([row(1, at(9), 5)], WINDOW)


class _Hours:
    def __init__(self, *periods):
        self.periods = [type("H", (), {"weekday": DAY.weekday(), "opens_at": a, "closes_at": b})() for a, b in periods]

    def all(self):
        return self.periods


class _Room:
    pk = 1
    name = "CT 1"
    station_ae_title = "CT1"

    def __init__(self, *periods):
        self.opening_hours = _Hours(*periods)


def test_closed_hours_are_the_window_outside_the_opening_periods():
    room = _Room((time(9), time(12)), (time(12, 30), time(13)))
    assert board.closed_spans(room, DAY, WINDOW) == [(0.0, 16.667), (66.667, 8.333), (83.333, 16.667)]
    assert board.closed_spans(_Room((time(8), time(14))), DAY, WINDOW) == []
    assert board.closed_spans(_Room(), DAY, WINDOW) == [(0.0, 100.0)]  # closed that weekday


def test_now_line_only_on_todays_board_inside_the_window():
    assert board.now_offset(DAY, WINDOW, now=at(11)) == 50.0
    assert board.now_offset(DAY + timedelta(days=1), WINDOW, now=at(11)) is None
    assert board.now_offset(DAY, WINDOW, now=at(7)) is None


def test_blocks_keep_their_real_length_and_overlapping_ones_get_lanes():
    rows = [row(1, at(9), 10), row(2, at(9, 10), 10), row(3, at(10), 30, "NO_SHOW"), row(4, at(10), 10)]
    [column] = board.day_columns([_Room((time(8), time(14)))], rows, DAY, WINDOW, "/e/{pk}/", may_move=True)
    first, second, no_show, rebooked = column.blocks
    assert first.top + first.height <= second.top + 1e-9  # back to back, not over each other
    assert (first.left, first.width) == (0.0, 100.0)
    assert {(no_show.left, no_show.width), (rebooked.left, rebooked.width)} == {(0.0, 50.0), (50.0, 50.0)}
    assert first.compact
    assert (first.movable, no_show.movable) == (True, False)  # only a booked exam is moved by a drop
    assert first.title == "09:00 F1, G · Proc · Scheduled"


@pytest.mark.django_db
def test_board_page_has_a_now_line_today_and_the_drop_data_for_the_front_desk_only(client_for):
    room = RoomFactory(open_all_week=False)
    OpeningHours.objects.bulk_create(
        OpeningHours(room=room, weekday=day, opens_at=time(0), closes_at=time(23, 59)) for day in range(7)
    )
    tomorrow = timezone.localdate() + timedelta(days=1)
    make_booked_exam(
        room=room, start=local_at(tomorrow, 9), procedure_types=[ProcedureTypeFactory(modality=room.modality)]
    )
    desk = client_for(Role.FRONT_DESK)
    today_html = desk.get(reverse("scheduling:board")).content.decode()
    assert 'class="now-line"' in today_html
    tomorrow_html = desk.get(reverse("scheduling:board"), {"day": tomorrow.isoformat()}).content.decode()
    assert 'class="now-line"' not in tomorrow_html
    assert 'draggable="true"' in tomorrow_html
    assert 'id="reschedule-dialog"' in tomorrow_html
    assert "js/board.js" in tomorrow_html
    tech = client_for(Role.TECHNOLOGIST)  # (the same test client, signed in again)
    tech_html = tech.get(reverse("scheduling:board"), {"day": tomorrow.isoformat()}).content.decode()
    assert 'draggable="true"' not in tech_html
    assert 'id="reschedule-dialog"' not in tech_html


@pytest.mark.django_db
def test_a_drop_posts_a_local_time_and_comes_back_to_the_board_with_the_reason_in_history(client_for):
    desk = client_for(Role.FRONT_DESK)
    exam = make_booked_exam()  # tomorrow 09:00
    tomorrow = timezone.localdate(exam.scheduled_start)
    back = reverse("scheduling:board") + f"?day={tomorrow.isoformat()}"
    response = desk.post(
        reverse("scheduling:exam_book", args=[exam.pk]),
        {"slot": f"{exam.room.pk}@{tomorrow.isoformat()}T11:15:00", "reason": "dragged later", "next": back},
    )
    assert response["Location"] == back
    exam.refresh_from_db()
    assert exam.scheduled_start == local_at(tomorrow, 11, 15)
    assert exam.history.latest().history_change_reason == "dragged later"


@pytest.mark.django_db
def test_a_drop_into_the_past_comes_back_to_the_board_refused(client_for):
    desk = client_for(Role.FRONT_DESK)
    exam = make_booked_exam()
    yesterday = timezone.localdate() - timedelta(days=1)
    back = reverse("scheduling:board")
    response = desk.post(
        reverse("scheduling:exam_book", args=[exam.pk]),
        {"slot": f"{exam.room.pk}@{yesterday.isoformat()}T10:00:00", "next": back},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == back
    assert "is in the past" in response.content.decode()
    before = exam.scheduled_start
    exam.refresh_from_db()
    assert exam.scheduled_start == before
