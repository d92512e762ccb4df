"""No caller holds the worklist SCP: connections still setting up an association take none of the association slots,
set-up (TLS handshake and A-ASSOCIATE-RQ) has a whole deadline however slowly the bytes arrive, and one address may
open only so many connections. The attackers connect from other loopback addresses (127.0.0.x); findscu and
pynetdicom, the real modalities, from 127.0.0.1."""

import struct
import time

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from tests.conftest import Tricklers as TricklingClients
from tests.conftest import assert_cut_off_at_the_deadline, closed_by_peer, free_port
from tests.worklist.conftest import findscu
from worklist import scp

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]

# An A-ASSOCIATE-RQ PDU header (PS3.8 9.3.2: type 01, reserved, length) announcing 200 bytes that never all come.
PARTIAL_RQ = struct.pack(">BBL", 0x01, 0x00, 200) + b"\x00\x01\x00\x00"


@pytest.fixture
def start_scp():
    """`start_scp()` starts the SCP with the current settings on a free port; it is stopped afterwards."""
    servers = []

    def start() -> int:
        port = free_port()
        servers.append(scp.start("127.0.0.1", port, "RIS_MWL", block=False))
        return port

    yield start
    for server in servers:
        server.shutdown()


def Tricklers(port: int, sources: list[str], *, start: bytes = PARTIAL_RQ, every=0.5, rounds=60) -> TricklingClients:
    """Connections that send part of an A-ASSOCIATE-RQ, then one more byte every `every` seconds."""
    return TricklingClients(port, sources, start=start, byte=b"\x00", every=every, rounds=rounds)


def test_20_connections_trickling_an_association_request_do_not_keep_findscu_out(department, start_scp, tmp_path):
    port = start_scp()
    attack = Tricklers(port, [f"127.0.0.{2 + n % 10}" for n in range(20)])
    try:
        time.sleep(1.2)
        assert len(attack.sockets) == 20
        _responses, output = findscu(port, "PatientName", workdir=tmp_path)
        assert "Received Final Find Response (Success)" in output, output
    finally:
        attack.stop()


def test_a_trickled_association_request_is_cut_off_at_the_set_up_deadline(department, start_scp, settings):
    settings.RIS_MWL_SETUP_TIMEOUT_SECONDS = 1
    port = start_scp()
    assert_cut_off_at_the_deadline(Tricklers(port, ["127.0.0.2"], every=0.2, rounds=50))


def test_one_address_gets_only_its_share_of_connections(department, start_scp, settings, tmp_path):
    settings.RIS_MWL_MAX_PER_PEER = 3
    port = start_scp()
    attack = Tricklers(port, ["127.0.0.2"] * 8)
    try:
        closed = [closed_by_peer(sock, within=0.5) for sock in attack.sockets]
        assert closed.count(False) == 3
        _responses, output = findscu(port, "PatientName", workdir=tmp_path)
        assert "Received Final Find Response (Success)" in output, output
    finally:
        attack.stop()


def test_a_silent_tls_client_does_not_stop_the_scp_accepting_others(department, start_scp, settings, certificates):
    settings.RIS_MWL_TLS_CERT = str(certificates / "server.pem")
    settings.RIS_MWL_TLS_KEY = str(certificates / "server.key")
    port = start_scp()
    silent = Tricklers(port, ["127.0.0.2"], start=b"", rounds=0)  # connects, never says hello
    try:
        import ssl

        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(certificates / "ca.pem"))
        ae = AE(ae_title="CT1")
        ae.add_requested_context(Verification)
        ae.acse_timeout = ae.network_timeout = 5
        assoc = ae.associate("127.0.0.1", port, ae_title="RIS_MWL", tls_args=(context, "127.0.0.1"))
        assert assoc.is_established
        assert assoc.send_c_echo().Status == 0x0000
        assoc.release()
    finally:
        silent.stop()
