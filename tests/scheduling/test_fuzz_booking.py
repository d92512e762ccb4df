"""Fuzzing the front desk's forms through their views: registering and editing a patient, entering an order,
booking a slot and cancelling an exam, with random and mutated POST bodies.

Bodies start from a valid post with fields changed, dropped, repeated or added (any text, NUL and control
characters, huge strings, wrong types for dates, IDs and choices, slots at the ends of the calendar), or are
random pairs, and are sometimes mangled at the byte level. No answer is a 5xx; a post the view does not carry out
(an invalid form, a refusal: anything but the redirect of a success) writes nothing, neither rows nor history
rows nor outbox events.
"""

from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ris.models import OutboxEvent, Patient, Role
from scheduling.forms import OrderForm, PatientForm, ReasonForm, RescheduleReasonForm
from scheduling.models import Exam, Order
from tests.factories import (
    PatientFactory,
    ProcedureTypeFactory,
    ReferringPhysicianFactory,
    RoomFactory,
    make_booked_exam,
    make_order,
)
from tests.fuzzing import form_bodies, row_counts

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"
PATIENT = {
    "family_name": "Müller",
    "given_name": "Jürgen",
    "birth_date": "1961-04-02",
    "sex": "M",
    "phone": "+49 30 1234567",
    "email": "j.mueller@example.org",
    "postal_code": "10115",
}
FIELDS = [
    *["mrn", "family_name", "given_name", "middle_name", "name_prefix", "name_suffix", "birth_date", "sex"],
    *["street", "city", "state", "postal_code", "country", "phone", "email", "self_pay", "confirm_duplicate"],
    *["referring_physician", "procedure_types", "priority", "reason", "diagnosis_codes", "slot", "next"],
]
EXTRA_FIELDS = ["status", "accession_number", "patient", "merged_into", "id", "csrfmiddlewaretoken", "", "a" * 300]
ODD_VALUES = [
    *["", " ", "\x00", "a\x00b", "\r\n", "\x1b[31m", "\ufeff", "\u202e", "%00", "&", "="],
    *["0", "-1", "1.5", "1e9", "99999999999999999999999", "on", "off", "true", "null", "[]", "{}"],
    *["0001-01-01", "9999-12-31", "2999-01-01", "1961-02-30", "02/04/1961", "1961-04-02T10:00", "19610402"],
    *["M", "X", "stat", "STAT", "ROUTINE", "R51.9", "R51.9, M54.50", "ZZZ.ZZ", "R51.9" + ",R51.9" * 200],
    *["<script>alert(1)</script>", "' OR 1=1 --", "{{ request }}", "//evil.example/", "javascript:alert(1)"],
]


ZONES = st.sampled_from([None, UTC, ZoneInfo("Asia/Tokyo"), ZoneInfo("America/New_York")])
# The ends of the calendar, where a start plus a duration, or in another zone, is past what a datetime holds.
EDGES = [datetime.min, datetime.min.replace(hour=3), datetime.max, datetime.max - timedelta(minutes=10)]


def values(known: list[str], field: str = "") -> st.SearchStrategy[str]:
    """Any value; for a date or a slot, mostly one of its own type (any day from year 1 to 9999, any zone).
    `known` starts with a valid slot, whose room the slots drawn here use."""
    room = known[0].split("@")[0]
    starts = st.one_of(
        st.datetimes(timezones=ZONES),
        st.tuples(st.sampled_from(EDGES), ZONES).map(lambda edge: edge[0].replace(tzinfo=edge[1])),
    )
    typed = {
        "birth_date": st.dates().map(date.isoformat),
        "slot": starts.map(lambda start: f"{room}@{start.isoformat()}"),
    }.get(field, st.nothing())
    return st.one_of(
        typed,
        typed,
        st.text(max_size=40),  # any code point but surrogates: control characters and NUL included
        st.sampled_from(ODD_VALUES),
        st.integers(250, 5000).map(lambda n: "x" * n),  # over every column: names, reasons, phone
        st.sampled_from(known),
    )


def bodies(valid: list[tuple[str, str]], known: list[str]) -> st.SearchStrategy[bytes]:
    keys = st.one_of(st.sampled_from(FIELDS), st.sampled_from(EXTRA_FIELDS), st.text(max_size=8))
    return form_bodies(valid, keys, lambda field="": values(known, field))


def written() -> dict[str, int]:
    return row_counts((Patient, Order, Exam, OutboxEvent), (Patient, Order, Exam))


@pytest.fixture
def desk(client_for):
    """The front desk, a CT room open every day, a patient with an exam to book and one booked to cancel."""
    room = RoomFactory(station_ae_title="CT1")
    head = ProcedureTypeFactory(code="CTHEAD", modality=room.modality)
    chest = ProcedureTypeFactory(code="CTCHEST", modality=room.modality)
    physician = ReferringPhysicianFactory()
    patient = PatientFactory()
    ordered = make_order(patient=patient, procedure_types=[head]).exams.get()
    tomorrow = timezone.localdate() + timedelta(days=1)
    at = datetime.combine(tomorrow, time(9), tzinfo=timezone.get_current_timezone())
    booked = make_booked_exam(patient=patient, procedure_types=[chest], room=room, start=at + timedelta(hours=2))
    slot = f"{room.pk}@{at.isoformat()}"
    edges = [f"{room.pk}@9999-12-31T23:59:00+00:00", f"{room.pk}@0001-01-01T00:00:00+05:00", f"{room.pk}@{at:%Y-%m-%d}"]
    order = [("procedure_types", str(head.pk)), ("procedure_types", str(chest.pk)), ("priority", "ROUTINE")]
    order += [("reason", "Headache"), ("diagnosis_codes", "R51.9"), ("referring_physician", str(physician.pk))]
    posts = {  # view -> (URL, the form the view binds, a valid body)
        "patient_register": (reverse("scheduling:patient_register"), PatientForm, list(PATIENT.items())),
        "patient_edit": (reverse("scheduling:patient_edit", args=[patient.pk]), PatientForm, list(PATIENT.items())),
        "order_create": (reverse("scheduling:order_create", args=[patient.pk]), OrderForm, order),
        "exam_book": (reverse("scheduling:exam_book", args=[ordered.pk]), RescheduleReasonForm, [("slot", slot)]),
        "exam_cancel": (reverse("scheduling:exam_cancel", args=[booked.pk]), ReasonForm, [("reason", "Unwell")]),
    }
    known = [slot, *edges, str(head.pk), str(physician.pk), str(patient.pk), "Unwell"]  # (values() reads the room)
    return {"client": client_for(Role.FRONT_DESK), "patient": patient, "posts": posts, "known": known}


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    view=st.sampled_from(["patient_register", "patient_edit", "order_create", "exam_book", "exam_cancel"]),
)
def test_front_desk_forms_answer_without_5xx_and_a_post_not_carried_out_writes_nothing(desk, data, view):
    url, form_class, valid_body = desk["posts"][view]
    body = data.draw(bodies(valid_body, desk["known"]), label="body")
    if view == "exam_book" and data.draw(st.booleans(), label="day"):  # the day shown, from the query string
        url += "?" + urlencode({"day": data.draw(st.sampled_from(["", "2026-13-01", "0001-01-01", "x" * 300]))})
    instance = {"instance": Patient.objects.get(pk=desk["patient"].pk)} if view == "patient_edit" else {}
    valid = form_class(QueryDict(body), **instance).is_valid()
    before = written()
    response = desk["client"].post(url, data=body, content_type=FORM)
    assert response.status_code < 500
    if not valid or response.status_code != 302:
        assert written() == before, response.status_code
    if not valid:
        assert response.status_code == 200  # the form again, with its errors


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_booking_any_slot_answers_without_5xx_and_books_only_on_a_redirect(desk, data):
    """The slot alone: "<room id>@<ISO start>" with any start in any zone (or none), the room's or another ID."""
    url, _form, _body = desk["posts"]["exam_book"]
    value = data.draw(values(desk["known"], "slot"), label="slot")
    if "@" in value and data.draw(st.booleans(), label="other room"):
        value = data.draw(st.sampled_from(["0", "-1", "99999999999999999999999", "x", ""])) + value[value.index("@") :]
    before = written()
    response = desk["client"].post(url, {"slot": value, "reason": "moved"})
    assert response.status_code in (200, 302, 404)  # 404: no such room
    if response.status_code != 302:
        assert written() == before


@pytest.mark.parametrize("start", ["9999-12-31T23:59:00+00:00", "0001-01-01T00:00:00+05:00"])
def test_a_slot_at_the_ends_of_the_calendar_is_refused_not_a_500(desk, start):
    """It was a 500: the start plus the exam's duration, or in local time, is past what a datetime holds."""
    url, _form, _body = desk["posts"]["exam_book"]
    room = desk["known"][0].split("@")[0]
    before = written()
    response = desk["client"].post(url, {"slot": f"{room}@{start}"})
    assert response.status_code == 200
    assert "Choose one of the free slots shown." in response.content.decode()
    assert written() == before
