"""Inbound HL7: store every message, then apply it in one transaction, and answer with the ACK that tells the outcome.

HL7 v2.5.1 ch. 2.9: original mode (MSH-15 and MSH-16 empty) answers AA / AE / AR after applying; enhanced mode
answers a commit accept (CA) once the message is stored and sends the application acknowledgement later (a task).
A message is stored before any acknowledgement leaves, and one control ID from one sender is applied once: a resend
gets the first answer again, unless that answer was AE: then the resend is applied (the RIS, or the message, may have
been fixed since), as is a message an administrator reprocesses.
"""

import ipaddress
import logging
import secrets

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from interfaces import catalog
from interfaces.catalog import network_of
from interfaces.hl7v2 import (
    SUPPORTED_VERSIONS,
    Header,
    MessageError,
    Reader,
    Rejected,
    acknowledgement,
    application_ack_mode,
    charset_codec,
    decode,
    header,
    header_from_bytes,
    parse,
)
from interfaces.models import ApplicationAck, Destination, InboundMessage, OutboundMessage
from interfaces.services.applying import HANDLERS
from ris.audit import Actor, actor_label
from ris.exceptions import ApplicationError
from ris.inserts import insert
from ris.statements import pipelined, prepared, when_synced

log = logging.getLogger(__name__)

M = InboundMessage.Status


# --- acknowledgements ------------------------------------------------------------------------------------------


def _ack(original: Header, code: str, *, error: MessageError | None = None, text: str = "", warnings=()) -> str:
    return acknowledgement(
        original,
        code,
        control_id=secrets.token_hex(10),  # 20 characters, unique without a database round trip
        timestamp=timezone.localtime(),
        application=settings.RIS_HL7_APPLICATION,
        facility=settings.RIS_HL7_FACILITY,
        error=error,
        text=text,
        warnings=warnings,
    )


def _outcome(error: BaseException) -> str:
    location = ""
    if isinstance(error, MessageError) and error.location:
        segment, _sequence, field = error.location
        location = f" ({segment}-{field})" if field else f" ({segment})"
    return f"{getattr(error, 'text', None) or getattr(error, 'message', None) or error}{location}"


# --- receiving -------------------------------------------------------------------------------------------------


def message_receive(data: bytes, *, peer: str = "") -> str:
    """Store one inbound message, apply it (original mode) or accept it (enhanced mode); return the ACK to send.

    On PostgreSQL every statement of it is bound on the server and prepared on the connection (`prepared`): the
    listener's connection serves message after message of the same few kinds, and PostgreSQL then parses and plans
    each of their statements once per connection, not once per message (its CPU per order about a third less)."""
    with prepared(connection):
        return _receive(data, peer=peer)


def _receive(data: bytes, *, peer: str) -> str:
    try:
        text = decode(data, settings.RIS_HL7_CHARSET_ALIASES)
        reader, head = _read(text)
    except Rejected as error:
        head = header_from_bytes(data)
        return _store_rejected(data.decode("utf-8", "replace"), head, error, peer=peer)
    refusal = _refusal(head, peer=peer)
    if refusal is not None:
        return _store_rejected(text, head, refusal, peer=peer)
    try:
        if head.enhanced:
            return _accept(text, head, peer=peer)
        return _apply_now(text, reader, head, peer=peer)
    except IntegrityError:  # a resend, or the same control ID on another connection a moment ago: rolled back
        earlier = _earlier(head)
        if earlier is None:
            raise
        if earlier.status == M.ERROR:  # answered AE: the resend (perhaps corrected) is applied now
            earlier = _reprocess(earlier.pk, by=RESEND, text=text, peer=peer) or earlier
        return _answer_again(earlier)


def _read(text: str) -> tuple[Reader, Header]:
    """The parsed message and its header; hex escapes (\\X..\\) are read in its MSH-18 character set."""
    reader = Reader(parse(text))
    declared = reader.get(reader.segment("MSH"), 18)
    reader.codec = charset_codec(declared, settings.RIS_HL7_CHARSET_ALIASES) or "utf-8"
    return reader, header(reader)


def _earlier(head: Header) -> InboundMessage | None:
    """The stored message with this sender and control ID, compared as stored (cut to their columns, as `_row`
    stores them: a sender name longer than its column must still find its first message)."""
    return InboundMessage.objects.filter(
        sending_application=_text(head.sending_application, 227),
        sending_facility=_text(head.sending_facility, 227),
        control_id=_text(head.control_id, 199),
    ).first()


def _answer_again(message: InboundMessage) -> str:
    """A resend: the outcome so far, never a second application. Stored but not applied yet: apply it now."""
    log.info("HL7 %s: control ID seen before (message %s), answered with its outcome", message.control_id, message.pk)
    if message.status == M.RECEIVED:
        message_apply(message.pk)
        message.refresh_from_db()
    if message.accept_ack_type or message.application_ack_type:
        if message.application_ack_state == ApplicationAck.UNROUTED:  # a destination may have been added since
            _application_ack_send(message)
        return _ack(_header_of(message), "CA")
    return message.ack


def _header_of(message: InboundMessage) -> Header:
    return header_from_bytes(message.raw.encode())


SUPPORTED = {
    "ADT": {"A01", "A04", "A08", "A31", "A40"},
    "ORM": {"O01"},
    "OMI": {"O23"},
    "ORU": {"R01"},
}


def peer_senders() -> list[tuple[str, str, list]]:
    """(MSH-3, MSH-4 or "" for any, networks) of each sender admitted by address: the enabled interfaces.Sender rows
    (from the catalog cache, as its stamp says the database holds them now: one statement) and the NAME@ADDRESS
    entries of RIS_HL7_ALLOWED_SENDERS."""
    senders = list(catalog.current().peers)
    for entry in settings.RIS_HL7_ALLOWED_SENDERS:
        name, _, address = entry.rpartition("@")
        network = network_of(address) if name else None
        if network is not None:
            senders.append((name, "", [network]))
    return senders


def peer_ip(peer: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address of a peer written "address:port" (as the listener names it)."""
    try:
        return ipaddress.ip_address(peer.rpartition(":")[0].strip("[]"))
    except ValueError:
        return None


def _refusal(head: Header, *, peer: str = "") -> Rejected | None:
    application = head.sending_application
    if (
        settings.RIS_HL7_OPEN
        and settings.RIS_HL7_ALLOWED_SENDERS
        and application not in [entry.rpartition("@")[0] or entry for entry in settings.RIS_HL7_ALLOWED_SENDERS]
    ):
        return Rejected(f"Sending application {application!r} is not configured.", code=207)
    if not settings.RIS_HL7_OPEN:  # closed: MSH-3 (and MSH-4) must be configured for the peer's address
        address = peer_ip(peer)
        if address is None or not any(
            head.sent_by(name, facility) and any(address in network for network in networks)
            for name, facility, networks in peer_senders()
        ):
            log.warning("HL7 %s from %s refused: sender not configured for this address", head.control_id, peer)
            return Rejected(f"Sending application {application!r} is not configured for this address.", code=207)
    if head.version not in SUPPORTED_VERSIONS:
        return Rejected(f"HL7 version {head.version!r} is not supported.", code=203, location=("MSH", 1, 12))
    if head.message_type not in SUPPORTED:
        return Rejected(f"Message type {head.message_type!r} is not supported.", code=200, location=("MSH", 1, 9))
    if head.trigger_event not in SUPPORTED[head.message_type]:
        return Rejected(
            f"{head.message_type}^{head.trigger_event!s} is not supported.", code=201, location=("MSH", 1, 9)
        )
    if not head.control_id:
        return Rejected("MSH-10 (message control ID) is empty.", code=101, location=("MSH", 1, 10))
    return None


def _text(value: str, length: int | None = None) -> str:
    """Storable text: PostgreSQL takes no NUL character (a garbage message may hold some)."""
    return value.replace("\x00", "\ufffd")[:length]


def _row(text: str, head: Header, *, peer: str, status: str) -> InboundMessage:
    return InboundMessage(
        raw=_text(text),
        message_type=_text(head.message_type, 3),
        trigger_event=_text(head.trigger_event, 3),
        control_id=_text(head.control_id, 199),
        sending_application=_text(head.sending_application, 227),
        sending_facility=_text(head.sending_facility, 227),
        version=_text(head.version, 16),
        accept_ack_type=_text(head.accept_ack_type, 2),
        application_ack_type=_text(head.application_ack_type, 2),
        peer=peer[:100],
        status=status,
    )


def _store_rejected(text: str, head: Header, error: Rejected, *, peer: str) -> str:
    ack = _ack(head, "AR", error=error)
    row = _row(text, head, peer=peer, status=M.REJECTED)
    row.control_id = ""  # a rejected message holds no claim on its control ID: a corrected resend is applied
    row.ack, row.ack_code, row.outcome = ack, "AR", _outcome(error)
    row.save()
    log.info("HL7 message %s rejected (AR): %s", row.pk, error.code)
    return ack


def _accept(text: str, head: Header, *, peer: str) -> str:
    """Enhanced mode: store, commit, answer CA; the message is applied (and answered) by a task."""
    from interfaces.tasks import apply_inbound  # the tasks module imports this one

    with transaction.atomic():
        row = _row(text, head, peer=peer, status=M.RECEIVED)
        row.save()
        transaction.on_commit(lambda: apply_inbound.delay(row.pk))
    return _ack(head, "CA")


def _apply_now(text: str, reader: Reader, head: Header, *, peer: str) -> str:
    """Original mode: apply and store in one transaction; the ACK leaves after it commits.

    The row is inserted last, with its outcome: its unique (sender, control ID) makes a resend's transaction fail
    at that insert, roll back whatever it applied, and get the first answer instead.

    First optimistically, without a savepoint (the path nearly every message takes: no statement spent on a partial
    rollback that success never needs), its statements in a pipeline on PostgreSQL (`pipelined`: a statement whose
    answer is not read, such as BEGIN, a history row or an order whose key was taken beforehand, travels with the
    next one whose answer is, not in a round trip of its own); when anything fails, that transaction is rolled
    back whole and the message applied again with savepoints, outside a pipeline, which store it with its AE. A
    deadlock or serialization failure (PostgreSQL rolled the transaction back) runs the same transaction again. A
    connection lost fails both the same way: not tried twice.
    """
    try:
        for attempt in range(1, TRANSIENT_ATTEMPTS + 1):
            try:
                with transaction.atomic(), pipelined(connection):  # the pipeline ends (synced) before a rollback
                    row = _row(text, head, peer=peer, status=M.RECEIVED)
                    _apply(row, reader, head, optimistic=True)
                return row.ack
            except OperationalError as error:
                if not _transient(error) or attempt == TRANSIENT_ATTEMPTS:
                    raise
                log.info("HL7 %s: %s, applied again (attempt %d)", head.control_id, _sqlstate(error), attempt + 1)
    except (OperationalError, InterfaceError):
        raise
    except IntegrityError:
        if _earlier(head) is not None:  # a resend: answered with the first outcome (message_receive)
            raise
    except Exception as error:  # anything: the careful run below stores it as AE, or raises it
        log.debug("HL7 %s: optimistic apply failed (%s); applied again with savepoints", head.control_id, error)
    with transaction.atomic():
        row = _row(text, head, peer=peer, status=M.RECEIVED)
        _apply(row, reader, head)
    return row.ack


# PostgreSQL's deadlock_detected and serialization_failure: the database rolled the transaction back on its own,
# and the same transaction run again succeeds (two connections' orders taking the same identifier rows at once).
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
TRANSIENT_ATTEMPTS = 3


def _sqlstate(error: Exception) -> str:
    return getattr(error.__cause__, "sqlstate", None) or ""


def _transient(error: OperationalError) -> bool:
    """A conflict between concurrent transactions that running the same one again resolves."""
    return _sqlstate(error) in TRANSIENT_SQLSTATES


def _apply(row: InboundMessage, reader: Reader, head: Header, *, optimistic: bool = False) -> None:
    """Apply inside a savepoint; record the outcome and the ACK on the row (the caller's transaction).

    optimistic: no savepoint, and any failure propagates (the caller rolls back and applies again without).
    """
    history = row.outcome  # what happened before a reprocess: kept under the new outcome
    if optimistic:
        warnings = HANDLERS[(head.message_type, head.trigger_event)](reader, head, row, optimistic=True) or []
        _succeeded(row, head, warnings)
        _stored(row, head)
        return
    try:
        with transaction.atomic():
            handler = HANDLERS[(head.message_type, head.trigger_event)]
            warnings = handler(reader, head, row, optimistic=False) or []
        _succeeded(row, head, warnings)
    except (MessageError, ApplicationError) as error:
        if not isinstance(error, MessageError):
            error = MessageError(error.message, code=207)
        row.status, row.ack_code, row.outcome = M.ERROR, "AE", _outcome(error)
        row.ack = _ack(head, "AE", error=error)
    except Exception:
        log.exception("HL7 message %s could not be applied", row.pk)
        error = MessageError("The RIS could not apply the message (internal error).", code=207)
        row.status, row.ack_code, row.outcome = M.ERROR, "AE", error.text
        row.ack = _ack(head, "AE", error=error)
    if history:
        row.outcome = f"{row.outcome}\n{history}"
    _stored(row, head)


def _succeeded(row: InboundMessage, head: Header, warnings: list[MessageError]) -> None:
    row.status, row.ack_code = M.APPLIED, "AA"
    row.outcome = "; ".join(["applied", *(f"warning: {_outcome(w)}" for w in warnings)])
    row.ack = _ack(head, "AA", warnings=warnings)


def _stored(row: InboundMessage, head: Header) -> None:
    row.applied_at = timezone.now()
    if row._state.adding:  # its INSERT compiled once per process; its key read with the pipeline's last answers
        insert([row], read_keys="when synced")
    else:
        row.save()
    when_synced(  # the log names the message by its key
        connection,
        lambda: log.info("HL7 message %s %s^%s: %s", row.pk, head.message_type, head.trigger_event, row.ack_code),
    )


def message_apply(message_id: int) -> InboundMessage | None:
    """Apply a stored message that is not applied yet (enhanced mode, or after a crash). Idempotent."""
    with transaction.atomic():
        row = InboundMessage.objects.select_for_update().filter(pk=message_id, status=M.RECEIVED).first()
        if row is None:
            return None
        try:
            reader, head = _read(row.raw)
        except Rejected as error:
            row.status, row.ack_code, row.outcome = M.REJECTED, "AR", _outcome(error)
            row.save()
            return row
        _apply(row, reader, head)
    return row


# --- reprocessing a message answered AE ------------------------------------------------------------------------

RESEND = "resend"  # reprocessed_by of a message applied again because its sender resent it


def message_reprocess(*, message_id: int, acting_user: Actor) -> InboundMessage:
    """Apply again a message answered AE, once the RIS has what it lacked (a procedure in the catalog, the patient
    of an MRG-1); the new ACK replaces the stored one, and an enhanced-mode sender gets it as application ACK.

    Only messages in ERROR: an applied one must never be applied twice, and a rejected one holds no control ID
    (its corrected resend is a new message).
    """
    row = _reprocess(message_id, by=actor_label(acting_user))
    if row is None:
        raise ApplicationError("Only a message answered AE (not applied) can be reprocessed.")
    return row


def _reprocess(message_id: int, *, by: str, text: str | None = None, peer: str = "") -> InboundMessage | None:
    """Apply an ERROR message again (with the resend's text when given); None when it is not in ERROR (any more)."""
    with transaction.atomic():
        row = InboundMessage.objects.select_for_update().filter(pk=message_id, status=M.ERROR).first()
        if row is None:
            return None
        now = timezone.now()
        before = (
            f"Before reprocessing ({by}, {timezone.localtime(now):%Y-%m-%d %H:%M:%S}): {row.ack_code} {row.outcome}"
        )
        try:
            reader, head = _read(row.raw if text is None else text)
        except Rejected as error:  # the stored text parsed once; kept in ERROR if it ever does not
            log.warning("HL7 message %s cannot be reprocessed: %s", row.pk, error.code)
            return None
        if text is not None:  # the sender may have corrected the message: what is applied is what it sent now
            fresh = _row(text, head, peer=peer or row.peer, status=M.RECEIVED)
            for field in ("raw", "message_type", "trigger_event", "version", "accept_ack_type"):
                setattr(row, field, getattr(fresh, field))
            row.application_ack_type, row.peer = fresh.application_ack_type, fresh.peer
        row.outcome = before
        row.reprocess_count += 1
        row.reprocessed_at, row.reprocessed_by = now, by[:150]
        row.application_ack_state = ApplicationAck.NOT_WANTED
        _apply(row, reader, head)
        if head.enhanced and application_ack_wanted(row):
            _application_ack_send(row)
    log.info("HL7 message %s (control ID %s) reprocessed (%s): %s", row.pk, row.control_id, by, row.ack_code)
    return row


def _application_ack_send(row: InboundMessage) -> None:
    """Queue the message's application ACK (its stored ACK) and deliver it once the transaction commits."""
    from interfaces.tasks import delivery_queue  # the tasks module imports this one

    ack = application_ack_queue(row)
    if ack is not None:
        transaction.on_commit(lambda: delivery_queue(ack.destination_id))


def messages_pending() -> list[int]:
    """Messages stored but not applied (a process died between the two): oldest first."""
    return list(InboundMessage.objects.filter(status=M.RECEIVED).order_by("id").values_list("id", flat=True))


# --- enhanced mode: the application acknowledgement ------------------------------------------------------------


def application_ack_wanted(message: InboundMessage) -> bool:
    """MSH-16 (HL7 table 0155): AL always, ER on error, SU on success, NE never; empty in enhanced mode: AL."""
    wanted = application_ack_mode(message.accept_ack_type, message.application_ack_type)
    ok = message.status == M.APPLIED
    return wanted == "AL" or (wanted == "ER" and not ok) or (wanted == "SU" and ok)


def application_ack_queue(message: InboundMessage) -> "OutboundMessage | None":
    """Queue the application ACK for the sender's configured destination (a Destination named as its MSH-3).

    Without one the sender never hears the outcome: the message is marked UNROUTED, which the message log shows.
    """
    destination = Destination.objects.filter(name=message.sending_application, enabled=True).first()
    message.application_ack_state = ApplicationAck.QUEUED if destination else ApplicationAck.UNROUTED
    message.save(update_fields=["application_ack_state", "updated_at"])
    if destination is None:
        log.warning("HL7 message %s: no destination named for its sender; application ACK not sent", message.pk)
        return None
    return OutboundMessage.objects.create(
        destination=destination,
        message_type="ACK",
        trigger_event=message.trigger_event,
        control_id=header_from_bytes(message.ack.encode()).control_id[:20],
        raw=message.ack,
        mrn=message.mrn,
        accession_number=message.accession_number,
    )
