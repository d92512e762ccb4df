"""clinical.cis: contrast classes of allergens, "no known allergies", the CIS's allergy list, observations from the
CIS, and what a patient merge moves."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from clinical.cis import (
    BODY_MEASURES,
    CisAllergy,
    CisObservation,
    cis_allergies_replace,
    cis_observations_record,
    contrast_class_of,
    is_no_known_allergies,
    observation_kind,
)
from clinical.models import (
    Allergy,
    ClinicalStatus,
    Implant,
    MedicalAlert,
    MRSafety,
    Observation,
    PregnancyRecord,
    Source,
)
from clinical.services import allergies_status_set, allergy_add, pregnancy_record
from ris import merging
from ris.audit import Interface
from ris.models import ContrastClass
from ris.services import patient_merge
from tests.clinical.factories import egfr, observation
from tests.factories import TEST_ACTOR, PatientFactory

CIS = Interface("HL7", "EPIC")
Kind = Observation.Kind


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        ("", "Iodinated contrast media", ContrastClass.IODINATED),
        ("", "IODINE", ContrastClass.IODINATED),
        ("IOHEXOL", "", ContrastClass.IODINATED),
        ("", "Omnipaque 350", ContrastClass.IODINATED),
        ("", "iopamidol (Isovue-370)", ContrastClass.IODINATED),
        ("", "Visipaque", ContrastClass.IODINATED),
        ("", "Iodixanol", ContrastClass.IODINATED),
        ("", "ioversol", ContrastClass.IODINATED),
        ("", "IV contrast", ContrastClass.IODINATED),
        ("", "Radiocontrast agents", ContrastClass.IODINATED),
        ("", "contrast dye", ContrastClass.IODINATED),
        ("", "IVP DYE", ContrastClass.IODINATED),
        ("", "Gadolinium-based contrast agent", ContrastClass.GADOLINIUM),
        ("", "gadobutrol (Gadavist)", ContrastClass.GADOLINIUM),
        ("", "Dotarem", ContrastClass.GADOLINIUM),
        ("GADOTERATE", "", ContrastClass.GADOLINIUM),
        ("", "MultiHance", ContrastClass.GADOLINIUM),
        ("", "gadobenate", ContrastClass.GADOLINIUM),
        ("", "Magnevist", ContrastClass.GADOLINIUM),
        ("", "gadopentetate dimeglumine", ContrastClass.GADOLINIUM),
        ("", "MRI contrast dye", ContrastClass.GADOLINIUM),
        ("", "Contrast", ContrastClass.OTHER),
        ("", "contrast media (unspecified)", ContrastClass.OTHER),
        ("7980", "Penicillin G", ContrastClass.NONE),
        ("", "Shellfish", ContrastClass.NONE),
        ("", "Biodine", ContrastClass.NONE),  # a word that merely holds "iodine"
    ],
)
def test_contrast_class_of_an_allergen(code, text, expected):
    assert contrast_class_of(code, text) == expected


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        ("NKA", "", True),
        ("", "No Known Allergies", True),
        ("NKDA", "NO KNOWN DRUG ALLERGIES", True),
        ("", "no known drug allergy.", True),
        ("716186003", "", True),
        ("", "Known allergies", False),
        ("", "Penicillin", False),
    ],
)
def test_no_known_allergies_is_recognised(code, text, expected):
    assert is_no_known_allergies(code, text) is expected


def test_observation_kinds_by_loinc_and_the_kinds_asked_for(settings):
    settings.RIS_EGFR_LOINC_CODES = ["12345-6"]
    assert observation_kind("12345-6") == Kind.EGFR
    assert observation_kind("33914-3") == Kind.OTHER  # configurable: not in the setting any more
    assert observation_kind("2160-0") == Kind.CREATININE
    assert observation_kind("3137-7") == Kind.HEIGHT
    assert observation_kind("2160-0", kinds=BODY_MEASURES) == Kind.OTHER


@pytest.mark.django_db
def test_the_cis_list_replaces_its_own_and_names_the_interface_in_history():
    patient = PatientFactory()
    reaction = allergy_add(
        patient=patient,
        allergen_text="Iohexol",
        source=Source.REACTION,
        acting_user=TEST_ACTOR,
        contrast_class="IODINATED",
    )
    cis_allergies_replace(
        patient=patient,
        allergies=[CisAllergy(allergen_text="Penicillin", allergen_code="7980", allergen_coding_system="RXNORM")],
        no_known_allergies=False,
        acting_user=CIS,
    )
    cis_allergies_replace(
        patient=patient,
        allergies=[CisAllergy(allergen_text="Sulfa drugs", severity=Allergy.Severity.MILD)],
        no_known_allergies=False,
        acting_user=CIS,
    )
    rows = {row.allergen_text: row for row in Allergy.objects.filter(patient=patient)}
    assert (rows["Penicillin"].active, rows["Sulfa drugs"].active, rows["Iohexol"].active) == (False, True, True)
    assert rows["Iohexol"].pk == reaction.pk
    assert rows["Penicillin"].history.first().history_actor == "HL7:EPIC"
    status = ClinicalStatus.objects.get(patient=patient)
    assert (status.allergies, status.allergies_source) == ("LISTED", Source.CIS)


@pytest.mark.django_db
def test_the_same_allergen_by_code_is_updated_not_added():
    patient = PatientFactory()
    sent = CisAllergy(allergen_text="Penicillin G", allergen_code="7980", allergen_coding_system="RXNORM")
    cis_allergies_replace(patient=patient, allergies=[sent], no_known_allergies=False, acting_user=CIS)
    renamed = CisAllergy(
        allergen_text="PENICILLIN G POTASSIUM", allergen_code="7980", allergen_coding_system="rxnorm", reaction="Hives"
    )
    cis_allergies_replace(patient=patient, allergies=[renamed], no_known_allergies=False, acting_user=CIS)
    allergy = Allergy.objects.get(patient=patient)
    assert (allergy.allergen_text, allergy.reaction) == ("PENICILLIN G POTASSIUM", "Hives")
    assert allergy.history.count() == 2


@pytest.mark.django_db
def test_no_known_allergies_from_the_cis():
    patient = PatientFactory()
    cis_allergies_replace(
        patient=patient, allergies=[CisAllergy(allergen_text="Latex")], no_known_allergies=False, acting_user=CIS
    )
    cis_allergies_replace(patient=patient, allergies=[], no_known_allergies=True, acting_user=CIS)
    assert not Allergy.objects.get(patient=patient).active
    status = ClinicalStatus.objects.get(patient=patient)
    assert (status.allergies, status.allergies_source) == ("NKA", Source.CIS)


@pytest.mark.django_db
def test_observations_from_the_cis_are_stored_once_and_egfr_computed_per_group():
    patient = PatientFactory(sex="M", birth_date=timezone.localdate() - timedelta(days=365 * 62 + 30))
    at = timezone.now() - timedelta(hours=2)
    sent = [
        CisObservation("2160-0", "LN", "Creatinine", "150", "150", "umol/L", at, group=1),
        CisObservation("2160-0", "LN", "Creatinine", "1.0", "1.0", "mg/dL", at, group=2),
        CisObservation("33914-3", "LN", "eGFR", ">60", "60", "mL/min/1.73m2", at, group=2),
    ]
    stored = cis_observations_record(patient=patient, observations=sent, acting_user=CIS, compute_egfr=True)
    assert len(stored) == 4
    computed = Observation.objects.get(computed=True)
    assert computed.derived_from.value_text == "150"
    assert (computed.value, computed.source) == (Decimal("45.1000"), Source.COMPUTED)
    assert cis_observations_record(patient=patient, observations=sent, acting_user=CIS, compute_egfr=True) == []


@pytest.mark.django_db
def test_a_merge_moves_every_clinical_record_to_the_survivor():
    source, target = PatientFactory(), PatientFactory()
    allergy_add(patient=source, allergen_text="Iodine", contrast_class="IODINATED", acting_user=TEST_ACTOR)
    MedicalAlert.objects.create(patient=source, code=MedicalAlert.Code.RENAL_DISEASE)
    egfr(source, 25)
    observation(source, Kind.WEIGHT, 70)
    pregnancy_record(patient=source, status=1, acting_user=TEST_ACTOR)
    Implant.objects.create(patient=source, device_type="Pacemaker", mr_safety=MRSafety.UNSAFE)
    patient_merge(source=source, target=target, acting_user=CIS)
    for model in (Allergy, MedicalAlert, Observation, PregnancyRecord, Implant):
        assert not model.objects.filter(patient=source).exists(), model
        assert model.objects.filter(patient=target).exists(), model
    status = ClinicalStatus.objects.get(patient=target)
    assert status.allergies == "LISTED"
    assert not ClinicalStatus.objects.filter(patient=source).exists()
    assert Implant.objects.get().history.first().history_change_reason.startswith("patient merge")


@pytest.mark.django_db
def test_a_merge_makes_the_survivors_no_known_allergies_listed_when_allergies_move_in():
    source, target = PatientFactory(), PatientFactory()
    allergies_status_set(patient=target, acting_user=TEST_ACTOR, status="NKA")
    allergy_add(patient=source, allergen_text="Gadolinium", acting_user=TEST_ACTOR)
    patient_merge(source=source, target=target, acting_user=CIS)
    assert ClinicalStatus.objects.get(patient=target).allergies == "LISTED"


@pytest.mark.django_db
def test_a_merge_takes_the_answer_of_the_merged_record_where_the_survivor_was_not_asked():
    source, target = PatientFactory(), PatientFactory()
    allergies_status_set(patient=source, acting_user=TEST_ACTOR, status="NKA", source=Source.CIS)
    allergies_status_set(patient=target, acting_user=TEST_ACTOR, status="")
    patient_merge(source=source, target=target, acting_user=CIS)
    status = ClinicalStatus.objects.get(patient=target)
    assert (status.allergies, status.allergies_source) == ("NKA", Source.CIS)


@pytest.mark.django_db
def test_merge_steps_registered_by_apps_are_run_by_the_merge_service(monkeypatch):
    calls = []
    monkeypatch.setattr(merging, "_steps", dict(merging._steps))  # the test's step is gone after it
    merging.merge_step_register("test", lambda **kwargs: calls.append(kwargs))
    source, target = PatientFactory(), PatientFactory()
    patient_merge(source=source, target=target, acting_user=CIS)
    assert [(c["source"].pk, c["target"].pk, c["acting_user"]) for c in calls] == [(source.pk, target.pk, CIS)]
    assert "clinical" in merging._steps  # clinical's AppConfig.ready() registered its step
