"""Referring Physician's Name (0008,0090) on the worklist for a physician the CIS names by a local ID, no NPI."""

from datetime import timedelta

import pytest
from django.utils import timezone
from pydicom import Dataset

from interfaces.services import message_receive
from ris.audit import Interface
from ris.services import physician_match_or_create
from scheduling.models import Exam
from tests.factories import PatientFactory, ProcedureTypeFactory, RoomFactory, make_booked_exam
from tests.interfaces.conftest import msh
from tests.worklist.conftest import at
from worklist import scp

pytestmark = pytest.mark.django_db


@pytest.fixture
def ct(monkeypatch):
    """A CT room and a CT head procedure; the handler's connection housekeeping left to the test's transaction."""
    monkeypatch.setattr(scp, "close_old_connections", lambda: None)
    room = RoomFactory(name="CT 1", station_ae_title="CT1", modality__code="CT", modality__name="CT")
    head = ProcedureTypeFactory(code="CTHEAD", name="CT head", modality=room.modality, default_duration_minutes=20)
    return {"room": room, "head": head}


class Event:
    """The parts of a pynetdicom C-FIND event the handler reads."""

    assoc = type("Assoc", (), {"requestor": type("Requestor", (), {"ae_title": "CT1"})()})()
    is_cancelled = False

    def __init__(self, **keys):
        self.identifier = Dataset()
        for keyword, value in keys.items():
            setattr(self.identifier, keyword, value)


def worklist(**keys) -> list[Dataset]:
    return [answer for status, answer in scp.handle_find(Event(**keys)) if status in (scp.PENDING, scp.PENDING_WARNING)]


def test_a_local_id_physician_is_the_referring_physician_of_the_worklist_item(ct):
    physician = physician_match_or_create(
        acting_user=Interface("HL7", "CIS"),
        identifier="7101",
        authority="STJOHN",
        family_name="ESTRADA",
        given_name="JAIME",
        middle_name="R",
        name_prefix="DR",
        name_suffix="JR",
    )
    make_booked_exam(
        patient=PatientFactory(mrn="800123"),
        procedure_types=[ct["head"]],
        room=ct["room"],
        start=at(9),
        referring_physician=physician,
        booked_at=timezone.now() - timedelta(days=1),  # today's 09:00 may have passed: booked yesterday
    )
    [item] = worklist(PatientID="", ReferringPhysicianName="", RequestingPhysician="")
    assert str(item.ReferringPhysicianName) == "ESTRADA^JAIME^R^DR^JR"  # PN: family^given^middle^prefix^suffix
    assert str(item.RequestingPhysician) == "ESTRADA^JAIME^R^DR^JR"
    assert len(worklist(ReferringPhysicianName="ESTRADA^JAIME")) == 1
    assert worklist(ReferringPhysicianName="NGUYEN") == []


def test_an_order_from_hl7_with_orc_12_local_id_reaches_the_worklist_with_the_name(ct):
    start = timezone.localtime(at(10) + timedelta(days=1))
    message = "\r".join(
        [
            msh("C1", "ORM^O01", version="2.3"),
            "PID|1||800123^^^MEMHOSP^MR||SMITH^JOHN^A||19600515|M|||1200 MAIN ST^^SPRINGFIELD^IL^62701^USA",
            "PV1|1|O|RAD||||||||||||||||V12345",
            f"ORC|NW|ORD1^CIS|||SC||^^^{start:%Y%m%d%H%M%S}^^R||20261128101000|||7101^ESTRADA^JAIME^^^^^^STJOHN",
            "OBR|1|ORD1^CIS||CTHEAD^CT head^99RIS|||20261128100000|||||||||7101^ESTRADA^JAIME^^^^^^STJOHN||||||||CT",
        ]
    )
    ack = message_receive(message.encode())
    assert "MSA|AA|C1" in ack, ack
    assert Exam.objects.get().status == Exam.Status.SCHEDULED
    [item] = worklist(PatientID="800123", ReferringPhysicianName="")
    assert str(item.ReferringPhysicianName) == "ESTRADA^JAIME"
