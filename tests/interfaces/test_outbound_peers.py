"""Outbound HL7 read by a real MLLP peer (the `hl7` package's asyncio server) and validated with hl7apy STRICT in
the message's own version: orders in the form each destination takes (ORM^O01 v2.3.1 or OMI^O23 v2.5.1), order
changes as XO, ORU^R01 with the report, and patient updates and merges (ADT^A08 / ADT^A40, IHE RAD-12) made in
the RIS or received from the CIS, never sent back to the CIS."""

import json
import time
from datetime import timedelta

import hl7.client
import pytest
from django.urls import reverse
from django.utils import timezone

from interfaces.hl7v2 import Reader, parse
from interfaces.models import OutboundMessage
from reporting import services as reporting
from ris.models import OutboxEvent, Patient
from ris.services import patient_merge, patient_update
from scheduling import services
from tests.factories import (
    TEST_ACTOR,
    TEST_PASSWORD,
    ModalityFactory,
    PatientFactory,
    ProcedureTypeFactory,
    RoomFactory,
    UserFactory,
    make_booked_exam,
    make_order,
    make_radiologist,
    npi_from,
    room_open_round_the_clock,
)
from tests.interfaces.conftest import adt, msh, orm, pid, tomorrow_at
from tests.interfaces.test_delivery import hl7_time, new_exam, pacs, tomorrow
from tests.interfaces.test_outbound import NPI_XCN_9, validate_strict

pytestmark = pytest.mark.usefixtures("quick_delivery")

TRANSACTIONAL = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def field(message: hl7.Message, segment: str, number: int, component: int = 1) -> str:
    """One component of the first `segment` of a received message, unescaped ("" when absent)."""
    reader = Reader(parse(str(message)))  # the peer's python-hl7 parse, read as the RIS reads messages
    return reader.get(reader.segment(segment), number, component)


def kinds(peer) -> list[str]:
    """MSH-9 type^trigger of each message the peer read, with its MSH-12 version."""
    return [f"{field(m, 'MSH', 9, 1)}^{field(m, 'MSH', 9, 2)} {field(m, 'MSH', 12)}" for m in peer.received]


def all_valid(peer) -> None:
    for message in peer.received:
        validate_strict(str(message))


def wait_for(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the peer did not receive what was expected in time"
        time.sleep(0.05)


# --- item 15: each destination its IHE form ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_destination_set_to_omi_gets_omi_o23_v251_while_another_gets_orm_o01_v231(
    peers, django_capture_on_commit_callbacks
):
    orm_peer, omi_peer = peers(), peers()
    pacs(orm_peer.port, name="PACS A")
    pacs(omi_peer.port, name="PACS B", order_message="OMI_O23")
    exam, room = new_exam()
    room_ae = room.station_ae_title
    with django_capture_on_commit_callbacks(execute=True):
        services.exam_book(exam=exam, room=room, start=tomorrow(9), acting_user=TEST_ACTOR)
    with django_capture_on_commit_callbacks(execute=True):
        services.exam_book(exam=exam, room=room, start=tomorrow(11), acting_user=TEST_ACTOR)

    assert kinds(orm_peer) == ["ORM^O01 2.3.1"] * 2
    assert kinds(omi_peer) == ["OMI^O23 2.5.1"] * 2
    all_valid(orm_peer)
    all_valid(omi_peer)
    nw, xo = omi_peer.received
    assert [field(m, "ORC", 1) for m in (nw, xo)] == ["NW", "XO"]
    assert [field(m, "TQ1", 7) for m in (nw, xo)] == [hl7_time(tomorrow(9)), hl7_time(tomorrow(11))]
    assert field(nw, "TQ1", 9) == "R"
    assert [field(nw, "IPC", n) for n in (1, 2, 3, 4, 5)] == [
        exam.accession_number,
        exam.requested_procedure_id,
        exam.study_instance_uid,
        exam.scheduled_procedure_step_id,
        exam.procedure_type.modality.code,
    ]
    assert field(nw, "IPC", 9) == room_ae
    assert str(orm_peer.received[0].segment("ZDS")[1][0][0]) == exam.study_instance_uid
    stored = OutboundMessage.objects.order_by("destination__name", "id")
    assert [(m.message_type, m.trigger_event) for m in stored] == [("ORM", "O01")] * 2 + [("OMI", "O23")] * 2


@pytest.mark.django_db
def test_the_admin_shows_and_sets_the_order_message_of_a_destination(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.post(
        reverse("admin:interfaces_destination_add"),
        {"name": "PACS", "host": "127.0.0.1", "port": 2575, "message_types": '["ORM"]', "order_message": "OMI_O23"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    page = client.get(reverse("admin:interfaces_destination_changelist")).content.decode()
    assert "OMI^O23 v2.5.1 with TQ1 and IPC" in page


# --- item 17: order changes as procedure updates ------------------------------------------------------------------


@pytest.mark.django_db
def test_an_order_change_reaches_the_pacs_as_xo_for_each_booked_exam(peers, django_capture_on_commit_callbacks):
    orm_peer, omi_peer = peers(), peers()
    pacs(orm_peer.port, name="PACS A")
    pacs(omi_peer.port, name="PACS B", order_message="OMI_O23")
    head, chest = ProcedureTypeFactory(), ProcedureTypeFactory()
    order = make_order(procedure_types=[head, chest], reason="Headache")
    booked, waiting = order.exams.order_by("id")
    with django_capture_on_commit_callbacks(execute=True):
        services.exam_book(
            exam=booked, room=RoomFactory(modality=head.modality), start=tomorrow(9), acting_user=TEST_ACTOR
        )
    with django_capture_on_commit_callbacks(execute=True):
        services.order_update(order=order, acting_user=TEST_ACTOR, priority="STAT", reason="Worse headache")
    with django_capture_on_commit_callbacks(execute=True):  # nothing changed: nothing to tell
        services.order_update(order=order, acting_user=TEST_ACTOR, priority="STAT", reason="Worse headache")

    assert [field(m, "ORC", 1) for m in orm_peer.received] == ["NW", "XO"]
    xo = orm_peer.received[1]
    assert (field(xo, "OBR", 18), field(xo, "ORC", 5)) == (booked.accession_number, "SC")
    assert field(xo, "ORC", 7, 6) == "S"  # STAT now
    assert field(xo, "OBR", 31, 2) == "Worse headache"
    assert field(xo, "OBR", 27, 4) == hl7_time(tomorrow(9))  # the booking is unchanged
    assert all(field(m, "OBR", 18) != waiting.accession_number for m in orm_peer.received)  # never booked
    assert [field(m, "ORC", 1) for m in omi_peer.received] == ["NW", "XO"]
    assert field(omi_peer.received[1], "TQ1", 9) == "S"
    all_valid(orm_peer)
    all_valid(omi_peer)
    event = OutboxEvent.objects.get(kind="exam.changed")
    assert (event.payload["exam_id"], event.payload["accession_number"]) == (booked.pk, booked.accession_number)


# --- item 16: ORU^R01 ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_oru_tells_when_the_exam_was_done_who_signed_each_part_and_which_study(
    peers, django_capture_on_commit_callbacks
):
    peer = peers()
    pacs(peer.port, name="CIS", message_types=["ORU"])
    mr = ProcedureTypeFactory(modality=ModalityFactory(code="MR", name="Magnetic Resonance"))
    performed = (timezone.now() - timedelta(hours=3)).replace(microsecond=0)
    room = room_open_round_the_clock(modality=mr.modality)
    booked = performed.replace(minute=0, second=0)  # booked a day before, performed on the booked day
    exam = make_booked_exam(
        procedure_types=[mr], admission_id="V777", room=room, start=booked, booked_at=booked - timedelta(days=1)
    )
    services.exam_check_in(exam=exam, acting_user=TEST_ACTOR, at=max(booked, performed - timedelta(minutes=10)))
    services.exam_start(exam=exam, acting_user=TEST_ACTOR, at=performed, performed_at=room.station_ae_title)  # MPPS
    services.exam_complete(exam=exam, acting_user=TEST_ACTOR, at=performed + timedelta(minutes=20))
    attending = make_radiologist(npi=npi_from(77), first_name="Åse", last_name="Øster")
    second = make_radiologist(npi=npi_from(78), first_name="Sam", last_name="Second")
    sections = {"findings": "Small left pleural effusion.\nNo mass.", "impression": "Small left effusion."}
    with django_capture_on_commit_callbacks(execute=True):
        report = reporting.report_save_draft(exam=exam, user=attending, sections=sections)
        report = reporting.report_sign_final(report=report, user=attending, password=TEST_PASSWORD)
    with django_capture_on_commit_callbacks(execute=True):
        addendum = reporting.addendum_save(report=report, user=second, text="Compared with the prior: unchanged.")
        addendum = reporting.addendum_sign(addendum=addendum, user=second, password=TEST_PASSWORD)
    report.refresh_from_db()
    addendum.refresh_from_db()

    assert kinds(peer) == ["ORU^R01 2.5.1"] * 2
    all_valid(peer)
    final, corrected = peer.received
    for message, status in ((final, "F"), (corrected, "C")):
        assert field(message, "OBR", 7) == hl7_time(performed)  # the exam, not the signing
        assert field(message, "OBR", 18) == exam.accession_number
        assert (field(message, "OBR", 24), field(message, "OBR", 25)) == ("NMR", status)  # table 0074
        assert (field(message, "PV1", 2), field(message, "PV1", 19)) == ("U", "V777")
        study = [s for s in message.segments("OBX") if str(s[3][0][0]) == "113014"]
        assert [str(s[3]) for s in study] == ["113014^DICOM Study^DCM"]
        assert (str(study[0][2]), str(study[0][5])) == ("ST", exam.study_instance_uid)
        assert str(message.segment("ZDS")[1][0][0]) == exam.study_instance_uid
        interpreter = str(message.segment("OBR")[32]).split("&")
        assert interpreter[0] == attending.npi
        assert interpreter[8:11] == NPI_XCN_9
    assert field(final, "OBR", 22) == hl7_time(report.signed_at)
    assert field(corrected, "OBR", 22) == hl7_time(addendum.signed_at)

    text = [s for s in corrected.segments("OBX") if str(s[2]) == "TX"]
    sub_ids = [str(s[4]) for s in text]
    assert len(set(sub_ids)) == len(sub_ids)
    lines = [str(s[5]) for s in text]
    first_addendum_line = next(n for n, line in enumerate(lines) if line.startswith("ADDENDUM by")) - 1  # blank
    signing_times = [str(s[14]) for s in text]
    assert set(signing_times[:first_addendum_line]) == {hl7_time(report.signed_at)}
    assert set(signing_times[first_addendum_line:]) == {hl7_time(addendum.signed_at)}
    observers = [str(s[16][0][0]) for s in text]
    assert set(observers[:first_addendum_line]) == {attending.npi}
    assert set(observers[first_addendum_line:]) == {second.npi}
    assert lines[-1] == "Compared with the prior: unchanged."
    assert str(text[0][16]).split("^")[8:] == ["&".join(NPI_XCN_9), "", "", "", "NPI"]


# --- item 17: patient updates and merges (IHE RAD-12) -----------------------------------------------------------


@pytest.mark.django_db
def test_a_patient_changed_in_the_ris_reaches_adt_destinations_as_a08(peers, django_capture_on_commit_callbacks):
    adt_peer, orders_only = peers(), peers()
    pacs(adt_peer.port, name="PACS", message_types=["ORM", "ADT"])
    pacs(orders_only.port, name="Other", message_types=["ORM"])
    patient = PatientFactory(family_name="Alt", given_name="Anna")
    clerk = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        patient_update(patient=patient, acting_user=clerk, family_name="Müller-Neu")
    with django_capture_on_commit_callbacks(execute=True):  # nothing changed: nothing to tell
        patient_update(patient=patient, acting_user=clerk, family_name="Müller-Neu")

    assert kinds(adt_peer) == ["ADT^A08 2.5.1"]
    assert orders_only.received == []
    all_valid(adt_peer)
    a08 = adt_peer.received[0]
    assert (field(a08, "PID", 3, 1), field(a08, "PID", 3, 5)) == (patient.mrn, "MR")
    assert str(a08.segment("PID")[5]) == "Müller-Neu^Anna"
    assert field(a08, "EVN", 1) == "A08"
    event = OutboxEvent.objects.get(kind="patient.updated")
    assert event.payload["fields"] == ["family_name"]
    payload = json.dumps(event.payload, ensure_ascii=False)
    assert not any(name in payload for name in ("Müller", "Anna", "Alt"))  # identifiers, no names
    message = OutboundMessage.objects.get()
    assert (message.message_type, message.trigger_event, message.mrn) == ("ADT", "A08", patient.mrn)


@pytest.mark.django_db
def test_a_merge_in_the_ris_reaches_adt_destinations_as_a40_so_the_pacs_follows(
    peers, django_capture_on_commit_callbacks
):
    peer = peers()
    pacs(peer.port, message_types=["ORM", "ADT"])
    survivor, duplicate = PatientFactory(), PatientFactory()
    make_order(patient=duplicate)
    with django_capture_on_commit_callbacks(execute=True):
        patient_merge(source=duplicate, target=survivor, acting_user=UserFactory())

    assert kinds(peer) == ["ADT^A40 2.5.1"]
    all_valid(peer)
    a40 = peer.received[0]
    assert field(a40, "PID", 3, 1) == survivor.mrn
    assert [field(a40, "MRG", 1, c) for c in (1, 4, 5)] == [duplicate.mrn, duplicate.mrn_issuer, "MR"]
    assert str(a40.segment("PID")[5]).startswith(survivor.family_name)


@TRANSACTIONAL
@pytest.mark.slow
def test_updates_merges_and_order_changes_from_the_cis_reach_the_pacs_but_never_go_back_to_the_cis(
    catalog, hl7_port, peers
):
    pacs_peer, cis_peer = peers(), peers()
    pacs(pacs_peer.port, name="PACS", message_types=["ORM", "ADT"])
    pacs(cis_peer.port, name="CIS", message_types=["ORM", "ADT"])  # the CIS also follows the RIS's changes
    start = tomorrow_at(9)
    cis = hl7.client.MLLPClient("127.0.0.1", hl7_port, encoding="utf-8")
    try:
        merged = "\r".join(
            [msh("C5", "ADT^A40^ADT_A39"), "EVN||20261128101010", pid(name="Müller^Hans"), "MRG|P200^^^HOSP^MR"]
        )
        for message in (
            adt("C1", "A04"),  # registered: nothing to tell (the PACS hears of the patient with the order)
            adt("C2", "A08", name="Müller^Hans"),
            adt("C3", "A04", mrn="P200", name="Doppel^Hans"),
            orm("C4", "NW", status="SC", start=start).replace("Müller^Jürgen^K^^Dr", "Müller^Hans"),
            merged,
            orm("C6", "XO", start=start).replace(f"{start}^^R", f"{start}^^S"),  # now STAT
        ):
            assert b"MSA|AA|" in cis.send_message(message)
    finally:
        cis.close()
    wait_for(lambda: len(pacs_peer.received) >= 4)
    time.sleep(0.3)  # anything else would have come by now

    assert kinds(pacs_peer) == ["ADT^A08 2.5.1", "ORM^O01 2.3.1", "ADT^A40 2.5.1", "ORM^O01 2.3.1"]
    assert cis_peer.received == []
    all_valid(pacs_peer)
    a08, nw, a40, xo = pacs_peer.received
    assert str(a08.segment("PID")[5]).startswith("Müller^Hans")
    assert (field(nw, "ORC", 1), field(xo, "ORC", 1), field(xo, "ORC", 7, 6)) == ("NW", "XO", "S")
    assert (field(a40, "PID", 3, 1), field(a40, "MRG", 1, 1)) == ("P100", "P200")
    assert Patient.objects.get(mrn="P200").merged_into.mrn == "P100"
    assert not OutboxEvent.objects.filter(processed_at__isnull=True).exists()
