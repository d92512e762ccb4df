"""The modality worklist carries the patient's safety data: allergies, medical alerts, pregnancy status, weight and
size, special needs, patient state, the requested contrast agent and the scheduled protocol (issue 20, point 5)."""

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from pydicom import Dataset
from pydicom.sequence import Sequence

from clinical import services
from clinical.models import (
    Allergy,
    ClinicalStatus,
    ExamProtocol,
    Implant,
    MedicalAlert,
    MRSafety,
    MRScreening,
    Observation,
    PregnancyStatus,
    Protocol,
)
from ris.models import ContrastClass, ProcedureType
from ris.text import NAME_PARTS
from tests.clinical.factories import contrast_allergy, observation
from tests.factories import (
    TEST_ACTOR,
    PatientFactory,
    ProcedureTypeFactory,
    RoomFactory,
    make_booked_exam,
    make_radiologist,
)
from tests.worklist.conftest import at, findscu
from worklist import scp
from worklist.translate import (
    EXAM_FACT_KEYS,
    PATIENT_FACT_KEYS,
    AllergyFact,
    ExamFacts,
    PatientFacts,
    ResponsePlan,
    build_response,
    worklist_item,
)

Kind = Observation.Kind

# --- translation: facts -> response, no database -----------------------------------------------------------------

ROW = {
    "id": 1,
    "patient_id": 1,
    "status": "SCHEDULED",
    "scheduled_start": None,
    "requested_procedure_id": "RP1",
    "scheduled_procedure_step_id": "SPS1",
    "study_instance_uid": "1.2.3",
    "accession_number": "A1",
    "placer_order_number": "PL1",
    "filler_order_number": "A1",
    "priority": "ROUTINE",
    "reason": "Abdominal pain",
    "admission_id": "",
    "mrn": "P1",
    "mrn_issuer": "RIS",
    "birth_date": date(1980, 5, 1),
    "sex": "F",
    **{f"patient_{part}": "" for part in NAME_PARTS},
    **{f"physician_{part}": "" for part in NAME_PARTS},
    "patient_family_name": "Lopez",
    "patient_given_name": "Maria",
    "procedure_code": "CTABDC",
    "procedure_name": "CT abdomen with contrast",
    "procedure_contrast": "IODINATED",
    "modality": "CT",
    "station_ae_title": "CT1",
    "station_name": "CT1",
    "location_code": "L0",
}


def answer(keys: dict, *, sps: dict | None = None, patient=None, exam=None, charset: str = "") -> Dataset:
    """The response to a query asking `keys` (and `sps` in the SPS item) for ROW with these facts."""
    query = Dataset()
    if charset:
        query.SpecificCharacterSet = charset
    for keyword, value in keys.items():
        setattr(query, keyword, value)
    if sps is not None:
        item = Dataset()
        for keyword, value in sps.items():
            setattr(item, keyword, value)
        query.ScheduledProcedureStepSequence = [item]
    values = worklist_item(
        ROW, local_start=None, coding_scheme="99RIS", protocol_scheme="99RISPROT", patient=patient, exam=exam
    )
    response, _unsupported = build_response(query, values)
    return response


def test_allergies_are_multi_valued_with_contrast_allergies_first_and_marked():
    facts = PatientFacts(
        allergies=(
            AllergyFact("Penicillin", "rash"),
            AllergyFact("Iodinated contrast media", "hives", contrast="Iodinated contrast"),
            AllergyFact("Gadobutrol", "", contrast="Gadolinium-based contrast"),
        )
    )
    element = answer({"Allergies": ""}, patient=facts)["Allergies"]
    assert (element.VR, list(element.value)) == (
        "LO",
        ["Iodinated contrast: hives", "Gadolinium-based contrast (Gadobutrol)", "Penicillin: rash"],
    )


def test_no_known_allergies_is_said_and_not_asked_is_zero_length():
    assert answer({"Allergies": ""}, patient=PatientFacts(no_known_allergies=True)).Allergies == "No known allergies"
    assert answer({"Allergies": ""}, patient=PatientFacts())["Allergies"].is_empty


def test_a_long_allergy_is_cut_after_a_whole_word_within_64_characters_and_says_so():
    reaction = "generalised urticaria, facial angioedema and bronchospasm\\treated with adrenaline"
    value = answer({"Allergies": ""}, patient=PatientFacts(allergies=(AllergyFact("Penicillin", reaction),))).Allergies
    assert value == "Penicillin: generalised urticaria, facial angioedema and..."


def test_weight_is_in_kilograms_and_size_in_metres():
    facts = PatientFacts(weight_kg=Decimal("72.5000"), height_cm=Decimal("178.0000"))
    response = answer({"PatientWeight": "", "PatientSize": ""}, patient=facts)
    weight, size = response["PatientWeight"], response["PatientSize"]
    assert (weight.VR, str(weight.value), size.VR, str(size.value)) == ("DS", "72.5", "DS", "1.78")


def test_unknown_weight_and_size_are_zero_length():
    response = answer({"PatientWeight": "", "PatientSize": ""}, patient=PatientFacts())
    assert (response["PatientWeight"].is_empty, response["PatientSize"].is_empty) == (True, True)


def test_pregnancy_status_is_an_unsigned_short():
    element = answer({"PregnancyStatus": None}, patient=PatientFacts(pregnancy=2))["PregnancyStatus"]
    assert (element.VR, element.value) == ("US", 2)


def test_medical_alerts_special_needs_and_patient_state():
    facts = PatientFacts(
        alerts=("Diabetes on metformin", "Isolation precautions: MRSA contact"),
        special_needs=("Interpreter needed: Portuguese",),
        states=("Isolation precautions: MRSA contact",),
    )
    exam = ExamFacts(special_needs=("Claustrophobia (MR screening)",))
    response = answer({"MedicalAlerts": "", "SpecialNeeds": "", "PatientState": ""}, patient=facts, exam=exam)
    assert (list(response.MedicalAlerts), response.SpecialNeeds, response.PatientState) == (
        ["Diabetes on metformin", "Isolation precautions: MRSA contact"],
        "Interpreter needed: Portuguese; Claustrophobia (MR screening)",
        "Isolation precautions: MRSA contact",
    )


@pytest.mark.parametrize(
    ("exam", "expected"),
    [
        (ExamFacts(contrast="Iodinated contrast", contrast_agent="iohexol 350 mgI/mL"), "iohexol 350 mgI/mL"),
        (ExamFacts(contrast="Iodinated contrast"), "Iodinated contrast"),
        (ExamFacts(contrast="", contrast_agent="iohexol 350 mgI/mL"), ""),
    ],
)
def test_requested_contrast_agent(exam, expected):
    item = answer({}, sps={"RequestedContrastAgent": ""}, exam=exam).ScheduledProcedureStepSequence[0]
    assert (item["RequestedContrastAgent"].value or "") == expected


def test_the_scheduled_protocol_code_sequence_names_the_catalog_protocol():
    exam = ExamFacts(protocol_code="CTAPV", protocol_name="CT abdomen portal venous")
    item = answer({}, sps={"ScheduledProtocolCodeSequence": Sequence()}, exam=exam).ScheduledProcedureStepSequence[0]
    code = item.ScheduledProtocolCodeSequence[0]
    assert (code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning) == (
        "CTAPV",
        "99RISPROT",
        "CT abdomen portal venous",
    )


def test_without_a_catalog_protocol_the_scheduled_protocol_is_the_procedure():
    item = answer(
        {}, sps={"ScheduledProtocolCodeSequence": Sequence()}, exam=ExamFacts()
    ).ScheduledProcedureStepSequence
    code = item[0].ScheduledProtocolCodeSequence[0]
    assert (code.CodeValue, code.CodingSchemeDesignator) == ("CTABDC", "99RIS")


def test_protocol_notes_are_long_text_one_per_line():
    exam = ExamFacts(notes=("Split bolus\n\tdelayed phase at 5 min", "Oral water 500 mL"))
    item = answer({}, sps={"CommentsOnTheScheduledProcedureStep": ""}, exam=exam).ScheduledProcedureStepSequence[0]
    comments = item["CommentsOnTheScheduledProcedureStep"]
    assert (comments.VR, comments.value) == ("LT", "Split bolus\r\n delayed phase at 5 min\r\nOral water 500 mL")


def test_an_allergy_outside_the_queried_character_set_is_answered_in_utf8():
    facts = PatientFacts(allergies=(AllergyFact("Πενικιλλίνη", "εξάνθημα"),))
    assert answer({"Allergies": ""}, patient=facts, charset="ISO_IR 100").SpecificCharacterSet == "ISO_IR 192"


def test_an_allergy_within_the_queried_character_set_keeps_it():
    facts = PatientFacts(allergies=(AllergyFact("Pénicilline", "éruption"),))
    assert answer({"Allergies": ""}, patient=facts, charset="ISO_IR 100").SpecificCharacterSet == "ISO_IR 100"


def plan(**keys) -> ResponsePlan:
    query = Dataset()
    for keyword, value in keys.items():
        setattr(query, keyword, value)
    return ResponsePlan(query)


def test_only_queries_asking_for_clinical_keys_need_the_clinical_records():
    assert (plan(PatientName="", PatientID="").asks(PATIENT_FACT_KEYS), plan(Allergies="").asks(PATIENT_FACT_KEYS)) == (
        False,
        True,
    )


def test_a_whole_sps_item_needs_the_exam_facts():
    assert plan(ScheduledProcedureStepSequence=Sequence()).asks(EXAM_FACT_KEYS) is True


# --- the SCP over the database ----------------------------------------------------------------------------------

SAFETY_KEYS = {
    "Allergies": "",
    "MedicalAlerts": "",
    "PregnancyStatus": None,
    "PatientWeight": "",
    "PatientSize": "",
    "SpecialNeeds": "",
    "PatientState": "",
}


class Event:
    """The parts of a pynetdicom C-FIND event the handler reads."""

    assoc = type("Assoc", (), {"requestor": type("Requestor", (), {"ae_title": "CT1"})()})()
    is_cancelled = False

    def __init__(self, identifier: Dataset):
        self.identifier = identifier


def query(sps: dict | None = None, **keys) -> Dataset:
    ds = Dataset()
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    if sps is not None:
        item = Dataset()
        for keyword, value in sps.items():
            setattr(item, keyword, value)
        ds.ScheduledProcedureStepSequence = [item]
    return ds


def worklist(identifier: Dataset) -> list[Dataset]:
    return [r for status, r in scp.handle_find(Event(identifier)) if status in (scp.PENDING, scp.PENDING_WARNING)]


def one(exam, sps: dict | None = None, **keys) -> Dataset:
    (response,) = worklist(query(sps, AccessionNumber=exam.accession_number, **keys))
    return response


@pytest.fixture
def ct(db, monkeypatch):
    """A CT room with a contrast and a plain procedure; the handler's connection housekeeping left to the test."""
    monkeypatch.setattr(scp, "close_old_connections", lambda: None)
    room = RoomFactory(name="CT 1", station_ae_title="CT1", modality__code="CT", modality__name="CT")
    contrast = ProcedureTypeFactory(
        code="CTABDC", name="CT abdomen with contrast", modality=room.modality, contrast=ContrastClass.IODINATED
    )
    plain = ProcedureTypeFactory(code="CTHEAD", name="CT head", modality=room.modality)
    return {"room": room, "contrast": contrast, "plain": plain}


def book(ct, patient=None, *, procedure="contrast", hour=9):
    return make_booked_exam(
        patient=patient or PatientFactory(),
        procedure_types=[ct[procedure]],
        room=ct["room"],
        start=at(hour, day=timezone.localdate() + timedelta(days=1)),
    )


def protocol_exam(exam, protocol: Protocol | None, **chosen) -> ExamProtocol:
    return ExamProtocol.objects.create(
        exam=exam,
        protocol=protocol,
        protocoled_by=make_radiologist(),
        protocoled_at=timezone.now(),
        **chosen,
    )


def ct_portal_venous(ct) -> Protocol:
    return Protocol.objects.create(
        code="CTAPV",
        name="CT abdomen portal venous",
        modality=ct["room"].modality,
        contrast=ContrastClass.IODINATED,
        contrast_agent="iohexol 350 mgI/mL",
        contrast_route="IV",
        technologist_notes="Oral water 500 mL 30 min before",
    )


def test_the_worklist_reads_allergies_measurements_and_alerts_from_the_clinical_record(ct):
    patient = PatientFactory()
    contrast_allergy(patient, reaction="hives")
    services.allergy_add(patient=patient, allergen_text="Penicillin", reaction="rash", acting_user=TEST_ACTOR)
    observation(patient, Kind.WEIGHT, "72.5")
    observation(patient, Kind.HEIGHT, "68", "[in_i]")  # 172.72 cm
    MedicalAlert.objects.create(patient=patient, code=MedicalAlert.Code.DIABETES_METFORMIN)
    MedicalAlert.objects.create(patient=patient, code=MedicalAlert.Code.ISOLATION, text="MRSA contact")
    MedicalAlert.objects.create(patient=patient, code=MedicalAlert.Code.INTERPRETER, text="Portuguese")
    response = one(book(ct, patient), **SAFETY_KEYS)
    assert {
        "Allergies": list(response.Allergies),
        "PatientWeight": str(response.PatientWeight),
        "PatientSize": str(response.PatientSize),
        "MedicalAlerts": list(response.MedicalAlerts),
        "SpecialNeeds": response.SpecialNeeds,
        "PatientState": response.PatientState,
    } == {
        "Allergies": ["Iodinated contrast: hives", "Penicillin: rash"],
        "PatientWeight": "72.5",
        "PatientSize": "1.727",
        "MedicalAlerts": [
            "Diabetes on metformin",
            "Interpreter needed: Portuguese",
            "Isolation precautions: MRSA contact",
        ],
        "SpecialNeeds": "Interpreter needed: Portuguese",
        "PatientState": "Isolation precautions: MRSA contact",
    }


def test_the_latest_weight_counts(ct):
    patient = PatientFactory()
    observation(patient, Kind.WEIGHT, "80", at=timezone.now() - timedelta(days=400))
    observation(patient, Kind.WEIGHT, "74", at=timezone.now() - timedelta(days=3))
    assert str(one(book(ct, patient), PatientWeight="").PatientWeight) == "74"


def test_an_inactive_allergy_is_not_sent(ct):
    patient = PatientFactory()
    allergy = contrast_allergy(patient)
    Allergy.objects.filter(pk=allergy.pk).update(active=False)
    assert one(book(ct, patient), Allergies="")["Allergies"].is_empty


def test_no_known_allergies_recorded_is_sent_as_such(ct):
    patient = PatientFactory()
    services.allergies_status_set(patient=patient, acting_user=TEST_ACTOR, status=ClinicalStatus.Allergies.NONE_KNOWN)
    assert one(book(ct, patient), Allergies="").Allergies == "No known allergies"


def test_allergies_never_asked_are_zero_length(ct):
    assert one(book(ct), Allergies="")["Allergies"].is_empty


def test_an_mr_relevant_implant_is_a_medical_alert(ct):
    patient = PatientFactory()
    Implant.objects.create(patient=patient, device_type="Pacemaker", mr_safety=MRSafety.CONDITIONAL)
    assert one(book(ct, patient), MedicalAlerts="").MedicalAlerts == "Implant: Pacemaker (MR Conditional)"


def test_latex_allergy_and_claustrophobia_are_special_needs(ct):
    patient = PatientFactory()
    services.allergy_add(patient=patient, allergen_text="Latex", allergy_type=Allergy.Type.MISC, acting_user=TEST_ACTOR)
    exam = book(ct, patient)
    MRScreening.objects.create(
        exam=exam,
        implants_or_devices="NO",
        metal_fragments="NO",
        prior_surgery="NO",
        pregnancy="NO",
        claustrophobia="YES",
        completed_by="tech",
        completed_at=timezone.now(),
    )
    assert one(exam, SpecialNeeds="").SpecialNeeds == "Latex allergy; Claustrophobia (MR screening)"


def woman(age: int):
    today = timezone.localdate()
    return PatientFactory(sex="F", birth_date=today.replace(year=today.year - age) - timedelta(days=10))


def test_pregnancy_status_is_unknown_for_a_woman_of_childbearing_age_without_a_record(ct):
    assert one(book(ct, woman(30)), PregnancyStatus=None).PregnancyStatus == PregnancyStatus.UNKNOWN


def test_pregnancy_status_is_zero_length_for_a_man(ct):
    assert one(book(ct, PatientFactory(sex="M")), PregnancyStatus=None)["PregnancyStatus"].is_empty


def test_pregnancy_status_is_zero_length_past_the_age_range(ct):
    assert one(book(ct, woman(70)), PregnancyStatus=None)["PregnancyStatus"].is_empty


def test_the_newest_pregnancy_record_counts(ct):
    patient = woman(30)
    services.pregnancy_record(patient=patient, status=PregnancyStatus.NOT_PREGNANT, acting_user=TEST_ACTOR)
    services.pregnancy_record(patient=patient, status=PregnancyStatus.POSSIBLY, acting_user=TEST_ACTOR)
    assert one(book(ct, patient), PregnancyStatus=None).PregnancyStatus == PregnancyStatus.POSSIBLY


def test_a_recent_not_pregnant_is_sent(ct):
    patient = woman(30)
    services.pregnancy_record(patient=patient, status=PregnancyStatus.NOT_PREGNANT, acting_user=TEST_ACTOR)
    assert one(book(ct, patient), PregnancyStatus=None).PregnancyStatus == PregnancyStatus.NOT_PREGNANT


def test_a_stale_not_pregnant_becomes_unknown(ct, settings):
    patient = woman(30)
    at_ = timezone.now() - timedelta(hours=settings.RIS_PREGNANCY_STATUS_MAX_AGE_HOURS + 1)
    services.pregnancy_record(patient=patient, status=PregnancyStatus.NOT_PREGNANT, acting_user=TEST_ACTOR, at=at_)
    assert one(book(ct, patient), PregnancyStatus=None).PregnancyStatus == PregnancyStatus.UNKNOWN


def test_a_stale_definitely_pregnant_is_still_sent(ct):
    patient = woman(30)
    at_ = timezone.now() - timedelta(days=20)
    services.pregnancy_record(patient=patient, status=PregnancyStatus.DEFINITELY, acting_user=TEST_ACTOR, at=at_)
    assert one(book(ct, patient), PregnancyStatus=None).PregnancyStatus == PregnancyStatus.DEFINITELY


def test_the_protocol_reaches_the_sps_item(ct):
    exam = book(ct)
    protocol = ct_portal_venous(ct)
    protocol_exam(
        exam,
        protocol,
        contrast=ContrastClass.IODINATED,
        contrast_agent="iohexol 350 mgI/mL",
        contrast_route="IV",
        notes="Split bolus",
    )
    sps = {
        "RequestedContrastAgent": "",
        "ScheduledProtocolCodeSequence": Sequence(),
        "CommentsOnTheScheduledProcedureStep": "",
    }
    item = one(exam, sps).ScheduledProcedureStepSequence[0]
    code = item.ScheduledProtocolCodeSequence[0]
    assert (
        item.RequestedContrastAgent,
        (code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning),
        item.CommentsOnTheScheduledProcedureStep,
    ) == (
        "iohexol 350 mgI/mL",
        ("CTAPV", "99RISPROT", "CT abdomen portal venous"),
        "Split bolus\r\nOral water 500 mL 30 min before",
    )


def test_a_protocol_without_an_agent_of_its_own_requests_the_catalog_agent(ct):
    exam = book(ct)
    protocol_exam(exam, ct_portal_venous(ct), contrast=ContrastClass.IODINATED)
    item = one(exam, {"RequestedContrastAgent": ""}).ScheduledProcedureStepSequence[0]
    assert item.RequestedContrastAgent == "iohexol 350 mgI/mL"


def test_an_unprotocoled_contrast_procedure_requests_its_contrast_class(ct):
    item = one(book(ct), {"RequestedContrastAgent": ""}).ScheduledProcedureStepSequence[0]
    assert item.RequestedContrastAgent == "Iodinated contrast"


def test_a_plain_procedure_requests_no_contrast(ct):
    item = one(book(ct, procedure="plain"), {"RequestedContrastAgent": ""}).ScheduledProcedureStepSequence[0]
    assert item["RequestedContrastAgent"].is_empty


def test_a_change_to_non_contrast_removes_the_contrast_agent(ct):
    exam = book(ct)
    protocol_exam(exam, ct_portal_venous(ct), contrast=ContrastClass.NONE, contrast_agent="")
    item = one(exam, {"RequestedContrastAgent": ""}).ScheduledProcedureStepSequence[0]
    assert item["RequestedContrastAgent"].is_empty


def test_a_protocol_of_notes_only_keeps_the_procedure_code(ct):
    exam = book(ct)
    protocol_exam(exam, None, contrast=ContrastClass.IODINATED, notes="Delayed phase at 5 min")
    item = one(exam, {"ScheduledProtocolCodeSequence": Sequence()}).ScheduledProcedureStepSequence[0]
    assert item.ScheduledProtocolCodeSequence[0].CodeValue == "CTABDC"


def test_the_whole_sps_item_carries_the_protocol(ct):
    exam = book(ct)
    protocol_exam(exam, ct_portal_venous(ct), contrast=ContrastClass.IODINATED, contrast_agent="iohexol 350 mgI/mL")
    item = one(exam, ScheduledProcedureStepSequence=Sequence()).ScheduledProcedureStepSequence[0]
    assert (item.ScheduledProtocolCodeSequence[0].CodeValue, item.RequestedContrastAgent) == (
        "CTAPV",
        "iohexol 350 mgI/mL",
    )


# --- cost: a constant number of queries, whatever the number of matches ------------------------------------------


def many_patients(ct, count: int) -> None:
    """`count` exams, each of a patient with an allergy, alerts, a weight, a height and a pregnancy record."""
    radiologist = make_radiologist()
    protocol = ct_portal_venous(ct)
    ProcedureType.objects.filter(pk=ct["contrast"].pk).update(default_duration_minutes=5)
    for n in range(count):
        patient = woman(30)
        day = timezone.localdate() + timedelta(days=1 + n // 100)  # 100 a day, 6 minutes apart from 07:00
        start = at(7, day=day) + timedelta(minutes=6 * (n % 100))
        exam = make_booked_exam(patient=patient, procedure_types=[ct["contrast"]], room=ct["room"], start=start)
        Allergy.objects.create(patient=patient, allergen_text="Penicillin", reaction="rash")
        MedicalAlert.objects.create(patient=patient, code=MedicalAlert.Code.FALL_RISK)
        for kind, value in ((Kind.WEIGHT, 70 + n % 20), (Kind.HEIGHT, 160 + n % 30)):
            Observation.objects.create(
                patient=patient, kind=kind, value=value, unit=Observation.UNITS[kind], observed_at=timezone.now()
            )
        services.pregnancy_record(patient=patient, status=PregnancyStatus.NOT_PREGNANT, acting_user=TEST_ACTOR)
        ExamProtocol.objects.create(
            exam=exam,
            protocol=protocol,
            contrast=protocol.contrast,
            contrast_agent=protocol.contrast_agent,
            protocoled_by=radiologist,
            protocoled_at=timezone.now(),
        )


def every_safety_key() -> Dataset:
    return query(
        {"RequestedContrastAgent": "", "ScheduledProtocolCodeSequence": Sequence()},
        PatientID="",
        **SAFETY_KEYS,
    )


@pytest.mark.slow
def test_200_matches_cost_a_constant_number_of_queries(ct, django_assert_max_num_queries):
    many_patients(ct, 200)
    # The exams' ids, then their rows (and patients); status, 3 lists, observations, pregnancy; the exams' protocols,
    # the catalog's protocols they name, MR screenings
    with django_assert_max_num_queries(11):
        responses = worklist(every_safety_key())
    assert [
        (r.PatientWeight is not None, r.ScheduledProcedureStepSequence[0].RequestedContrastAgent) for r in responses
    ] == [(True, "iohexol 350 mgI/mL")] * 200


def test_a_query_without_clinical_keys_reads_no_clinical_record(ct, django_assert_num_queries):
    many_patients(ct, 3)
    with django_assert_num_queries(2):  # the exams' ids, their rows
        responses = worklist(query({"Modality": ""}, PatientID="", AccessionNumber=""))
    assert len(responses) == 3


# --- DCMTK findscu, as a modality asks ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_findscu_shows_allergies_weight_contrast_agent_and_protocol(mwl_port, tmp_path):
    room = RoomFactory(name="CT 1", station_ae_title="CT1", modality__code="CT", modality__name="CT")
    procedure = ProcedureTypeFactory(
        code="CTABDC", name="CT abdomen with contrast", modality=room.modality, contrast=ContrastClass.IODINATED
    )
    patient = PatientFactory(mrn="P20", family_name="Lopez", given_name="Maria", sex="F")
    contrast_allergy(patient, reaction="hives")
    observation(patient, Kind.WEIGHT, "81.4")
    exam = make_booked_exam(
        patient=patient,
        procedure_types=[procedure],
        room=room,
        start=at(9, day=timezone.localdate() + timedelta(days=1)),
    )
    protocol_exam(
        exam,
        ct_portal_venous({"room": room}),
        contrast=ContrastClass.IODINATED,
        contrast_agent="iohexol 350 mgI/mL",
        contrast_route="IV",
    )
    responses, output = findscu(
        mwl_port,
        f"AccessionNumber={exam.accession_number}",
        "Allergies",
        "PatientWeight",
        "ScheduledProcedureStepSequence[0].RequestedContrastAgent",
        "ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence",
        options=("+sr",),  # print each response, as a technologist would read it
        workdir=tmp_path,
    )
    shown = [
        ("(0010,1030) DS", "81.4"),
        ("(0010,2110) LO", "Iodinated contrast: hives"),
        ("(0032,1070) LO", "iohexol 350 mgI/mL"),
        ("(0008,0100) SH", "CTAPV"),
        ("(0008,0102) SH", "99RISPROT"),
        ("(0008,0104) LO", "CT abdomen portal venous"),
    ]
    printed = {(tag, value) for tag, value in re.findall(r"(\(\w{4},\w{4}\) \w\w) \[(.*?) ?\]", output)}
    assert [line for line in shown if line not in printed] == []  # an odd length is printed with its padding
    assert "Received Final Find Response (Success)" in output
    (response,) = responses
    assert response.ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence[0].CodeValue == "CTAPV"
