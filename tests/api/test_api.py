"""The REST API: the same rules as the pages (services), role checks per endpoint, field errors, a valid schema."""

import base64
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone
from openapi_spec_validator import validate
from rest_framework.test import APIClient

from ris.models import Patient, ProcedureType, Role
from scheduling.models import Exam, Order
from tests.factories import (
    TEST_PASSWORD,
    ModalityFactory,
    PatientFactory,
    ProcedureTypeFactory,
    RoomFactory,
    UserFactory,
    make_completed_exam,
    make_order,
)

pytestmark = pytest.mark.django_db

LISTS = [
    "patients",
    "physicians",
    "modalities",
    "rooms",
    "procedure-types",
    "orders",
    "exams",
    "reports",
    "charges",
    "claims",
]
# Who may list what: everyone reads patients and the catalog; billing reads no reports; only billing reads charges.
READERS = {
    Role.FRONT_DESK: set(LISTS) - {"charges", "claims"},
    Role.TECHNOLOGIST: set(LISTS) - {"charges", "claims"},
    Role.RADIOLOGIST: set(LISTS) - {"charges", "claims"},
    Role.BILLING: set(LISTS) - {"reports"},
    Role.ADMIN: set(LISTS),
}


def api_for(role: Role) -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(role=role))
    return client


def tomorrow_at(hour: int) -> datetime:
    day = timezone.localdate() + timedelta(days=1)
    return datetime.combine(day, time(hour), tzinfo=timezone.get_current_timezone())


@pytest.mark.parametrize("role", list(READERS))
def test_each_role_reads_its_own_endpoints_and_no_other(role):
    client = api_for(role)
    for name in LISTS:
        expected = 200 if name in READERS[role] else 403
        assert client.get(f"/api/{name}/").status_code == expected, (role, name)


def test_nobody_signed_in_gets_401_or_403_not_the_login_page():
    for name in LISTS:
        response = APIClient().get(f"/api/{name}/")
        assert response.status_code in (401, 403), name
        assert "login" not in response.get("Location", "")


def test_the_schema_is_valid_openapi_3_and_the_docs_are_served_without_a_cdn():
    client = APIClient()
    schema = client.get("/api/schema/", {"format": "json"}).json()
    validate(schema)
    assert schema["openapi"].startswith("3.")
    assert {"/api/patients/", "/api/exams/{id}/book/", "/api/reports/{id}/sign/"} <= set(schema["paths"])
    docs = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs
    assert "cdn" not in docs.lower()


def test_the_front_desk_registers_a_patient_and_bad_input_gets_field_errors():
    client = api_for(Role.FRONT_DESK)
    created = client.post(
        "/api/patients/", {"family_name": "Müller", "given_name": "Jürgen", "birth_date": "1961-04-02", "sex": "M"}
    )
    assert created.status_code == 201, created.content
    patient = Patient.objects.get()
    assert created.json()["mrn"] == patient.mrn != ""
    assert patient.history.get().history_actor.startswith("user")
    assert [p["id"] for p in client.get("/api/patients/", {"q": "mull jur"}).json()["results"]] == [patient.pk]

    bad = client.post("/api/patients/", {"given_name": "X", "birth_date": "2999-01-01", "sex": "Q"})
    assert bad.status_code == 400
    assert set(bad.json()) >= {"family_name", "birth_date", "sex"}
    assert client.patch(f"/api/patients/{patient.pk}/", {"mrn": "OTHER"}).json() == {
        "mrn": ["An MRN is fixed once registered."]
    }
    assert api_for(Role.BILLING).patch(f"/api/patients/{patient.pk}/", {"given_name": "Y"}).status_code == 403
    assert Patient.objects.count() == 1


def test_an_order_is_entered_booked_checked_in_and_a_taken_slot_is_refused():
    client = api_for(Role.FRONT_DESK)
    procedure = ProcedureTypeFactory()
    room = RoomFactory(modality=procedure.modality)
    patient = PatientFactory()
    order = client.post(
        "/api/orders/",
        {"patient": patient.pk, "procedure_types": [procedure.pk, procedure.pk], "diagnosis_codes": ["R51.9"]},
        format="json",
    )
    assert order.status_code == 201, order.content
    first, second = (exam["id"] for exam in order.json()["exams"])
    booked = client.post(f"/api/exams/{first}/book/", {"room": room.pk, "start": tomorrow_at(9).isoformat()})
    assert (booked.status_code, booked.json()["status"]) == (200, "SCHEDULED")
    clash = client.post(f"/api/exams/{second}/book/", {"room": room.pk, "start": tomorrow_at(9).isoformat()})
    assert clash.status_code == 400
    assert "This slot is no longer free" in str(clash.json())
    # booked for tomorrow: checked in today only as an early arrival, with its reason
    early = client.post(f"/api/exams/{first}/check-in/")
    assert early.status_code == 400
    assert "arrived early" in str(early.json())
    checked_in = client.post(f"/api/exams/{first}/check-in/", {"early_reason": "came a day early, slot free"})
    assert checked_in.json()["status"] == "ARRIVED"
    assert (
        Exam.objects.get(pk=first).history.latest().history_change_reason
        == "arrived early: came a day early, slot free"
    )
    assert "reason" in client.post(f"/api/exams/{second}/cancel/", {}).json()
    assert client.post(f"/api/exams/{second}/cancel/", {"reason": "Duplicate"}).json()["status"] == "CANCELLED"
    assert api_for(Role.TECHNOLOGIST).post(f"/api/exams/{second}/check-in/").status_code == 403
    assert Exam.objects.get(pk=first).history.latest().history_actor.startswith("user")


def last_friday_at(hour: int) -> datetime:
    today = timezone.localdate()
    friday = today - timedelta(days=(today.weekday() - 4) % 7 or 7)
    return datetime.combine(friday, time(hour), tzinfo=timezone.get_current_timezone())


def test_booking_or_rescheduling_into_the_past_is_refused_with_a_clear_message():
    client = api_for(Role.FRONT_DESK)
    procedure = ProcedureTypeFactory()
    room = RoomFactory(modality=procedure.modality)
    exam = make_order(procedure_types=[procedure]).exams.get()
    past = client.post(f"/api/exams/{exam.pk}/book/", {"room": room.pk, "start": last_friday_at(10).isoformat()})
    assert past.status_code == 400
    assert "is in the past: an exam can only be booked from now on" in str(past.json())
    assert Exam.objects.get(pk=exam.pk).status == Exam.Status.ORDERED
    booked = client.post(f"/api/exams/{exam.pk}/book/", {"room": room.pk, "start": tomorrow_at(10).isoformat()})
    assert booked.status_code == 200
    moved = client.post(f"/api/exams/{exam.pk}/reschedule/", {"room": room.pk, "start": last_friday_at(11).isoformat()})
    assert moved.status_code == 400
    assert "is in the past" in str(moved.json())
    assert Exam.objects.get(pk=exam.pk).scheduled_start == tomorrow_at(10)


def test_orders_refuse_bad_codes_and_filters_refuse_bad_values():
    client = api_for(Role.FRONT_DESK)
    bad = client.post(
        "/api/orders/",
        {"patient": PatientFactory().pk, "procedure_types": [ProcedureTypeFactory().pk], "diagnosis_codes": ["123"]},
        format="json",
    )
    assert bad.status_code == 400
    assert "diagnosis_codes" in bad.json()
    assert client.post("/api/orders/", {"patient": 10**9, "procedure_types": []}, format="json").status_code == 400
    assert client.get("/api/exams/", {"status": "NOT-A-STATUS"}).status_code == 400
    assert client.get("/api/exams/", {"scheduled_from": "yesterday"}).status_code == 400
    assert Order.objects.count() == 0


def test_exams_filter_by_status_and_modality():
    done = make_completed_exam()
    client = api_for(Role.TECHNOLOGIST)
    rows = client.get("/api/exams/", {"status": "COMPLETED", "modality": done.procedure_type.modality.code}).json()
    assert [row["id"] for row in rows["results"]] == [done.pk]
    assert client.get("/api/exams/", {"status": "SCHEDULED"}).json()["results"] == []


def test_administrators_load_the_catalog_others_cannot():
    modality = ModalityFactory(code="MR", name="Magnetic Resonance")
    body = {"code": "MRBRAIN", "name": "MR brain", "modality": "MR", "cpt_code": "70551", "body_part": "HEAD"}
    assert api_for(Role.FRONT_DESK).post("/api/procedure-types/", body).status_code == 403
    admin = api_for(Role.ADMIN)
    assert admin.post("/api/procedure-types/", body).status_code == 201
    assert ProcedureType.objects.get(code="MRBRAIN").modality == modality
    assert "cpt_code" in admin.post("/api/procedure-types/", {**body, "code": "X", "cpt_code": "7055"}).json()
    assert "code" in admin.post("/api/procedure-types/", body).json()  # unique


def test_a_script_signs_in_with_http_basic():
    user = UserFactory(role=Role.FRONT_DESK)
    basic = base64.b64encode(f"{user.username}:{TEST_PASSWORD}".encode()).decode()
    assert APIClient(HTTP_AUTHORIZATION=f"Basic {basic}").get("/api/patients/").status_code == 200
    assert (
        APIClient(HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"x:y").decode()).get("/api/patients/").status_code
        == 401
    )
