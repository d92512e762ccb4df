"""Enhanced mode on the production path: CA from the listener, then a real Celery worker applies the message."""

import socket
import time

import pytest
from django.conf import settings

from interfaces.mllp import frame
from interfaces.models import InboundMessage
from ris.celery import app
from scheduling.models import Order
from tests.conftest import need
from tests.interfaces.conftest import orm

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.slow,
    pytest.mark.celery_worker,
]


def test_a_commit_accepted_message_is_applied_by_the_worker(catalog, hl7_port):
    need(settings.CELERY_BROKER_URL.startswith("redis://"), "no Redis broker configured (CELERY_BROKER_URL)")
    from celery.contrib.testing.worker import start_worker

    assert app.conf.task_always_eager is False
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        with socket.create_connection(("127.0.0.1", hl7_port), timeout=30) as sock:
            sock.sendall(frame(orm("W1", extra="||AL|NE").encode()))
            ack = b""
            while not ack.endswith(b"\x1c\x0d"):
                ack += sock.recv(65536)
        assert b"MSA|CA|W1" in ack
        for _ in range(200):  # the worker applies it after the CA has left
            if InboundMessage.objects.get(control_id="W1").status != "RECEIVED":
                break
            time.sleep(0.05)
    assert InboundMessage.objects.get(control_id="W1").status == "APPLIED"
    assert Order.objects.filter(placer_order_number="PL1").count() == 1
