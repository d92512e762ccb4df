"""No peer holds the MLLP listener: trickling or idle connections take no connection slot, a frame has a whole
deadline however slowly its bytes arrive, and one address may open only so many connections. The attackers connect
from other loopback addresses (127.0.0.x), the real sender from 127.0.0.1."""

import contextlib
import socket
import time

import pytest

from interfaces import listener
from interfaces.mllp import frame
from tests.conftest import Tricklers as TricklingClients
from tests.conftest import assert_cut_off_at_the_deadline, closed_by_peer, connect_from, free_port
from tests.interfaces.conftest import orm, read_frame
from tests.interfaces.test_listener import msa

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]


@pytest.fixture
def start_listener():
    """`start_listener()` starts the listener with the current settings on a free port; it is stopped afterwards."""
    servers = []

    def start() -> int:
        port = free_port()
        servers.append(listener.start("127.0.0.1", port, block=False))
        return port

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def connect(port: int, source: str, timeout: float = 5) -> socket.socket | None:
    return connect_from(port, source, timeout)


def Tricklers(port: int, sources: list[str], *, every: float = 0.5, rounds: int = 120) -> TricklingClients:
    """Connections that start a frame and send one more byte of it every `every` seconds."""
    return TricklingClients(port, sources, start=b"\x0bMSH|", byte=b"A", every=every, rounds=rounds)


def real_sender(port: int, control: str) -> str:
    """One ORM from 127.0.0.1; MSA-1 of its ACK, or "closed"."""
    sock = connect(port, "127.0.0.1", timeout=10)
    if sock is None:
        return "closed"
    with sock:
        try:
            sock.sendall(frame(orm(control, placer=f"PL-{control}").encode()))
            data = read_frame(sock)
        except OSError:
            return "closed"
    return msa(data[1:-2].decode())[1] if data else "closed"


def test_200_trickling_connections_do_not_keep_a_real_sender_out(catalog, start_listener):
    port = start_listener()
    # 20 addresses x 10 connections: within the per-address limit, every one of them admitted and trickling.
    attack = Tricklers(port, [f"127.0.0.{2 + n % 20}" for n in range(200)])
    try:
        time.sleep(1.2)  # two trickle rounds: every connection has sent part of a frame
        assert len(attack.sockets) == 200
        assert real_sender(port, "R1") == "AA"
        assert real_sender(port, "R2") == "AA"
    finally:
        attack.stop()


def test_a_frame_trickled_a_byte_at_a_time_is_cut_off_at_its_deadline(catalog, start_listener, settings):
    settings.RIS_HL7_FRAME_TIMEOUT_SECONDS = 1
    port = start_listener()
    assert_cut_off_at_the_deadline(Tricklers(port, ["127.0.0.2"], every=0.2, rounds=50))


def test_an_established_sender_trickling_its_next_frame_is_cut_off_too(catalog, start_listener, settings):
    settings.RIS_HL7_FRAME_TIMEOUT_SECONDS = 1
    port = start_listener()
    sock = connect(port, "127.0.0.1")
    with sock:
        sock.sendall(frame(orm("C1").encode()))
        assert msa(read_frame(sock)[1:-2].decode())[1] == "AA"
        sock.sendall(b"\x0bMSH|")
        started = time.monotonic()
        for _ in range(20):  # a byte every 0.2 s: each read is quick, the frame never ends
            with contextlib.suppress(OSError):
                sock.send(b"A")
            if closed_by_peer(sock, within=0.2):
                break
        assert time.monotonic() - started < 2.5


def test_one_address_gets_only_its_share_of_connections(catalog, start_listener, settings):
    settings.RIS_HL7_MAX_PER_PEER = 4
    port = start_listener()
    sockets = [connect(port, "127.0.0.2") for _ in range(10)]
    try:
        closed = [closed_by_peer(sock, within=0.5) for sock in sockets]
        assert closed.count(False) == 4  # the first four wait for their frame; the rest are closed at once
        assert real_sender(port, "R1") == "AA"
    finally:
        for sock in sockets:
            sock.close()


def test_past_the_waiting_limit_the_oldest_waiting_connection_makes_room(catalog, start_listener, settings):
    settings.RIS_HL7_MAX_PENDING = 5
    port = start_listener()
    idle = [connect(port, f"127.0.0.{2 + n}") for n in range(5)]
    try:
        time.sleep(0.2)
        assert real_sender(port, "R1") == "AA"
        assert closed_by_peer(idle[0], within=1)  # the oldest went
        assert not any(closed_by_peer(sock, within=0.1) for sock in idle[1:])
    finally:
        for sock in idle:
            sock.close()
