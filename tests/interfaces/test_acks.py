"""ACKs in the sender's HL7 version (v2.3 to 2.6), and application ACKs in enhanced mode when MSH-16 is empty.

The messages are shaped like those of v2.3 feeds (a Polish CIS sending ISO 8859-2, a US RIS front end, MSH-15 `AL`
with MSH-16 left empty); every ACK is checked with hl7apy STRICT in its own version (`assert_valid_ack`).
"""

import pytest

from interfaces.hl7v2 import MessageError, application_ack_mode
from interfaces.models import ApplicationAck, InboundMessage, OutboundMessage
from interfaces.services import message_receive
from interfaces.services.applying import HANDLERS
from ris.models import Patient
from scheduling.models import Exam, Order
from tests.factories import DestinationFactory
from tests.interfaces.conftest import assert_valid_ack, err_fields, msh_segment, segment

pytestmark = pytest.mark.django_db


def cis_orm(control_id: str, control: str = "NW", *, code: str = "CTHEAD", version: str = "2.3", ack: str = "") -> str:
    """An ORM^O01 as a v2.3 CIS sends it: ISO 8859-2, MSH-15 `AL` (`ack`) with MSH-16 left empty."""
    return "\r".join(
        [
            msh_segment(
                {3: "KAMSOFT", 4: "SZPITAL", 5: "RIS", 6: "RAD", 7: "20261128101010", 9: "ORM^O01", 10: control_id}
                | {11: "P", 12: version, 15: ack, 18: "8859/2"}
            ),
            segment("PID", {1: "1", 3: "P100^^^SZPITAL^MR", 5: "Nowak^Anna", 7: "19800304", 8: "F"}),
            segment("PV1", {1: "1", 2: "O"}),
            segment("ORC", {1: control, 2: "ZL1^KAMSOFT"}),
            segment("OBR", {1: "1", 2: "ZL1^KAMSOFT", 4: f"{code}^TK glowy^99RIS", 24: "CT"}),
        ]
    )


def send(text: str, encoding: str = "iso8859-2") -> str:
    return message_receive(text.encode(encoding))


def fields(ack: str, name: str) -> list[str]:
    return next(seg.split("|") for seg in ack.split("\r") if seg.startswith(name + "|"))


# --- the version of the ACK --------------------------------------------------------------------------------------


def test_a_v2_3_order_for_an_unknown_procedure_gets_a_v2_3_ae_with_the_location_in_err_1(catalog):
    ack = send(cis_orm("KS0001", code="RTGKLP"))
    assert_valid_ack(ack, version="2.3")
    msh = fields(ack, "MSH")
    assert msh[8] == "ACK^O01"  # v2.3 MSH-9 is CM: type^event, no structure component
    assert fields(ack, "MSA")[1:3] == ["AE", "KS0001"]
    assert err_fields(ack) == [["ERR", "OBR^1^4^103&Table value not found&HL70357"]]
    assert (Patient.objects.count(), Order.objects.count()) == (0, 0)
    assert InboundMessage.objects.get().status == "ERROR"


def test_a_v2_4_merge_of_an_unknown_record_gets_a_v2_4_ae_naming_mrg_1_1_in_err_1(catalog):
    head = {3: "ADT1", 4: "GOOD HEALTH", 5: "RIS", 7: "200701011539", 9: "ADT^A40^ADT_A39", 10: "M4001"}
    text = "\r".join(
        [
            msh_segment(head | {11: "P", 12: "2.4"}),
            segment("EVN", {1: "A40", 2: "200701011539"}),
            segment("PID", {1: "1", 3: "MR2001^^^HOSP^MR", 5: "EVERYWOMAN^EVE", 7: "19620320", 8: "F"}),
            segment("MRG", {1: "MR1999^^^HOSP"}),
        ]
    )
    ack = message_receive(text.encode())
    assert_valid_ack(ack, version="2.4")
    assert fields(ack, "MSH")[8] == "ACK^A40^ACK"
    assert fields(ack, "MSA")[1] == "AE"
    assert err_fields(ack) == [["ERR", "MRG^1^1^204&Unknown key identifier&HL70357"]]
    assert not Patient.objects.filter(mrn="MR2001").exists()


def test_a_v2_5_1_ae_fills_err_2_to_8_and_leaves_err_1_empty(catalog):
    ack = send(cis_orm("KS0002", code="RTGKLP", version="2.5.1"))
    assert_valid_ack(ack, version="2.5.1")
    [err] = err_fields(ack)
    assert err[1:5] == ["", "OBR^1^4", "103^Table value not found^HL70357", "E"]
    assert "RTGKLP" in err[8]
    assert fields(ack, "MSH")[8] == "ACK^O01^ACK"
    assert Order.objects.count() == 0


def test_a_version_the_ris_does_not_take_is_refused_in_a_2_5_1_ack(catalog):
    ack = send(cis_orm("KS0003", version="2.2"))
    assert_valid_ack(ack, version="2.5.1")
    assert fields(ack, "MSA")[1] == "AR"
    [err] = err_fields(ack)
    assert (err[2], err[3].split("^")[0]) == ("MSH^1^12", "203")
    assert Order.objects.count() == 0


def test_a_v2_3_ack_keeps_to_ascii_and_leaves_msh_18_empty(catalog):
    ack = send(cis_orm("KS0004", code="RTG-ŻEBRA"))  # ISO 8859-2 bytes
    assert_valid_ack(ack, version="2.3")
    assert ack.isascii()
    assert len(fields(ack, "MSH")) == 12  # nothing after MSH-12: MSH-18 empty, ASCII (table 0211's default)
    assert "RTG-ZEBRA" in fields(ack, "MSA")[3]
    assert "RTG-ŻEBRA" in InboundMessage.objects.get().outcome  # the log keeps the exact text


def test_a_v2_3_ack_echoing_a_non_ascii_facility_names_its_characters_unicode(catalog):
    ack = send(cis_orm("KS0006").replace("|SZPITAL|RIS|", "|SZPITAL ŁÓDŹ|RIS|", 1))
    assert_valid_ack(ack, version="2.3")
    msh = fields(ack, "MSH")
    assert (msh[5], msh[17]) == ("SZPITAL ŁÓDŹ", "UNICODE")  # ISO 10646: v2.3 table 0211 has no UTF-8 code
    assert Order.objects.count() == 1


@pytest.mark.parametrize("version", ["2.5", "2.5.1", "2.6"])
def test_acks_from_v2_5_name_their_character_set(catalog, version):
    ack = send(cis_orm("KS0005", version=version))
    assert_valid_ack(ack, version=version)
    assert fields(ack, "MSH")[17] == "UNICODE UTF-8"
    assert Order.objects.count() == 1


@pytest.fixture
def warning_on_phone(monkeypatch):
    """The ADT^A04 handler, returning a warning as handlers may: the message is applied, the sender should know."""
    register = HANDLERS[("ADT", "A04")]

    def with_warning(reader, head, row, **options):
        register(reader, head, row, **options)
        return [MessageError("Patient class Z ignored.", code=103, location=("PV1", 1, 2), severity="W")]

    monkeypatch.setitem(HANDLERS, ("ADT", "A04"), with_warning)


def adt_a04(control_id: str, version: str) -> str:
    return "\r".join(
        [
            msh_segment(
                {3: "REGADT", 4: "MCM", 5: "RIS", 7: "20261128101010", 9: "ADT^A04", 10: control_id, 11: "P"}
                | {12: version}
            ),
            segment("EVN", {1: "A04", 2: "20261128101010"}),
            segment("PID", {1: "1", 3: "191919^^^GENHOS^MR", 5: "MASSIE^JAMES^A", 7: "19560129", 8: "M"}),
            segment("PV1", {1: "1", 2: "Z"}),
        ]
    )


@pytest.mark.parametrize("version", ["2.5.1", "2.6"])
def test_a_warning_is_an_err_with_severity_w_on_an_aa_from_v2_5(catalog, warning_on_phone, version):
    ack = message_receive(adt_a04("W1", version).encode())
    assert_valid_ack(ack, version=version)
    assert fields(ack, "MSA")[1] == "AA"
    [err] = err_fields(ack)
    assert err[1:5] == ["", "PV1^1^2", "103^Table value not found^HL70357", "W"]
    assert Patient.objects.filter(mrn="191919").exists()


@pytest.mark.parametrize("version", ["2.3", "2.3.1", "2.4"])
def test_before_v2_5_a_warning_is_told_in_msa_3_and_no_err_is_sent(catalog, warning_on_phone, version):
    ack = message_receive(adt_a04("W2", version).encode())
    assert_valid_ack(ack, version=version)
    assert fields(ack, "MSA")[1:4] == ["AA", "W2", "Patient class Z ignored."]
    assert err_fields(ack) == []
    assert "warning: Patient class Z ignored. (PV1-2)" in InboundMessage.objects.get().outcome
    assert Patient.objects.filter(mrn="191919").exists()


# --- enhanced mode: MSH-15 AL with MSH-16 empty ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "application", "mode"),
    [("", "", ""), ("AL", "", "AL"), ("NE", "", "AL"), ("AL", "NE", "NE"), ("", "ER", "ER"), ("AL", "SU", "SU")],
)
def test_an_empty_msh_16_in_enhanced_mode_reads_as_al(accept, application, mode):
    assert application_ack_mode(accept, application) == mode


@pytest.fixture
def deliveries(monkeypatch) -> list[int]:
    """Destinations whose delivery was queued (nothing is sent over the network here)."""
    queued: list[int] = []
    monkeypatch.setattr("interfaces.tasks.delivery_queue", queued.append)
    return queued


def test_a_failed_cancel_from_a_v2_3_feed_with_empty_msh_16_is_sent_back_as_application_ae(
    catalog, deliveries, django_capture_on_commit_callbacks
):
    cis = DestinationFactory(name="KAMSOFT", port=2576, message_types=["ACK"])
    assert fields(send(cis_orm("KS0100")), "MSA")[1] == "AA"  # original mode: the order
    Exam.objects.update(status=Exam.Status.IN_PROGRESS)  # the patient is on the table
    with django_capture_on_commit_callbacks(execute=True):
        accept = send(cis_orm("KS0101", "CA", ack="AL"))
    assert_valid_ack(accept, version="2.3")
    assert fields(accept, "MSA")[1:3] == ["CA", "KS0101"]
    application = OutboundMessage.objects.get(message_type="ACK")
    assert_valid_ack(application.raw, version="2.3")
    assert fields(application.raw, "MSA")[1:3] == ["AE", "KS0101"]
    assert err_fields(application.raw) == [["ERR", "ORC^1^1^207&Application internal error&HL70357"]]
    assert deliveries == [cis.pk]
    assert InboundMessage.objects.get(control_id="KS0101").application_ack_state == ApplicationAck.QUEUED
    assert Exam.objects.get().status == Exam.Status.IN_PROGRESS  # not cancelled


def test_an_application_ack_with_no_destination_leaves_the_message_unanswered(
    catalog, deliveries, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send(cis_orm("KS0200", "CA", ack="AL"))  # no such order: AE, and no destination named KAMSOFT
    message = InboundMessage.objects.get()
    assert (message.status, message.ack_code) == ("ERROR", "AE")
    assert message.application_ack_state == ApplicationAck.UNROUTED
    assert_valid_ack(message.ack, version="2.3")
    assert err_fields(message.ack) == [["ERR", "ORC^1^2^204&Unknown key identifier&HL70357"]]
    assert not OutboundMessage.objects.exists()
    assert deliveries == []


def test_a_resend_after_a_destination_was_added_delivers_the_unanswered_application_ack(
    catalog, deliveries, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send(cis_orm("KS0300", ack="AL"))  # applied, but no destination named KAMSOFT for the ACK
    assert InboundMessage.objects.get().application_ack_state == ApplicationAck.UNROUTED
    cis = DestinationFactory(name="KAMSOFT", port=2579, message_types=["ACK"])
    with django_capture_on_commit_callbacks(execute=True):
        accept = send(cis_orm("KS0300", ack="AL"))  # the CIS, still waiting, sends it again
    assert fields(accept, "MSA")[1:3] == ["CA", "KS0300"]
    application = OutboundMessage.objects.get()
    assert_valid_ack(application.raw, version="2.3")
    assert fields(application.raw, "MSA")[1:3] == ["AA", "KS0300"]
    assert deliveries == [cis.pk]
    assert InboundMessage.objects.get().application_ack_state == ApplicationAck.QUEUED
    assert Order.objects.count() == 1  # answered, not applied twice
