"""Nothing lost, nothing applied twice: the listener process is killed right after acknowledging a batch."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from interfaces.mllp import frame
from interfaces.models import InboundMessage
from scheduling.models import Order
from tests.conftest import free_port
from tests.interfaces.conftest import orm, read_frame

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def start_listener(port: int) -> subprocess.Popen:
    """manage.py hl7_listener as its own process, on the test database."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "REDIS_URL")}
    env.update(DATABASE_URL=url, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        # One process: SIGKILL then takes the listening socket with it at once. With several, the children die a
        # moment after the parent (test_listener_processes.py), and the probe below could reach the dying socket.
        [sys.executable, "manage.py", "hl7_listener", "--port", str(port), "--processes", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    pytest.fail("the listener did not start: " + process.stdout.read().decode(errors="replace")[-2000:])


def send_batch(port: int, messages: list[str]) -> list[bytes]:
    acks = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        for message in messages:
            sock.sendall(frame(message.encode()))
            acks.append(read_frame(sock))
    return acks


def test_every_acknowledged_message_is_applied_exactly_once_across_a_kill(postgresql, catalog):
    port = free_port()
    batch = [orm(f"K{n}", placer=f"PK{n}") for n in range(20)]
    listener = start_listener(port)
    try:
        first = send_batch(port, batch)
    finally:
        listener.send_signal(signal.SIGKILL)  # right after the last ACK: no clean shutdown
        listener.wait(timeout=30)
    assert all(b"MSA|AA|" in ack for ack in first)
    listener = start_listener(port)
    try:
        again = send_batch(port, batch)  # the CIS did not trust the ACKs and sends it all again
    finally:
        listener.terminate()
        listener.wait(timeout=30)
    assert again == first  # the first outcome, answered again
    assert Order.objects.count() == 20
    assert sorted(Order.objects.values_list("placer_order_number", flat=True)) == sorted(f"PK{n}" for n in range(20))
    assert InboundMessage.objects.count() == 20
