"""Outbound delivery to a real MLLP peer (the `hl7` package's asyncio server): ORM^O01 on booking, rescheduling,
cancelling and status changes; order kept per accession number; retries with backoff; FAILED; resend."""

import asyncio
import threading
import time
from datetime import datetime, timedelta
from datetime import time as clock

import hl7
import hl7.mllp
import pytest
from django.urls import reverse
from django.utils import timezone

from interfaces import sender
from interfaces.models import Destination, OutboundMessage
from interfaces.outbox import outbox_drain
from interfaces.tasks import deliver_destination, drain_outbox
from ris.exceptions import ApplicationError
from ris.models import OutboxEvent
from ris.services import outbox_add
from scheduling import services
from tests.conftest import free_port
from tests.factories import (
    TEST_ACTOR,
    PatientFactory,
    ProcedureTypeFactory,
    RoomFactory,
    UserFactory,
    an_hour_ago,
    make_order,
    room_open_round_the_clock,
)
from tests.factories import clock as frozen_clock
from tests.interfaces.test_outbound import validate_strict

pytestmark = pytest.mark.usefixtures("quick_delivery")

Status = OutboundMessage.Status
TRANSACTIONAL = pytest.mark.django_db(transaction=True, serialized_rollback=True)


class Peer:
    """A PACS stand-in: the `hl7` package's asyncio MLLP server in a thread, recording every message it reads.

    `answer(message)` gives the MSA-1 to send back ("AA", "AE") or None to stay silent.
    """

    def __init__(self, port: int, answer=lambda message: "AA", *, close_after_ack: bool = False):
        self.port = port
        self.answer = answer
        self.close_after_ack = close_after_ack
        self.received: list[hl7.Message] = []
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server = None

    def start(self) -> "Peer":
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=5)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _shutdown(self) -> None:
        self._server.close()
        clients = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in clients:
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)

    async def _serve(self):
        return await hl7.mllp.start_hl7_server(self._client, "127.0.0.1", self.port, encoding="utf-8")

    async def _client(self, reader, writer) -> None:
        self.connections += 1
        try:
            while True:
                message = await reader.readmessage()
                self.received.append(message)
                code = self.answer(message)
                if code:
                    writer.writemessage(message.create_ack(code))
                    await writer.drain()
                if self.close_after_ack:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def orders(self) -> list[tuple[str, str, str]]:
        """(ORC-1, OBR-18 accession, OBR-27.4 start) of each ORM received, in order."""
        return [
            (str(m.segment("ORC")[1]), str(m.segment("OBR")[18]), str(m.segment("OBR")[27][0][3]))
            for m in self.received
        ]


def pacs(port: int, **kwargs) -> Destination:
    return Destination.objects.create(
        name=kwargs.pop("name", "PACS"),
        host="127.0.0.1",
        port=port,
        message_types=kwargs.pop("message_types", ["ORM"]),
        receiving_application="PACS",
        receiving_facility="HOSP",
        **kwargs,
    )


def tomorrow(hour: int, minute: int = 0) -> datetime:
    day = timezone.localdate() + timedelta(days=1)
    return datetime.combine(day, clock(hour, minute), tzinfo=timezone.get_current_timezone())


def hl7_time(value: datetime) -> str:
    return f"{timezone.localtime(value):%Y%m%d%H%M%S%z}"


def new_exam(**patient):
    order = make_order(patient=PatientFactory(**patient))
    exam = order.exams.get()
    room = RoomFactory(modality=exam.procedure_type.modality)
    return exam, room


@TRANSACTIONAL
def test_the_pacs_hears_nw_on_booking_xo_on_rescheduling_and_ca_on_cancelling(peers):
    peer = peers()
    pacs(peer.port)
    exam, room = new_exam(family_name="Müller", given_name="Jürgen")
    accession = exam.accession_number

    services.exam_book(exam=exam, room=room, start=tomorrow(9), acting_user=TEST_ACTOR)
    services.exam_book(exam=exam, room=room, start=tomorrow(11), acting_user=TEST_ACTOR)
    services.exam_cancel(exam=exam, reason="Patient asked", acting_user=TEST_ACTOR)

    assert peer.orders() == [
        ("NW", accession, hl7_time(tomorrow(9))),
        ("XO", accession, hl7_time(tomorrow(11))),
        ("CA", accession, hl7_time(tomorrow(11))),
    ]
    assert [str(m.segment("ORC")[5]) for m in peer.received] == ["SC", "SC", "CA"]
    first = peer.received[0]
    assert str(first.segment("PID")[5]) == "Müller^Jürgen"
    assert str(first.segment("ZDS")[1][0][0]) == exam.study_instance_uid
    assert str(first.segment("OBR")[19]) == exam.requested_procedure_id
    sent = OutboundMessage.objects.order_by("id")
    assert [(m.status, m.sequence_key, m.attempts) for m in sent] == [(Status.SENT, accession, 1)] * 3
    assert all("MSA|AA|" in m.ack for m in sent)
    assert not OutboxEvent.objects.filter(processed_at__isnull=True).exists()
    # What the PACS read is the v2.3.1 RAD-4 form, header and body alike.
    for message in peer.received:
        assert str(message.segment("MSH")[12]) == "2.3.1"
        validate_strict(str(message))


@pytest.mark.django_db
def test_status_changes_reach_the_pacs_as_sc_with_the_order_status(peers, django_capture_on_commit_callbacks):
    peer = peers()
    pacs(peer.port)
    exam, room = new_exam()
    second, _ = new_exam()
    with django_capture_on_commit_callbacks(execute=True):
        services.exam_book(exam=exam, room=room, start=tomorrow(9), acting_user=TEST_ACTOR)
    with django_capture_on_commit_callbacks(execute=True):  # booked for tomorrow, the patient came today
        services.exam_check_in(exam=exam, acting_user=TEST_ACTOR, early_reason="came a day early")
    with django_capture_on_commit_callbacks(execute=True):
        services.exam_start(exam=exam, acting_user=TEST_ACTOR)
    with django_capture_on_commit_callbacks(execute=True):
        services.exam_complete(exam=exam, acting_user=TEST_ACTOR)
    due = an_hour_ago()  # the second was booked yesterday for a time now past, and the patient did not come
    with django_capture_on_commit_callbacks(execute=True), frozen_clock(due - timedelta(days=1)):
        second_room = room_open_round_the_clock(modality=second.procedure_type.modality)
        services.exam_book(exam=second, room=second_room, start=due, acting_user=TEST_ACTOR)
    with django_capture_on_commit_callbacks(execute=True):
        services.exam_mark_no_show(exam=second, acting_user=TEST_ACTOR)

    assert [(str(m.segment("ORC")[1]), str(m.segment("ORC")[5])) for m in peer.received] == [
        ("NW", "SC"),
        ("SC", "IP"),
        ("SC", "IP"),
        ("SC", "CM"),
        ("NW", "SC"),
        ("SC", "HD"),
    ]


@pytest.mark.django_db
def test_cancelling_an_exam_never_booked_tells_the_pacs_nothing(peers, django_capture_on_commit_callbacks):
    peer = peers()
    pacs(peer.port)
    exam, _room = new_exam()
    with django_capture_on_commit_callbacks(execute=True):
        services.exam_cancel(exam=exam, reason="Ordered twice", acting_user=TEST_ACTOR)
    assert peer.received == []
    assert OutboxEvent.objects.get().processed_at is not None


@TRANSACTIONAL
def test_a_peer_down_while_exams_are_booked_gets_every_orm_in_order_once_it_is_back(peers, settings):
    settings.RIS_HL7_MAX_ATTEMPTS = 10
    port = free_port()
    destination = pacs(port)
    first, room = new_exam()
    second, _ = new_exam()
    services.exam_book(exam=first, room=room, start=tomorrow(8), acting_user=TEST_ACTOR)
    services.exam_book(exam=second, room=room, start=tomorrow(9), acting_user=TEST_ACTOR)
    services.exam_book(exam=first, room=room, start=tomorrow(10), acting_user=TEST_ACTOR)
    services.exam_cancel(exam=second, reason="Patient asked", acting_user=TEST_ACTOR)
    pending = OutboundMessage.objects.order_by("id")
    assert [m.status for m in pending] == [Status.PENDING] * 4
    assert "Cannot connect" in pending[0].last_error

    peer = peers(port)
    deliver_destination(destination.pk)

    a, b = first.accession_number, second.accession_number
    assert peer.orders() == [
        ("NW", a, hl7_time(tomorrow(8))),
        ("NW", b, hl7_time(tomorrow(9))),
        ("XO", a, hl7_time(tomorrow(10))),
        ("CA", b, hl7_time(tomorrow(9))),
    ]
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {Status.SENT}


@pytest.mark.django_db
def test_a_rejected_message_is_retried_with_backoff_and_holds_back_later_ones_of_its_order(
    peers, settings, django_capture_on_commit_callbacks
):
    settings.RIS_HL7_RETRY_BASE_SECONDS = 10
    peer = peers(answer=lambda message: "AE" if str(message.segment("ORC")[1]) == "NW" else "AA")
    destination = pacs(peer.port)
    exam, room = new_exam()
    other, _ = new_exam()
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        services.exam_book(exam=exam, room=room, start=tomorrow(9), acting_user=TEST_ACTOR)
    nw = OutboundMessage.objects.get()
    assert (nw.status, nw.attempts) == (Status.PENDING, 1)
    assert "AE" in nw.last_error
    assert "MSA|AE|" in nw.ack
    assert timedelta(seconds=20) <= nw.next_attempt_at - before < timedelta(seconds=25)  # 10 s * 2**1

    with django_capture_on_commit_callbacks(execute=True):  # the XO of the same order waits behind the NW
        services.exam_book(exam=exam, room=room, start=tomorrow(11), acting_user=TEST_ACTOR)
    assert [str(m.segment("ORC")[1]) for m in peer.received] == ["NW"]

    later = nw.next_attempt_at + timedelta(seconds=1)
    run = sender.outbound_deliver(destination=destination, now=later)
    nw.refresh_from_db()
    assert (run.sent, run.failed, nw.attempts) == (0, 1, 2)
    assert nw.next_attempt_at == later + timedelta(seconds=40)  # 10 s * 2**2

    # Another order is not held back by this one.
    with django_capture_on_commit_callbacks(execute=True):
        services.exam_book(exam=other, room=room, start=tomorrow(13), acting_user=TEST_ACTOR)
    assert [str(m.segment("ORC")[1]) for m in peer.received] == ["NW", "NW", "NW"]

    sender.outbound_deliver(destination=destination, now=nw.next_attempt_at + timedelta(seconds=1))
    nw.refresh_from_db()
    assert (nw.status, nw.attempts, nw.next_attempt_at) == (Status.FAILED, 3, None)
    assert "AE" in nw.last_error
    # Failed, the NW no longer holds the XO back (the other order's NW, rejected too, was retried meanwhile).
    sender.outbound_deliver(destination=destination)
    assert [str(m.segment("ORC")[1]) for m in peer.received] == ["NW", "NW", "NW", "NW", "NW", "XO"]
    xo = OutboundMessage.objects.get(status=Status.SENT)
    assert xo.control_id == str(peer.received[-1].segment("MSH")[10])


@pytest.mark.django_db
def test_silence_is_retried_and_ends_failed_after_the_last_attempt(peers, settings):
    settings.RIS_HL7_ACK_TIMEOUT_SECONDS = 0.3
    peer = peers(answer=lambda message: None)
    destination = pacs(peer.port)
    exam, room = new_exam()
    services.exam_book(exam=exam, room=room, start=tomorrow(9), acting_user=TEST_ACTOR)  # no commit: drain by hand
    drain_outbox()
    message = OutboundMessage.objects.get()
    assert (message.status, message.attempts) == (Status.PENDING, 1)
    assert "No acknowledgement within 0.3 s" in message.last_error
    started = time.monotonic()
    deliver_destination(destination.pk)
    deliver_destination(destination.pk)
    assert time.monotonic() - started < 2
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.FAILED, 3)
    assert len(peer.received) == 3
    assert peer.connections == 3  # a timed-out connection is not reused


@pytest.mark.django_db
def test_an_administrator_resends_a_failed_message(peers, client, django_capture_on_commit_callbacks):
    answers = {"code": "AR"}
    peer = peers(answer=lambda message: answers["code"])
    destination = pacs(peer.port)
    exam, room = new_exam()
    services.exam_book(exam=exam, room=room, start=tomorrow(9), acting_user=TEST_ACTOR)
    drain_outbox()
    deliver_destination(destination.pk)
    deliver_destination(destination.pk)
    message = OutboundMessage.objects.get()
    assert message.status == Status.FAILED

    answers["code"] = "AA"
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:interfaces_outboundmessage_changelist"),
            {"action": "resend", "_selected_action": [message.pk]},
            follow=True,
        )
    assert response.status_code == 200
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.SENT, 1)
    assert len(peer.received) == 4
    with pytest.raises(ApplicationError, match="only a failed message"):
        sender.outbound_resend(message=message, acting_user=admin)


@pytest.mark.django_db
def test_a_peer_that_closes_the_connection_after_each_ack_still_gets_every_message(peers):
    peer = peers(close_after_ack=True)
    destination = pacs(peer.port)
    for hour in (8, 9, 10):
        exam, room = new_exam()
        services.exam_book(exam=exam, room=room, start=tomorrow(hour), acting_user=TEST_ACTOR)
    drain_outbox()
    deliver_destination(destination.pk)
    assert len(peer.received) == 3
    assert peer.connections == 3
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {Status.SENT}


@pytest.mark.django_db
def test_each_event_becomes_one_message_per_enabled_destination_taking_orm():
    pacs(1, name="PACS A")
    pacs(2, name="PACS B", message_types=["ORM", "ORU"])
    pacs(3, name="Reports only", message_types=["ORU"])
    pacs(4, name="Switched off", enabled=False)
    exam, room = new_exam()
    services.exam_book(exam=exam, room=room, start=tomorrow(9), acting_user=TEST_ACTOR)
    # A report that is gone: processed, nothing to send.
    outbox_add(kind="report.final", acting_user=TEST_ACTOR, report_id=10**9)

    assert outbox_drain() == 2
    messages = OutboundMessage.objects.select_related("destination").order_by("destination__name")
    assert [m.destination.name for m in messages] == ["PACS A", "PACS B"]
    assert len({m.control_id for m in messages}) == 2
    assert all(f"|{m.control_id}|" in m.raw for m in messages)
    assert not OutboxEvent.objects.filter(processed_at__isnull=True).exists()


@pytest.mark.django_db
def test_each_exam_of_an_order_reaches_the_pacs_under_its_own_accession_number(
    peers, django_capture_on_commit_callbacks
):
    peer = peers()
    pacs(peer.port)
    head, chest = ProcedureTypeFactory(), ProcedureTypeFactory()
    order = make_order(procedure_types=[head, chest])
    room = RoomFactory(modality=head.modality)
    first, second = order.exams.order_by("id")
    assert first.accession_number != second.accession_number  # one per exam (RIS_ACCESSION_PER=exam)
    with django_capture_on_commit_callbacks(execute=True):
        services.exam_book(exam=first, room=room, start=tomorrow(9), acting_user=TEST_ACTOR)
        services.exam_book(exam=second, room=room, start=tomorrow(10), acting_user=TEST_ACTOR)
    with django_capture_on_commit_callbacks(execute=True):
        services.exam_book(exam=second, room=room, start=tomorrow(11), acting_user=TEST_ACTOR)

    assert peer.orders() == [
        ("NW", first.accession_number, hl7_time(tomorrow(9))),
        ("NW", second.accession_number, hl7_time(tomorrow(10))),
        ("XO", second.accession_number, hl7_time(tomorrow(11))),
    ]
    sent = OutboundMessage.objects.order_by("id")
    assert [(m.sequence_key, m.accession_number) for m in sent] == [
        (first.accession_number, first.accession_number),
        (second.accession_number, second.accession_number),
        (second.accession_number, second.accession_number),
    ]
