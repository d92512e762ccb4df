"""The placer's Study Instance UID (IHE RAD-2/RAD-4): IPC-3 in OMI^O23, ZDS-1 in ORM^O01. The exam takes it instead
of minting one; a value that is not a UID, or one another exam has, is an AE naming the field, and nothing is lost."""

import pytest
from pydicom import Dataset

from interfaces.models import InboundMessage
from interfaces.services import message_receive
from ris.validators import validate_uid
from scheduling.models import Exam, Order
from tests.factories import make_order
from tests.interfaces.conftest import assert_valid_ack, error_of, msh, pid, receive_fields, segment, tomorrow_at
from worklist import scp

pytestmark = pytest.mark.django_db

GE_UID = "1.2.840.113619.2.55.3.2831164355.12.1764590000.1"  # a root and shape as a vendor's CIS sends
PLACER_UID = "1.2.826.0.1.3680043.10.543.20261201.77"


def orm_v231(control_id: str, *, zds: str, placer: str = "PL21") -> str:
    """ORM^O01 v2.3.1 as a CIS in IHE Scheduled Workflow sends it, the Study Instance UID in ZDS-1."""
    return "\r".join(
        [
            msh(control_id, "ORM^O01", version="2.3.1", charset=""),
            pid(name="Muller^Juergen"),
            "PV1|1|O",
            segment("ORC", {1: "NW", 2: f"{placer}^CIS", 7: f"^^^{tomorrow_at(10)}^^R"}),
            segment(
                "OBR", {1: "1", 2: f"{placer}^CIS", 4: "CTHEAD^CT head^99RIS", 24: "CT", 27: f"^^^{tomorrow_at(10)}"}
            ),
            f"ZDS|{zds}",
        ]
    )


def omi_v251(control_id: str, *, ipc3: str, placer: str = "PL22") -> str:
    """OMI^O23 v2.5.1 (IHE RAD-4 in Scheduled Workflow.b): ORC, TQ1, OBR, IPC with the UID in IPC-3."""
    return "\r".join(
        [
            msh(control_id, "OMI^O23^OMI_O23"),
            pid(),
            "PV1|1|O",
            f"ORC|NW|{placer}^CIS|||SC",  # ORC-5 SC: booked at the TQ1-7 start
            f"TQ1|1||||||{tomorrow_at(11)}||R",
            "OBR|1|" + placer + "^CIS||CTHEAD^CT head^99RIS",
            f"IPC|ACC22^CIS|RP22|{ipc3}|SPS22|CT^^DCM",
        ]
    )


def test_orm_v2_3_1_with_zds_gives_the_exam_the_placers_uid(catalog):
    ack = receive_fields(orm_v231("Z1", zds=f"{GE_UID}^CIS^Application^DICOM"))
    assert ack["MSA"][1] == "AA"
    assert Exam.objects.get().study_instance_uid == GE_UID


def test_omi_o23_with_ipc_3_gives_the_exam_the_placers_uid_and_the_worklist_returns_it(catalog, monkeypatch):
    # The handler runs in this test's transaction: it must not close the connection as an association's thread does.
    monkeypatch.setattr(scp, "close_old_connections", lambda: None)
    ack = receive_fields(omi_v251("O1", ipc3=f"{PLACER_UID}^^1.2.826.0.1.3680043.10.543^ISO"))
    assert ack["MSA"][1] == "AA"
    exam = Exam.objects.get()
    assert (exam.study_instance_uid, exam.status) == (PLACER_UID, Exam.Status.SCHEDULED)  # booked from TQ1-7

    class Event:  # a C-FIND as the modality sends it, through the SCP's handler
        identifier = Dataset()
        assoc = type("Assoc", (), {"requestor": type("Requestor", (), {"ae_title": "CT1"})()})()
        is_cancelled = False

    Event.identifier.StudyInstanceUID = PLACER_UID
    Event.identifier.AccessionNumber = ""
    answers = [answer for status, answer in scp.handle_find(Event()) if status == 0xFF00]
    assert [(a.StudyInstanceUID, a.AccessionNumber) for a in answers] == [(PLACER_UID, exam.accession_number)]


def test_without_a_uid_the_ris_mints_one(catalog):
    assert receive_fields(omi_v251("O1", ipc3=""))["MSA"][1] == "AA"
    assert receive_fields(orm_v231("Z1", zds="", placer="PL23"))["MSA"][1] == "AA"
    minted = list(Exam.objects.values_list("study_instance_uid", flat=True))
    assert len(set(minted)) == 2
    for uid in minted:
        validate_uid(uid)


@pytest.mark.parametrize(
    "uid",
    [
        "1.2.840.0113619.2",  # a component with a leading zero
        "1.2..3",  # an empty component
        "1.2.3.",
        "1.2.3a",
        "1.2.3 4",
        "2.25." + "1" * 61,  # 65 characters
    ],
)
@pytest.mark.parametrize(
    ("build", "location"),
    [(lambda uid: omi_v251("B1", ipc3=uid), "IPC^1^3"), (lambda uid: orm_v231("B1", zds=f"{uid}^CIS"), "ZDS^1^1")],
    ids=["omi", "orm"],
)
def test_a_value_that_is_not_a_uid_is_an_ae_at_its_field_and_the_message_is_kept(catalog, uid, build, location):
    raw = message_receive(build(uid).encode())
    assert_valid_ack(raw)
    ack = {segment.split("|")[0]: segment.split("|") for segment in raw.split("\r") if segment}
    assert ack["MSA"][1] == "AE"
    where, code, reason = error_of(ack)
    assert (where, code) == (location, "102")
    assert "Study Instance UID" in reason
    assert (Order.objects.count(), Exam.objects.count()) == (0, 0)
    stored = InboundMessage.objects.get()
    assert (stored.status, stored.ack_code, stored.control_id) == ("ERROR", "AE", "B1")


def test_a_uid_another_exam_has_is_an_ae_205_not_a_server_error(catalog):
    existing = make_order(procedure_types=[catalog["head"]], study_instance_uids=[PLACER_UID]).exams.get()
    ack = receive_fields(omi_v251("D1", ipc3=PLACER_UID))
    assert ack["MSA"][1] == "AE"
    where, code, reason = error_of(ack)
    assert (where, code) == ("IPC^1^3", "205")
    assert f"Study Instance UID {PLACER_UID} is in use by another exam" in reason
    assert list(Exam.objects.values_list("pk", flat=True)) == [existing.pk]
    assert InboundMessage.objects.get(control_id="D1").status == "ERROR"

    again = receive_fields(orm_v231("D2", zds=f"{PLACER_UID}^CIS^Application^DICOM"))
    assert error_of(again)[:2] == ("ZDS^1^1", "205")
