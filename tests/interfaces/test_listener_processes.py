"""hl7_listener --processes N: several processes on one port, each connection served start to end by one of them,
in the order its messages were sent; SIGTERM stops them all; a process that dies is started again."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from interfaces.mllp import frame
from interfaces.models import InboundMessage
from scheduling.models import Exam
from tests.conftest import free_port
from tests.interfaces.conftest import orm, read_frame

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]

PROJECT = Path(settings.BASE_DIR)
STARTED = re.compile(r"HL7 listener process (\d+) started \(pid (\d+)\)")
SERVED = re.compile(r"MLLP connection from 127\.0\.0\.1:(\d+) served by process (\d+)")


class Listener:
    """manage.py hl7_listener --processes N on the test database, its output in a file."""

    def __init__(self, tmp_path: Path, processes: int):
        db = connection.settings_dict
        url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        env = os.environ | {"DATABASE_URL": url, "RIS_HL7_OPEN": "1", "PYTHONUNBUFFERED": "1", "DEBUG": "0"}
        env.setdefault("SECRET_KEY", "test-listener-processes")
        self.port = free_port()
        self.log = tmp_path / "listener.log"
        argv = [sys.executable, "manage.py", "hl7_listener", "--port", str(self.port), "--processes", str(processes)]
        with self.log.open("w") as out:
            self.process = subprocess.Popen(argv, cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.wait_for(lambda: len(self.children()) >= processes, "its processes to start")

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def children(self) -> dict[int, int]:
        """Process number -> pid, the latest start of each."""
        return {int(number): int(pid) for number, pid in STARTED.findall(self.text())}

    def wait_for(self, condition, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process.poll() is None, f"the listener exited while waiting for {what}:\n{self.text()}"
            assert time.monotonic() < deadline, f"no {what} within {timeout} s:\n{self.text()}"
            time.sleep(0.1)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=30)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
        return self.process.returncode


@pytest.fixture
def two_processes(postgresql, catalog, tmp_path):
    listener = Listener(tmp_path, 2)
    yield listener
    listener.stop()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def msa(data: bytes) -> list[str]:
    return next(s for s in data.strip(b"\x0b\x1c\r").decode().split("\r") if s.startswith("MSA|")).split("|")


def ack_of(sock: socket.socket) -> list[str]:
    return msa(read_frame(sock))


def acks_of(sock: socket.socket, count: int) -> list[list[str]]:
    """`count` ACKs, however the frames arrive together or in pieces."""
    buffer, acks = b"", []
    while len(acks) < count:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {len(acks)} ACKs"
        buffer += chunk
        while b"\x1c\r" in buffer:
            one, buffer = buffer.split(b"\x1c\r", 1)
            acks.append(msa(one))
    return acks


def test_messages_sent_at_once_on_one_connection_are_applied_in_order(two_processes):
    with two_processes.connect() as sock:
        # A new order, then its cancel, ten times, all sent before any ACK is read: each cancel finds its order only
        # when the messages are applied in the order they were sent.
        messages = []
        for n in range(10):
            messages += [orm(f"N{n}", placer=f"PL{n}"), orm(f"X{n}", "CA", placer=f"PL{n}")]
        sock.sendall(b"".join(frame(message.encode()) for message in messages))
        acks = [ack[1:3] for ack in acks_of(sock, len(messages))]
    assert acks == [["AA", f"{kind}{n}"] for n in range(10) for kind in "NX"]
    stored = list(InboundMessage.objects.order_by("id").values_list("control_id", flat=True))
    assert stored == [f"{kind}{n}" for n in range(10) for kind in "NX"]
    assert set(Exam.objects.values_list("status", flat=True)) == {Exam.Status.CANCELLED}


def test_two_connections_at_once_are_served_by_two_processes(two_processes):
    with two_processes.connect() as first, two_processes.connect() as second:
        first.sendall(frame(orm("A1", placer="PA").encode()))
        assert ack_of(first)[1] == "AA"
        second.sendall(frame(orm("B1", placer="PB").encode()))
        assert ack_of(second)[1] == "AA"
        ports = {first.getsockname()[1], second.getsockname()[1]}
    served = {int(port): int(pid) for port, pid in SERVED.findall(two_processes.text()) if int(port) in ports}
    assert len(served) == 2
    assert len(set(served.values())) == 2, "both connections were served by one process"
    assert set(served.values()) <= set(two_processes.children().values())


def test_sigterm_stops_every_listener_process(two_processes):
    children = list(two_processes.children().values())
    assert len(children) == 2
    assert all(alive(pid) for pid in children)
    assert two_processes.stop() == 0
    assert not [pid for pid in children if alive(pid)]
    assert "HL7 listener stopped." in two_processes.text()


def test_a_listener_process_that_dies_is_started_again(two_processes):
    victim = two_processes.children()[1]
    os.kill(victim, signal.SIGKILL)
    two_processes.wait_for(lambda: two_processes.children()[1] != victim, "process 1 started again")
    assert "died with exit code -9; started again" in two_processes.text()
    for control in ("R1", "R2", "R3"):  # whichever process takes them, every connection is served
        with two_processes.connect() as sock:
            sock.sendall(frame(orm(control, placer=f"P{control}").encode()))
            assert ack_of(sock)[1] == "AA"


def test_a_killed_parent_takes_its_processes_with_it(two_processes):
    """kill -9 of the listener (a crash, an OOM kill): no orphan keeps serving the port without supervision."""
    children = list(two_processes.children().values())
    two_processes.process.kill()
    two_processes.process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while [pid for pid in children if alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in children if alive(pid)]
