"""The order form's procedure picker in Chromium: the whole catalog reachable in one vertical list grouped by
modality, filtered by name, code and CPT, the most-ordered first, operable by keyboard, and a plain form without
JavaScript."""

import re
from datetime import date

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from ris.demo import procedure_catalog
from ris.models import Patient, ProcedureType, Role
from scheduling.models import Order
from tests.factories import TEST_PASSWORD, PatientFactory, UserFactory, make_order

VISIBLE = "#procedure-list li:visible"


def sign_in(page, live_server) -> None:
    page.goto(live_server.url)
    page.get_by_label("Username").fill("desk")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Front desk")).to_be_visible()


def visible_codes(page) -> list[str]:
    values = page.locator(f"{VISIBLE} input").evaluate_all("boxes => boxes.map(box => box.value)")
    return list(ProcedureType.objects.filter(pk__in=values).order_by("code").values_list("code", flat=True))


@pytest.fixture
def world(db):
    UserFactory(username="desk", role=Role.FRONT_DESK)
    procedure_catalog()  # the demo catalog: 46 procedures, a third of them MR and US
    patient = PatientFactory(family_name="Ødegård", sex=Patient.Sex.FEMALE, birth_date=date(1990, 5, 1))
    knee = ProcedureType.objects.get(code="XRKNEE")
    for _ in range(3):  # the department's most ordered of late
        make_order(patient=PatientFactory(), procedure_types=[knee])
    return patient


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_every_procedure_is_reachable_searchable_and_chosen_by_keyboard(live_server, page, world):
    sign_in(page, live_server)
    page.goto(live_server.url + reverse("scheduling:order_create", args=[world.pk]))
    picker = page.locator("#procedure-list")

    # The most-ordered group comes first, then one group per modality, each a labelled group.
    legends = picker.locator("legend").all_inner_texts()
    assert legends[0] == "Most ordered"
    assert legends[1:] == [
        "CT · Computed Tomography",
        "DX · Digital Radiography",
        "MR · Magnetic Resonance",
        "US · Ultrasound",
    ]
    first = picker.locator(".picker-group").first.locator("input").first
    assert first.get_attribute("value") == str(ProcedureType.objects.get(code="XRKNEE").pk)
    expect(page.get_by_role("group", name="MR · Magnetic Resonance")).to_be_visible()

    # Every procedure of the catalog, MR and US included, is reachable by scrolling down; nothing scrolls sideways.
    assert picker.evaluate("list => list.scrollWidth <= list.clientWidth")
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    active = ProcedureType.objects.filter(active=True)
    assert active.count() == 46
    for procedure in active:
        checkbox = page.get_by_role("checkbox", name=re.compile(re.escape(procedure.name)))
        expect(checkbox).to_have_count(1)
        checkbox.scroll_into_view_if_needed()
        expect(checkbox).to_be_visible()
        box = checkbox.bounding_box()
        box_of_list = picker.bounding_box()  # the page scrolls too (the patient banner makes it taller)
        assert box_of_list["x"] <= box["x"], procedure.code
        assert box["x"] + box["width"] <= box_of_list["x"] + box_of_list["width"], procedure.code
        assert box_of_list["y"] <= box["y"] <= box_of_list["y"] + box_of_list["height"], procedure.code

    # Filter as you type: by CPT code, by procedure code, by name words in any order, by modality.
    search = page.get_by_label("Find a procedure")
    search.fill("76801")
    assert visible_codes(page) == ["USOB1"]
    search.fill("mrcp")
    assert visible_codes(page) == ["MRCP"]
    search.fill("knee")
    assert visible_codes(page) == ["MRKNEE", "XRKNEE"]
    expect(page.locator("#procedure-count")).to_have_text("2 of 46 procedures match.")
    expect(page.get_by_role("group", name="US · Ultrasound")).to_be_hidden()
    search.fill("knee mri")
    assert visible_codes(page) == ["MRKNEE"]
    search.fill("nothing like this")
    expect(page.locator("#procedure-none")).to_be_visible()

    # By keyboard: type, Down into the list, Space chooses; Up/Down move, Enter chooses (and does not submit).
    search.fill("")
    search.press_sequentially("mri knee")
    search.press("ArrowDown")
    focused = page.evaluate("() => document.activeElement.value")
    assert focused == str(ProcedureType.objects.get(code="MRKNEE").pk)
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused procedure shows its focus"
    page.keyboard.press("Space")
    expect(page.get_by_role("checkbox", name=re.compile("MRI knee without contrast"))).to_be_checked()
    page.keyboard.press("ArrowUp")  # from the first match back to the filter
    assert page.evaluate("() => document.activeElement.id") == "procedure-filter"
    search.fill("spine without")
    search.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    lumbar = page.get_by_role("checkbox", name=re.compile("CT lumbar spine without contrast"))
    expect(lumbar).to_be_checked()
    assert not Order.objects.filter(patient=world).exists(), "Enter chose a procedure, it did not submit"
    expect(page.locator("#procedure-chosen")).to_have_text(
        "Chosen: CT lumbar spine without contrast; MRI knee without contrast."
    )

    page.get_by_label("Reason for exam").fill("Knee pain and low back pain")
    page.get_by_role("button", name="Enter order").click()
    expect(page.get_by_role("heading", name=re.compile("Order F"))).to_be_visible()
    order = Order.objects.get(patient=world)
    assert sorted(order.exams.values_list("procedure_type__code", flat=True)) == ["CTLSPINE", "MRKNEE"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_without_javascript_the_picker_is_a_working_plain_form(live_server, chromium, world):
    context = chromium.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        sign_in(page, live_server)
        page.goto(live_server.url + reverse("scheduling:order_create", args=[world.pk]))
        expect(page.get_by_label("Find a procedure")).to_be_hidden()  # a filter that cannot work is not offered
        checkbox = page.get_by_role("checkbox", name=re.compile("US obstetric first trimester"))
        checkbox.scroll_into_view_if_needed()
        checkbox.check()
        page.get_by_label("Reason for exam").fill("Early pregnancy")
        page.get_by_role("button", name="Enter order").click()
        expect(page.get_by_role("heading", name=re.compile("Order F"))).to_be_visible()
        assert Order.objects.get(patient=world).exams.get().procedure_type.code == "USOB1"
    finally:
        context.close()
