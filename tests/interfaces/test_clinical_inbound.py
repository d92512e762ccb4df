"""Clinical data from the CIS over HL7: AL1 allergies and OBX weight/height in ADT and ORM, ORU^R01 lab results
(creatinine, eGFR, computed eGFR, anything else as received), PV1-2 on the order, and what a merge moves.

The messages are shaped like the vendors' documented samples (Epic, Cerner, Meditech), written for these tests."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from clinical.models import Allergy, ClinicalStatus, Observation, Source
from clinical.services import allergy_add, observation_record
from interfaces.models import InboundMessage
from interfaces.services import message_receive
from ris.models import ContrastClass, Patient
from scheduling.models import Order
from tests.factories import TEST_ACTOR, PatientFactory
from tests.interfaces.conftest import assert_valid_ack, mllp_send, write_messages

pytestmark = pytest.mark.django_db

Kind = Observation.Kind


def receive(text: str) -> dict[str, list[str]]:
    """Send one message; its (valid) ACK by segment ID."""
    ack = message_receive(text.encode())
    assert_valid_ack(ack)
    return {segment.split("|")[0]: segment.split("|") for segment in ack.split("\r") if segment}


def local(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.get_current_timezone())


# --- Epic-style v2.5.1 ADT^A04: two AL1 (one an iodinated contrast reaction), weight in pounds ---------------------

EPIC_PID = "PID|1||E4471023^^^EPI^MR~999-12-3456^^^SSA^SS||JONES^MARY^ANN||19580412|F|||12 ELM ST^^MADISON^WI^53703^USA"


def epic_a04(control_id: str = "EP20261128-1", *, al1: list[str] | None = None, obx: list[str] | None = None) -> str:
    al1 = (
        [
            "AL1|1|DA^Drug allergy^HL70127|1000001^Iodinated contrast media^99EPICALG|SV^Severe^HL70128|Hives|20190304",
            "AL1|2|DA^Drug allergy^HL70127|7980^Penicillin G^RXNORM|MO^Moderate^HL70128|Rash~Itching|",
        ]
        if al1 is None
        else al1
    )
    obx = ["OBX|1|NM|29463-7^Body weight^LN||154|[lb_av]^pound^UCUM|||||F|||20261128093000"] if obx is None else obx
    return "\r".join(
        [
            f"MSH|^~\\&|EPIC|EPICADT|RIS|RAD|20261128101010||ADT^A04^ADT_A01|{control_id}|P|2.5.1",
            "EVN|A04|20261128101010",
            EPIC_PID,
            "PV1|1|O|RAD^^^UWHC||||1234567890^WELBY^MARCUS^^^^^^NPI",
            *obx,
            *al1,
        ]
    )


def test_an_epic_a04_lists_the_allergies_with_the_contrast_reaction_and_the_weight_in_kg():
    ack = receive(epic_a04())
    assert ack["MSA"][1] == "AA"
    patient = Patient.objects.get(mrn="E4471023")
    contrast, penicillin = Allergy.objects.filter(patient=patient).order_by("allergen_text")
    assert (contrast.allergen_code, contrast.allergen_coding_system) == ("1000001", "99EPICALG")
    assert contrast.allergen_text == "Iodinated contrast media"
    assert contrast.contrast_class == ContrastClass.IODINATED
    assert (contrast.allergy_type, contrast.severity, contrast.reaction) == ("DA", "SV", "Hives")
    assert str(contrast.identified_on) == "2019-03-04"
    assert (contrast.source, contrast.active) == (Source.CIS, True)
    assert penicillin.contrast_class == ContrastClass.NONE
    assert (penicillin.severity, penicillin.reaction, penicillin.identified_on) == ("MO", "Rash, Itching", None)
    status = ClinicalStatus.objects.get(patient=patient)
    assert (status.allergies, status.allergies_source) == ("LISTED", Source.CIS)
    weight = Observation.objects.get(patient=patient)
    assert (weight.kind, weight.unit, weight.value) == (Kind.WEIGHT, "kg", Decimal("69.8532"))
    assert (weight.value_text, weight.unit_received) == ("154", "[lb_av]")
    assert weight.observed_at == local(2026, 11, 28, 9, 30)
    assert (weight.source, weight.message_control_id) == (Source.CIS, "EP20261128-1")
    history = contrast.history.get()
    assert history.history_change_reason.startswith("allergy sent by the CIS")


def test_a_weight_without_obx_14_is_observed_at_the_message_time_and_height_in_m_is_kept_in_cm():
    receive(
        epic_a04(obx=["OBX|1|NM|29463-7^Body weight^LN||70.5|kg", "OBX|2|NM|8302-2^Body height^LN||1.68|m^meter^UCUM"])
    )
    weight = Observation.objects.get(kind=Kind.WEIGHT)
    height = Observation.objects.get(kind=Kind.HEIGHT)
    assert weight.observed_at == local(2026, 11, 28, 10, 10, 10)
    assert (height.value, height.unit) == (Decimal("168.0000"), "cm")


def test_another_obx_in_an_adt_is_stored_as_received_and_never_refused():
    ack = receive(epic_a04(obx=["OBX|1|CWE|72166-2^Tobacco smoking status^LN||8517006^Ex-smoker^SCT||||||F"]))
    assert ack["MSA"][1] == "AA"
    other = Observation.objects.get()
    assert (other.kind, other.code, other.name) == (Kind.OTHER, "72166-2", "Tobacco smoking status")
    assert (other.value_text, other.value) == ("8517006^Ex-smoker^SCT", None)


def test_a_creatinine_in_an_adt_is_not_read_as_a_lab_result():
    receive(epic_a04(obx=["OBX|1|NM|2160-0^Creatinine^LN||1.1|mg/dL|||||F"]))
    assert Observation.objects.get().kind == Kind.OTHER


def test_an_a08_without_al1_leaves_the_allergy_list_as_it_was():
    receive(epic_a04())
    receive(epic_a04("EP20261128-2", al1=[], obx=[]).replace("ADT^A04", "ADT^A08"))
    assert Allergy.objects.filter(active=True).count() == 2


def test_the_cis_list_replaces_its_own_allergies_and_keeps_the_staff_ones():
    receive(epic_a04())
    patient = Patient.objects.get(mrn="E4471023")
    staff = allergy_add(patient=patient, allergen_text="Latex", allergy_type="EA", acting_user=TEST_ACTOR)
    update = epic_a04(
        "EP20261128-3",
        al1=[
            "AL1|1|DA^Drug allergy^HL70127|1000001^Iodinated contrast media^99EPICALG|MO^Moderate^HL70128|Hives|",
            "AL1|2|FA^Food allergy^HL70127|256349002^Peanut^SCT|SV^Severe^HL70128|Anaphylaxis|",
        ],
        obx=[],
    ).replace("ADT^A04", "ADT^A08")
    assert receive(update)["MSA"][1] == "AA"
    rows = {row.allergen_text: row for row in Allergy.objects.filter(patient=patient)}
    assert set(rows) == {"Iodinated contrast media", "Penicillin G", "Peanut", "Latex"}  # none deleted
    assert rows["Penicillin G"].active is False  # no longer sent
    assert (rows["Iodinated contrast media"].active, rows["Iodinated contrast media"].severity) == (True, "MO")
    assert rows["Peanut"].allergy_type == "FA"
    assert (rows["Latex"].pk, rows["Latex"].active, rows["Latex"].source) == (staff.pk, True, Source.STAFF)
    assert rows["Penicillin G"].history.first().history_change_reason.startswith("no longer sent by the CIS")


def test_a_penicillin_dropped_and_sent_again_is_the_same_entry_made_active_again():
    receive(epic_a04())
    receive(epic_a04("EP2", al1=[epic_a04().split("\r")[-2]], obx=[]))
    receive(epic_a04("EP3", obx=[]))
    assert Allergy.objects.count() == 2
    assert Allergy.objects.filter(active=True).count() == 2


# --- v2.3 ADT^A08 with "no known allergies" ------------------------------------------------------------------------


def v23_a08(control_id: str, al1: str) -> str:
    return "\r".join(
        [
            f"MSH|^~\\&|HIS|GENHOSP|RIS|RAD|20261128111500||ADT^A08|{control_id}|P|2.3",
            "EVN|A08|20261128111500",
            "PID|1||E4471023^^^EPI^MR||JONES^MARY^ANN||19580412|F",
            "PV1|1|I|4W^412^1",
            al1,
        ]
    )


@pytest.mark.parametrize(
    "al1",
    [
        "AL1|1||NKA",
        "AL1|1|DA|^No Known Allergies",
        "AL1|1|DRUG|NKDA^NO KNOWN DRUG ALLERGIES^L",
        "AL1|1|MA|716186003^No known allergy^SNM",
    ],
)
def test_a_v23_a08_with_no_known_allergies_records_nka_and_inactivates_the_cis_allergies(al1):
    receive(epic_a04())
    ack = receive(v23_a08("H1", al1))
    assert ack["MSA"][1] == "AA"
    assert not Allergy.objects.filter(active=True).exists()
    assert Allergy.objects.count() == 2  # kept, inactive
    status = ClinicalStatus.objects.get()
    assert (status.allergies, status.allergies_source) == ("NKA", Source.CIS)


def test_no_known_allergies_from_the_cis_does_not_overrule_a_staff_entered_allergy():
    patient = PatientFactory(mrn="E4471023", mrn_issuer="EPI")
    allergy_add(patient=patient, allergen_text="Gadolinium", contrast_class="GADOLINIUM", acting_user=TEST_ACTOR)
    receive(v23_a08("H1", "AL1|1||NKA"))
    assert Allergy.objects.get().active
    assert ClinicalStatus.objects.get().allergies == "LISTED"


@pytest.mark.parametrize(
    ("al1", "kind", "severity", "contrast"),
    [
        ("AL1|1|DRUG ALLERGY|IOHEXOL|SEVERE|HIVES", "DA", "SV", ContrastClass.IODINATED),
        ("AL1|1||OMNIPAQUE 350|Severe", "DA", "SV", ContrastClass.IODINATED),
        ("AL1|1|MISC|GADAVIST|MI|NAUSEA", "MA", "MI", ContrastClass.GADOLINIUM),
        ("AL1|1|FOOD|SHELLFISH|MODERATE", "FA", "MO", ContrastClass.NONE),
        ("AL1|1|SOMETHING ELSE|CONTRAST|XX", "MA", "U", ContrastClass.OTHER),
        ("AL1|1|EA^Environmental^HL70127|LATEX^Latex^L|^Mild", "EA", "MI", ContrastClass.NONE),
    ],
)
def test_v23_free_text_types_and_severity_words_are_read(al1, kind, severity, contrast):
    receive(v23_a08("H1", al1))
    allergy = Allergy.objects.get()
    assert (allergy.allergy_type, allergy.severity, allergy.contrast_class) == (kind, severity, contrast)


def test_an_al1_naming_no_allergen_is_skipped_with_a_warning_and_leaves_the_list_as_it_was():
    receive(epic_a04())
    ack = receive(v23_a08("H1", "AL1|1|DA||SV"))
    assert ack["MSA"][1] == "AA"
    assert "AL1-3 names no allergen" in ack["MSA"][3]  # v2.3: a warning is told in MSA-3 (no ERR severity)
    assert Allergy.objects.filter(active=True).count() == 2


# --- ORM: AL1, OBX and PV1-2 -------------------------------------------------------------------------------------


def orm(control_id: str, placer: str, pv1_class: str, *extra: str) -> str:
    return "\r".join(
        [
            f"MSH|^~\\&|EPIC|EPICADT|RIS|RAD|20261128101010||ORM^O01^ORM_O01|{control_id}|P|2.5.1",
            EPIC_PID,
            f"PV1|1|{pv1_class}|ED^^^UWHC|||||||||||||||V778899",
            f"ORC|NW|{placer}^EPIC||||||||||1234567893^WELBY^MARCUS^^^^^^NPI",
            f"OBR|1|{placer}^EPIC||CTHEAD^CT head^99RIS|||||||||||||||||||CT",
            *extra,
        ]
    )


@pytest.mark.parametrize(("sent", "stored"), [("I", "I"), ("O", "O"), ("E", "E"), ("P", "O"), ("R", "O"), ("B", "")])
def test_pv1_2_is_the_orders_patient_class(catalog, sent, stored):
    assert receive(orm("O1", "P1", sent))["MSA"][1] == "AA"
    assert Order.objects.get().patient_class == stored


def test_an_xo_with_pv1_2_changes_the_patient_class_and_one_without_leaves_it(catalog):
    receive(orm("O1", "P1", "O"))
    receive(orm("O2", "P1", "I").replace("ORC|NW", "ORC|XO"))
    assert Order.objects.get().patient_class == "I"
    receive(orm("O3", "P1", "").replace("ORC|NW", "ORC|XO"))
    assert Order.objects.get().patient_class == "I"


def test_an_orm_replaces_the_cis_allergies_and_records_the_weight(catalog):
    receive(epic_a04())
    text = orm(
        "O2",
        "P2",
        "E",
        "OBX|1|NM|3141-9^Body weight measured^LN||82|kg|||||F|||20261128095500",
        "AL1|1|DA|^Iodixanol (Visipaque)|SV|Anaphylaxis",
    )
    assert receive(text)["MSA"][1] == "AA"
    active = Allergy.objects.get(active=True)
    assert (active.allergen_text, active.contrast_class) == ("Iodixanol (Visipaque)", ContrastClass.IODINATED)
    weights = Observation.objects.filter(kind=Kind.WEIGHT).order_by("observed_at")
    assert [w.value for w in weights] == [Decimal("69.8532"), Decimal("82.0000")]


# --- ORU^R01 lab results ---------------------------------------------------------------------------------------------


def cerner_oru(control_id: str = "CRN0001", *, obx: list[str] | None = None, mrn: str = "C700123") -> str:
    """Cerner Millennium-shaped v2.5.1 ORU^R01: a basic metabolic panel with creatinine in umol/L and no eGFR."""
    obx = (
        [
            "OBX|1|NM|2951-2^Sodium SerPl-sCnc^LN||139|mmol/L^mmol/L^UCUM|136-145|N|||F|||20261127071500",
            "OBX|2|NM|2160-0^Creatinine SerPl-mCnc^LN||150|umol/L^umol/L^UCUM|62-106|H|||F|||20261127071500",
        ]
        if obx is None
        else obx
    )
    return "\r".join(
        [
            f"MSH|^~\\&|CERNER|LAB|RIS|RAD|20261127083000||ORU^R01^ORU_R01|{control_id}|P|2.5.1",
            f"PID|1||{mrn}^^^CERNERMRN^MR||SMITH^JOHN^Q||19640101|M",
            "PV1|1|O",
            "ORC|RE|LAB5501^CERNER|LAB5501F^LAB",
            "OBR|1|LAB5501^CERNER|LAB5501F^LAB|80048^Basic metabolic panel^CPT|||20261127070000|||||||||||||||F",
            *obx,
        ]
    )


def meditech_oru(control_id: str = "MT0001") -> str:
    """Meditech-shaped v2.3 ORU^R01: eGFR as SN ">^60" (and, as some send it, "^>^60") with creatinine in mg/dL."""
    return "\r".join(
        [
            f"MSH|^~\\&|MEDITECH|MTLAB|RIS|RAD|20261126142000||ORU^R01|{control_id}|P|2.3",
            "PID|1||M100200^^^MT^MR||DOE^JANE||19510615|F",
            "OBR|1|||RENAL^Renal function^L|||20261126133000",
            "OBX|1|NM|2160-0^CREATININE^LN||0.8|mg/dL|0.5-1.1||||F",
            "OBX|2|SN|33914-3^EGFR MDRD^LN||>^60|mL/min/1.73m2|>60||||F",
            "OBR|2|||RENAL^Renal function^L|||20261126150000",
            "OBX|1|SN|98979-8^EGFR CKD-EPI 2021^LN||^>^60|mL/min/{1.73_m2}|>60||||F",
        ]
    )


def ckd_epi_2021(scr_mg_dl: float, age: int, female: bool) -> float:
    """CKD-EPI 2021 written out for the test (Inker 2021)."""
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    value = 142 * min(scr_mg_dl / kappa, 1) ** alpha * max(scr_mg_dl / kappa, 1) ** -1.2 * 0.9938**age
    return value * (1.012 if female else 1)


def test_a_cerner_oru_with_creatinine_in_umol_l_gets_a_computed_ckd_epi_2021_egfr():
    ack = receive(cerner_oru())
    assert (ack["MSA"][1], ack["MSA"][2]) == ("AA", "CRN0001")
    stored = InboundMessage.objects.get()
    assert (stored.status, stored.ack_code, stored.mrn) == ("APPLIED", "AA", "C700123")
    patient = Patient.objects.get(mrn="C700123")  # unknown: registered, as an ORM registers one
    creatinine = Observation.objects.get(patient=patient, kind=Kind.CREATININE)
    assert creatinine.value == Decimal("1.6964")  # 150 / 88.42 mg/dL
    assert (creatinine.value_text, creatinine.unit_received, creatinine.abnormal_flags) == ("150", "umol/L", "H")
    assert creatinine.observed_at == local(2026, 11, 27, 7, 15)
    egfr = Observation.objects.get(patient=patient, kind=Kind.EGFR)
    assert (egfr.computed, egfr.source, egfr.derived_from) == (True, Source.COMPUTED, creatinine)
    assert egfr.value == Decimal("45.1")
    assert float(egfr.value) == pytest.approx(ckd_epi_2021(150 / 88.42, 62, female=False), abs=0.05)
    assert egfr.observed_at == creatinine.observed_at
    sodium = Observation.objects.get(patient=patient, code="2951-2")
    assert (sodium.kind, sodium.value, sodium.unit_received) == (Kind.OTHER, Decimal("139.0000"), "mmol/L")


def test_a_meditech_v23_oru_keeps_the_comparator_of_an_sn_egfr_and_computes_nothing():
    ack = receive(meditech_oru())
    assert ack["MSA"][1] == "AA"
    egfrs = Observation.objects.filter(kind=Kind.EGFR).order_by("observed_at")
    assert [(e.value_text, e.value, e.computed) for e in egfrs] == [
        (">60", Decimal("60.0000"), False),
        (">60", Decimal("60.0000"), False),
    ]
    assert egfrs[0].observed_at == local(2026, 11, 26, 13, 30)  # OBR-7: no OBX-14
    assert egfrs[1].observed_at == local(2026, 11, 26, 15, 0)
    creatinine = Observation.objects.get(kind=Kind.CREATININE)
    assert (creatinine.value, creatinine.unit) == (Decimal("0.8000"), "mg/dL")


def test_creatinine_without_egfr_in_its_own_obr_is_computed_even_when_another_obr_has_one():
    text = meditech_oru().replace("OBX|2|SN|33914-3", "OBX|2|SN|99999-9")  # first OBR: creatinine, no eGFR
    receive(text)
    computed = Observation.objects.get(kind=Kind.EGFR, computed=True)
    assert float(computed.value) == pytest.approx(ckd_epi_2021(0.8, 75, female=True), abs=0.05)


@pytest.mark.parametrize(
    ("obx", "value_text", "value"),
    [
        ("OBX|1|ST|33914-3^eGFR^LN||>60|mL/min/1.73m2|||||F", ">60", Decimal("60")),
        ("OBX|1|ST|33914-3^eGFR^LN||28|mL/min/1.73m2|||||F", "28", Decimal("28")),
        ("OBX|1|NM|33914-3^eGFR^LN||29.9|mL/min/1.73m2|||||F", "29.9", Decimal("29.9")),
        ("OBX|1|ST|33914-3^eGFR^LN||see comment|mL/min/1.73m2|||||F", "see comment", None),
        ("OBX|1|NM|33914-3^eGFR^LN|||mL/min/1.73m2|||||X", "", None),
        ("OBX|1|NM|33914-3^eGFR^LN||44|mL/min/1.73m2|||||D", "44", None),
        ("OBX|1|NM|33914-3^eGFR^LN||123456789012|mL/min/1.73m2|||||F", "123456789012", None),  # kept as text
    ],
)
def test_value_types_and_results_that_could_not_be_obtained(obx, value_text, value):
    assert receive(cerner_oru(obx=[obx]))["MSA"][1] == "AA"
    egfr = Observation.objects.get()
    assert (egfr.value_text, egfr.value) == (value_text, value)


def test_an_x_creatinine_is_stored_without_value_and_no_egfr_is_computed_from_it():
    receive(cerner_oru(obx=["OBX|1|NM|2160-0^Creatinine^LN||150|umol/L|||||X"]))
    assert Observation.objects.get().value is None
    assert not Observation.objects.filter(kind=Kind.EGFR).exists()


def test_an_oru_with_only_unknown_observations_is_answered_aa_and_stored_as_received():
    text = cerner_oru(obx=["OBX|1|NM|718-7^Hemoglobin^LN||13.2|g/dL^g/dL^UCUM|13.5-17.5|L|||F"])
    receive(text)
    assert InboundMessage.objects.get().ack_code == "AA"
    other = Observation.objects.get()
    assert (other.kind, other.value, other.unit, other.unit_received) == (Kind.OTHER, Decimal("13.2"), "g/dL", "g/dL")


def test_a_duplicate_oru_stores_nothing_twice():
    first = message_receive(cerner_oru().encode())
    again = message_receive(cerner_oru().encode())
    assert "MSA|AA|CRN0001" in first
    assert again == first
    assert InboundMessage.objects.count() == 1
    assert Observation.objects.count() == 3  # sodium, creatinine, computed eGFR
    # the same result resent under another control ID is not stored again either
    message_receive(cerner_oru("CRN0002").encode())
    assert Observation.objects.count() == 3


def test_an_oru_for_a_merged_record_goes_to_the_survivor_with_a_warning():
    survivor = PatientFactory(mrn="C700999", mrn_issuer="CERNERMRN")
    old = PatientFactory(mrn="C700123", mrn_issuer="CERNERMRN", merged_into=survivor)
    assert old.is_merged
    receive(cerner_oru())
    assert Observation.objects.filter(patient=survivor).count() == 3
    assert InboundMessage.objects.get().outcome.startswith("applied; warning")


def test_an_oru_with_a_bad_pid_is_answered_ae_and_reprocessable():
    text = cerner_oru().replace("SMITH^JOHN^Q", "")
    ack = receive(text)
    assert (ack["MSA"][1], ack["ERR"][2]) == ("AE", "PID^1^5")
    assert not Observation.objects.exists()
    assert InboundMessage.objects.get().status == "ERROR"


def test_a_resend_from_a_sender_whose_msh_3_is_longer_than_its_column_gets_the_first_answer():
    text = cerner_oru().replace("|CERNER|LAB|", f"|{'CERNER' * 50}|LAB|")
    first = message_receive(text.encode())
    assert "MSA|AA|" in first  # applied: the history rows name the interface cut to their column (PostgreSQL checks)
    assert message_receive(text.encode()) == first  # not an IntegrityError: the stored MSH-3 is cut to 227
    assert InboundMessage.objects.count() == 1


def test_a_corrected_resend_of_an_ae_oru_is_applied_under_the_same_control_id():
    receive(cerner_oru().replace("SMITH^JOHN^Q", ""))
    ack = receive(cerner_oru())
    assert ack["MSA"][1] == "AA"
    message = InboundMessage.objects.get()
    assert (message.status, message.reprocess_count, message.reprocessed_by) == ("APPLIED", 1, "resend")
    assert Observation.objects.filter(kind=Kind.EGFR, computed=True).count() == 1


def test_an_enhanced_mode_oru_is_accepted_then_applied_by_the_task(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ack = message_receive(cerner_oru().replace("|P|2.5.1", "|P|2.5.1|||AL|NE").encode())
    assert "MSA|CA|CRN0001" in ack
    assert InboundMessage.objects.get().status == "APPLIED"
    assert Observation.objects.filter(kind=Kind.CREATININE).count() == 1


def test_an_unreadable_obx_14_falls_back_to_obr_7_with_a_warning():
    ack = receive(cerner_oru(obx=["OBX|1|NM|2160-0^Creatinine^LN||1.2|mg/dL|||||F|||2026-11-27"]))
    assert (ack["MSA"][1], ack["ERR"][2], ack["ERR"][4]) == ("AA", "OBX^1^14", "W")
    assert Observation.objects.get(kind=Kind.CREATININE).observed_at == local(2026, 11, 27, 7, 0)


# --- merge ------------------------------------------------------------------------------------------------------------


def test_adt_a40_moves_the_merged_records_clinical_data_to_the_survivor():
    receive(epic_a04())
    receive(cerner_oru(mrn="E9999").replace("CERNERMRN", "EPI"))
    old = Patient.objects.get(mrn="E9999")
    observation_record(
        patient=old, kind=Kind.WEIGHT, value_text="80", unit="kg", observed_at=timezone.now(), acting_user=TEST_ACTOR
    )
    allergy_add(patient=old, allergen_text="Gadoterate (Dotarem)", contrast_class="GADOLINIUM", acting_user=TEST_ACTOR)
    merge = "\r".join(
        [
            "MSH|^~\\&|EPIC|EPICADT|RIS|RAD|20261128120000||ADT^A40^ADT_A39|EP-M1|P|2.5.1",
            "EVN|A40|20261128120000",
            EPIC_PID,
            "MRG|E9999^^^EPI^MR",
        ]
    )
    assert receive(merge)["MSA"][1] == "AA"
    survivor = Patient.objects.get(mrn="E4471023")
    assert not Observation.objects.filter(patient=old).exists()
    assert Observation.objects.filter(patient=survivor, kind=Kind.EGFR, computed=True).exists()
    assert Allergy.objects.filter(patient=survivor, active=True).count() == 3
    assert not Allergy.objects.filter(patient=old).exists()


# --- through the real listener -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_mllp_send_delivers_an_a04_with_a_contrast_allergy_and_an_oru_with_egfr_25(hl7_port, tmp_path):
    oru = "\r".join(
        [
            "MSH|^~\\&|EPIC|EPICLAB|RIS|RAD|20261128111000||ORU^R01^ORU_R01|EPL-1|P|2.5.1",
            EPIC_PID,
            "OBR|1|L1^EPIC||BMP^Basic metabolic panel^L|||20261128103000",
            "OBX|1|NM|98979-8^eGFR CKD-EPI 2021^LN||25|mL/min/{1.73_m2}|>60|L|||F|||20261128104500",
        ]
    )
    path = tmp_path / "cis.hl7"
    write_messages(path, epic_a04(), oru)
    acks = mllp_send(hl7_port, path)
    assert ["MSA|AA|" in ack for ack in acks] == [True, True], acks
    patient = Patient.objects.get(mrn="E4471023")
    assert Allergy.objects.get(patient=patient, contrast_class=ContrastClass.IODINATED).reaction == "Hives"
    egfr = Observation.objects.get(patient=patient, kind=Kind.EGFR)
    assert (egfr.value, egfr.computed) == (Decimal("25.0000"), False)
    assert egfr.observed_at == datetime(2026, 11, 28, 10, 45, tzinfo=ZoneInfo(str(timezone.get_current_timezone())))
