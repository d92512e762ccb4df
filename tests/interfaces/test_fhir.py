"""FHIR R4 read and search under /fhir/r4/: every resource the tests receive is validated with fhir.resources' R4
models (R4B package: the R4 family), and the codes that validation does not check (status, gender, intent, bundle
type, category) are asserted here."""

import base64
from datetime import datetime, time, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.imagingstudy import ImagingStudy
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.servicerequest import ServiceRequest

from interfaces.fhir import resources
from reporting.services import (
    addendum_save,
    addendum_sign,
    report_save_draft,
    report_sign_final,
    report_sign_preliminary,
)
from ris.models import Role
from ris.services import patient_merge
from scheduling.models import ExamStatus
from scheduling.services import exam_cancel
from tests.factories import (
    TEST_ACTOR,
    TEST_PASSWORD,
    PatientFactory,
    ProcedureTypeFactory,
    ReferringPhysicianFactory,
    UserFactory,
    make_booked_exam,
    make_completed_exam,
    make_order,
    make_radiologist,
)

pytestmark = pytest.mark.django_db

FHIR_JSON = "application/fhir+json; charset=utf-8"
MODELS = {
    model.__name__ if model is not FhirPatient else "Patient": model
    for model in (
        Appointment,
        Bundle,
        CapabilityStatement,
        DiagnosticReport,
        ImagingStudy,
        OperationOutcome,
        FhirPatient,
        ServiceRequest,
    )
}
RESOURCE_TYPES = ["Patient", "ServiceRequest", "Appointment", "ImagingStudy", "DiagnosticReport"]
CLINICAL_ROLES = [Role.FRONT_DESK, Role.TECHNOLOGIST, Role.RADIOLOGIST, Role.ADMIN]


def validated(data: dict) -> dict:
    """`data` checked against its R4 model, and each entry of a Bundle against its own."""
    MODELS[data["resourceType"]].model_validate(data)
    for entry in data.get("entry", []):
        MODELS[entry["resource"]["resourceType"]].model_validate(entry["resource"])
    return data


def basic(user) -> dict:
    token = base64.b64encode(f"{user.username}:{TEST_PASSWORD}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


def fhir(client, url: str, status: int = 200, **extra) -> dict:
    """GET `url`: the status, FHIR JSON, and a valid resource (an OperationOutcome for any error)."""
    response = client.get(url, **extra)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == FHIR_JSON
    data = validated(response.json())
    if status >= 400:
        assert data["resourceType"] == "OperationOutcome"
        assert data["issue"][0]["severity"] == "error"
    return data


def resources_of(bundle: dict) -> list[dict]:
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "searchset"
    assert bundle["link"][0]["relation"] == "self"
    for entry in bundle.get("entry", []):
        assert entry["search"] == {"mode": "match"}
        resource = entry["resource"]
        assert entry["fullUrl"] == f"http://testserver/fhir/r4/{resource['resourceType']}/{resource['id']}"
    return [entry["resource"] for entry in bundle.get("entry", [])]


def identifier(resource: dict, type_code: str) -> str:
    """The value of the resource's identifier of a v2-0203 type (ACSN, FILL, MR)."""
    typed = {i["type"]["coding"][0]["code"]: i for i in resource["identifier"] if "type" in i}
    assert typed[type_code]["type"]["coding"][0]["system"] == "http://terminology.hl7.org/CodeSystem/v2-0203"
    return typed[type_code]["value"]


@pytest.fixture
def desk():
    """A front desk client signing in with HTTP Basic on each request, as a clinical system does."""
    return Client(**basic(UserFactory(role=Role.FRONT_DESK)))


@pytest.fixture
def muller():
    return PatientFactory(
        family_name="Müller",
        given_name="Jürgen",
        middle_name="K",
        name_prefix="Dr",
        sex="M",
        birth_date=datetime(1970, 1, 2).date(),
        street="Hauptstr. 1",
        city="Berlin",
        postal_code="10115",
        country="DE",
        phone="+49 30 1234567",
    )


@pytest.fixture
def attending():
    return make_radiologist(attending=True)


def sign_final(exam, attending, impression: str = "No acute intracranial abnormality."):
    report = report_save_draft(exam=exam, user=attending, sections={"findings": "Normal.", "impression": impression})
    return report_sign_final(report=report, user=attending, password=TEST_PASSWORD)


def at(days: int, hour: int) -> datetime:
    day = timezone.localdate() + timedelta(days=days)
    return datetime.combine(day, time(hour), tzinfo=timezone.get_current_timezone())


# --- Patient -----------------------------------------------------------------------------------------------------


def test_a_patient_is_found_by_name_ignoring_accents_over_basic_auth(desk, muller):
    PatientFactory(family_name="Smith", given_name="Mary")
    response = desk.get("/fhir/r4/Patient?name=muller")
    assert response.status_code == 200
    assert response["Content-Type"] == FHIR_JSON
    bundle = validated(response.json())
    assert bundle["total"] == 1
    [found] = resources_of(bundle)
    assert found["id"] == str(muller.pk)
    assert found["name"][0]["family"] == "Müller"
    assert found["name"][0]["given"] == ["Jürgen", "K"]
    assert found["name"][0]["prefix"] == ["Dr"]
    assert found["gender"] == "male"
    assert found["birthDate"] == "1970-01-02"
    assert found["active"] is True
    assert found["address"][0]["city"] == "Berlin"
    assert found["telecom"] == [{"system": "phone", "value": "+49 30 1234567", "use": "home"}]
    for query in ("name=MÜLLER", "name=jur%20mul", "family=mull", "given=JURG", "birthdate=1970-01-02"):
        assert fhir(desk, f"/fhir/r4/Patient?{query}")["total"] == 1, query
    for query in ("family=jurgen", "given=muller", "name=mary%20muller", "birthdate=1970-01-03", "gender=female"):
        assert fhir(desk, f"/fhir/r4/Patient?{query}&family=muller")["total"] == 0, query


def test_a_patient_is_read_by_id_and_found_by_mrn_with_or_without_its_system(desk, muller, settings):
    patient = fhir(desk, f"/fhir/r4/Patient/{muller.pk}")
    assert patient["resourceType"] == "Patient"
    [mrn] = patient["identifier"]
    assert mrn["system"] == f"urn:ris:mrn:{settings.RIS_MRN_ISSUER}"
    assert mrn["value"] == muller.mrn
    assert mrn["type"]["coding"][0]["code"] == "MR"
    for query in (muller.mrn, f"urn:ris:mrn:{settings.RIS_MRN_ISSUER}|{muller.mrn}"):
        [found] = resources_of(fhir(desk, f"/fhir/r4/Patient?identifier={query}"))
        assert found["id"] == str(muller.pk)
    assert fhir(desk, f"/fhir/r4/Patient?identifier=urn:ris:mrn:ELSEWHERE|{muller.mrn}")["total"] == 0
    assert fhir(desk, f"/fhir/r4/Patient?_id={muller.pk}")["total"] == 1


def test_a_merged_record_is_inactive_and_links_to_its_survivor(desk):
    source, survivor = PatientFactory(), PatientFactory()
    patient_merge(source=source, target=survivor, acting_user=TEST_ACTOR)
    merged = fhir(desk, f"/fhir/r4/Patient/{source.pk}")
    assert merged["active"] is False
    survivor_reference = {"reference": f"Patient/{survivor.pk}", "type": "Patient"}
    assert merged["link"] == [{"other": survivor_reference, "type": "replaced-by"}]
    kept = fhir(desk, f"/fhir/r4/Patient/{survivor.pk}")
    assert kept["active"] is True
    assert kept["link"][0]["type"] == "replaces"
    assert fhir(desk, f"/fhir/r4/Patient?_id={source.pk},{survivor.pk}&active=true")["total"] == 1


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/fhir/r4/Patient/999999", 404, "not-found"),
        ("/fhir/r4/Patient/not-a-number", 404, "not-found"),
        ("/fhir/r4/Medication", 404, "not-found"),
        ("/fhir/r4/Observation/1", 404, "not-found"),
        ("/fhir/r4/", 404, "not-found"),
        ("/fhir/r4/Patient?shoe_size=42", 400, "not-supported"),
        ("/fhir/r4/Patient?name:exact=Muller", 400, "not-supported"),
        ("/fhir/r4/Patient?birthdate=1970-13-01", 400, "invalid"),
        ("/fhir/r4/Patient?birthdate=ap1970-01-01", 400, "invalid"),
        ("/fhir/r4/Patient?birthdate=1970-01-01T10:00", 400, "invalid"),
        ("/fhir/r4/Patient?name=", 400, "invalid"),
        ("/fhir/r4/Patient?gender=robot", 400, "invalid"),
        ("/fhir/r4/Patient?_count=-1", 400, "invalid"),
        ("/fhir/r4/Appointment?date=tomorrow", 400, "invalid"),
        ("/fhir/r4/Appointment?actor=Location/1", 400, "invalid"),
        ("/fhir/r4/ServiceRequest?status=booked", 400, "invalid"),
        ("/fhir/r4/ServiceRequest?patient=Practitioner/1", 400, "invalid"),
        ("/fhir/r4/DiagnosticReport?status=nearly", 400, "invalid"),
        ("/fhir/r4/Patient?_format=xml", 406, "not-supported"),
    ],
)
def test_what_is_not_understood_gets_an_operation_outcome_with_its_status(desk, url, status, code):
    outcome = fhir(desk, url, status)
    assert outcome["issue"][0]["code"] == code
    assert outcome["issue"][0]["diagnostics"]


def test_unknown_parameters_are_left_out_only_when_the_client_asks_for_lenient_handling(desk, muller):
    bundle = fhir(desk, "/fhir/r4/Patient?name=muller&_sort=family&name:exact=x", HTTP_PREFER="handling=lenient")
    assert bundle["total"] == 1
    assert bundle["link"] == [{"relation": "self", "url": "http://testserver/fhir/r4/Patient?name=muller"}]
    fhir(desk, "/fhir/r4/Patient?name=muller&_sort=family", 400, HTTP_PREFER="handling=strict")
    fhir(desk, "/fhir/r4/Patient?birthdate=soon", 400, HTTP_PREFER="handling=lenient")  # a bad value still is


def test_json_is_served_whatever_json_name_is_asked_for_and_xml_alone_is_refused(desk):
    assert fhir(desk, "/fhir/r4/Patient?_format=json")["type"] == "searchset"
    assert fhir(desk, "/fhir/r4/Patient?_format=application/fhir%2Bjson")["type"] == "searchset"
    assert fhir(desk, "/fhir/r4/Patient", HTTP_ACCEPT="application/json")["type"] == "searchset"
    fhir(desk, "/fhir/r4/Patient", 406, HTTP_ACCEPT="application/fhir+xml")


def test_nobody_signed_in_gets_401_with_a_basic_challenge_not_the_login_page(muller):
    for url in ("/fhir/r4/Patient?name=muller", f"/fhir/r4/Patient/{muller.pk}", "/fhir/r4/Observation"):
        response = Client().get(url)
        assert response.status_code == 401, url
        assert response["WWW-Authenticate"].startswith("Basic")
        assert "login" not in response.get("Location", "")
        assert validated(response.json())["issue"][0]["code"] == "login"
    user = UserFactory(role=Role.FRONT_DESK)
    wrong = base64.b64encode(f"{user.username}:wrong".encode()).decode()
    fhir(Client(), "/fhir/r4/Patient", 401, HTTP_AUTHORIZATION=f"Basic {wrong}")


def test_writes_are_not_supported(muller):
    client = Client(**basic(UserFactory(role=Role.ADMIN)))
    for method, url in [
        ("post", "/fhir/r4/Patient"),
        ("put", f"/fhir/r4/Patient/{muller.pk}"),
        ("patch", f"/fhir/r4/Patient/{muller.pk}"),
        ("delete", f"/fhir/r4/Patient/{muller.pk}"),
        ("options", "/fhir/r4/Patient"),
    ]:
        response = getattr(client, method)(url, data="{}", content_type="application/fhir+json")
        assert response.status_code == 405, (method, url)
        assert response["Allow"] == "GET, HEAD"
        assert validated(response.json())["issue"][0]["code"] == "not-supported"


def test_pages_follow_count_and_offset_with_next_and_previous_links(desk):
    PatientFactory.create_batch(5, family_name="Paged")
    first = fhir(desk, "/fhir/r4/Patient?family=paged&_count=2")
    assert first["total"] == 5
    assert len(resources_of(first)) == 2
    relations = {link["relation"]: link["url"] for link in first["link"]}
    assert set(relations) == {"self", "next"}
    assert parse_qs(urlparse(relations["next"]).query) == {"family": ["paged"], "_count": ["2"], "_offset": ["2"]}
    seen = [p["id"] for p in resources_of(first)]
    url = relations["next"]
    while url:
        page = fhir(desk, url)
        seen += [p["id"] for p in resources_of(page)]
        relations = {link["relation"]: link["url"] for link in page["link"]}
        assert "previous" in relations
        url = relations.get("next")
    assert len(seen) == len(set(seen)) == 5
    only_total = fhir(desk, "/fhir/r4/Patient?family=paged&_count=0")
    assert only_total["total"] == 5
    assert "entry" not in only_total
    assert len(resources_of(fhir(desk, "/fhir/r4/Patient?family=paged&_count=5000"))) == 5  # capped at 200, not refused


# --- ServiceRequest, Appointment, ImagingStudy ---------------------------------------------------------------------


@pytest.fixture
def booked(muller):
    return make_booked_exam(
        patient=muller,
        referring_physician=ReferringPhysicianFactory(),
        priority="URGENT",
        reason="Headache",
        diagnosis_codes=["R51.9"],
    )


def test_a_booked_exam_is_an_active_request_a_booked_appointment_and_a_registered_study(desk, booked, muller):
    order = booked.order
    request = fhir(desk, f"/fhir/r4/ServiceRequest/{booked.pk}")
    assert request["status"] == "active"
    assert request["intent"] == "order"
    assert request["priority"] == "urgent"
    assert request["subject"]["reference"] == f"Patient/{muller.pk}"
    assert request["code"]["coding"][0] == {"system": "http://www.ama-assn.org/go/cpt", "code": "70450"}
    assert request["code"]["text"] == booked.procedure_type.name
    assert identifier(request, "ACSN") == booked.accession_number
    assert identifier(request, "FILL") == order.filler_order_number
    assert request["requester"]["identifier"] == {
        "system": "http://hl7.org/fhir/sid/us-npi",
        "value": order.referring_physician.npi,
    }
    assert request["reasonCode"] == [
        {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "R51.9"}]},
        {"text": "Headache"},
    ]
    assert request["authoredOn"].startswith(timezone.localdate().isoformat())

    visit = fhir(desk, f"/fhir/r4/Appointment/{booked.pk}")
    assert visit["status"] == "booked"
    assert visit["minutesDuration"] == booked.procedure_type.default_duration_minutes
    assert datetime.fromisoformat(visit["start"]) == booked.scheduled_start
    assert datetime.fromisoformat(visit["end"]) == booked.scheduled_end
    assert visit["basedOn"] == [{"reference": f"ServiceRequest/{booked.pk}", "type": "ServiceRequest"}]
    patient, room = visit["participant"]
    assert patient["actor"]["reference"] == f"Patient/{muller.pk}"
    assert room["actor"]["reference"] == "#room"
    assert {patient["status"], room["status"]} == {"accepted"}
    assert visit["contained"][0]["resourceType"] == "Location"
    assert visit["contained"][0]["name"] == booked.room.name

    study = fhir(desk, f"/fhir/r4/ImagingStudy/{booked.pk}")
    assert study["status"] == "registered"
    assert {"system": "urn:dicom:uid", "value": f"urn:oid:{booked.study_instance_uid}", "use": "official"} in study[
        "identifier"
    ]
    assert identifier(study, "ACSN") == booked.accession_number
    assert study["modality"][0]["system"] == "http://dicom.nema.org/resources/ontology/DCM"
    assert study["modality"][0]["code"] == "CT"
    assert "started" not in study


def test_a_completed_exam_is_a_completed_request_a_fulfilled_appointment_and_an_available_study(desk):
    exam = make_completed_exam()
    assert fhir(desk, f"/fhir/r4/ServiceRequest/{exam.pk}")["status"] == "completed"
    assert fhir(desk, f"/fhir/r4/Appointment/{exam.pk}")["status"] == "fulfilled"
    study = fhir(desk, f"/fhir/r4/ImagingStudy/{exam.pk}")
    assert study["status"] == "available"
    assert datetime.fromisoformat(study["started"]) == exam.started_at.replace(microsecond=0)
    assert study["basedOn"][0]["reference"] == f"ServiceRequest/{exam.pk}"


def test_a_cancelled_exam_is_a_revoked_request_and_a_cancelled_appointment_and_study(desk, booked):
    exam_cancel(exam=booked, reason="Patient asked to cancel", acting_user=TEST_ACTOR)
    assert fhir(desk, f"/fhir/r4/ServiceRequest/{booked.pk}")["status"] == "revoked"
    visit = fhir(desk, f"/fhir/r4/Appointment/{booked.pk}")
    assert visit["status"] == "cancelled"
    assert visit["cancelationReason"] == {"text": "Patient asked to cancel"}
    assert fhir(desk, f"/fhir/r4/ImagingStudy/{booked.pk}")["status"] == "cancelled"


def test_an_order_of_two_procedures_is_two_service_requests_of_one_requisition(desk):
    order = make_order(procedure_types=[ProcedureTypeFactory(cpt_code="70450"), ProcedureTypeFactory(cpt_code="71250")])
    bundle = fhir(desk, f"/fhir/r4/ServiceRequest?requisition={order.filler_order_number}")
    found = resources_of(bundle)
    assert sorted(request["id"] for request in found) == sorted(str(exam.pk) for exam in order.exams.all())
    assert {request["code"]["coding"][0]["code"] for request in found} == {"70450", "71250"}
    # Each exam its own accession number (RIS_ACCESSION_PER=exam), the order's filler number their requisition.
    assert {identifier(request, "ACSN") for request in found} == {exam.accession_number for exam in order.exams.all()}
    assert len({identifier(request, "ACSN") for request in found}) == 2
    assert {request["requisition"]["value"] for request in found} == {order.filler_order_number}


def test_an_exam_not_booked_is_a_request_but_no_appointment(desk):
    exam = make_order().exams.get()
    assert fhir(desk, f"/fhir/r4/ServiceRequest/{exam.pk}")["status"] == "active"
    fhir(desk, f"/fhir/r4/Appointment/{exam.pk}", 404)
    assert fhir(desk, f"/fhir/r4/Appointment?based-on=ServiceRequest/{exam.pk}")["total"] == 0


@pytest.mark.parametrize("resource_type", ["ServiceRequest", "Appointment", "ImagingStudy"])
def test_exams_are_searched_by_patient_accession_and_status(desk, booked, muller, resource_type):
    other = make_completed_exam()
    accession = booked.accession_number
    for query in (
        f"patient={muller.pk}",
        f"patient=Patient/{muller.pk}",
        f"patient=http://testserver/fhir/r4/Patient/{muller.pk}",
        f"identifier={accession}",
        f"identifier=urn:ris:accession|{accession}",
        f"identifier={accession},NOT-AN-ACCESSION",
    ):
        found = resources_of(fhir(desk, f"/fhir/r4/{resource_type}?{query}"))
        assert [resource["id"] for resource in found] == [str(booked.pk)], query
    status = {"ServiceRequest": "completed", "Appointment": "fulfilled", "ImagingStudy": "available"}[resource_type]
    found = resources_of(fhir(desk, f"/fhir/r4/{resource_type}?status={status}"))
    assert [resource["id"] for resource in found] == [str(other.pk)]
    assert fhir(desk, f"/fhir/r4/{resource_type}?patient=999999")["total"] == 0
    assert fhir(desk, f"/fhir/r4/{resource_type}?identifier=urn:elsewhere|{accession}")["total"] == 0


def test_a_study_is_found_by_its_study_instance_uid(desk, booked):
    uid = booked.study_instance_uid
    for query in (f"urn:dicom:uid|urn:oid:{uid}", f"urn:oid:{uid}"):
        assert [s["id"] for s in resources_of(fhir(desk, f"/fhir/r4/ImagingStudy?identifier={query}"))] == [
            str(booked.pk)
        ]
    assert fhir(desk, f"/fhir/r4/ImagingStudy?basedon=ServiceRequest/{booked.pk}")["total"] == 1
    assert fhir(desk, "/fhir/r4/ImagingStudy?modality=MR")["total"] == 0
    assert fhir(desk, "/fhir/r4/ImagingStudy?modality=http://dicom.nema.org/resources/ontology/DCM|CT")["total"] == 1


def test_appointments_are_searched_by_start_date_with_prefixes(desk, muller):
    soon, later, latest = (make_booked_exam(patient=muller, start=at(days, 10)) for days in (1, 3, 6))

    def ids(query: str) -> list[str]:
        return [a["id"] for a in resources_of(fhir(desk, f"/fhir/r4/Appointment?{query}"))]

    day = (timezone.localdate() + timedelta(days=3)).isoformat()
    assert ids(f"date={day}") == [str(later.pk)]
    assert ids(f"date=eq{day}") == [str(later.pk)]
    assert ids(f"date=ge{day}") == [str(later.pk), str(latest.pk)]
    assert ids(f"date=le{day}") == [str(soon.pk), str(later.pk)]
    assert ids(f"date=gt{day}&actor=Patient/{muller.pk}") == [str(latest.pk)]
    assert ids(f"date=lt{day}") == [str(soon.pk)]
    assert ids(f"date=ge{day}&date=le{day}") == [str(later.pk)]
    assert ids(f"date=ne{day}") == [str(soon.pk), str(latest.pk)]
    assert ids(f"date=ge{day}T10:00:00&date=lt{day}T10:00:01") == [str(later.pk)]
    assert ids(f"date=gt{day}T10:00") == [str(latest.pk)]
    assert ids(f"status=booked&patient={muller.pk}") == [str(soon.pk), str(later.pk), str(latest.pk)]


def test_service_requests_are_searched_by_when_they_were_authored(desk, booked):
    today = timezone.localdate()
    assert fhir(desk, f"/fhir/r4/ServiceRequest?authored=ge{today.isoformat()}")["total"] == 1
    assert fhir(desk, f"/fhir/r4/ServiceRequest?authored=le{(today - timedelta(days=1)).isoformat()}")["total"] == 0
    assert fhir(desk, f"/fhir/r4/ServiceRequest?authored={today:%Y-%m}")["total"] == 1
    assert fhir(desk, f"/fhir/r4/ServiceRequest?authored={today.year}")["total"] == 1


# --- DiagnosticReport --------------------------------------------------------------------------------------------


def test_a_final_report_is_a_final_diagnostic_report_with_its_pdf(desk, attending, client_for):
    exam = make_completed_exam()
    report = sign_final(exam, attending)
    bundle = fhir(desk, f"/fhir/r4/DiagnosticReport?patient={exam.order.patient_id}")
    [found] = resources_of(bundle)
    assert found["id"] == str(report.pk)
    assert found["status"] == "final"
    assert {"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD", "display": "Radiology"} in found[
        "category"
    ][0]["coding"]
    assert {"system": "http://loinc.org", "code": "LP29684-5", "display": "Radiology"} in found["category"][0]["coding"]
    assert found["conclusion"] == "No acute intracranial abnormality."
    assert found["code"]["coding"][0]["code"] == exam.procedure_type.cpt_code
    assert found["subject"]["reference"] == f"Patient/{exam.order.patient_id}"
    assert found["basedOn"][0]["reference"] == f"ServiceRequest/{exam.pk}"
    assert found["imagingStudy"][0]["reference"] == f"ImagingStudy/{exam.pk}"
    assert found["resultsInterpreter"][0]["display"].startswith(attending.get_full_name())
    assert datetime.fromisoformat(found["issued"]) == report.signed_at.replace(microsecond=0)
    pdf, text = found["presentedForm"]
    assert pdf["contentType"] == "application/pdf"
    assert pdf["url"] == f"http://testserver/api/reports/{report.pk}/pdf/"
    assert "IMPRESSION:" in base64.b64decode(text["data"]).decode()
    response = desk.get(pdf["url"])  # the same HTTP Basic sign-in as the FHIR request, no session
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert client_for(Role.BILLING).get(pdf["url"]).status_code == 403
    assert fhir(desk, f"/fhir/r4/DiagnosticReport/{report.pk}")["status"] == "final"


def test_a_signed_addendum_makes_the_report_amended(desk, attending):
    exam = make_completed_exam()
    report = sign_final(exam, attending)
    addendum = addendum_save(report=report, user=attending, text="Comparison with prior CT: unchanged.")
    unsigned = fhir(desk, f"/fhir/r4/DiagnosticReport/{report.pk}")
    assert unsigned["status"] == "final"
    addendum = addendum_sign(addendum=addendum, user=attending, password=TEST_PASSWORD)
    amended = fhir(desk, f"/fhir/r4/DiagnosticReport/{report.pk}")
    assert amended["status"] == "amended"
    assert datetime.fromisoformat(amended["issued"]) == addendum.signed_at.replace(microsecond=0)
    assert "unchanged" in base64.b64decode(amended["presentedForm"][1]["data"]).decode()
    assert fhir(desk, "/fhir/r4/DiagnosticReport?status=amended")["total"] == 1
    assert fhir(desk, "/fhir/r4/DiagnosticReport?status=final")["total"] == 0
    assert fhir(desk, "/fhir/r4/DiagnosticReport?status=final,amended&category=RAD")["total"] == 1
    issued = addendum.signed_at.date().isoformat()
    assert fhir(desk, f"/fhir/r4/DiagnosticReport?issued=ge{issued}&date=le{issued}")["total"] == 1
    assert fhir(desk, f"/fhir/r4/DiagnosticReport?issued=gt{issued}")["total"] == 0


def test_draft_and_preliminary_reports_are_never_shown(attending):
    resident = make_radiologist(attending=False)
    draft = report_save_draft(exam=make_completed_exam(), user=attending, sections={"impression": "Draft."})
    preliminary = report_save_draft(exam=make_completed_exam(), user=resident, sections={"impression": "Prelim."})
    report_sign_preliminary(report=preliminary, user=resident)
    radiologist = Client(**basic(attending))  # radiologists read every report on the pages: not over FHIR
    assert fhir(radiologist, "/fhir/r4/DiagnosticReport")["total"] == 0
    for report in (draft, preliminary):
        fhir(radiologist, f"/fhir/r4/DiagnosticReport/{report.pk}", 404)
    assert fhir(radiologist, "/fhir/r4/DiagnosticReport?status=preliminary")["total"] == 0


# --- Roles -------------------------------------------------------------------------------------------------------


@pytest.fixture
def everything(muller, attending):
    exam = make_completed_exam(patient=muller)
    report = sign_final(exam, attending)
    ids = {"Patient": muller.pk, "DiagnosticReport": report.pk}
    urls = [f"/fhir/r4/{name}" for name in RESOURCE_TYPES]
    return urls + [f"/fhir/r4/{name}/{ids.get(name, exam.pk)}" for name in RESOURCE_TYPES]


def test_billing_clerks_get_403_on_every_fhir_endpoint(everything):
    billing = Client(**basic(UserFactory(role=Role.BILLING)))
    for url in [*everything, "/fhir/r4/Observation"]:
        assert fhir(billing, url, 403)["issue"][0]["code"] == "forbidden", url


@pytest.mark.parametrize("role", CLINICAL_ROLES)
def test_each_clinical_role_reads_every_resource(everything, role, client_for):
    session = client_for(role)  # a signed-in session works as well as Basic
    for url in everything:
        data = fhir(session, url)
        assert data.get("total", 1) == 1, url


def test_the_capability_statement_is_public_and_lists_every_search_parameter():
    statement = fhir(Client(), "/fhir/r4/metadata")
    assert statement["fhirVersion"] == "4.0.1"
    assert statement["kind"] == "instance"
    [rest] = statement["rest"]
    by_type = {resource["type"]: resource for resource in rest["resource"]}
    assert list(by_type) == [*RESOURCE_TYPES, "AllergyIntolerance", "Observation"]  # (test_fhir_clinical.py)
    names = {name: {p["name"] for p in resource["searchParam"]} for name, resource in by_type.items()}
    assert {"identifier", "name", "family", "given", "birthdate", "_id", "_count"} <= names["Patient"]
    assert {"patient", "status", "authored", "identifier"} <= names["ServiceRequest"]
    assert {"date", "patient", "status", "actor"} <= names["Appointment"]
    assert {"patient", "identifier", "status"} <= names["ImagingStudy"]
    assert {"patient", "status", "date", "issued"} <= names["DiagnosticReport"]


# --- Mapping tables, queries, the REST API's schema ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("mapping", "codes"),
    [
        (resources.SERVICE_REQUEST_STATUS, resources.SERVICE_REQUEST_CODES),
        (resources.APPOINTMENT_STATUS, resources.APPOINTMENT_CODES),
        (resources.IMAGING_STUDY_STATUS, resources.IMAGING_STUDY_CODES),
    ],
)
def test_every_exam_status_maps_to_a_code_of_the_value_set(mapping, codes):
    assert set(mapping) == set(ExamStatus.values)
    assert set(mapping.values()) <= set(codes)


@pytest.mark.parametrize("resource_type", RESOURCE_TYPES)
def test_a_search_costs_the_same_queries_for_one_result_or_many(desk, attending, resource_type):
    def queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            bundle = fhir(desk, f"/fhir/r4/{resource_type}")
        return len(captured), bundle["total"]

    def add():
        patient = PatientFactory()
        patient_merge(source=PatientFactory(), target=patient, acting_user=TEST_ACTOR)
        exam = make_completed_exam(patient=patient, referring_physician=ReferringPhysicianFactory())
        report = sign_final(exam, attending)
        addendum = addendum_save(report=report, user=attending, text="More.")
        addendum_sign(addendum=addendum, user=attending, password=TEST_PASSWORD)

    add()
    one, total_one = queries()
    add()
    add()
    many, total_many = queries()
    assert total_many > total_one
    assert many == one


def test_fhir_views_stay_out_of_the_rest_apis_openapi_schema():
    schema = Client().get("/api/schema/", {"format": "json"}).json()
    assert not [path for path in schema["paths"] if path.startswith("/fhir/")]
