"""Outbound delivery over MLLP: send each pending message to its destination and wait for the peer's ACK.

HL7 v2.5.1 2.9.2 original mode: AA (or CA, a commit accept) means delivered; AE, AR, an unreadable answer,
silence past RIS_HL7_ACK_TIMEOUT_SECONDS or a connection error mean try again later, after
RIS_HL7_RETRY_BASE_SECONDS * 2**attempts; after RIS_HL7_MAX_ATTEMPTS failures the message is FAILED until an
administrator resends it. Messages with one sequence key (an order's accession number) go one after the other:
a later one never overtakes an earlier one that is still pending.
"""

import contextlib
import logging
import select
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from interfaces.hl7v2 import MessageError, Reader, decode, parse
from interfaces.mllp import FrameError, FrameReader, frame
from interfaces.models import Destination, OutboundMessage
from ris.audit import Actor, actor_label
from ris.delivery import (
    DeliveryFailure,
    DeliveryRun,
    deliver_in_order,
    destination_lock,
    destinations_with_due,
    earliest_retry,
    failure_count,
)
from ris.exceptions import ApplicationError

log = logging.getLogger(__name__)

Status = OutboundMessage.Status
ACCEPTED = frozenset({"AA", "CA"})


class DeliveryError(DeliveryFailure):
    """The message was not acknowledged as accepted; `peer_down` when the connection itself failed."""


@dataclass(frozen=True)
class Acknowledgement:
    code: str  # MSA-1
    control_id: str  # MSA-2: the control ID of the message it answers
    text: str  # MSA-3
    raw: str


def acknowledgement_read(data: bytes) -> Acknowledgement:
    """MSA of the peer's answer, read with the `hl7` package (through interfaces.hl7v2); DeliveryError if none."""
    try:
        text = decode(data, settings.RIS_HL7_CHARSET_ALIASES)
        reader = Reader(parse(text))
    except MessageError as error:
        raise DeliveryError(f"Unreadable acknowledgement: {error.text}", reason="unreadable") from None
    msa = reader.segment("MSA")
    if msa is None:
        raise DeliveryError("The answer has no MSA segment.", reason="unreadable")
    return Acknowledgement(
        code=reader.get(msa, 1).upper(), control_id=reader.get(msa, 2), text=reader.get(msa, 3), raw=text
    )


class MLLPClient:
    """One connection to a peer, opened on first use and kept for the next message while the peer keeps it open."""

    def __init__(self, host: str, port: int, *, timeout: float, tls: ssl.SSLContext | None = None):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.tls = tls
        self._sock: socket.socket | None = None

    def __enter__(self) -> "MLLPClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def send(self, message: str, *, expect_ack: bool = True) -> Acknowledgement | None:
        """Send one message and return the peer's answer (None when none is expected, as for an ACK).

        A kept connection the peer closed just after its last answer fails at once: the message goes again, once,
        on a new connection.
        """
        reused = self._sock is not None
        try:
            return self._exchange(message, expect_ack)
        except DeliveryError as error:
            if not (reused and error.reason in ("closed", "connection")):
                raise
        return self._exchange(message, expect_ack)

    def _exchange(self, message: str, expect_ack: bool) -> Acknowledgement | None:
        try:
            sock = self._connected()
        except OSError as error:
            self.close()
            raise DeliveryError(
                f"Cannot connect to {self.host}:{self.port}: {error}", reason="connection", peer_down=True
            ) from None
        try:
            sock.sendall(frame(message.encode("utf-8")))
            return self._read_answer(sock) if expect_ack else None
        except TimeoutError:
            self.close()  # a late answer must not be read as the next message's
            raise DeliveryError(
                f"No acknowledgement within {self.timeout:g} s", reason="timeout", peer_down=True
            ) from None
        except (OSError, FrameError) as error:
            self.close()
            raise DeliveryError(
                f"Connection to {self.host}:{self.port} failed: {error}", reason="connection", peer_down=True
            ) from None
        except DeliveryError:
            self.close()
            raise

    def _connected(self) -> socket.socket:
        if self._sock is not None and not self._usable(self._sock):
            self.close()  # the peer closed it after the last answer (hl7apy's MLLPServer does): reconnect
        if self._sock is None:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_hostname=self.host)
            self._sock = sock
        return self._sock

    @staticmethod
    def _usable(sock: socket.socket) -> bool:
        """Open, and nothing unasked-for waiting to be read."""
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable  # readable now means closed by the peer, or stray bytes: start afresh

    def _read_answer(self, sock: socket.socket) -> Acknowledgement:
        reader = FrameReader(max_bytes=settings.RIS_HL7_MAX_FRAME_BYTES)
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
            data = sock.recv(65536)
            if not data:
                raise DeliveryError(
                    "The peer closed the connection without acknowledging", reason="closed", peer_down=True
                )
            messages = reader.feed(data)
            if messages:
                return acknowledgement_read(messages[0])


def _tls_context() -> ssl.SSLContext:
    """Verify the peer against RIS_HL7_TLS_CA (else the system store); present RIS_HL7_TLS_CERT when set."""
    context = ssl.create_default_context(cafile=settings.RIS_HL7_TLS_CA or None)
    if settings.RIS_HL7_TLS_CERT:
        context.load_cert_chain(settings.RIS_HL7_TLS_CERT, settings.RIS_HL7_TLS_KEY or None)
    return context


# --- delivery: one sender per destination (ris.delivery) -----------------------------------------------------

_LOCK_NAMESPACE = 0x484C37  # "HL7": the first key of PostgreSQL advisory locks taken here


def outbound_deliver(*, destination: Destination, now: datetime | None = None) -> DeliveryRun:
    """Send the destination's due messages in id order, keeping each sequence key's order; record every outcome.

    A connection failure ends the run (the peer is down: the rest waits for the retry); a rejection (AE/AR) holds
    back only that message's sequence key.
    """
    with destination_lock(_LOCK_NAMESPACE, destination.pk) as acquired:
        if not acquired:
            return DeliveryRun(busy=True)
        tls = _tls_context() if destination.use_tls else None
        with MLLPClient(
            destination.host, destination.port, timeout=settings.RIS_HL7_ACK_TIMEOUT_SECONDS, tls=tls
        ) as client:
            sent, failed = deliver_in_order(
                OutboundMessage.objects.filter(destination=destination, status=Status.PENDING),
                key=lambda message: message.sequence_key,
                send=lambda message: _send(client, message),
                failed=_record_failure,
                now=now,
            )
    retry_at = earliest_retry(OutboundMessage.objects.filter(destination=destination, status=Status.PENDING))
    return DeliveryRun(sent=sent, failed=failed, retry_at=retry_at)


def _send(client: MLLPClient, message: OutboundMessage) -> None:
    # An ACK (an application acknowledgement of enhanced mode) is not itself acknowledged (HL7 v2.5.1 2.9.3).
    answer = client.send(message.raw, expect_ack=message.message_type != "ACK")
    if answer is not None and answer.control_id and answer.control_id != message.control_id:
        client.close()
        raise DeliveryError(
            f"The acknowledgement answers {answer.control_id}, not {message.control_id}", reason="mismatch"
        )
    if answer is not None and answer.code not in ACCEPTED:
        message.ack = answer.raw
        detail = f": {answer.text}" if answer.text else ""
        raise DeliveryError(f"The peer answered {answer.code or 'without MSA-1'}{detail}", reason=answer.code or "?")
    message.status = Status.SENT
    message.attempts += 1
    message.sent_at = timezone.now()
    message.next_attempt_at = None
    message.last_error = ""
    message.ack = answer.raw if answer is not None else ""
    message.save(update_fields=["status", "attempts", "sent_at", "next_attempt_at", "last_error", "ack", "updated_at"])
    log.info("HL7 %s sent to %s (accession %s)", message.control_id, message.destination_id, message.accession_number)


def _record_failure(message: OutboundMessage, error: DeliveryError, at: datetime) -> None:
    if failure_count(
        message, error, at, max_attempts=settings.RIS_HL7_MAX_ATTEMPTS, base_seconds=settings.RIS_HL7_RETRY_BASE_SECONDS
    ):
        message.status = Status.FAILED
        log.warning(
            "HL7 %s FAILED after %s attempts (%s; accession %s)",
            message.control_id,
            message.attempts,
            error.reason,
            message.accession_number,
        )
    else:
        log.info(
            "HL7 %s not delivered (attempt %s, %s; accession %s), retry at %s",
            message.control_id,
            message.attempts,
            error.reason,
            message.accession_number,
            message.next_attempt_at.isoformat(),
        )
    message.save(update_fields=["status", "attempts", "next_attempt_at", "last_error", "ack", "updated_at"])


def destinations_due(now: datetime | None = None) -> list[int]:
    """Enabled destinations with a pending message due now."""
    return destinations_with_due(OutboundMessage.objects.filter(status=Status.PENDING, destination__enabled=True), now)


@transaction.atomic
def outbound_resend(*, message: OutboundMessage, acting_user: Actor) -> OutboundMessage:
    """Queue a FAILED message again, with a fresh count of attempts (an administrator's decision)."""
    message = OutboundMessage.objects.select_for_update().get(pk=message.pk)
    if message.status != Status.FAILED:
        raise ApplicationError(
            f"Message {message.control_id} is {message.get_status_display().lower()}: only a failed message can be "
            "resent."
        )
    message.status = Status.PENDING
    message.attempts = 0
    message.next_attempt_at = None
    message.save(update_fields=["status", "attempts", "next_attempt_at", "updated_at"])
    log.info("HL7 %s queued again by %s", message.control_id, actor_label(acting_user))
    destination_id = message.destination_id
    transaction.on_commit(lambda: _queue_delivery(destination_id))
    return message


def _queue_delivery(destination_id: int) -> None:
    from interfaces.tasks import delivery_queue  # the tasks module imports this one

    delivery_queue(destination_id)
