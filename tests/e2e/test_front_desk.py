"""A front-desk morning in Chromium: register, order, book, see it on the board, check the patient in."""

import re
from datetime import time

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from ris.models import OpeningHours, Patient, Role
from scheduling.models import Exam
from tests.factories import TEST_PASSWORD, ProcedureTypeFactory, ReferringPhysicianFactory, RoomFactory, UserFactory


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_front_desk_registers_orders_books_and_checks_in(live_server, page, artifacts):
    UserFactory(username="desk", role=Role.FRONT_DESK)
    room = RoomFactory(name="CT 1", station_ae_title="CT1", open_all_week=False)
    OpeningHours.objects.bulk_create(
        OpeningHours(room=room, weekday=day, opens_at=time(0), closes_at=time(23, 59)) for day in range(7)
    )
    ProcedureTypeFactory(code="CTHEAD", name="CT head without contrast", modality=room.modality, cpt_code="70450")
    ReferringPhysicianFactory(family_name="Okafor", given_name="Chinwe")

    page.goto(live_server.url)
    page.get_by_label("Username").fill("desk")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Front desk")).to_be_visible()

    # Register a patient with a non-ASCII name.
    page.get_by_role("link", name="Register a new patient").click()
    page.get_by_label("Family name").fill("Øster")
    page.get_by_label("Given name").fill("Åse")
    page.get_by_label("Birth date").fill("1975-07-14")
    page.get_by_label("Sex").select_option("F")
    page.get_by_label("Phone").fill("+47 22 33 44 55")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", name=re.compile("ØSTER, Åse"))).to_be_visible()

    # Find her again through the search box, accent-free.
    page.get_by_role("link", name="Front desk").click()
    page.get_by_label("Find a patient").fill("oster ase")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="ØSTER, Åse").click()

    # Enter a CT order.
    page.get_by_role("link", name="New order").click()
    page.get_by_label("Referring physician").select_option(label="OKAFOR, Chinwe")
    page.get_by_label("Find a procedure").fill("ct head")
    page.get_by_label(re.compile("CT head without contrast")).check()
    page.get_by_label("Reason for exam").fill("Persistent headache")
    page.get_by_label("ICD-10-CM codes").fill("R51.9")
    page.get_by_role("button", name="Enter order").click()
    expect(page.get_by_role("heading", name=re.compile("Order F"))).to_be_visible()
    # Each exam its own accession number (RIS_ACCESSION_PER=exam), named on the order page and in the message.
    accession = Exam.objects.get(order__patient__family_name="Øster").accession_number
    expect(page.locator(".messages")).to_contain_text(f"{accession} (CT head without contrast)")
    expect(page.get_by_role("cell", name=accession)).to_be_visible()

    # Book the first free slot (today; the room is open round the clock, so tomorrow only just before midnight).
    page.get_by_role("link", name="Book").click()
    slots = page.locator("button.slot")
    if slots.count() == 0:
        page.get_by_role("link", name="Next day").click()
    first = page.locator("button.slot").first
    slot_time = first.inner_text()
    first.click()
    expect(page.locator(".messages")).to_contain_text("booked on CT 1")
    expect(page.locator(".messages")).to_contain_text(slot_time)

    # See it on the schedule board for that day, then check the patient in from there.
    exam = Exam.objects.get(order__patient=Patient.objects.get(family_name="Øster"))
    page.goto(
        f"{live_server.url}/scheduling/board/?day={timezone.localdate(exam.scheduled_start).isoformat()}&room={room.pk}"
    )
    block = page.locator("a.block", has_text="ØSTER, Åse")
    expect(block).to_have_class(re.compile("status-scheduled"))
    expect(block).to_contain_text(slot_time)
    page.screenshot(path=str(artifacts / "schedule_board.png"), full_page=True)

    block.click()
    # A CT for a woman of 51: checking in asks whether she could be pregnant (the clinical check-in page).
    page.get_by_role("link", name="Check in…").click()
    expect(page.locator(".patient-banner")).to_contain_text("ØSTER")
    page.get_by_label("Not pregnant").check()
    if timezone.localdate(exam.scheduled_start) != timezone.localdate():
        # booked for tomorrow (the test ran just before midnight): checked in today as an early arrival
        page.get_by_label("Arrived early: reason").fill("Here already")
    page.get_by_role("button", name="Record and check in").click()
    expect(page.locator("h1 .badge")).to_have_text("Arrived")
    exam.refresh_from_db()
    assert exam.status == Exam.Status.ARRIVED
    assert exam.history.latest().history_actor == "desk"
