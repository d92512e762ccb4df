"""The schedule in Chromium: actions wait for the booked day and time, and the board reschedules by drag and drop."""

import itertools
import re
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from ris.models import OpeningHours, Role
from scheduling.models import Exam
from tests.factories import (
    TEST_PASSWORD,
    ModalityFactory,
    PatientFactory,
    ProcedureTypeFactory,
    RoomFactory,
    UserFactory,
    clock,
    local_at,
    make_booked_exam,
    make_exam_due,
)

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]


def sign_in(page, live_server, username: str) -> None:
    page.goto(live_server.url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_no_show_waits_for_the_booked_start_and_asks_to_confirm_and_early_check_in_asks_why(live_server, page):
    UserFactory(username="desk", role=Role.FRONT_DESK)
    future = make_booked_exam(patient=PatientFactory(family_name="Future", given_name="Fay"))  # tomorrow 09:00
    due = make_exam_due(patient=PatientFactory(family_name="Late", given_name="Lou"))  # an hour or two ago
    sign_in(page, live_server, "desk")

    # A future exam: no no-show offered, and the confirmation page itself refuses it.
    page.goto(f"{live_server.url}/scheduling/exams/{future.pk}/")
    expect(page.get_by_role("link", name=re.compile("Mark no-show"))).to_have_count(0)
    expect(page.locator("p.note")).to_contain_text("a no-show can be recorded only after that time")
    page.goto(f"{live_server.url}/scheduling/exams/{future.pk}/no-show/")
    expect(page.locator("p.error")).to_contain_text("a no-show can be recorded only after that time")
    expect(page.get_by_role("button", name="Record the no-show")).to_have_count(0)

    # Checking the future exam in today: refused until an "arrived early" reason is given.
    page.goto(f"{live_server.url}/scheduling/exams/{future.pk}/")
    expect(page.get_by_role("button", name="Check in", exact=True)).to_have_count(0)
    page.get_by_role("button", name="Check in early").click()  # the reason is required: nothing is sent
    future.refresh_from_db()
    assert future.status == Exam.Status.SCHEDULED
    page.get_by_label("Arrived early: reason").fill("Came a day early; CT free")
    page.get_by_role("button", name="Check in early").click()
    expect(page.locator("h1 .badge")).to_have_text("Arrived")
    expect(page.locator("table.history")).to_contain_text("arrived early: Came a day early; CT free")

    # An exam whose time has passed: the no-show is confirmed on its own page first.
    page.goto(f"{live_server.url}/scheduling/exams/{due.pk}/")
    page.get_by_role("link", name=re.compile("Mark no-show")).click()
    page.get_by_role("button", name="Record the no-show").click()
    expect(page.get_by_role("alert").first).to_contain_text("Tick the box to confirm")
    due.refresh_from_db()
    assert due.status == Exam.Status.SCHEDULED
    page.get_by_label(re.compile("the patient did not come")).check()
    page.get_by_role("button", name="Record the no-show").click()
    expect(page.locator("h1 .badge")).to_have_text("No-show")
    due.refresh_from_db()
    assert due.status == Exam.Status.NO_SHOW


def rooms_with_hours():
    """CT 1 open 08:00-14:00, CT 2 open 08:00-12:00 (so 12:00-14:00 is shaded), every day."""
    modality = ModalityFactory(code="CT", name="CT")
    ct1 = RoomFactory(name="CT 1", station_ae_title="CT1", modality=modality, open_all_week=False)
    ct2 = RoomFactory(name="CT 2", station_ae_title="CT2", modality=modality, open_all_week=False)
    for room, closes in ((ct1, time(14)), (ct2, time(12))):
        OpeningHours.objects.bulk_create(
            OpeningHours(room=room, weekday=day, opens_at=time(8), closes_at=closes) for day in range(7)
        )
    return ct1, ct2


def test_board_prints_short_exams_apart_shades_closed_hours_and_reschedules_by_drag_and_drop(
    live_server, page, artifacts
):
    UserFactory(username="desk", role=Role.FRONT_DESK)
    ct1, ct2 = rooms_with_hours()
    xray = ProcedureTypeFactory(name="CT quick scout", modality=ct1.modality, default_duration_minutes=10)
    tomorrow = timezone.localdate() + timedelta(days=1)
    names = ["Abernathy-Wolff", "Bartholomew", "Castellanos"]
    short = [
        make_booked_exam(
            room=ct1,
            start=local_at(tomorrow, 9, 10 * n),
            procedure_types=[xray],
            patient=PatientFactory(family_name=name, given_name="Maximilian"),
        )
        for n, name in enumerate(names)
    ]
    sign_in(page, live_server, "desk")
    page.goto(f"{live_server.url}/scheduling/board/?day={tomorrow.isoformat()}")

    # Back-to-back 10-minute exams: each its own line, none over the next, the full name in the title.
    blocks = [page.locator("a.block", has_text=name.upper()) for name in names]
    boxes = [block.bounding_box() for block in blocks]
    for upper, lower in itertools.pairwise(boxes):
        assert upper["height"] >= 18, upper
        assert upper["y"] + upper["height"] <= lower["y"] + 0.5, (upper, lower)
    expect(blocks[0]).to_have_attribute("title", re.compile("ABERNATHY-WOLFF, Maximilian · CT quick scout"))
    # CT 2 closes at 12:00: the rest of the board's day is shaded in its column, and not in CT 1's.
    expect(page.locator("section.board-column", has_text="CT 2").locator(".closed-hours")).to_have_count(1)
    expect(page.locator("section.board-column", has_text="CT 1").locator(".closed-hours")).to_have_count(0)
    expect(page.locator(".now-line")).to_have_count(0)  # not today
    page.screenshot(path=str(artifacts / "schedule_board_short_exams.png"), full_page=True)

    # Drag the second exam from 09:10 on CT 1 to 11:00 on CT 2, give the reason, and it is rebooked there.
    moved = short[1]
    track = page.locator("section.board-column", has_text="CT 2").locator(".track")
    track_box = track.bounding_box()
    y = (11 * 60 - 8 * 60) / (14 * 60 - 8 * 60) * track_box["height"]  # the window is 08:00-14:00
    blocks[1].drag_to(track, source_position={"x": 10, "y": 2}, target_position={"x": 20, "y": y + 2})
    dialog = page.locator("#reschedule-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("BARTHOLOMEW, Maximilian: to CT 2 · CT2 at 11:00?")
    dialog.get_by_label("Reason for rescheduling (optional)").fill("Patient asked for a later time")
    dialog.get_by_role("button", name="Reschedule").click()
    expect(page.locator(".messages")).to_contain_text("booked on CT 2")
    expect(page.get_by_role("heading", name=re.compile("Schedule board"))).to_be_visible()  # back on the board
    moved.refresh_from_db()
    assert moved.room == ct2
    assert timezone.localtime(moved.scheduled_start) == local_at(tomorrow, 11)
    latest = moved.history.latest()
    assert (latest.history_change_reason, latest.history_actor) == ("Patient asked for a later time", "desk")


def test_board_of_today_has_a_now_line_and_a_drop_into_the_past_is_refused(live_server, page):
    UserFactory(username="desk", role=Role.FRONT_DESK)
    room = RoomFactory(name="CT 9", station_ae_title="CT9", open_all_week=False)
    OpeningHours.objects.bulk_create(
        OpeningHours(room=room, weekday=day, opens_at=time(0), closes_at=time(23, 59)) for day in range(7)
    )
    procedure = ProcedureTypeFactory(modality=room.modality, default_duration_minutes=10)
    # The board of today needs an hour before and after now: the server's clock (the live server runs in this
    # process) reads 12:10 today, whatever the hour the suite runs at; the page moves the line on from there.
    now = datetime.combine(timezone.localdate(), time(12, 10), tzinfo=timezone.get_current_timezone())
    later = now.replace(hour=13, minute=0)
    with clock(now):
        exam = make_booked_exam(room=room, start=later, procedure_types=[procedure])
        sign_in(page, live_server, "desk")
        page.goto(f"{live_server.url}/scheduling/board/")
        line = page.locator(".now-line")
        expect(line).to_be_visible()
        expect(line).to_have_attribute("title", f"Now, {now:%H:%M}")
        assert line.bounding_box()["y"] < page.locator("a.block").bounding_box()["y"]  # before the exam at `later`

        # Dropped some 40 minutes above the now line (past): the server refuses and the booking stays.
        track = page.locator("section.board-column .track")
        above_now = line.bounding_box()["y"] - track.bounding_box()["y"] - 90
        page.locator("a.block").drag_to(
            track, source_position={"x": 10, "y": 2}, target_position={"x": 20, "y": above_now}
        )
        page.locator("#reschedule-dialog").get_by_role("button", name="Reschedule").click()
        expect(page.locator(".messages")).to_contain_text("is in the past")
        exam.refresh_from_db()
        assert exam.scheduled_start == later
