"""Orders to the PACS carry the patient's safety facts: active allergies as AL1 in the PATIENT group (after PV1) and
the latest body weight and height as OBX in the order's OBSERVATION group (after OBR), in ORM^O01 v2.3.1 and
OMI^O23 v2.5.1; read back with hl7apy (groups found) and the `hl7` package, validated with hl7apy STRICT, and
received by a real MLLP peer."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import hl7
import pytest
from django.utils import timezone
from hl7apy.parser import parse_message

from clinical import services as clinical
from clinical.models import Allergy, ClinicalStatus, Observation
from interfaces import outbound
from interfaces.outbox import clinical_data
from scheduling import services
from tests.clinical.factories import contrast_allergy, observation
from tests.factories import TEST_ACTOR, PatientFactory
from tests.interfaces.test_delivery import new_exam, pacs, tomorrow
from tests.interfaces.test_outbound import CET, HEADER, ORDER, PATIENT, names, read, validate_strict
from tests.interfaces.test_outbound_peers import field

IODINATED = outbound.AllergyData(
    text="Iohexol",
    code="5956",
    coding_system="RXNORM",
    allergy_type="DA",
    severity="SV",
    reaction="Hives and wheezing",
    identified_on=date(2019, 3, 14),
)
PEANUT = outbound.AllergyData(text="Peanut ^ tree nuts", allergy_type="FA", severity="MO")
WEIGHT = outbound.Measurement(
    "29463-7", "Body weight", "82.5", "kg", "kilogram", datetime(2026, 11, 20, 8, 5, tzinfo=CET)
)
HEIGHT = outbound.Measurement(
    "8302-2", "Body height", "178", "cm", "centimeter", datetime(2026, 1, 5, 14, 0, tzinfo=CET)
)
CLINICAL = outbound.ClinicalData(allergies=[IODINATED, PEANUT], measurements=[WEIGHT, HEIGHT])


def orm(clinical: outbound.ClinicalData | None = CLINICAL) -> str:
    return outbound.orm_o01(HEADER, PATIENT, ORDER, clinical)


def omi(clinical: outbound.ClinicalData | None = CLINICAL) -> str:
    return outbound.omi_o23(HEADER, PATIENT, ORDER, clinical)


# --- The builders (pure) ----------------------------------------------------------------------------------------


def test_orm_carries_al1_after_pv1_and_obx_after_obr_and_validates_strict_in_v231():
    raw = orm()
    assert names(raw) == ["MSH", "PID", "PV1", "AL1", "AL1", "ORC", "OBR", "OBX", "OBX", "ZDS"]
    validate_strict(raw)


def test_omi_carries_al1_after_pv1_and_obx_between_obr_and_ipc_and_validates_strict_in_v251():
    raw = omi()
    assert names(raw) == ["MSH", "PID", "PV1", "AL1", "AL1", "ORC", "TQ1", "OBR", "OBX", "OBX", "IPC"]
    validate_strict(raw)  # the whole message, groups and all (v2.5.1)


def test_hl7apy_finds_the_al1s_in_the_patient_group_and_the_obxs_in_the_order_observation_group():
    message = parse_message(orm(), find_groups=True)
    assert [al1.al1_3.to_er7() for al1 in message.ORM_O01_PATIENT.AL1] == [
        "5956^Iohexol^RXNORM",
        "^Peanut \\S\\ tree nuts",
    ]
    detail = message.ORM_O01_ORDER.ORM_O01_ORDER_DETAIL
    assert [group.OBX.obx_3.to_er7() for group in detail.ORM_O01_OBSERVATION] == [
        "29463-7^Body weight^LN",
        "8302-2^Body height^LN",
    ]
    message = parse_message(omi(), find_groups=True)
    assert len(message.OMI_O23_PATIENT.AL1) == 2
    assert [group.OBX.obx_5.to_er7() for group in message.OMI_O23_ORDER.OMI_O23_OBSERVATION] == ["82.5", "178"]


def test_al1_fields_read_back_with_the_hl7_package():
    for raw, coded in ((orm(), False), (omi(), True)):
        message = hl7.parse(raw)
        first, second = message.segments("AL1")
        assert str(first[1]) == "1"
        assert str(second[1]) == "2"
        assert str(first[3]) == "5956^Iohexol^RXNORM"
        assert (str(first[5]), str(first[6])) == ("Hives and wheezing", "20190314")
        if coded:  # v2.5.1: CE with the HL7 table named
            assert (str(first[2]), str(first[4])) == ("DA^^HL70127", "SV^^HL70128")
        else:  # v2.3.1: IS
            assert (str(first[2]), str(first[4])) == ("DA", "SV")
        # An uncoded allergen is ^text; the escaped "^" comes back as the text had it.
        r = read(raw)
        al1 = r.segments("AL1")[1]
        assert (r.get(al1, 3, 1), r.get(al1, 3, 2), r.get(al1, 3, 3)) == ("", "Peanut ^ tree nuts", "")
        assert r.get(al1, 6) == ""


def test_weight_and_height_obx_are_numeric_loinc_ucum_final_with_the_date_measured():
    for raw in (orm(), omi()):
        weight, height = hl7.parse(raw).segments("OBX")
        assert [str(weight[n]) for n in (1, 2, 3, 5, 6, 11, 14)] == [
            "1",
            "NM",
            "29463-7^Body weight^LN",
            "82.5",
            "kg^kilogram^UCUM",
            "F",
            "20261120080500+0100",
        ]
        assert [str(height[n]) for n in (2, 3, 5, 6, 14)] == [
            "NM",
            "8302-2^Body height^LN",
            "178",
            "cm^centimeter^UCUM",
            "20260105140000+0100",
        ]


def test_no_known_allergies_is_one_al1_with_the_snomed_code_and_not_asked_is_none():
    for build in (orm, omi):
        raw = build(outbound.ClinicalData(no_known_allergies=True))
        [al1] = hl7.parse(raw).segments("AL1")
        assert (str(al1[1]), str(al1[2]), str(al1[3])) == ("1", "", "716186003^No known allergy^SCT")
        validate_strict(raw)
        for nothing in (outbound.ClinicalData(), None):
            raw = build(nothing)
            assert "AL1" not in names(raw)
            assert "OBX" not in names(raw)
            validate_strict(raw)


# --- From the records to the message (outbox) -------------------------------------------------------------------


@pytest.mark.django_db
def test_clinical_data_has_the_active_allergies_and_the_latest_weight_and_height():
    patient = PatientFactory()
    contrast_allergy(patient, allergen_code="5956", allergen_coding_system="RXNORM", identified_on=date(2019, 3, 14))
    gone = clinical.allergy_add(patient=patient, allergen_text="Penicillin", acting_user=TEST_ACTOR)
    Allergy.objects.filter(pk=gone.pk).update(active=False)  # (no service retires an allergy yet)
    now = timezone.now()
    observation(patient, Observation.Kind.WEIGHT, "90", at=now - timedelta(days=400))
    observation(patient, Observation.Kind.WEIGHT, "181", "[lb_av]", at=now - timedelta(days=2))
    observation(patient, Observation.Kind.HEIGHT, "1.78", "m", at=now - timedelta(days=30))

    data = clinical_data(patient)

    [allergy] = data.allergies
    assert (allergy.text, allergy.code, allergy.coding_system) == ("Iodinated contrast media", "5956", "RXNORM")
    assert (allergy.allergy_type, allergy.severity, allergy.reaction) == ("DA", "MO", "urticaria")
    assert allergy.identified_on == date(2019, 3, 14)
    assert data.no_known_allergies is False
    weight, height = data.measurements
    assert (weight.code, weight.unit, height.code, height.unit) == ("29463-7", "kg", "8302-2", "cm")
    assert Decimal(weight.value) == Observation.objects.filter(kind="WEIGHT").first().value  # the newest, in kg
    assert height.value == "178"
    assert weight.observed_at == timezone.localtime(now - timedelta(days=2))


@pytest.mark.django_db
def test_clinical_data_of_a_patient_with_no_known_allergies_and_of_one_never_asked():
    nka, never = PatientFactory(), PatientFactory()
    clinical.allergies_status_set(patient=nka, acting_user=TEST_ACTOR, status=ClinicalStatus.Allergies.NONE_KNOWN)
    assert clinical_data(nka) == outbound.ClinicalData(no_known_allergies=True)
    assert clinical_data(never) == outbound.ClinicalData()


# --- A real MLLP peer ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("quick_delivery")
@pytest.mark.parametrize("form", ["ORM_O01", "OMI_O23"])
def test_the_pacs_receives_the_allergies_and_the_weight_with_the_new_order(
    form, peers, django_capture_on_commit_callbacks
):
    peer = peers()
    pacs(peer.port, order_message=form)
    exam, room = new_exam()
    patient = exam.order.patient
    contrast_allergy(patient, allergen_text="Iopamidol", reaction="anaphylaxis", severity=Allergy.Severity.SEVERE)
    observation(patient, Observation.Kind.WEIGHT, "72.4", at=timezone.now() - timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        services.exam_book(exam=exam, room=room, start=tomorrow(9), acting_user=TEST_ACTOR)

    [message] = peer.received
    validate_strict(str(message))
    assert [segment[0][0] for segment in message if str(segment[0]) in ("PV1", "AL1", "ORC")] == ["PV1", "AL1", "ORC"]
    assert field(message, "AL1", 3, 2) == "Iopamidol"
    assert (field(message, "AL1", 4), field(message, "AL1", 5)) == ("SV", "anaphylaxis")
    assert [field(message, "OBX", n) for n in (2, 3, 5, 6)] == ["NM", "29463-7", "72.4", "kg"]
