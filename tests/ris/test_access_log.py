"""The PHI access log: every look at a patient, order, exam or report leaves a record; administrators search it;
nobody changes it."""

import base64

import pytest
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, transaction
from django.urls import reverse
from rest_framework.test import APIClient

from reporting.services import critical_flag, report_save_draft
from ris.models import AccessRecord, Role
from tests.factories import (
    TEST_PASSWORD,
    InboundMessageFactory,
    OutboundMessageFactory,
    PatientFactory,
    UserFactory,
    make_completed_exam,
    make_order,
    make_radiologist,
)
from worklist.models import PerformedProcedureStep

pytestmark = pytest.mark.django_db


def records(**filters) -> list[tuple]:
    rows = AccessRecord.objects.filter(**filters).order_by("id")
    return list(rows.values_list("username", "channel", "kind", "object_id", "patient_id"))


@pytest.fixture
def exam():
    return make_completed_exam()


def test_pages_record_who_saw_which_patient_order_and_exam(client, exam):
    clerk = UserFactory(role=Role.FRONT_DESK)
    client.force_login(clerk)
    order, patient = exam.order, exam.order.patient
    for url in (
        reverse("scheduling:patient", args=[patient.pk]),
        reverse("scheduling:order", args=[order.pk]),
        reverse("scheduling:exam", args=[exam.pk]),
    ):
        assert client.get(url, REMOTE_ADDR="10.1.2.3").status_code == 200
    assert records() == [
        (clerk.username, "page", "patient", patient.pk, patient.pk),
        (clerk.username, "page", "order", order.pk, patient.pk),
        (clerk.username, "page", "exam", exam.pk, patient.pk),
    ]
    first = AccessRecord.objects.order_by("id").first()
    assert first.user == clerk
    assert first.address == "10.1.2.3"
    assert first.method == "GET"
    assert first.path == f"/scheduling/patients/{patient.pk}/"


def test_the_report_editor_records_the_exam_and_its_report(client, exam):
    radiologist = make_radiologist()
    report = report_save_draft(exam=exam, user=radiologist, sections={"findings": "Normal."})
    client.force_login(radiologist)
    assert client.get(reverse("reporting:editor", args=[exam.pk])).status_code == 200
    patient = exam.order.patient.pk
    assert records() == [
        (radiologist.username, "page", "exam", exam.pk, patient),
        (radiologist.username, "page", "report", report.pk, patient),
    ]


def test_a_search_records_each_patient_it_listed(client):
    found = [PatientFactory(family_name="Zabriskie"), PatientFactory(family_name="Zabriskie")]
    PatientFactory(family_name="Other")
    clerk = UserFactory(role=Role.FRONT_DESK)
    client.force_login(clerk)
    assert client.get(reverse("scheduling:home"), {"q": "zabrisk"}).status_code == 200
    assert sorted(record[3] for record in records(kind="patient")) == sorted(patient.pk for patient in found)


def test_a_refused_request_records_nothing(client, exam):
    client.force_login(UserFactory(role=Role.BILLING))
    assert client.get(reverse("scheduling:patient", args=[exam.order.patient.pk])).status_code == 403
    client.logout()
    assert client.get(reverse("scheduling:patient", args=[exam.order.patient.pk])).status_code == 302
    assert records() == []


def test_a_change_is_not_a_view(client, exam):
    """Writes leave history rows; the access log holds reads."""
    clerk = UserFactory(role=Role.FRONT_DESK)
    client.force_login(clerk)
    response = client.post(reverse("scheduling:exam_cancel", args=[exam.pk]), {"reason": "Patient asked"})
    assert response.status_code in (200, 302)
    assert records() == []


def test_the_api_records_a_read_and_each_row_of_a_list(exam):
    user = UserFactory(role=Role.TECHNOLOGIST)
    basic = base64.b64encode(f"{user.username}:{TEST_PASSWORD}".encode()).decode()
    api = APIClient(HTTP_AUTHORIZATION=f"Basic {basic}")
    other = make_order()
    patient = exam.order.patient.pk
    assert api.get(f"/api/exams/{exam.pk}/").status_code == 200
    assert records() == [(user.username, "api", "exam", exam.pk, patient)]
    assert api.get("/api/orders/").status_code == 200
    listed = records(kind="order")
    assert {(row[3], row[4]) for row in listed} == {(exam.order.pk, patient), (other.pk, other.patient.pk)}
    assert {row[1] for row in listed} == {"api"}


def test_fhir_records_each_resource_it_returned(exam):
    user = UserFactory(role=Role.RADIOLOGIST)
    api = APIClient()
    api.force_authenticate(user)
    patient = exam.order.patient
    assert api.get(f"/fhir/r4/Patient/{patient.pk}").status_code == 200
    assert api.get("/fhir/r4/ServiceRequest", {"patient": patient.pk}).status_code == 200
    assert records() == [
        (user.username, "fhir", "patient", patient.pk, patient.pk),
        (user.username, "fhir", "exam", exam.pk, patient.pk),
    ]


def test_administrators_search_the_log_by_user_and_by_patient(client, exam):
    clerk, technologist = UserFactory(role=Role.FRONT_DESK), UserFactory(role=Role.TECHNOLOGIST)
    other = PatientFactory()
    client.force_login(clerk)
    client.get(reverse("scheduling:patient", args=[exam.order.patient.pk]))
    client.get(reverse("scheduling:patient", args=[other.pk]))
    client.force_login(technologist)
    client.get(reverse("scheduling:exam", args=[exam.pk]))

    client.force_login(UserFactory(role=Role.ADMIN))
    url = reverse("ris:access_log")
    by_user = client.get(url, {"username": clerk.username})
    assert [record.username for record, _ in by_user.context["rows"]] == [clerk.username, clerk.username]
    by_patient = client.get(url, {"mrn": exam.order.patient.mrn})
    assert {(record.username, record.kind) for record, _ in by_patient.context["rows"]} == {
        (clerk.username, "patient"),
        (technologist.username, "exam"),
    }
    assert exam.order.patient.mrn in by_patient.content.decode()
    assert client.get(url, {"date_from": "2026-02-30"}).context["page"] is None  # a bad date: an error, no rows


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.TECHNOLOGIST, Role.RADIOLOGIST, Role.BILLING])
def test_only_administrators_read_the_log(client, role):
    client.force_login(UserFactory(role=role))
    assert client.get(reverse("ris:access_log")).status_code == 403


def test_the_log_cannot_be_changed_through_the_application(client, exam):
    clerk = UserFactory(role=Role.FRONT_DESK)
    client.force_login(clerk)
    client.get(reverse("scheduling:patient", args=[exam.order.patient.pk]))
    record = AccessRecord.objects.get()
    record.username = "someone-else"
    with pytest.raises(PermissionDenied):
        record.save()
    with pytest.raises(PermissionDenied):
        record.delete()
    admin = UserFactory(role=Role.ADMIN, is_staff=True, is_superuser=True)
    client.force_login(admin)
    change = reverse("admin:ris_accessrecord_change", args=[record.pk])
    assert client.get(change).status_code == 200  # view only
    posted = client.post(change, {"username": "someone-else"})
    assert posted.status_code == 403
    assert client.post(reverse("admin:ris_accessrecord_delete", args=[record.pk]), {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:ris_accessrecord_add")).status_code == 403
    assert AccessRecord.objects.get().username == clerk.username


def test_the_database_refuses_to_change_a_record_even_past_the_model(client, exam):
    """A queryset update bypasses the model's save(): the database's trigger (ris migration 0008) refuses it."""
    client.force_login(UserFactory(role=Role.FRONT_DESK))
    client.get(reverse("scheduling:patient", args=[exam.order.patient.pk]))
    record = AccessRecord.objects.get()
    for change in ({"username": "someone-else"}, {"patient_id": 0}, {"at": record.at.replace(year=2000)}):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AccessRecord.objects.filter(pk=record.pk).update(**change)
    assert records() == [(record.username, "page", "patient", exam.order.patient.pk, exam.order.patient.pk)]


def test_the_database_refuses_to_delete_a_record(postgresql, client, exam):
    """(PostgreSQL only: SQLite's test flush empties tables with DELETE, so its trigger refuses updates only.)"""
    client.force_login(UserFactory(role=Role.FRONT_DESK))
    client.get(reverse("scheduling:patient", args=[exam.order.patient.pk]))
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AccessRecord.objects.all().delete()
    assert AccessRecord.objects.count() == 1


def test_a_deleted_account_leaves_its_records_with_the_username(client, exam):
    clerk = UserFactory(role=Role.FRONT_DESK)
    client.force_login(clerk)
    client.get(reverse("scheduling:patient", args=[exam.order.patient.pk]))
    client.logout()
    clerk.delete()
    record = AccessRecord.objects.get()
    assert (record.user_id, record.username) == (None, clerk.username)


def test_the_django_admin_pages_of_a_patient_order_and_exam_are_logged_too(client, exam):
    admin = UserFactory(role=Role.ADMIN, is_staff=True, is_superuser=True)
    client.force_login(admin)
    patient, order = exam.order.patient, exam.order
    for url in (
        reverse("admin:ris_patient_change", args=[patient.pk]),
        reverse("admin:scheduling_order_change", args=[order.pk]),
        reverse("admin:scheduling_exam_change", args=[exam.pk]),
    ):
        assert client.get(url).status_code == 200
    assert records() == [
        (admin.username, "page", "patient", patient.pk, patient.pk),
        (admin.username, "page", "order", order.pk, patient.pk),
        (admin.username, "page", "exam", exam.pk, patient.pk),
    ]


def test_a_search_is_logged_without_the_name_it_was_for(client):
    PatientFactory(family_name="Zabriskie")
    client.force_login(UserFactory(role=Role.FRONT_DESK))
    assert client.get(reverse("scheduling:home"), {"q": "Zabriskie", "page": "1"}).status_code == 200
    assert list(AccessRecord.objects.values_list("path", flat=True)) == ["/scheduling/?q=*&page=1"]


def test_the_editor_shown_again_after_a_wrong_password_is_logged(client, exam):
    attending = make_radiologist(attending=True)
    report = report_save_draft(exam=exam, user=attending, sections={"impression": "Normal."})
    client.force_login(attending)
    response = client.post(reverse("reporting:sign", args=[exam.pk]), {"password": "not the password"})
    assert response.status_code == 200  # the editor again, with the error
    patient = exam.order.patient.pk
    assert records(method="POST") == [
        (attending.username, "page", "exam", exam.pk, patient),
        (attending.username, "page", "report", report.pk, patient),
    ]


def test_the_editors_background_posts_are_not_reads(client, exam):
    radiologist = make_radiologist()
    report_save_draft(exam=exam, user=radiologist, sections={"findings": "Normal."})
    client.force_login(radiologist)
    assert client.post(reverse("reporting:keep_claim", args=[exam.pk])).status_code == 200
    assert client.post(reverse("reporting:autosave", args=[exam.pk]), {"findings": "Still normal."}).status_code == 302
    assert records() == []


def test_the_critical_results_list_records_each_report_it_lists(client, exam):
    radiologist = make_radiologist()
    report = report_save_draft(exam=exam, user=radiologist, sections={"findings": "Pneumothorax."})
    critical_flag(report=report, user=radiologist, category="RED", description="Tension pneumothorax")
    client.force_login(radiologist)
    assert client.get(reverse("reports:critical")).status_code == 200
    assert records() == [(radiologist.username, "page", "report", report.pk, exam.order.patient.pk)]


def test_the_reconcile_list_records_the_patients_the_modalities_named(client):
    patient = PatientFactory(mrn="TYPED1")
    PerformedProcedureStep.objects.create(sop_instance_uid="1.2.3", status="COMPLETED", patient_id="TYPED1")
    PerformedProcedureStep.objects.create(sop_instance_uid="1.2.4", status="COMPLETED", patient_id="UNKNOWN9")
    desk = UserFactory(role=Role.FRONT_DESK)
    client.force_login(desk)
    assert client.get(reverse("worklist:reconcile_list")).status_code == 200
    assert records() == [(desk.username, "page", "patient", patient.pk, patient.pk)]


def test_the_raw_hl7_message_pages_record_their_patient_and_exam(client, exam):
    patient = exam.order.patient
    inbound = InboundMessageFactory(mrn=patient.mrn, accession_number=exam.accession_number)
    outbound = OutboundMessageFactory(mrn=patient.mrn, accession_number=exam.accession_number)
    admin = UserFactory(role=Role.ADMIN)
    client.force_login(admin)
    for url in (
        reverse("interfaces:inbound_message", args=[inbound.pk]),
        reverse("interfaces:outbound_message", args=[outbound.pk]),
    ):
        assert client.get(url).status_code == 200
    assert records() == 2 * [
        (admin.username, "page", "patient", patient.pk, patient.pk),
        (admin.username, "page", "exam", exam.pk, patient.pk),
    ]
