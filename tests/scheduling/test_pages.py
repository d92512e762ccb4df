"""The front-desk and technologist pages, driven through Django's test client."""

import re
from datetime import date, datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ris.models import OpeningHours, Patient, Role
from scheduling.models import Exam, Order
from scheduling.selectors import room_free_slots
from tests.factories import (
    PatientFactory,
    ProcedureTypeFactory,
    ReferringPhysicianFactory,
    RoomFactory,
    make_booked_exam,
    make_exam_booked_today,
    make_order,
)

S = Exam.Status


@pytest.fixture
def desk(client_for):
    return client_for(Role.FRONT_DESK)


def tomorrow_at(hour: int, minute: int = 0) -> datetime:
    day = timezone.localdate() + timedelta(days=1)
    return datetime.combine(day, time(hour, minute), tzinfo=timezone.get_current_timezone())


PATIENT = {
    "family_name": "Müller",
    "given_name": "Jürgen",
    "birth_date": "1961-04-02",
    "sex": "M",
    "phone": "+49 30 1234567",
}


@pytest.mark.django_db
def test_search_box_finds_a_patient_by_name_fragments(desk):
    PatientFactory(family_name="Müller", given_name="Jürgen")
    html = desk.get(reverse("scheduling:home"), {"q": "mull jur"}).content.decode()
    assert "1 patient found" in html
    assert "MÜLLER, Jürgen" in html


@pytest.mark.django_db
def test_registration_errors_appear_next_to_their_fields(desk):
    future = (timezone.localdate() + timedelta(days=3)).isoformat()
    response = desk.post(
        reverse("scheduling:patient_register"), {**PATIENT, "birth_date": future, "phone": "call me", "given_name": ""}
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["birth_date"] == ["Birth date cannot be in the future."]
    assert "phone" in form.errors
    assert form.errors["given_name"] == ["This field is required."]
    assert not Patient.objects.exists()


@pytest.mark.django_db
def test_registration_warns_of_a_likely_duplicate_before_saving(desk):
    PatientFactory(family_name="Mueller", birth_date=date(1961, 4, 2))
    PatientFactory(family_name="MÜLLER", birth_date=date(1961, 4, 2), mrn="EXISTING")
    response = desk.post(reverse("scheduling:patient_register"), PATIENT)
    assert response.status_code == 200
    assert "Possible duplicate" in response.content.decode()
    assert [p.mrn for p in response.context["duplicates"]] == ["EXISTING"]
    assert Patient.objects.count() == 2

    confirmed = desk.post(reverse("scheduling:patient_register"), {**PATIENT, "confirm_duplicate": "on"})
    assert confirmed.status_code == 302
    assert Patient.objects.count() == 3


@pytest.mark.django_db
def test_registration_assigns_an_mrn_and_opens_the_patient(desk):
    response = desk.post(reverse("scheduling:patient_register"), PATIENT)
    patient = Patient.objects.get()
    assert response["Location"] == reverse("scheduling:patient", args=[patient.pk])
    assert patient.mrn
    assert patient.history.get().history_actor == response.wsgi_request.user.username


@pytest.mark.django_db
def test_a_patient_registered_as_self_pay_is_shown_so(desk):
    desk.post(reverse("scheduling:patient_register"), {**PATIENT, "self_pay": "on"})
    patient = Patient.objects.get()
    assert patient.self_pay
    assert "<dd>self-pay</dd>" in desk.get(reverse("scheduling:patient", args=[patient.pk])).content.decode()
    other = PatientFactory()
    assert "none on file" in desk.get(reverse("scheduling:patient", args=[other.pk])).content.decode()


@pytest.mark.django_db
def test_order_entry_makes_one_exam_per_procedure(desk):
    patient = PatientFactory()
    procedures = [ProcedureTypeFactory(), ProcedureTypeFactory()]
    physician = ReferringPhysicianFactory()
    response = desk.post(
        reverse("scheduling:order_create", args=[patient.pk]),
        {
            "referring_physician": physician.pk,
            "procedure_types": [p.pk for p in procedures],
            "priority": "URGENT",
            "reason": "Headache",
            "diagnosis_codes": "r519, M54.50",
        },
    )
    order = Order.objects.get()
    assert response["Location"] == reverse("scheduling:order", args=[order.pk])
    assert order.diagnosis_codes == ["R51.9", "M54.50"]
    assert sorted(order.exams.values_list("procedure_type", flat=True)) == sorted(p.pk for p in procedures)
    assert len({e.study_instance_uid for e in order.exams.all()}) == 2


@pytest.mark.django_db
def test_order_entry_shows_a_malformed_diagnosis_next_to_its_field(desk):
    patient = PatientFactory()
    response = desk.post(
        reverse("scheduling:order_create", args=[patient.pk]),
        {
            "procedure_types": [ProcedureTypeFactory().pk],
            "priority": "ROUTINE",
            "reason": "x",
            "diagnosis_codes": "R51.9 headache",
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["diagnosis_codes"][0].startswith("Not ICD-10-CM: headache ")
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_booking_page_lists_free_slots_and_books_one(desk):
    exam = make_order().exams.get()
    room = RoomFactory(modality=exam.procedure_type.modality)
    day = tomorrow_at(0).date()
    page = desk.get(reverse("scheduling:exam_book", args=[exam.pk]), {"day": day.isoformat()})
    first = room_free_slots(room, day, exam.procedure_type.default_duration_minutes)[0]
    assert f'value="{room.pk}@{first.isoformat()}"' in page.content.decode()
    response = desk.post(
        reverse("scheduling:exam_book", args=[exam.pk]) + f"?day={day}", {"slot": f"{room.pk}@{first.isoformat()}"}
    )
    assert response["Location"] == reverse("scheduling:exam", args=[exam.pk])
    exam.refresh_from_db()
    assert (exam.status, exam.room, exam.scheduled_start) == (S.SCHEDULED, room, first)


@pytest.mark.django_db
def test_booking_a_slot_taken_meanwhile_says_so(desk):
    taken = make_booked_exam(start=tomorrow_at(9))
    other = make_order(procedure_types=[taken.procedure_type]).exams.get()
    response = desk.post(
        reverse("scheduling:exam_book", args=[other.pk]),
        {"slot": f"{taken.room.pk}@{tomorrow_at(9).isoformat()}"},
        follow=True,
    )
    assert "This slot is no longer free" in response.content.decode()
    other.refresh_from_db()
    assert other.status == S.ORDERED


@pytest.mark.django_db
def test_cancel_requires_a_reason_shown_next_to_the_field(desk):
    exam = make_booked_exam()
    response = desk.post(reverse("scheduling:exam_cancel", args=[exam.pk]), {"reason": ""})
    assert response.context["form"].errors["reason"] == ["This field is required."]
    desk.post(reverse("scheduling:exam_cancel", args=[exam.pk]), {"reason": "Patient request"})
    exam.refresh_from_db()
    assert (exam.status, exam.status_reason) == (S.CANCELLED, "Patient request")


@pytest.mark.django_db
def test_one_click_check_in_from_todays_arrivals(desk):
    procedure = ProcedureTypeFactory(default_duration_minutes=10)
    room = RoomFactory(modality=procedure.modality, open_all_week=False)
    today = timezone.localdate()
    OpeningHours.objects.create(room=room, weekday=today.weekday(), opens_at=time(0), closes_at=time(23, 59))
    # Noon today, whatever the clock says: today's arrivals list holds the exam whether noon is still to come or not.
    start = datetime.combine(today, time(12), tzinfo=timezone.get_current_timezone())
    booked_at = timezone.now() - timedelta(days=1)
    exam = make_booked_exam(room=room, start=start, procedure_types=[procedure], booked_at=booked_at)
    home = desk.get(reverse("scheduling:home")).content.decode()
    assert reverse("scheduling:exam_check_in", args=[exam.pk]) in home
    response = desk.post(reverse("scheduling:exam_check_in", args=[exam.pk]), {"next": reverse("scheduling:home")})
    assert response["Location"] == reverse("scheduling:home")
    exam.refresh_from_db()
    assert exam.status == S.ARRIVED


@pytest.mark.django_db
def test_technologist_starts_and_completes_where_no_mpps_arrives(client_for):
    tech = client_for(Role.TECHNOLOGIST)
    exam = make_exam_booked_today()
    for action, status in (("exam_check_in", S.ARRIVED), ("exam_start", S.IN_PROGRESS), ("exam_complete", S.COMPLETED)):
        tech.post(reverse(f"scheduling:{action}", args=[exam.pk]))
        exam.refresh_from_db()
        assert exam.status == status


@pytest.mark.django_db
def test_front_desk_may_not_start_an_exam(desk):
    exam = make_booked_exam()
    assert desk.post(reverse("scheduling:exam_start", args=[exam.pk])).status_code == 403


@pytest.mark.django_db
def test_an_illegal_action_is_refused_with_the_reason(client_for):
    tech = client_for(Role.TECHNOLOGIST)
    exam = make_booked_exam()
    response = tech.post(reverse("scheduling:exam_complete", args=[exam.pk]), follow=True)
    assert "Cannot complete an exam that is scheduled" in response.content.decode()


@pytest.mark.django_db
def test_reschedule_from_the_booking_page_keeps_history(desk):
    exam = make_booked_exam(start=tomorrow_at(9))
    desk.post(
        reverse("scheduling:exam_book", args=[exam.pk]),
        {"slot": f"{exam.room.pk}@{tomorrow_at(11).isoformat()}", "reason": "patient asked"},
    )
    page = desk.get(reverse("scheduling:exam", args=[exam.pk])).content.decode()
    assert page.count(exam.room.name) >= 2  # both bookings in the history table
    assert "patient asked" in page


@pytest.mark.django_db
@pytest.mark.parametrize("span", ["day", "week"])
def test_board_shows_each_exam_as_a_block_coloured_by_status(desk, span):
    exam = make_booked_exam(start=tomorrow_at(10))
    response = desk.get(reverse("scheduling:board"), {"day": tomorrow_at(0).date().isoformat(), "span": span})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="block status-scheduled"' in html
    assert exam.order.patient.family_name.upper() in html


@pytest.mark.django_db
def test_board_for_one_modality_leaves_out_other_rooms(desk):
    ct = make_booked_exam(start=tomorrow_at(10))
    mr_procedure = ProcedureTypeFactory(modality__code="MR", modality__name="MR")
    mr = make_booked_exam(start=tomorrow_at(10), procedure_types=[mr_procedure])
    html = desk.get(
        reverse("scheduling:board"), {"day": tomorrow_at(0).date().isoformat(), "modality": "MR"}
    ).content.decode()
    assert mr.order.patient.family_name.upper() in html
    assert ct.order.patient.family_name.upper() not in html


@pytest.mark.django_db
def test_preparation_letter_has_appointment_location_and_preparation(desk):
    procedure = ProcedureTypeFactory(preparation="Nothing to eat for 6 hours.")
    exam = make_booked_exam(start=tomorrow_at(9, 30), procedure_types=[procedure])
    html = desk.get(reverse("scheduling:exam_letter", args=[exam.pk])).content.decode()
    assert "Nothing to eat for 6 hours." in html
    assert "09:30" in html
    assert exam.room.name in html
    assert "@media print" not in html  # print rules live in the stylesheet


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["scheduling:board", "scheduling:patient_register"])
def test_billing_clerk_cannot_open_front_desk_pages(client_for, name):
    assert client_for(Role.BILLING).get(reverse(name)).status_code == 403


@pytest.mark.django_db
def test_booking_page_points_to_the_next_day_with_a_free_slot(desk):
    procedure = ProcedureTypeFactory()
    room = RoomFactory(modality=procedure.modality, open_all_week=False)
    day = timezone.localdate() + timedelta(days=1)
    open_day = day + timedelta(days=3)
    OpeningHours.objects.create(room=room, weekday=open_day.weekday(), opens_at=time(8), closes_at=time(12))
    exam = make_order(procedure_types=[procedure]).exams.get()
    response = desk.get(reverse("scheduling:exam_book", args=[exam.pk]), {"day": day.isoformat()})
    assert response.context["next_free_day"] == open_day
    assert f"?day={open_day.isoformat()}" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("span", ["day", "week"])
def test_board_escapes_names_from_the_data(desk, span):
    patient = PatientFactory(family_name="<script>alert(1)</script>", given_name='"Bobby"')
    make_booked_exam(start=tomorrow_at(10), patient=patient)
    html = desk.get(
        reverse("scheduling:board"), {"day": tomorrow_at(0).date().isoformat(), "span": span}
    ).content.decode()
    assert "<script>alert(1)" not in html.lower()
    assert "&lt;SCRIPT&gt;ALERT(1)&lt;/SCRIPT&gt;" in html


@pytest.mark.django_db
@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "2026-02-30", "tomorrow"])
def test_board_and_booking_answer_a_bad_day_with_a_message(desk, day):
    exam = make_order().exams.get()
    for url in (reverse("scheduling:board"), reverse("scheduling:exam_book", args=[exam.pk])):
        response = desk.get(url, {"day": day})
        assert response.status_code == 200
        assert response.context["day"] == timezone.localdate()
        assert "showing today" in response.content.decode()


@pytest.mark.django_db
def test_help_texts_are_what_the_inputs_point_to_for_screen_readers(client_for):
    page = client_for(Role.FRONT_DESK).get(reverse("scheduling:patient_register")).content.decode()
    described = re.findall(r'aria-describedby="([^"]+)"', page)
    assert described  # the MRN and phone fields have help texts
    for target in described:
        assert f'id="{target}"' in page


@pytest.mark.django_db
def test_order_page_puts_the_recently_most_ordered_procedures_first_and_lists_each_once(desk):
    knee, head, spine, _unused = (ProcedureTypeFactory(name=name) for name in ("Knee", "Head", "Spine", "Unused"))
    for procedure, times in ((knee, 3), (head, 1), (spine, 5)):
        for _ in range(times):
            make_order(procedure_types=[procedure])
    # Spine's orders are old: they no longer count.
    Order.objects.filter(exams__procedure_type=spine).update(created_at=timezone.now() - timedelta(days=91))
    response = desk.get(reverse("scheduling:order_create", args=[PatientFactory().pk]))
    groups = response.context["procedure_groups"]
    assert [(group.label, [item.procedure.name for item in group.choices]) for group in groups] == [
        ("Most ordered", ["Knee", "Head"]),
        ("CT · Computed Tomography", ["Spine", "Unused"]),
    ]
