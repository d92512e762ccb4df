"""Worklists refresh themselves in Chromium without losing the user's place (static/js/refresh.js)."""

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
    make_booked_exam,
)

HIDE_TAB = """() => {
  Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
  document.dispatchEvent(new Event("visibilitychange"));
}"""
SHOW_TAB = """() => {
  Object.defineProperty(document, "hidden", {configurable: true, get: () => false});
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "visible"});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def open_round_the_clock(**kwargs):
    room = RoomFactory(open_all_week=False, **kwargs)
    OpeningHours.objects.bulk_create(
        OpeningHours(room=room, weekday=day, opens_at=time(0), closes_at=time(23, 59)) for day in range(7)
    )
    return room


def booked_today(*, room, at: time, family_name: str) -> Exam:
    """An exam booked by the service for tomorrow, then moved to the same time today (a test's set-up, so that
    it works at any hour; the booking rules are not what this test is about)."""
    tomorrow = timezone.localdate() + timedelta(days=1)
    start = datetime.combine(tomorrow, at, tzinfo=timezone.get_current_timezone())
    procedure = ProcedureTypeFactory(modality=room.modality, name=f"{room.modality.code} exam")
    exam = make_booked_exam(
        room=room, start=start, procedure_types=[procedure], patient=PatientFactory(family_name=family_name)
    )
    Exam.objects.filter(pk=exam.pk).update(
        scheduled_start=exam.scheduled_start - timedelta(days=1), scheduled_end=exam.scheduled_end - timedelta(days=1)
    )
    return exam


def sign_in(page, live_server, username: str) -> None:
    page.goto(live_server.url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def list_requests(page, path: str) -> list:
    """Every later GET of `path` (with any query) the page makes: the refreshes."""
    seen = []
    page.on("request", lambda request: seen.append(request) if request.url.split("?")[0].endswith(path) else None)
    return seen


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_arrivals_refresh_and_keep_the_typed_search_the_focus_and_the_place(live_server, page, settings):
    settings.RIS_WORKLIST_REFRESH_SECONDS = 1
    UserFactory(username="desk", role=Role.FRONT_DESK)
    room = open_round_the_clock(name="CT 1")
    for n in range(36):  # a long list: 06:00 to 17:40, every 20 minutes
        booked_today(room=room, at=time(6 + n // 3, (n % 3) * 20), family_name=f"Waiting{n:02d}")

    sign_in(page, live_server, "desk")
    expect(page.get_by_role("heading", name="Front desk")).to_be_visible()
    refreshes = list_requests(page, "/scheduling/")

    # The user starts typing a search, without sending it, and scrolls down the list (the focus stays in the box).
    search = page.get_by_label("Find a patient")
    search.focus()
    search.press_sequentially("mull", delay=30)
    reference = page.locator("#arrivals tr", has_text="WAITING20")
    reference.scroll_into_view_if_needed()
    page.mouse.wheel(0, 120)
    page.wait_for_function("window.scrollY > 200")
    scroll_before = page.evaluate("window.scrollY")
    assert scroll_before > 200
    offset_before = reference.bounding_box()["y"]

    # A patient booked at 05:00 arrives on the list above the user's place, by itself.
    booked_today(room=room, at=time(5), family_name="Newcomer")
    expect(page.get_by_role("link", name=re.compile("NEWCOMER"))).to_be_visible(timeout=10_000)

    # What the user typed, where the focus was and the row they were looking at are all where they were.
    expect(search).to_have_value("mull")
    expect(search).to_be_focused()
    assert abs(reference.bounding_box()["y"] - offset_before) <= 2
    assert page.evaluate("window.scrollY") > scroll_before  # the page scrolled by the row added above

    # The refreshes are background requests (no idle session kept alive) and ask for the list without the search.
    assert refreshes
    assert all(request.headers.get("x-ris-background") == "1" for request in refreshes)
    assert all("q=" not in request.url for request in refreshes)

    # A hidden tab asks nothing; shown again, it refreshes at once.
    page.evaluate(HIDE_TAB)
    page.wait_for_timeout(300)  # one in flight may still finish
    count = len(refreshes)
    page.wait_for_timeout(2_500)
    assert len(refreshes) == count
    page.evaluate(SHOW_TAB)
    page.wait_for_timeout(500)
    assert len(refreshes) > count


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_the_technologist_list_refresh_keeps_its_filters(live_server, page, settings):
    settings.RIS_WORKLIST_REFRESH_SECONDS = 1
    UserFactory(username="tech", role=Role.TECHNOLOGIST)
    ct = open_round_the_clock(name="CT 1", modality=ModalityFactory(code="CT"))
    mr = open_round_the_clock(name="MR 1", modality=ModalityFactory(code="MR", name="Magnetic Resonance"))
    booked_today(room=ct, at=time(8), family_name="Firstct")

    sign_in(page, live_server, "tech")
    page.get_by_role("link", name="Technologist").click()
    page.get_by_label("Modality").select_option("CT")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("link", name=re.compile("FIRSTCT"))).to_be_visible()
    refreshes = list_requests(page, "/worklist/")

    booked_today(room=mr, at=time(9), family_name="Othermr")
    booked_today(room=ct, at=time(10), family_name="Secondct")
    expect(page.get_by_role("link", name=re.compile("SECONDCT"))).to_be_visible(timeout=10_000)
    expect(page.get_by_role("link", name=re.compile("OTHERMR"))).to_have_count(0)
    expect(page.get_by_label("Modality")).to_have_value("CT")
    assert all("modality=CT" in request.url for request in refreshes)
    assert all(request.headers.get("x-ris-background") == "1" for request in refreshes)
