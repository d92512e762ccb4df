"""FHIR R4 AllergyIntolerance and Observation (eGFR, creatinine, weight, height, pregnancy status, other results)
read and search under /fhir/r4/, every resource and Bundle validated with fhir.resources' R4 models (R4B package),
and the codes validation does not check asserted here."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
from fhir.resources.R4B.observation import Observation as FhirObservation

from clinical import services as clinical
from clinical.models import Allergy, PregnancyStatus, Source
from clinical.models import Observation as Measured
from ris.models import AccessRecord, ContrastClass, Role
from tests.clinical.factories import contrast_allergy, egfr, observation
from tests.factories import TEST_ACTOR, PatientFactory, UserFactory
from tests.interfaces.test_fhir import MODELS, basic, fhir, resources_of

pytestmark = pytest.mark.django_db

MODELS.setdefault("AllergyIntolerance", AllergyIntolerance)
MODELS.setdefault("Observation", FhirObservation)

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
K = Measured.Kind


@pytest.fixture
def desk():
    return Client(**basic(UserFactory(role=Role.FRONT_DESK)))


def ago(**delta) -> datetime:
    return timezone.now() - timedelta(**delta)


def coding(concept: dict) -> tuple[str, str]:
    first = concept["coding"][0]
    return first.get("system", ""), first["code"]


def ids(client, query: str) -> list[str]:
    return [resource["id"] for resource in resources_of(fhir(client, f"/fhir/r4/{query}"))]


# --- AllergyIntolerance ---------------------------------------------------------------------------------------


def test_a_contrast_allergy_is_an_active_confirmed_medication_allergy_with_its_reaction(desk):
    patient = PatientFactory()
    allergy = contrast_allergy(
        patient,
        allergen_text="Iohexol",
        allergen_code="5956",
        allergen_coding_system="RXNORM",
        severity=Allergy.Severity.SEVERE,
        reaction="Anaphylaxis",
        identified_on=date(2019, 3, 14),
    )
    found = fhir(desk, f"/fhir/r4/AllergyIntolerance/{allergy.pk}")
    assert found["resourceType"] == "AllergyIntolerance"
    assert coding(found["clinicalStatus"]) == (
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
        "active",
    )
    assert coding(found["verificationStatus"]) == (
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
        "confirmed",
    )
    assert (found["type"], found["category"], found["criticality"]) == ("allergy", ["medication"], "high")
    assert found["code"] == {
        "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "5956", "display": "Iohexol"}],
        "text": "Iohexol",
    }
    assert found["patient"]["reference"] == f"Patient/{patient.pk}"
    assert found["onsetDateTime"] == "2019-03-14"
    assert datetime.fromisoformat(found["recordedDate"]) == allergy.created_at.replace(microsecond=0)
    assert found["reaction"] == [{"manifestation": [{"text": "Anaphylaxis"}], "severity": "severe"}]


@pytest.mark.parametrize(
    ("allergy_type", "severity", "expected"),
    [
        (Allergy.Type.FOOD, Allergy.Severity.MODERATE, ("allergy", ["food"], "low")),
        (Allergy.Type.POLLEN, Allergy.Severity.MILD, ("allergy", ["environment"], "low")),
        (Allergy.Type.ANIMAL, Allergy.Severity.UNKNOWN, ("allergy", ["environment"], "unable-to-assess")),
        (Allergy.Type.CONTRAINDICATION, Allergy.Severity.MILD, ("intolerance", None, "low")),
        (Allergy.Type.MISC, Allergy.Severity.SEVERE, ("allergy", None, "high")),
    ],
)
def test_type_category_and_criticality_follow_hl7_tables_0127_and_0128(desk, allergy_type, severity, expected):
    allergy = clinical.allergy_add(
        patient=PatientFactory(),
        allergen_text="Peanut",
        allergy_type=allergy_type,
        severity=severity,
        acting_user=TEST_ACTOR,
    )
    found = fhir(desk, f"/fhir/r4/AllergyIntolerance/{allergy.pk}")
    assert (found["type"], found.get("category"), found["criticality"]) == expected
    assert found["code"] == {"text": "Peanut"}  # uncoded: text only
    assert "reaction" not in found  # no manifestation recorded, so no reaction


def test_allergies_are_searched_by_patient_and_clinical_status(desk):
    patient, other = PatientFactory(), PatientFactory()
    iodine = contrast_allergy(patient)
    gadolinium = contrast_allergy(patient, contrast_class=ContrastClass.GADOLINIUM, allergen_text="Gadobutrol")
    Allergy.objects.filter(pk=gadolinium.pk).update(active=False)  # (no service retires an allergy yet)
    contrast_allergy(other)

    assert ids(desk, f"AllergyIntolerance?patient={patient.pk}") == [str(iodine.pk), str(gadolinium.pk)]
    assert ids(desk, f"AllergyIntolerance?patient=Patient/{patient.pk}&clinical-status=active") == [str(iodine.pk)]
    inactive = ids(desk, f"AllergyIntolerance?patient={patient.pk}&clinical-status=inactive")
    assert inactive == [str(gadolinium.pk)]
    retired = fhir(desk, f"/fhir/r4/AllergyIntolerance/{gadolinium.pk}")
    assert coding(retired["clinicalStatus"])[1] == "inactive"
    status = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical|active"
    assert ids(desk, f"AllergyIntolerance?clinical-status={status}&patient={patient.pk}") == [str(iodine.pk)]
    assert fhir(desk, "/fhir/r4/AllergyIntolerance")["total"] == 3
    assert fhir(desk, "/fhir/r4/AllergyIntolerance?clinical-status=resolved")["total"] == 0
    refused = fhir(desk, "/fhir/r4/AllergyIntolerance?clinical-status=gone", 400)
    assert "clinical-status" in refused["issue"][0]["diagnostics"]
    assert fhir(desk, "/fhir/r4/AllergyIntolerance?code=5956", 400)["issue"][0]["code"] == "not-supported"
    fhir(desk, "/fhir/r4/AllergyIntolerance/999999", 404)


# --- Observation ----------------------------------------------------------------------------------------------


def test_weight_and_height_are_vital_signs_in_ucum_units_whatever_unit_they_came_in(desk):
    patient = PatientFactory()
    weight = observation(patient, K.WEIGHT, "181", "[lb_av]", at=ago(days=2))
    height = observation(patient, K.HEIGHT, "1.78", "m", at=ago(days=3))
    found = fhir(desk, f"/fhir/r4/Observation/{weight.pk}")
    assert found["status"] == "final"
    assert coding(found["category"][0]) == ("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs")
    assert coding(found["code"]) == (LOINC, "29463-7")
    quantity = found["valueQuantity"]
    assert (quantity["system"], quantity["code"]) == (UCUM, "kg")
    assert Decimal(str(quantity["value"])) == weight.value.normalize()
    assert found["subject"]["reference"] == f"Patient/{patient.pk}"
    assert datetime.fromisoformat(found["effectiveDateTime"]) == weight.observed_at.replace(microsecond=0)
    found = fhir(desk, f"/fhir/r4/Observation/{height.pk}")
    assert coding(found["code"]) == (LOINC, "8302-2")
    assert found["valueQuantity"] == {"value": 178, "unit": "cm", "system": UCUM, "code": "cm"}


def test_creatinine_in_micromoles_is_served_in_mg_per_dl_as_2160_0(desk):
    result = observation(
        PatientFactory(),
        K.CREATININE,
        "88.4",
        "umol/L",
        code="14682-9",
        coding_system="LN",
        source=Source.CIS,
        result_status="F",
    )
    found = fhir(desk, f"/fhir/r4/Observation/{result.pk}")
    assert coding(found["code"]) == (LOINC, "2160-0")
    assert coding(found["category"][0])[1] == "laboratory"
    assert found["valueQuantity"]["code"] == "mg/dL"
    assert found["valueQuantity"]["value"] == pytest.approx(1.0, abs=0.01)  # 88.4 umol/L


def test_a_received_egfr_keeps_its_loinc_and_a_computed_one_is_98979_8_derived_from_the_creatinine(desk):
    patient = PatientFactory(birth_date=date(1960, 5, 1), sex="F")
    received = observation(
        patient, K.EGFR, "25", code="33914-3", coding_system="LN", abnormal_flags="L", at=ago(days=1)
    )
    creatinine = observation(patient, K.CREATININE, "1.4", code="2160-0", coding_system="LN", at=ago(hours=5))
    computed = clinical.egfr_compute(creatinine=creatinine, acting_user=TEST_ACTOR)

    found = fhir(desk, f"/fhir/r4/Observation/{received.pk}")
    assert coding(found["code"]) == (LOINC, "33914-3")
    assert found["valueQuantity"]["code"] == "mL/min/{1.73_m2}"
    assert found["valueQuantity"]["value"] == 25
    assert coding(found["interpretation"][0])[1] == "L"
    assert "note" not in found
    assert "derivedFrom" not in found

    found = fhir(desk, f"/fhir/r4/Observation/{computed.pk}")
    assert coding(found["code"]) == (LOINC, "98979-8")
    assert "computed" in found["note"][0]["text"].lower()
    assert "CKD-EPI 2021" in found["note"][0]["text"]
    assert found["derivedFrom"] == [{"reference": f"Observation/{creatinine.pk}", "type": "Observation"}]
    assert Decimal(str(found["valueQuantity"]["value"])) == computed.value.normalize()

    assert ids(desk, "Observation?code=98979-8") == [str(computed.pk)]
    assert ids(desk, f"Observation?code={LOINC}|33914-3") == [str(received.pk)]
    assert ids(desk, "Observation?code=33914-3,98979-8") == [str(computed.pk), str(received.pk)]


@pytest.mark.parametrize(
    ("status", "snomed"),
    [
        (PregnancyStatus.NOT_PREGNANT, "60001007"),
        (PregnancyStatus.POSSIBLY, "102874004"),
        (PregnancyStatus.DEFINITELY, "77386006"),
        (PregnancyStatus.UNKNOWN, "261665006"),
    ],
)
def test_a_pregnancy_status_is_loinc_82810_3_valued_in_snomed_ct(desk, status, snomed):
    patient = PatientFactory(sex="F", birth_date=date(1995, 1, 1))
    record = clinical.pregnancy_record(
        patient=patient, status=status, acting_user=TEST_ACTOR, last_menstrual_period=date(2026, 11, 10)
    )
    found = fhir(desk, f"/fhir/r4/Observation/pregnancy-{record.pk}")
    assert found["id"] == f"pregnancy-{record.pk}"
    assert coding(found["code"]) == (LOINC, "82810-3")
    assert coding(found["category"][0])[1] == "social-history"
    assert coding(found["valueCodeableConcept"]) == (SNOMED, snomed)
    [lmp] = found["component"]
    assert (coding(lmp["code"]), lmp["valueDateTime"]) == ((LOINC, "8665-2"), "2026-11-10")
    assert ids(desk, f"Observation?patient={patient.pk}&code=82810-3") == [f"pregnancy-{record.pk}"]


def test_an_observation_of_another_kind_is_served_with_its_code_and_value_as_received(desk):
    patient = PatientFactory()
    potassium = observation(
        patient, K.OTHER, "4.1", "mmol/L", code="2823-3", coding_system="LN", name="Potassium", source=Source.CIS
    )
    local = clinical.observation_record(
        patient=patient,
        kind=K.OTHER,
        value_text="positive",
        unit="",
        observed_at=ago(hours=1),
        code="HCG",
        coding_system="99LAB",
        name="Urine hCG",
        acting_user=TEST_ACTOR,
    )
    found = fhir(desk, f"/fhir/r4/Observation/{potassium.pk}")
    assert found["code"]["coding"] == [{"system": LOINC, "code": "2823-3", "display": "Potassium"}]
    assert "category" not in found
    assert found["valueQuantity"]["unit"] == "mmol/L"
    found = fhir(desk, f"/fhir/r4/Observation/{local.pk}")
    assert coding(found["code"]) == ("urn:ris:code-system:99LAB", "HCG")
    assert found["valueString"] == "positive"
    assert ids(desk, "Observation?code=urn:ris:code-system:99LAB|HCG") == [str(local.pk)]
    assert ids(desk, f"Observation?code={LOINC}|2823-3") == [str(potassium.pk)]
    assert ids(desk, "Observation?code=http://snomed.info/sct|2823-3") == []


def test_observations_are_searched_by_patient_category_and_date_across_both_tables_newest_first(desk):
    patient, other = PatientFactory(sex="F", birth_date=date(1990, 1, 1)), PatientFactory()
    old_weight = observation(patient, K.WEIGHT, "70", at=ago(days=40))
    lab = egfr(patient, "62", at=ago(days=10))
    pregnancy = clinical.pregnancy_record(
        patient=patient, status=PregnancyStatus.NOT_PREGNANT, acting_user=TEST_ACTOR, at=ago(days=5)
    )
    new_weight = observation(patient, K.WEIGHT, "71", at=ago(days=1))
    observation(other, K.WEIGHT, "90", at=ago(days=1))
    pregnant = f"pregnancy-{pregnancy.pk}"

    assert ids(desk, f"Observation?patient={patient.pk}") == [
        str(new_weight.pk),
        pregnant,
        str(lab.pk),
        str(old_weight.pk),
    ]
    assert ids(desk, f"Observation?subject=Patient/{patient.pk}&category=vital-signs") == [
        str(new_weight.pk),
        str(old_weight.pk),
    ]
    assert ids(desk, f"Observation?patient={patient.pk}&category=laboratory") == [str(lab.pk)]
    assert ids(desk, f"Observation?patient={patient.pk}&category=social-history") == [pregnant]
    category = "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"
    assert fhir(desk, f"/fhir/r4/Observation?category={category}")["total"] == 3
    assert fhir(desk, "/fhir/r4/Observation?category=imaging")["total"] == 0
    since = (timezone.localdate() - timedelta(days=7)).isoformat()
    until = (timezone.localdate() - timedelta(days=7)).isoformat()
    assert ids(desk, f"Observation?patient={patient.pk}&date=ge{since}") == [str(new_weight.pk), pregnant]
    assert ids(desk, f"Observation?patient={patient.pk}&date=le{until}") == [str(lab.pk), str(old_weight.pk)]
    assert ids(desk, f"Observation?_id={pregnant},{lab.pk}") == [pregnant, str(lab.pk)]
    assert ids(desk, f"Observation?patient={patient.pk}&code={LOINC}|29463-7") == [
        str(new_weight.pk),
        str(old_weight.pk),
    ]
    assert fhir(desk, "/fhir/r4/Observation?category=blood", 400)["issue"][0]["code"] == "invalid"
    assert fhir(desk, "/fhir/r4/Observation?value-quantity=5", 400)["issue"][0]["code"] == "not-supported"
    fhir(desk, "/fhir/r4/Observation/pregnancy-999999", 404)
    fhir(desk, "/fhir/r4/Observation/pregnancy-x", 404)


def test_observations_page_across_both_tables(desk):
    patient = PatientFactory(sex="F", birth_date=date(1990, 1, 1))
    made = []
    for days in range(5):
        made.append(str(observation(patient, K.WEIGHT, 60 + days, at=ago(days=days * 2)).pk))
        record = clinical.pregnancy_record(
            patient=patient, status=PregnancyStatus.UNKNOWN, acting_user=TEST_ACTOR, at=ago(days=days * 2 + 1)
        )
        made.append(f"pregnancy-{record.pk}")
    first = fhir(desk, f"/fhir/r4/Observation?patient={patient.pk}&_count=4")
    assert first["total"] == 10
    assert [r["id"] for r in resources_of(first)] == made[:4]
    links = {link["relation"]: link["url"] for link in first["link"]}
    second = fhir(desk, links["next"].removeprefix("http://testserver"))
    assert [r["id"] for r in resources_of(second)] == made[4:8]
    assert fhir(desk, f"/fhir/r4/Observation?patient={patient.pk}&_count=0")["total"] == 10


# --- Access, roles, the capability statement, queries ---------------------------------------------------------


def test_reading_clinical_resources_logs_the_patient_once_per_request(desk):
    patient = PatientFactory()
    contrast_allergy(patient)
    contrast_allergy(patient, contrast_class=ContrastClass.GADOLINIUM, allergen_text="Gadoterate")
    observation(patient, K.WEIGHT, "80")
    AccessRecord.objects.all().delete()
    fhir(desk, f"/fhir/r4/AllergyIntolerance?patient={patient.pk}")
    fhir(desk, f"/fhir/r4/Observation?patient={patient.pk}")
    records = list(AccessRecord.objects.order_by("id"))
    assert [(r.kind, r.patient_id, r.channel) for r in records] == [
        (AccessRecord.Kind.PATIENT, patient.pk, AccessRecord.Channel.FHIR)
    ] * 2


def test_billing_clerks_get_403_and_clinical_roles_read(client_for):
    patient = PatientFactory()
    allergy = contrast_allergy(patient)
    weight = observation(patient, K.WEIGHT, "80")
    urls = [
        "/fhir/r4/AllergyIntolerance",
        f"/fhir/r4/AllergyIntolerance/{allergy.pk}",
        "/fhir/r4/Observation",
        f"/fhir/r4/Observation/{weight.pk}",
    ]
    billing = Client(**basic(UserFactory(role=Role.BILLING)))
    for url in urls:
        assert fhir(billing, url, 403)["issue"][0]["code"] == "forbidden"
        fhir(Client(), url, 401)
    for role in (Role.FRONT_DESK, Role.TECHNOLOGIST, Role.RADIOLOGIST, Role.ADMIN):
        session = client_for(role)
        for url in urls:
            assert fhir(session, url).get("total", 1) == 1, (role, url)


def test_only_json_is_served(desk):
    fhir(desk, "/fhir/r4/Observation?_format=xml", 406)
    assert fhir(desk, "/fhir/r4/AllergyIntolerance?_format=json")["total"] == 0


def test_the_capability_statement_lists_the_clinical_resources_and_their_search_parameters():
    statement = fhir(Client(), "/fhir/r4/metadata")
    by_type = {resource["type"]: resource for resource in statement["rest"][0]["resource"]}
    names = {name: {p["name"] for p in resource["searchParam"]} for name, resource in by_type.items()}
    assert {"_id", "patient", "clinical-status", "_count"} <= names["AllergyIntolerance"]
    assert {"_id", "patient", "subject", "code", "category", "date", "_count"} <= names["Observation"]
    assert [i["code"] for i in by_type["Observation"]["interaction"]] == ["read", "search-type"]


@pytest.mark.parametrize("resource_type", ["AllergyIntolerance", "Observation"])
def test_a_search_costs_the_same_queries_for_one_result_or_many(desk, resource_type):
    def queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            bundle = fhir(desk, f"/fhir/r4/{resource_type}")
        return len(captured), bundle["total"]

    def add():
        patient = PatientFactory(sex="F", birth_date=date(1990, 1, 1))
        contrast_allergy(patient)
        observation(patient, K.WEIGHT, "80")
        clinical.pregnancy_record(patient=patient, status=PregnancyStatus.NOT_PREGNANT, acting_user=TEST_ACTOR)

    add()
    one, total_one = queries()
    add()
    add()
    many, total_many = queries()
    assert total_many > total_one
    assert many == one
