"""Inbound HL7 applied through message_receive: outcomes, ERR locations, idempotency, modes, escapes, character sets."""

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interfaces.models import InboundMessage, Sender
from interfaces.services import message_receive
from ris.models import Patient, ProcedureType
from scheduling.models import Exam, Order
from tests.factories import PatientFactory, ProcedureTypeFactory, make_booked_exam
from tests.interfaces.conftest import adt, assert_valid_ack, msh, orm, pid, tomorrow_at

pytestmark = pytest.mark.django_db


def receive(text: str, encoding: str = "utf-8", *, validate: bool = True) -> dict[str, list[str]]:
    """The ACK of one message by segment ID, after checking it is a valid ACK of its version (hl7apy STRICT)."""
    ack = message_receive(text.encode(encoding))
    if validate:  # (not for bytes without a control ID: MSA-2 cannot name what the ACK answers)
        assert_valid_ack(ack)
    return {segment.split("|")[0]: segment.split("|") for segment in ack.split("\r") if segment}


def domain_counts() -> tuple[int, int, int]:
    return Patient.objects.count(), Order.objects.count(), Exam.objects.count()


def test_an_unknown_procedure_code_is_answered_ae_naming_obr_4_and_nothing_is_written(catalog):
    ack = receive(orm("C1", code="NOPE"))
    assert ack["MSA"][1] == "AE"
    assert ack["ERR"][2] == "OBR^1^4"
    assert ack["ERR"][3].startswith("103^")
    assert "NOPE" in ack["ERR"][8]
    assert domain_counts() == (0, 0, 0)  # the patient of the failed order was not registered either
    stored = InboundMessage.objects.get()
    assert (stored.status, stored.ack_code, stored.control_id) == ("ERROR", "AE", "C1")


def test_a_missing_pid_is_answered_ae(catalog):
    text = orm("C1").replace("\r" + pid() + "\r", "\r")
    ack = receive(text)
    assert (ack["MSA"][1], ack["ERR"][2]) == ("AE", "PID^1")
    assert domain_counts() == (0, 0, 0)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (orm("C1", version="2.1"), "203"),
        (msh("C1", "MFN^M02") + "\rPID|1||P1", "200"),
        (msh("C1", "ADT^A99") + "\rPID|1||P1", "201"),
        ("PID|1||P1^^^HOSP||Nobody", "100"),
        ("MSH|^~\\&|CIS", "203"),  # truncated: no version (nor control ID)
    ],
)
def test_unsupported_or_unreadable_messages_are_answered_ar(catalog, text, code):
    ack = receive(text, validate="|C1|" in text)
    assert ack["MSA"][1] == "AR"
    assert ack["ERR"][3].startswith(code + "^")
    assert domain_counts() == (0, 0, 0)
    assert InboundMessage.objects.get().status == "REJECTED"


def test_nul_bytes_are_refused_and_the_message_is_still_stored(catalog):
    ack = message_receive(orm("C\x00N").replace("Müller", "M\x00ller").encode())
    assert_valid_ack(ack)
    assert "MSA|AR|" in ack
    assert "\x00" not in ack
    stored = InboundMessage.objects.get()
    assert stored.status == "REJECTED"
    assert "\x00" not in stored.raw
    assert domain_counts() == (0, 0, 0)


def test_an_unknown_order_control_code_is_answered_ae_naming_orc_1(catalog):
    ack = receive(orm("C1", control="ZZ"))
    assert (ack["MSA"][1], ack["ERR"][2]) == ("AE", "ORC^1^1")
    assert domain_counts() == (0, 0, 0)


def test_a_resent_control_id_gets_the_first_answer_and_is_applied_once(catalog):
    first = message_receive(orm("C1").encode())
    again = message_receive(orm("C1").encode())
    assert_valid_ack(again)
    assert again == first
    assert Order.objects.count() == 1
    assert InboundMessage.objects.count() == 1


def test_the_same_control_id_from_another_sender_is_another_message(catalog):
    receive(orm("C1"))
    receive(orm("C1", placer="PL2").replace("|CIS|HOSP|", "|LAB|HOSP|", 1))
    assert Order.objects.count() == 2


def test_enhanced_mode_answers_a_commit_accept_and_applies_the_message(catalog, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ack = receive(orm("C1", extra="||AL|NE"))
    assert ack["MSA"][1] == "CA"
    assert InboundMessage.objects.get().status == "APPLIED"  # the task ran (eagerly here)
    assert Order.objects.count() == 1


def test_a_stored_message_left_unapplied_is_applied_on_restart(catalog, django_capture_on_commit_callbacks):
    from interfaces.tasks import apply_pending

    with django_capture_on_commit_callbacks(execute=False):  # the process "dies" before its task runs
        receive(orm("C1", extra="||AL|NE"))
    assert InboundMessage.objects.get().status == "RECEIVED"
    assert apply_pending() == 1
    assert apply_pending() == 0
    assert Order.objects.count() == 1


def test_cancel_cancels_the_exams_and_an_unknown_order_is_ae_naming_orc_2(catalog):
    receive(orm("C1"))
    assert receive(orm("C2", control="CA"))["MSA"][1] == "AA"
    assert Exam.objects.get().status == Exam.Status.CANCELLED
    ack = receive(orm("C3", control="CA", placer="NOSUCH"))
    assert (ack["MSA"][1], ack["ERR"][2]) == ("AE", "ORC^1^2")


def test_discontinue_cancels_waiting_exams(catalog):
    receive(orm("C1"))
    assert receive(orm("C2", control="DC"))["MSA"][1] == "AA"
    assert Exam.objects.get().status == Exam.Status.CANCELLED


def test_change_updates_the_order(catalog):
    receive(orm("C1"))
    text = orm("C2", control="XO").replace("^^^^^R", "").replace("^Headache", "^Worse headache")
    assert receive(text)["MSA"][1] == "AA"
    assert Order.objects.get().reason == "Worse headache"


def test_a_cis_scheduled_order_is_booked_in_the_first_free_room(catalog):
    ack = receive(orm("C1", status="SC", start=tomorrow_at(9)))
    assert ack["MSA"][1] == "AA"
    exam = Exam.objects.get()
    assert exam.status == Exam.Status.SCHEDULED
    assert exam.room == catalog["room"]
    assert timezone.localtime(exam.scheduled_start).time() == time(9)


def test_a_cis_scheduled_order_with_no_free_room_waits_for_the_front_desk_and_is_still_aa(catalog):
    start = timezone.make_aware(datetime.combine(timezone.localdate() + timedelta(days=1), time(9)))
    make_booked_exam(room=catalog["room"], start=start, procedure_types=[catalog["head"]])
    ack = receive(orm("C1", status="SC", start=tomorrow_at(9), placer="PL9"))
    assert ack["MSA"][1] == "AA"
    assert Order.objects.get(placer_order_number="PL9").exams.get().status == Exam.Status.ORDERED


def test_a_start_time_without_orc_5_sc_leaves_the_exam_ordered(catalog):
    receive(orm("C1", start=tomorrow_at(9)))
    assert Exam.objects.get().status == Exam.Status.ORDERED


def test_adt_update_and_merge(catalog):
    receive(adt("C1", mrn="P1"))
    receive(orm("C2", mrn="P1"))
    receive(adt("C3", trigger="A08", mrn="P1", name="Müller^Jürgen^^^Prof"))
    assert Patient.objects.get(mrn="P1").name_prefix == "Prof"
    receive(adt("C4", mrn="P2", name="Øster^Åse", sex="F"))
    merge = adt("C5", trigger="A40", mrn="P2", name="Øster^Åse", sex="F") + "\rMRG|P1^^^HOSP"
    assert receive(merge)["MSA"][1] == "AA"
    source, target = Patient.objects.get(mrn="P1"), Patient.objects.get(mrn="P2")
    assert source.merged_into == target
    assert Order.objects.get().patient == target


def test_a_merge_of_an_unknown_record_is_ae_naming_mrg_1(catalog):
    ack = receive(adt("C1", trigger="A40") + "\rMRG|NOSUCH^^^HOSP")
    assert (ack["MSA"][1], ack["ERR"][2]) == ("AE", "MRG^1^1")


def test_escapes_and_hex_escapes_are_decoded(catalog):
    receive(adt("C1", name="O\\T\\Brien\\F\\X^J\\XC3BC\\rgen"))
    patient = Patient.objects.get()
    assert (patient.family_name, patient.given_name) == ("O&Brien|X", "Jürgen")


def test_latin1_messages_declared_in_msh_18(catalog):
    text = adt("C1", name="Øster^Åse").replace("UNICODE UTF-8", "8859/1")
    assert receive(text, encoding="latin-1")["MSA"][1] == "AA"
    assert Patient.objects.get().family_name == "Øster"


def test_utf8_bytes_under_a_latin1_declaration_are_read_as_utf8(catalog):
    text = adt("C1", name="Øster^Åse").replace("UNICODE UTF-8", "8859/1")
    receive(text, encoding="utf-8")
    assert Patient.objects.get().family_name == "Øster"


def test_an_update_of_a_merged_record_never_overwrites_the_survivor(catalog):
    survivor = PatientFactory(mrn="P2", mrn_issuer="HOSP", family_name="Alt")
    PatientFactory(mrn="P1", mrn_issuer="HOSP", merged_into=survivor)
    ack = receive(adt("C1", trigger="A08", mrn="P1", name="Neu^Name"))
    survivor.refresh_from_db()
    assert (ack["MSA"][1], survivor.family_name) == ("AA", "Alt")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(lambda t: ("MSH|^~\\&|" + t).encode()),
        st.sampled_from([orm("X"), adt("X")]).flatmap(
            lambda m: st.integers(min_value=0, max_value=len(m)).map(lambda n: m[:n].encode())
        ),
    )
)
def test_random_and_truncated_input_gets_an_ack_and_writes_no_domain_data(catalog, data):
    before = domain_counts()
    ack = message_receive(data)
    assert ack.startswith("MSH|")
    code = ack.split("MSA|")[1][:2]
    assert code in ("AA", "AE", "AR")
    if ack.split("MSA|")[1].split("|")[1].strip("\r"):  # MSA-2 can name the message answered (see below)
        assert_valid_ack(ack)
    if code != "AA":
        assert domain_counts() == before


# (An ACK to bytes with no readable MSH cannot name the control ID it answers, which MSA-2 requires.)
@pytest.mark.parametrize(
    ("text", "version"),
    [
        (orm("V1"), "2.5.1"),
        (orm("V2", code="NOPE"), "2.5.1"),
        (orm("V3", version="2.1"), "2.5.1"),  # a version the RIS does not take: answered in 2.5.1
        (orm("V4", extra="||AL|NE"), "2.5.1"),
        (orm("V5", code="NOPE", version="2.3"), "2.3"),
        (orm("V6", code="NOPE", version="2.3.1"), "2.3.1"),
        (orm("V7", version="2.4"), "2.4"),
        (orm("V8", code="NOPE", version="2.6"), "2.6"),
    ],
)
def test_every_ack_is_valid_in_the_senders_version_for_hl7apy(
    catalog, text, version, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ack = message_receive(text.encode())
    message = assert_valid_ack(ack, version=version)
    assert message.msh.msh_9.to_er7().startswith("ACK")
    assert message.msa.msa_1.value in ("AA", "AE", "AR", "CA")


def test_omi_o23_orders_with_the_senders_accession_number_from_ipc_1(catalog):
    Sender.objects.create(name="CIS", assigns_accession_numbers=True)
    text = "\r".join(
        [
            msh("O1", "OMI^O23^OMI_O23"),
            pid(),
            "ORC|NW|PL7^CIS",
            "TQ1|1||||||20261201090000||S",  # TQ1-7 start, TQ1-9 priority
            "OBR|1|PL7^CIS||CTHEAD^CT head^99RIS",
            "IPC|ACC777|RP777|1.2.3.777|SPS777",
        ]
    )
    assert receive(text)["MSA"][1] == "AA"
    order = Order.objects.get()
    assert (order.accession_number, order.priority, order.placer_order_number) == ("ACC777", "STAT", "PL7")


def test_an_implausible_order_from_the_cis_is_accepted_with_a_warning_and_recorded(catalog):
    """A CPOE order outside the catalog's sex or age limits is not lost: AA, an ERR of severity W, the history."""
    ProcedureTypeFactory(
        code="CTPELVPREG",
        name="CT pelvimetry",
        modality=catalog["room"].modality,
        allowed_sex=ProcedureType.AllowedSex.FEMALE,
        min_age_years=12,
        max_age_years=55,
    )
    ack = message_receive(orm("C1", code="CTPELVPREG").encode())  # PID: a man born in 1970
    assert_valid_ack(ack)
    segments = [segment.split("|") for segment in ack.split("\r") if segment]
    assert [s[1] for s in segments if s[0] == "MSA"] == ["AA"]
    [warning] = [s for s in segments if s[0] == "ERR"]
    assert (warning[2], warning[4]) == ("OBR^1^4", "W")
    assert "meant for female patients; the patient is male" in warning[8]
    order = Order.objects.get()
    assert order.exams.get().procedure_type.code == "CTPELVPREG"
    created = order.history.earliest()
    assert "CTPELVPREG CT pelvimetry: meant for female patients" in created.plausibility_override
    assert created.history_actor == "HL7:CIS"
