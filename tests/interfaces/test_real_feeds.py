"""Inbound HL7 as real vendor feeds send it (issue 17): accession numbers, placer fields, past start times, merged
records, cancels without a patient, OBR-24 service sections, plausibility and catalog look-up.

The messages are written for these tests, shaped like what CIS vendors document: v2.3 headers, OBR-18 as the
placer's own field, table 0074 codes in OBR-24, cancels that name the order by ORC-2 alone.
"""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from interfaces.models import InboundMessage, Sender
from interfaces.services import message_receive
from ris.models import Patient
from ris.selectors import sequence_last
from scheduling import services as scheduling
from scheduling.models import AccessionNumber, Exam, Order
from tests.factories import TEST_ACTOR, PatientFactory, ProcedureTypeFactory, RoomFactory
from tests.interfaces.conftest import assert_valid_ack, err_fields, mllp_send, msh, pid, segment, tomorrow_at


def receive(text: str) -> str:
    return message_receive(text.encode())


def code_of(ack: str) -> str:
    return ack.split("MSA|")[1][:2]


def locations(ack: str, severity: str) -> list[str]:
    """ERR-2 of each ERR of that severity (v2.5+)."""
    return [fields[2] for fields in err_fields(ack) if len(fields) > 4 and fields[4] == severity]


def order_message(
    control_id: str,
    *,
    control: str = "NW",
    placer: str = "PL1",
    code: str = "CTHEAD^CT head^99RIS",
    obr_18: str = "",
    obr_24: str = "CT",
    version: str = "2.5.1",
    patient: str | None = None,
    orc_5: str = "",
    start: str = "",
    obrs: int = 1,
) -> str:
    """An ORM^O01 shaped like an Epic- or McKesson-style placer order; the start in ORC-7.4 and OBR-27.4."""
    timing = f"^^^{start}^^R" if start else ""
    segments = [msh(control_id, "ORM^O01" if version == "2.3" else "ORM^O01^ORM_O01", version=version)]
    segments.append(pid() if patient is None else patient)
    segments.append("PV1|1|O|RAD^^^HOSP||||1234^REFERRER^RITA|||||||||||V123")
    segments.append(segment("ORC", {1: control, 2: f"{placer}^CIS", 5: orc_5, 7: timing, 12: "7101^ESTRADA^JAIME"}))
    for number in range(1, obrs + 1):
        fields = {1: str(number), 2: f"{placer}^CIS", 4: code, 18: obr_18, 24: obr_24, 27: timing, 31: "^Headache"}
        segments.append(segment("OBR", fields))
    return "\r".join(segments)


@pytest.fixture
def mr_catalog(catalog):
    room = RoomFactory(name="MR 1", station_ae_title="MR1", modality__code="MR", modality__name="MR")
    catalog["mr_brain"] = ProcedureTypeFactory(
        code="MRBRAIN", name="MR brain", modality=room.modality, cpt_code="70551"
    )
    return catalog


# --- item 1: an accession equal to the RIS's next number never locks the RIS up -------------------------------


def test_a_senders_accession_equal_to_the_ris_next_number_never_blocks_later_orders(catalog):
    Sender.objects.create(name="CIS", assigns_accession_numbers=True)
    taken = f"A{sequence_last('accession') + 1:09d}"  # what RIS_ACCESSION_PATTERN gives next
    ack = receive(order_message("C1", placer="PL1", obr_18=taken))
    assert code_of(ack) == "AA", ack
    assert Exam.objects.get(order__placer_order_number="PL1").accession_number == taken

    # The front desk's next order, then another HL7 order the RIS numbers: both go through, each a new number.
    patient = PatientFactory()
    desk = scheduling.order_create(patient=patient, procedure_types=[catalog["chest"]], acting_user=TEST_ACTOR)
    Sender.objects.filter(name="CIS").update(assigns_accession_numbers=False)
    assert code_of(receive(order_message("C2", placer="PL2", obr_18=taken))) == "AA"
    numbers = list(Exam.objects.order_by("id").values_list("accession_number", flat=True))
    assert desk.accession_number != taken
    assert len(set(numbers)) == 3


def test_a_number_the_sequence_hands_out_again_after_a_rollback_is_skipped(catalog):
    patient = PatientFactory()
    following = sequence_last("accession") + 1
    AccessionNumber.objects.create(number=f"A{following:09d}", issuer="PACS-IMPORT")  # stored by an earlier import
    order = scheduling.order_create(patient=patient, procedure_types=[catalog["head"]], acting_user=TEST_ACTOR)
    assert order.exams.get().accession_number == f"A{following + 1:09d}"


def test_a_senders_accession_already_used_by_that_sender_is_ae_205_and_the_next_message_is_applied(catalog):
    Sender.objects.create(name="CIS", assigns_accession_numbers=True)
    assert code_of(receive(order_message("C1", placer="PL1", obr_18="ACC1"))) == "AA"
    ack = receive(order_message("C2", placer="PL2", obr_18="ACC1"))
    assert code_of(ack) == "AE"
    assert locations(ack, "E") == ["OBR^1^18"]
    assert "205" in err_fields(ack)[0][3]
    assert "ACC1" in ack  # the message names the number (it once said "Accession number  is in use.")
    assert code_of(receive(order_message("C3", placer="PL3", obr_18="ACC2"))) == "AA"
    assert Order.objects.count() == 2


# --- item 2: OBR-18 is the placer's field, not the accession number --------------------------------------------


def test_obr_18_from_a_placer_is_placer_field_1_not_the_accession_number(catalog):
    # McKesson-style v2.3 ORM: OBR-18 carries "0000100", the placer's own field.
    ack = receive(order_message("C1", version="2.3", obr_18="0000100"))
    assert code_of(ack) == "AA", ack
    exam = Exam.objects.get()
    assert exam.accession_number != "0000100"
    assert exam.accession_issuer == ""


def test_a_sender_configured_to_assign_accessions_has_its_own_namespace(catalog):
    Sender.objects.create(name="CIS", assigns_accession_numbers=True, accession_issuer="HOSP-CIS")
    assert code_of(receive(order_message("C1", obr_18="0000100"))) == "AA"
    exam = Exam.objects.get()
    assert (exam.accession_number, exam.accession_issuer) == ("0000100", "HOSP-CIS")
    # The same number under the RIS's own issuer would be another namespace: the RIS never generates it, though.
    assert AccessionNumber.objects.get(number="0000100").issuer == "HOSP-CIS"


# --- item 4: a start time in the past is never booked ---------------------------------------------------------


def test_a_start_in_the_past_applies_the_order_leaves_the_exam_unbooked_and_warns(catalog):
    ack = receive(order_message("C1", orc_5="SC", start="20150301083000"))
    assert code_of(ack) == "AA"
    assert_valid_ack(ack, version="2.5.1")
    assert locations(ack, "W") == ["ORC^1^7"]
    exam = Exam.objects.get()
    assert (exam.status, exam.scheduled_start) == (Exam.Status.ORDERED, None)
    row = InboundMessage.objects.get()
    assert "in the past" in row.outcome


def test_a_v23_sender_hears_of_a_past_start_in_msa_3(catalog):
    text = "\r".join(
        [
            msh("C1", "ORM^O01", version="2.3"),
            pid(),
            "ORC|NW|PL9^CIS|||SC||^^^20000101080000",
            "OBR|1|PL9^CIS||CTHEAD^CT head^99RIS|||||||||||||||||||CT",
        ]
    )
    ack = receive(text)
    assert code_of(ack) == "AA"
    assert "in the past" in ack.split("MSA|")[1].split("\r")[0]
    assert Exam.objects.get().status == Exam.Status.ORDERED


def test_a_future_start_is_still_booked(catalog):
    ack = receive(order_message("C1", orc_5="SC", start=tomorrow_at(10)))
    assert (code_of(ack), locations(ack, "W")) == ("AA", [])
    assert Exam.objects.get().status == Exam.Status.SCHEDULED


# --- item 6: a late message naming a merged-away record --------------------------------------------------------


def test_a_late_order_for_a_merged_away_mrn_follows_the_merge_and_keeps_the_survivors_name(catalog):
    survivor = PatientFactory(mrn="P200", mrn_issuer="HOSP", family_name="Kowalska", given_name="Anna")
    retired = PatientFactory(mrn="P100", mrn_issuer="HOSP", family_name="Kowalsky", given_name="Ana")
    ack = receive(
        "\r".join(
            [
                msh("M1", "ADT^A40^ADT_A39"),
                "EVN|A40|20261128",
                pid(mrn="P200", name="Kowalska^Anna"),
                "MRG|P100^^^HOSP^MR",
            ]
        )
    )
    assert code_of(ack) == "AA"
    ack = receive(order_message("C1", patient=pid(mrn="P100", name="Kowalsky^Ana")))
    assert code_of(ack) == "AA"
    assert locations(ack, "W") == ["PID^1^3"]
    survivor.refresh_from_db()
    retired.refresh_from_db()
    assert (survivor.family_name, survivor.given_name) == ("Kowalska", "Anna")
    assert Order.objects.get().patient == survivor


# --- item 8: only NW needs a patient ---------------------------------------------------------------------------


@pytest.mark.parametrize("control", ["CA", "DC"])
def test_a_cancel_naming_the_order_by_orc_2_alone_is_applied(catalog, control):
    assert code_of(receive(order_message("C1", placer="PL5"))) == "AA"
    text = "\r".join([msh("C2", "ORM^O01^ORM_O01"), "ORC|" + control + "|PL5^CIS"])
    ack = receive(text)
    assert code_of(ack) == "AA", ack
    assert Exam.objects.get().status == Exam.Status.CANCELLED


def test_a_change_with_its_obr_but_without_pid_is_applied(catalog):
    assert code_of(receive(order_message("C1", placer="PL5"))) == "AA"
    ack = receive(
        "\r".join(
            [msh("C2", "ORM^O01^ORM_O01"), "ORC|XO|PL5^CIS||||||||||||||||||", "OBR|1|PL5^CIS||CTHEAD^CT head^99RIS|S"]
        )
    )
    assert code_of(ack) == "AA", ack
    assert Order.objects.get().priority == "STAT"


def test_a_cancel_whose_pid_names_another_patient_is_ae_204(catalog):
    assert code_of(receive(order_message("C1", placer="PL5"))) == "AA"
    PatientFactory(mrn="P999", mrn_issuer="HOSP")
    ack = receive("\r".join([msh("C2", "ORM^O01^ORM_O01"), pid(mrn="P999"), "ORC|CA|PL5^CIS"]))
    assert code_of(ack) == "AE"
    assert locations(ack, "E") == ["PID^1^3"]
    assert Exam.objects.get().status == Exam.Status.ORDERED


def test_a_new_order_still_needs_its_patient(catalog):
    ack = receive("\r".join([msh("C1", "ORM^O01^ORM_O01"), "ORC|NW|PL1^CIS", "OBR|1|PL1^CIS||CTHEAD"]))
    assert code_of(ack) == "AE"
    assert locations(ack, "E") == ["PID^1"]


# --- item 9: OBR-24 is HL7 table 0074 ---------------------------------------------------------------------------


@pytest.mark.parametrize("section", ["NMR", "RAD", "MR", "", "IMG"])
def test_obr_24_service_sections_never_refuse_a_valid_mr_order(mr_catalog, section):
    ack = receive(order_message("C1", code="MRBRAIN^MR brain^99RIS", obr_24=section))
    assert (code_of(ack), locations(ack, "W")) == ("AA", [])
    assert Exam.objects.get().procedure_type.code == "MRBRAIN"


def test_an_obr_24_section_that_contradicts_the_catalog_is_a_warning_not_a_refusal(mr_catalog):
    ack = receive(order_message("C1", code="MRBRAIN^MR brain^99RIS", obr_24="CT"))
    assert code_of(ack) == "AA"
    assert locations(ack, "W") == ["OBR^1^24"]
    assert Exam.objects.get().procedure_type.modality.code == "MR"


# --- item 13: plausibility and catalog look-up -----------------------------------------------------------------


@pytest.mark.parametrize("birth", ["18500101", (date.today() + timedelta(days=2)).strftime("%Y%m%d")])
def test_an_implausible_birth_date_is_ae_naming_pid_7(catalog, birth):
    ack = receive(order_message("C1", patient=pid(birth=birth)))
    assert code_of(ack) == "AE"
    assert locations(ack, "E") == ["PID^1^7"]
    assert "102" in err_fields(ack)[0][3]
    assert not Patient.objects.exists()


def test_a_duplicate_placer_number_is_ae_205_naming_orc_2(catalog):
    assert code_of(receive(order_message("C1", placer="PL1"))) == "AA"
    ack = receive(order_message("C2", placer="PL1"))
    assert code_of(ack) == "AE"
    assert locations(ack, "E") == ["ORC^1^2"]
    assert "205" in err_fields(ack)[0][3]
    assert Order.objects.count() == 1


@pytest.mark.parametrize(
    "code", ["cthead^CT head^99RIS", "CtHead", "70450^CT head w/o contrast^C4", "X1^Head^L^70450^^C4"]
)
def test_the_catalog_is_found_by_code_in_any_case_and_by_cpt(mr_catalog, code):
    ProcedureTypeFactory._meta.model.objects.filter(code="CTCHEST").update(cpt_code="71250")
    ack = receive(order_message("C1", code=code))
    assert code_of(ack) == "AA", ack
    assert Exam.objects.get().procedure_type.code == "CTHEAD"


def test_a_cpt_code_several_procedures_share_is_ae_103(catalog):
    # Both CT procedures of the catalog fixture bill 70450 (the factory's CPT).
    ack = receive(order_message("C1", code="70450^CT^C4"))
    assert code_of(ack) == "AE"
    assert locations(ack, "E") == ["OBR^1^4"]


# --- item 14: one accession number per exam (default), or per order --------------------------------------------


def test_each_exam_of_an_hl7_order_gets_its_own_accession_number(catalog):
    assert code_of(receive(order_message("C1", obrs=2))) == "AA"
    numbers = list(Exam.objects.values_list("accession_number", flat=True))
    assert len(set(numbers)) == len(numbers) == 2
    assert Order.objects.get().accession_number in numbers


def test_with_accession_per_order_the_exams_share_one_number(catalog, settings):
    settings.RIS_ACCESSION_PER = "order"
    assert code_of(receive(order_message("C1", obrs=2))) == "AA"
    assert len(set(Exam.objects.values_list("accession_number", flat=True))) == 1
    assert AccessionNumber.objects.count() == 1


def test_a_sender_that_repeats_its_accession_on_each_obr_gets_one_shared_number(catalog):
    Sender.objects.create(name="CIS", assigns_accession_numbers=True)
    assert code_of(receive(order_message("C1", obrs=2, obr_18="ACC5"))) == "AA"
    assert set(Exam.objects.values_list("accession_number", flat=True)) == {"ACC5"}


def test_the_order_ack_and_log_name_the_first_exam_and_the_patient(catalog):
    receive(order_message("C1"))
    row = InboundMessage.objects.get()
    assert (row.mrn, row.accession_number) == ("P100", Exam.objects.get().accession_number)


def test_booking_after_an_hl7_order_keeps_timezone_aware_times(catalog):
    # (guard: the warning path must not break the booking path's aware datetimes)
    receive(order_message("C1", orc_5="SC", start=tomorrow_at(9)))
    assert timezone.is_aware(Exam.objects.get().scheduled_start)


# --- a vendor-style v2.3 feed through the real listener, sent by the hl7 package's mllp_send ----------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_a_v23_feed_through_mllp_send_is_applied_message_by_message(catalog, hl7_port, tmp_path):
    """An eRAD / McKesson-shaped day: register (alpha-3 country), order with OBR-18 placer field and a local-ID
    physician, a second order whose start lies in the past, and a cancel naming the first order by ORC-2 alone."""
    header = "MSH|^~\\&|CIS|HOSP|RIS|RAD|20261128101010||{type}|{id}|P|2.3"
    patient = "PID|1||P500^^^HOSP^MR||KOWALSKI^JAN^M||19610402|M|||12 ELM ST^^SPRINGFIELD^IL^62701^USA||2175550123"
    messages = [
        "\r".join([header.format(type="ADT^A04", id="V1"), "EVN|A04|20261128101010", patient, "PV1|1|O"]),
        "\r".join(
            [
                header.format(type="ORM^O01", id="V2"),
                patient,
                "PV1|1|O",
                "ORC|NW|ORD7001^CIS||||||||||7101^ESTRADA^JAIME",
                "OBR|1|ORD7001^CIS||CTHEAD^CT HEAD WO^L|||||||||||||0000100||||||RAD",
            ]
        ),
        "\r".join(
            [
                header.format(type="ORM^O01", id="V3"),
                patient,
                "ORC|NW|ORD7002^CIS|||SC||^^^20150301083000",
                "OBR|1|ORD7002^CIS||CTCHEST^CT CHEST^L|||||||||||||||||||CT",
            ]
        ),
        "\r".join([header.format(type="ORM^O01", id="V4"), "ORC|CA|ORD7001^CIS"]),
    ]
    path = tmp_path / "feed.hl7"
    path.write_text("\n".join(m.replace("\r", "\n") for m in messages) + "\n", encoding="utf-8")
    acks = ["MSH|" + ack for ack in mllp_send(hl7_port, path)]
    assert [code_of(ack) for ack in acks] == ["AA", "AA", "AA", "AA"], acks
    for ack in acks:
        assert_valid_ack(ack.strip().replace("\n", "\r"), version="2.3")
    assert "in the past" in acks[2]
    patient_row = Patient.objects.get(mrn="P500")
    assert patient_row.country == "US"
    first = Exam.objects.get(order__placer_order_number="ORD7001")
    assert first.accession_number != "0000100"
    assert first.status == Exam.Status.CANCELLED
    assert first.order.referring_physician.identifier == "7101"
    second = Exam.objects.get(order__placer_order_number="ORD7002")
    assert (second.status, second.scheduled_start) == (Exam.Status.ORDERED, None)
