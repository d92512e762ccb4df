"""HL7 peers: the sender over TLS to a PACS stand-in that demands a client certificate, the listener refusing a
certificate from another CA, RIS_HL7_ALLOWED_SENDERS (MSH-3) on the real listener with mllp_send as the CIS, and the
closed default: configured senders by MSH-3 and peer address, with mutual TLS as what authenticates one."""

import re
import socket
import ssl
from datetime import timedelta

import hl7.mllp
import pytest
from django.utils import timezone

from interfaces import listener
from interfaces.mllp import frame
from interfaces.models import InboundMessage, OutboundMessage, Sender
from ris.models import Patient
from scheduling import services
from scheduling.models import Order
from tests.conftest import free_port
from tests.factories import TEST_ACTOR
from tests.interfaces.conftest import adt, issue_certificates, mllp_send, orm, read_frame, write_messages
from tests.interfaces.test_delivery import Peer, new_exam, pacs, tomorrow
from tests.interfaces.test_listener import tls_exchange
from tests.ris.test_settings import run

Status = OutboundMessage.Status
TRANSACTIONAL = pytest.mark.django_db(transaction=True, serialized_rollback=True)


class TLSPeer(Peer):
    """The PACS stand-in of test_delivery behind TLS: it answers only a client whose certificate its CA signed."""

    def __init__(self, port: int, *, cert, key, ca):
        super().__init__(port)
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca))
        self.tls.load_cert_chain(str(cert), str(key))
        self.tls.verify_mode = ssl.CERT_REQUIRED
        self.client_names: list[str] = []  # the commonName of each client certificate it accepted

    async def _serve(self):
        return await hl7.mllp.start_hl7_server(self._client, "127.0.0.1", self.port, encoding="utf-8", ssl=self.tls)

    async def _client(self, reader, writer) -> None:
        subject = dict(pair for rdn in writer.get_extra_info("peercert")["subject"] for pair in rdn)
        self.client_names.append(subject["commonName"])
        await super()._client(reader, writer)


@pytest.fixture
def tls_peer(certificates):
    """A TLS PACS stand-in with a server certificate from the test CA, demanding a client certificate from it."""
    peer = TLSPeer(
        free_port(), cert=certificates / "server.pem", key=certificates / "server.key", ca=certificates / "ca.pem"
    ).start()
    yield peer
    peer.stop()


@pytest.fixture
def sender_tls(settings, certificates):
    """The RIS's sender trusts the test CA and presents the client certificate it signed."""
    settings.RIS_HL7_TLS_CERT = str(certificates / "client.pem")
    settings.RIS_HL7_TLS_KEY = str(certificates / "client.key")
    settings.RIS_HL7_TLS_CA = str(certificates / "ca.pem")
    settings.RIS_HL7_ACK_TIMEOUT_SECONDS = 5
    settings.RIS_HL7_RETRY_BASE_SECONDS = 10
    settings.RIS_HL7_MAX_ATTEMPTS = 3
    return settings


def book_orm(capture) -> str:
    """Book an exam (the PACS is due an ORM^O01 NW) and run the outbox and delivery as the commit would."""
    exam, room = new_exam()
    with capture(execute=True):
        services.exam_book(exam=exam, room=room, start=tomorrow(9), acting_user=TEST_ACTOR)
    return exam.accession_number


def assert_not_delivered(message: OutboundMessage, *, before, error: str) -> None:
    """Not sent, the attempt counted, the reason kept for the message log, and a retry after the backoff."""
    assert (message.status, message.attempts, message.sent_at) == (Status.PENDING, 1, None)
    assert re.search(error, message.last_error), message.last_error
    assert message.next_attempt_at - before >= timedelta(seconds=20)  # RIS_HL7_RETRY_BASE_SECONDS * 2**1


# --- the sender over TLS -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_sender_delivers_over_tls_presenting_its_client_certificate(
    tls_peer, sender_tls, django_capture_on_commit_callbacks
):
    pacs(tls_peer.port, use_tls=True)
    accession = book_orm(django_capture_on_commit_callbacks)
    message = OutboundMessage.objects.get()
    assert (message.status, message.attempts, message.last_error) == (Status.SENT, 1, "")
    assert f"MSA|AA|{message.control_id}" in message.ack
    assert [str(m.segment("OBR")[18]) for m in tls_peer.received] == [accession]
    assert tls_peer.client_names == ["client"]


@pytest.mark.django_db
def test_the_sender_refuses_a_peer_whose_certificate_another_ca_signed(
    sender_tls, tmp_path, django_capture_on_commit_callbacks
):
    foreign = issue_certificates(tmp_path / "foreign", "server")
    impostor = TLSPeer(
        free_port(), cert=foreign / "server.pem", key=foreign / "server.key", ca=sender_tls.RIS_HL7_TLS_CA
    ).start()
    try:
        pacs(impostor.port, use_tls=True)
        before = timezone.now()
        book_orm(django_capture_on_commit_callbacks)
    finally:
        impostor.stop()
    assert_not_delivered(OutboundMessage.objects.get(), before=before, error="CERTIFICATE_VERIFY_FAILED")
    assert (impostor.received, impostor.client_names) == ([], [])


@pytest.mark.parametrize("credentials", ["none", "another CA's"])
@pytest.mark.django_db
def test_a_peer_demanding_a_client_certificate_gets_nothing_without_one_it_trusts(
    tls_peer, sender_tls, tmp_path, credentials, django_capture_on_commit_callbacks
):
    if credentials == "none":
        sender_tls.RIS_HL7_TLS_CERT = sender_tls.RIS_HL7_TLS_KEY = ""
    else:
        foreign = issue_certificates(tmp_path / "foreign", "client")
        sender_tls.RIS_HL7_TLS_CERT = str(foreign / "client.pem")
        sender_tls.RIS_HL7_TLS_KEY = str(foreign / "client.key")
    pacs(tls_peer.port, use_tls=True)
    before = timezone.now()
    book_orm(django_capture_on_commit_callbacks)
    # TLS 1.3: the client's side of the handshake is done before the server checks the client's certificate; the
    # refusal (an alert, or the connection closed) arrives where the ACK is awaited.
    refusal = "closed the connection without acknowledging|Connection to 127.0.0.1:[0-9]+ failed"
    assert_not_delivered(OutboundMessage.objects.get(), before=before, error=refusal)
    assert (tls_peer.received, tls_peer.client_names) == ([], [])


# --- the listener over TLS -----------------------------------------------------------------------------------------


@TRANSACTIONAL
@pytest.mark.slow
def test_the_listener_refuses_a_client_certificate_another_ca_signed(catalog, settings, certificates, tmp_path):
    settings.RIS_HL7_TLS_CERT = str(certificates / "server.pem")
    settings.RIS_HL7_TLS_KEY = str(certificates / "server.key")
    settings.RIS_HL7_TLS_CA = str(certificates / "ca.pem")
    foreign = issue_certificates(tmp_path / "foreign", "client")
    port = free_port()
    server = listener.start("127.0.0.1", port, block=False)
    try:
        stranger = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(certificates / "ca.pem"))
        stranger.load_cert_chain(str(foreign / "client.pem"), str(foreign / "client.key"))
        refused = tls_exchange(stranger, port, adt("T1"))
        trusted = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(certificates / "ca.pem"))
        trusted.load_cert_chain(str(certificates / "client.pem"), str(certificates / "client.key"))
        accepted = tls_exchange(trusted, port, adt("T2", mrn="P200"))
    finally:
        server.shutdown()
        server.server_close()
    assert refused == b""
    assert b"MSA|AA|T2" in accepted
    assert list(Patient.objects.values_list("mrn", flat=True)) == ["P200"]
    assert list(InboundMessage.objects.values_list("control_id", flat=True)) == ["T2"]


# --- RIS_HL7_ALLOWED_SENDERS (MSH-3) -------------------------------------------------------------------------------


def sent_by(application: str, message: str) -> str:
    """The message with MSH-3 (sending application) set to `application` instead of the CIS."""
    assert message.startswith("MSH|^~\\&|CIS|")
    return message.replace("MSH|^~\\&|CIS|", f"MSH|^~\\&|{application}|", 1)


def answers(acks: list[str]) -> list[tuple[str, str]]:
    """(MSA-1, ERR-3 code) of each ACK mllp_send printed."""
    result = []
    for ack in acks:
        segments = {s.split("|")[0]: s.split("|") for s in ack.replace("\n", "\r").split("\r") if s}
        err = segments.get("ERR", [])
        result.append((segments["MSA"][1], err[3].split("^")[0] if len(err) > 3 else ""))
    return result


@TRANSACTIONAL
@pytest.mark.slow
def test_only_the_allowed_sending_applications_are_applied(catalog, hl7_port, settings, tmp_path):
    settings.RIS_HL7_ALLOWED_SENDERS = ["CIS", "ED"]
    path = tmp_path / "messages.hl7"
    write_messages(
        path,
        adt("C1"),
        sent_by("ED", adt("C2", mrn="P300")),
        sent_by("LAB", adt("C3", mrn="P200")),
        sent_by("LAB", orm("C4", mrn="P200", placer="PL2")),
        sent_by("LAB", orm("C5", mrn="P200", placer="PL3", extra="||AL|AL")),  # enhanced mode: not even queued
    )
    acks = mllp_send(hl7_port, path)
    assert answers(acks) == [("AA", ""), ("AA", ""), ("AR", "207"), ("AR", "207"), ("AR", "207")]
    assert sorted(Patient.objects.values_list("mrn", flat=True)) == ["P100", "P300"]
    assert not Order.objects.exists()
    stored = InboundMessage.objects.order_by("id").values_list("sending_application", "status")
    assert list(stored) == [("CIS", "APPLIED"), ("ED", "APPLIED")] + [("LAB", "REJECTED")] * 3


@TRANSACTIONAL
@pytest.mark.slow
def test_with_no_allowed_senders_configured_every_sending_application_is_applied(catalog, hl7_port, settings, tmp_path):
    settings.RIS_HL7_ALLOWED_SENDERS = []
    path = tmp_path / "messages.hl7"
    write_messages(path, sent_by("LAB", orm("C1", mrn="P200")))
    assert answers(mllp_send(hl7_port, path)) == [("AA", "")]
    assert Order.objects.get().patient.mrn == "P200"


# --- closed by default: configured senders by MSH-3 and peer address (RIS_HL7_OPEN off) ------------------------------


def send_from(port: int, source: str, message: str, context: ssl.SSLContext | None = None) -> bytes:
    """One message from the local address `source` (127.0.0.x); the ACK frame, or b"" when closed without one."""
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
        sock = context.wrap_socket(raw, server_hostname="127.0.0.1") if context else raw
        with sock:
            sock.sendall(frame(message.encode()))
            return read_frame(sock)
    except (ssl.SSLError, OSError):
        return b""


def test_production_settings_are_closed_and_the_laptop_demo_is_open():
    variables = "from django.conf import settings as s; print(s.RIS_HL7_OPEN, s.RIS_MWL_RESTRICT_CALLERS, "
    variables += "s.RIS_HL7_HOST, s.RIS_MWL_HOST)"
    probe = f"import django; django.setup(); {variables}"
    production = run(["-c", probe], DEBUG="0", SECRET_KEY="x" * 50, ALLOWED_HOSTS="ris.example.org")
    assert production.stdout.split() == ["False", "True", "127.0.0.1", "127.0.0.1"], production.stderr
    assert run(["-c", probe]).stdout.split() == ["True", "False", "127.0.0.1", "127.0.0.1"]


@TRANSACTIONAL
@pytest.mark.slow
def test_closed_only_a_configured_sender_from_its_own_address_is_applied(catalog, hl7_port, settings):
    settings.RIS_HL7_OPEN = False
    Sender.objects.create(name="CIS", addresses=["127.0.0.1"])
    Sender.objects.create(name="ED", addresses=["127.0.0.3"])
    Sender.objects.create(name="OLD", addresses=["127.0.0.1"], enabled=False)
    applied = send_from(hl7_port, "127.0.0.1", adt("C1"))
    wrong_address = send_from(hl7_port, "127.0.0.1", sent_by("ED", adt("C2", mrn="P200")))
    unknown = send_from(hl7_port, "127.0.0.1", sent_by("LAB", adt("C3", mrn="P300")))
    disabled = send_from(hl7_port, "127.0.0.1", sent_by("OLD", adt("C4", mrn="P400")))
    from_ed = send_from(hl7_port, "127.0.0.3", sent_by("ED", adt("C5", mrn="P500")))
    assert [answers([ack[1:-2].decode()])[0] for ack in (applied, wrong_address, unknown, disabled, from_ed)] == [
        ("AA", ""),
        ("AR", "207"),
        ("AR", "207"),
        ("AR", "207"),
        ("AA", ""),
    ]
    assert sorted(Patient.objects.values_list("mrn", flat=True)) == ["P100", "P500"]


@TRANSACTIONAL
@pytest.mark.slow
def test_closed_an_address_no_sender_uses_is_disconnected_before_anything_is_stored(catalog, hl7_port, settings):
    settings.RIS_HL7_OPEN = False
    settings.RIS_HL7_ALLOWED_SENDERS = ["CIS@127.0.0.0/30"]  # 127.0.0.1 to .3, as an environment entry
    assert send_from(hl7_port, "127.0.0.9", adt("C1")) == b""
    assert not InboundMessage.objects.exists()
    assert b"MSA|AA|C2" in send_from(hl7_port, "127.0.0.2", adt("C2"))


@TRANSACTIONAL
@pytest.mark.slow
def test_closed_with_mutual_tls_a_configured_sender_needs_the_trusted_certificate_too(catalog, settings, certificates):
    settings.RIS_HL7_OPEN = False
    settings.RIS_HL7_TLS_CERT = str(certificates / "server.pem")
    settings.RIS_HL7_TLS_KEY = str(certificates / "server.key")
    settings.RIS_HL7_TLS_CA = str(certificates / "ca.pem")
    Sender.objects.create(name="CIS", addresses=["127.0.0.1"])
    port = free_port()
    server = listener.start("127.0.0.1", port, block=False)
    try:
        trusted = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(certificates / "ca.pem"))
        trusted.load_cert_chain(str(certificates / "client.pem"), str(certificates / "client.key"))
        anonymous = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(certificates / "ca.pem"))
        without = send_from(port, "127.0.0.1", adt("T1"), anonymous)
        accepted = send_from(port, "127.0.0.1", adt("T2"), trusted)
    finally:
        server.shutdown()
        server.server_close()
    assert without == b""
    assert b"MSA|AA|T2" in accepted
    assert list(InboundMessage.objects.values_list("control_id", flat=True)) == ["T2"]
