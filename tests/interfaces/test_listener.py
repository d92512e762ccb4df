"""The MLLP listener with the hl7 package's mllp_send as the CIS: ADT and ORM in, ACKs out."""

import contextlib
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from interfaces import listener
from interfaces.mllp import frame
from interfaces.models import InboundMessage
from ris.models import Patient
from scheduling.models import Exam, Order
from tests.conftest import free_port
from tests.interfaces.conftest import adt, mllp_send, orm, read_frame, write_messages

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]


def msa(ack: str) -> list[str]:
    segment = next(s for s in ack.replace("\n", "\r").split("\r") if s.startswith("MSA|"))
    return segment.split("|")


def test_mllp_send_registers_a_patient_and_orders_an_exam(catalog, hl7_port, tmp_path):
    path = tmp_path / "messages.hl7"
    write_messages(path, adt("C1"), orm("C2"))
    acks = mllp_send(hl7_port, path)
    assert [msa(a)[1:3] for a in acks] == [["AA", "C1"], ["AA", "C2"]]
    patient = Patient.objects.get(mrn="P100", mrn_issuer="HOSP")
    assert (patient.family_name, patient.given_name, patient.name_prefix) == ("Müller", "Jürgen", "Dr")
    order = Order.objects.get(placer_order_number="PL1", placer_application="CIS")
    assert order.patient == patient
    assert order.diagnosis_codes == ["R51.9"]
    assert order.admission_id == "V123"
    exam = order.exams.get()
    assert (exam.procedure_type.code, exam.status) == ("CTHEAD", Exam.Status.ORDERED)
    assert list(InboundMessage.objects.order_by("id").values_list("status", flat=True)) == ["APPLIED", "APPLIED"]


def send_frames(port: int, payload: bytes, *, timeout: float = 10) -> bytes:
    """Send raw bytes and read until the listener closes the connection or an ACK frame ends."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # closed on us mid-send: what an oversized frame gets
            sock.sendall(payload)
        try:
            return read_frame(sock)
        except OSError:
            return b""


def test_many_messages_on_many_connections_at_once(postgresql, catalog, hl7_port):
    # PostgreSQL: SQLite's shared in-memory test database takes one writer at a time and fails the others.
    def client(number: int) -> list[str]:
        with socket.create_connection(("127.0.0.1", hl7_port), timeout=30) as sock:
            answers = []
            for n in range(10):
                control = f"T{number}-{n}"
                sock.sendall(frame(orm(control, placer=f"PL{number}-{n}").encode()))
                data = read_frame(sock)
                answers.append(msa(data[1:-2].decode())[1] if data else "closed")
            return answers

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(client, range(6)))
    assert results == [["AA"] * 10] * 6
    assert Order.objects.count() == 60


def test_a_20_mb_frame_closes_only_its_connection(catalog, hl7_port, settings):
    answer = send_frames(hl7_port, b"\x0b" + b"A" * (20 * 1024 * 1024))
    assert answer == b""  # closed without an ACK
    other = send_frames(hl7_port, frame(orm("C1").encode()))
    assert msa(other[1:-2].decode())[1] == "AA"


def test_random_bytes_outside_a_frame_close_the_connection_and_the_listener_carries_on(catalog, hl7_port):
    assert send_frames(hl7_port, bytes(range(256))) == b""
    assert msa(send_frames(hl7_port, frame(adt("C1").encode()))[1:-2].decode())[1] == "AA"
    assert Patient.objects.count() == 1


def test_a_message_split_across_many_reads_is_one_message(catalog, hl7_port):
    data = frame(adt("C1").encode())
    with socket.create_connection(("127.0.0.1", hl7_port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for position in range(0, len(data), 7):
            sock.sendall(data[position : position + 7])
            time.sleep(0.002)
        received = read_frame(sock)
    assert msa(received[1:-2].decode())[1:3] == ["AA", "C1"]


def tls_exchange(context: ssl.SSLContext, port: int, message: str) -> bytes:
    """One message over TLS: the ACK frame, or b"" when the handshake or the connection fails."""
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(frame(message.encode()))
            return read_frame(tls)
    except (ssl.SSLError, OSError):
        return b""


def test_tls_with_a_client_certificate(catalog, settings, certificates):
    settings.RIS_HL7_TLS_CERT = str(certificates / "server.pem")
    settings.RIS_HL7_TLS_KEY = str(certificates / "server.key")
    settings.RIS_HL7_TLS_CA = str(certificates / "ca.pem")
    port = free_port()
    server = listener.start("127.0.0.1", port, block=False)
    try:
        client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(certificates / "ca.pem"))
        client.load_cert_chain(str(certificates / "client.pem"), str(certificates / "client.key"))
        assert msa(tls_exchange(client, port, adt("T1"))[1:-2].decode())[1:3] == ["AA", "T1"]
        anonymous = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(certificates / "ca.pem"))
        assert tls_exchange(anonymous, port, adt("T2")) == b""  # no client certificate, no answer
        assert send_frames(port, frame(adt("T3").encode())) == b""  # plain text neither
    finally:
        server.shutdown()
        server.server_close()
    assert Patient.objects.count() == 1
