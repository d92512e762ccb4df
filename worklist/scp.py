"""The DICOM service: C-ECHO, Modality Worklist C-FIND and MPPS N-CREATE / N-SET, with pynetdicom.

Handlers are thin: they translate (worklist.translate), call a selector or a service, and answer with the status
PS3.4 names. No exception leaves a handler; each association thread uses its own database connection and closes
it when the association ends. Log lines carry accession numbers, UIDs and AE titles, never patient names.
"""

import contextlib
import logging
import socket
import ssl
import threading
import time
from collections import Counter, OrderedDict

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone
from pydicom import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, _config, evt
from pynetdicom.sop_class import (
    InstanceAvailabilityNotification,
    ModalityPerformedProcedureStep,
    ModalityWorklistInformationFind,
    UnifiedProcedureStepPull,
    UnifiedProcedureStepQuery,
    Verification,
)
from pynetdicom.transport import RequestHandler, ThreadedAssociationServer

from ris.models import Room
from ris.text import fold
from ris.tls import handshake_by, server_context
from worklist import encode, ian, selectors, services, ups_scp
from worklist.request import read_identifier
from worklist.translate import (
    EXAM_FACT_KEYS,
    PATIENT_FACT_KEYS,
    InvalidQuery,
    ResponsePlan,
    lo,
    offset_zone,
    parse_query,
    parse_step_report,
    worklist_item,
)

log = logging.getLogger(__name__)

# C-FIND statuses (PS3.4 K.4.1.1.4 and C.4.1.1.4).
PENDING, PENDING_WARNING, CANCELLED = 0xFF00, 0xFF01, 0xFE00
IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS = 0xA900
UNABLE_TO_PROCESS = 0xC001
UNABLE_TO_DECODE = 0xC310
SOP_CLASS_NOT_SUPPORTED = 0x0122  # PS3.7 C.3 (an N-service request for a class not served)


def _caller(event) -> str:
    return (event.assoc.requestor.ae_title or "").strip()


def _nodelay(event) -> None:
    """Answer without Nagle's 40 ms stalls (pynetdicom leaves TCP_NODELAY off)."""
    with contextlib.suppress(AttributeError, OSError):
        event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


# pynetdicom treats an empty allow-list as "anyone". With nobody allowed, this title stands in (pynetdicom takes
# no impossible one; a station would have to be named exactly so) so that callers are rejected.
NOBODY = "RIS NO CALLERS"


def allowed_callers() -> list[str]:
    """The rooms' station AE titles and the extra ones from settings."""
    titles = set(Room.objects.filter(active=True).values_list("station_ae_title", flat=True))
    return sorted(titles | set(settings.RIS_MWL_EXTRA_AE_TITLES)) or [NOBODY]


def handle_open(event) -> None:
    _nodelay(event)
    if settings.RIS_MWL_RESTRICT_CALLERS:
        close_old_connections()
        try:
            event.assoc.ae.require_calling_aet = allowed_callers()
        finally:
            connection.close()


def handle_close(event) -> None:
    connection.close()  # this association's thread is done with the database


def handle_echo(event) -> int:
    return 0x0000


# Responses a C-FIND may have waiting for the socket. pynetdicom queues them without bound, and its network thread
# reads nothing from the peer (a C-CANCEL included) while it still has something to send: without a limit, a fast
# handler would queue every match and the cancel would land only after the last one.
SEND_BACKLOG = 16


def _keep_pace(event) -> None:
    """Wait while the association has more than SEND_BACKLOG messages not yet sent."""
    try:
        waiting = event.assoc.dul.to_provider_queue
    except AttributeError:  # not a network association (tests call the handler directly)
        return
    while waiting.qsize() > SEND_BACKLOG and event.assoc.is_established:
        time.sleep(0.0005)


def _encoder(event, plan: ResponsePlan) -> encode.ResponseEncoder | None:
    """The byte encoder of this query's responses for the presentation context's transfer syntax; None where
    pydicom writes them: another transfer syntax, a key the encoder does not know, no adapter installed (pynetdicom
    would encode the empty Dataset), or no context (tests call the handler with a bare event)."""
    context = getattr(event, "context", None)
    if context is None or not encode.installed():
        return None
    try:
        return encode.ResponseEncoder(plan, str(context.transfer_syntax))
    except encode.NotEncodable:
        return None


def _response(plan: ResponsePlan, encoder: encode.ResponseEncoder | None, values: dict) -> tuple[Dataset, bool]:
    """One match's identifier: its bytes when the encoder can write them, else pydicom's Dataset."""
    if encoder is not None:
        try:
            encoded, unsupported = encoder.encode(values, plan.charset(values))
            return encode.EncodedIdentifier(encoded, implicit_vr=encoder.implicit_vr), unsupported
        except (encode.NotEncodable, UnicodeError):
            pass  # a value the encoder does not write as pydicom would: pydicom writes this one
    return plan.build(values)


def _identifier(event):
    """The request's identifier: read from its bytes where worklist.request reads it as pydicom would (Implicit or
    Explicit VR Little Endian, nothing unusual), else pynetdicom's Dataset."""
    context, data = getattr(event, "context", None), getattr(getattr(event, "request", None), "Identifier", None)
    implicit_vr = encode.TRANSFER_SYNTAXES.get(str(context.transfer_syntax)) if context is not None else None
    if implicit_vr is not None and data is not None:
        identifier = read_identifier(data.getvalue(), implicit_vr=implicit_vr)
        if identifier is not None:
            return identifier
    return event.identifier


def handle_find(event):
    """Modality Worklist C-FIND: the matches read once (worklist.selectors), streamed; cancel stops it with FE00.
    Another SOP class's C-FIND (UPS) goes to its handler in C_FIND."""
    request = getattr(event, "request", None)  # (tests call the handler with a bare event)
    handler = _by_sop_class(C_FIND, getattr(request, "AffectedSOPClassUID", None))
    if handler is not None:
        yield from handler(event)
        return
    try:
        identifier = _identifier(event)
    except Exception:  # pynetdicom decodes lazily: a broken dataset
        log.warning("C-FIND from %s: identifier could not be decoded", _caller(event))
        yield UNABLE_TO_DECODE, None
        return
    try:
        query = parse_query(identifier, tz=timezone.get_current_timezone(), fold=fold)
        plan = ResponsePlan(identifier)  # reads the return keys: a broken one is refused here, before any match
    except (InvalidQuery, ValueError, TypeError, AttributeError, KeyError) as error:
        # The reason may quote a value (a birth date): log its kind only.
        log.info("C-FIND from %s refused with A900 (%s)", _caller(event), type(error).__name__)
        yield IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, None
        return
    encoder = _encoder(event, plan)
    _reuse_connection()
    try:
        yield from _find_matches(event, query, plan, encoder)
    except Exception:
        log.exception("C-FIND from %s failed", _caller(event))
        yield UNABLE_TO_PROCESS, None
    finally:
        close_old_connections()


def _reuse_connection() -> None:
    """Before a C-FIND: this thread's database connection closed if an error broke it or it outlived CONN_MAX_AGE
    (close_old_connections), and otherwise used without Django's health check, a `SELECT 1` round trip before each
    request. Each association has its own thread and connection (closed when the association ends), so an open
    connection here is one this association opened and has used since, C-FINDs apart; one that died meanwhile fails
    its C-FIND with A700, and the error closes it (close_old_connections after the C-FIND) for the next."""
    close_old_connections()
    if connection.connection is not None:
        connection.health_check_done = True


def _find_matches(event, query, plan: ResponsePlan, encoder: encode.ResponseEncoder | None):
    """The matches of a parsed query, streamed. Their rows and clinical facts are read by statements prepared once
    per connection on PostgreSQL (ris.statements; the connection stays open across the association's C-FINDs:
    CONN_MAX_AGE)."""
    station = _caller(event) if settings.RIS_MWL_STATION_SCOPED else None
    matches = 0
    rows = selectors.worklist_matches(
        selectors.worklist_rows_matching(
            query, statuses=settings.RIS_MWL_STATUSES, limit=settings.RIS_MWL_MAX_MATCHES, station_ae_title=station
        ),
        patient_facts=plan.asks(PATIENT_FACT_KEYS),
        exam_facts=plan.asks(EXAM_FACT_KEYS),
    )
    for row, patient, exam in rows:
        _keep_pace(event)
        if event.is_cancelled:
            yield CANCELLED, None
            return
        values = worklist_item(
            row,
            local_start=timezone.localtime(row["scheduled_start"]),
            coding_scheme=settings.RIS_PROCEDURE_CODING_SCHEME,
            protocol_scheme=settings.RIS_PROTOCOL_CODING_SCHEME,
            patient=patient,
            exam=exam,
        )
        response, unsupported = _response(plan, encoder, values)
        matches += 1
        yield (PENDING_WARNING if unsupported else PENDING), response
    if matches == settings.RIS_MWL_MAX_MATCHES:
        log.warning("C-FIND from %s: stopped at the cap of %d matches", _caller(event), matches)
    log.info("C-FIND from %s: %d matches", _caller(event), matches)


def _status(code: int, error_id: int | None = None, comment: str = "", tags: tuple[int, ...] = ()) -> Dataset:
    """A response status. The Error Comment (0000,0902) is LO: what does not fit is cut at a space, never inside a
    word or a UID (the MPPS services write theirs to fit)."""
    status = Dataset()
    status.Status = code
    if error_id is not None:
        status.ErrorID = error_id
    if comment:  # Error Comment (0000,0902) is LO in the command's default repertoire (ASCII): cut after a word
        status.ErrorComment = lo(comment.encode("ascii", "replace").decode())
    if tags:
        status.AttributeIdentifierList = list(tags)
    return status


def _json(dataset: Dataset) -> dict:
    try:
        return dataset.to_json_dict()
    except Exception:  # the raw copy is a convenience
        return {}


def _by_sop_class(handlers: dict, sop_class_uid) -> object | None:
    return handlers.get(str(sop_class_uid or ""))


def _dispatch(event, handlers: dict, sop_class_uid, unknown: int = SOP_CLASS_NOT_SUPPORTED):
    """Hand an N-service request to the handler of its SOP class; a class the SCP does not serve gets `unknown`."""
    handler = _by_sop_class(handlers, sop_class_uid)
    if handler is None:
        return _status(unknown), None
    return handler(event)


def handle_n_create(event):
    """N-CREATE, by SOP class (N_CREATE below); a class the SCP does not serve is refused with 0122."""
    return _dispatch(event, N_CREATE, event.request.AffectedSOPClassUID)


def handle_n_set(event):
    """N-SET, by SOP class (N_SET below)."""
    return _dispatch(event, N_SET, event.request.RequestedSOPClassUID)


def handle_n_action(event):
    """N-ACTION, by SOP class (N_ACTION below)."""
    return _dispatch(event, N_ACTION, event.request.RequestedSOPClassUID)


def handle_n_get(event):
    """N-GET, by SOP class (N_GET below); MPPS N-GET is not offered (0110, as before)."""
    return _dispatch(event, N_GET, event.request.RequestedSOPClassUID, unknown=0x0110)


def handle_mpps_create(event):
    """MPPS N-CREATE: the modality started a procedure step."""
    uid = event.request.AffectedSOPInstanceUID
    if not uid:  # the SCU may leave the UID to the SCP (PS3.4 F.7.2.1.1)
        uid = generate_uid()
    return _mpps(event, services.mpps_create, uid, lambda: event.attribute_list)


def handle_mpps_set(event):
    """MPPS N-SET: the modality updated, completed or discontinued the step."""
    return _mpps(event, services.mpps_update, event.request.RequestedSOPInstanceUID, lambda: event.modification_list)


def _step_zone(service, uid: str):
    """The zone of an MPPS's dates and times when the list does not say: for an N-SET, the offset its N-CREATE
    carried; else the department's."""
    if service is services.mpps_update:
        offset = selectors.performed_step_offset(str(uid))
        if offset:
            with contextlib.suppress(InvalidQuery):
                return offset_zone(offset)
    return timezone.get_current_timezone()


def _mpps(event, service, uid: str, dataset_of):
    close_old_connections()
    try:
        dataset = dataset_of()
        report = parse_step_report(dataset, tz=_step_zone(service, uid))
        service(sop_instance_uid=str(uid), report=report, attributes=_json(dataset), calling_ae=_caller(event))
        dataset.SOPInstanceUID = str(uid)
        if getattr(event.request, "AffectedSOPInstanceUID", "x") is None:
            dataset.AffectedSOPInstanceUID = str(uid)  # pynetdicom moves it into the N-CREATE-RSP (PS3.7 10.1.5)
        return _status(0x0000), dataset
    except services.StepError as error:
        log.info("MPPS %s from %s refused (%04X): %s", uid, _caller(event), error.status, error.message)
        return _status(error.status, error.error_id, error.comment, error.tags), None
    except InvalidQuery as error:
        log.info("MPPS %s from %s refused (0106): %s", uid, _caller(event), error)
        return _status(0x0106, comment=str(error)), None
    except Exception:
        log.exception("MPPS %s from %s failed", uid, _caller(event))
        return _status(0x0110), None
    finally:
        close_old_connections()


def handle_ian_create(event):
    """Instance Availability Notification N-CREATE: the PACS says which instances of a study it holds (worklist.ian)."""
    uid = str(event.request.AffectedSOPInstanceUID or generate_uid())  # the SCU names it (PS3.4 R.3.2.1.2)
    close_old_connections()
    try:
        dataset = event.attribute_list
        notification = ian.parse_notification(dataset)
        ian.availability_notification_create(
            sop_instance_uid=uid, notification=notification, attributes=_json(dataset), calling_ae=_caller(event)
        )
        answer = None
        if event.request.AffectedSOPInstanceUID is None:
            answer = Dataset()
            answer.AffectedSOPInstanceUID = uid  # pynetdicom moves it into the N-CREATE-RSP (PS3.7 10.1.5)
        return _status(0x0000), answer
    except ian.NotificationError as error:
        log.info("IAN %s from %s refused: %s", uid, _caller(event), error.message)
        return _status(error.status, comment=error.message), None
    except Exception:
        log.exception("IAN %s from %s failed", uid, _caller(event))
        return _status(0x0110), None
    finally:
        close_old_connections()


# The N-services by SOP class UID: each service module of the SCP adds its classes here.
N_CREATE = {
    str(ModalityPerformedProcedureStep): handle_mpps_create,
    str(InstanceAvailabilityNotification): handle_ian_create,
}
N_SET = {str(ModalityPerformedProcedureStep): handle_mpps_set, str(UnifiedProcedureStepPull): ups_scp.handle_ups_set}
N_ACTION = {str(UnifiedProcedureStepPull): ups_scp.handle_ups_action}
N_GET = {str(UnifiedProcedureStepPull): ups_scp.handle_ups_get}
C_FIND = {
    str(UnifiedProcedureStepPull): ups_scp.handle_ups_find,
    str(UnifiedProcedureStepQuery): ups_scp.handle_ups_find,
}
# Presentation contexts the SCP accepts, by SOP class.
SUPPORTED = [
    Verification,
    ModalityWorklistInformationFind,
    ModalityPerformedProcedureStep,
    InstanceAvailabilityNotification,
    UnifiedProcedureStepPull,
    UnifiedProcedureStepQuery,
]


def handle_requested(event) -> None:
    """Reject with "local limit exceeded" (PS3.8 9.3.4) when RIS_MWL_MAX_ASSOCIATIONS associations are established:
    connections still setting up count against the server's own limits (_Server), not against these slots."""
    established = sum(1 for assoc in event.assoc.ae.active_associations if assoc.is_acceptor and assoc.is_established)
    if established >= settings.RIS_MWL_MAX_ASSOCIATIONS:
        log.warning("Association from %s rejected: %d associations established", _caller(event), established)
        event.assoc.acse.send_reject(0x02, 0x03, 0x02)  # transient, service provider (presentation), local limit


HANDLERS = [
    (evt.EVT_CONN_OPEN, handle_open),
    (evt.EVT_REQUESTED, handle_requested),
    (evt.EVT_RELEASED, handle_close),
    (evt.EVT_ABORTED, handle_close),
    (evt.EVT_C_ECHO, handle_echo),
    (evt.EVT_C_FIND, handle_find),
    (evt.EVT_N_CREATE, handle_n_create),
    (evt.EVT_N_SET, handle_n_set),
    (evt.EVT_N_ACTION, handle_n_action),
    (evt.EVT_N_GET, handle_n_get),
]


class _Handler(RequestHandler):
    """One connection: TLS handshake and association set-up within the set-up time, then the association."""

    server: "_Server"

    def handle(self) -> None:
        key, address = id(self.request), self.client_address[0]  # as _Server.verify_request counted it
        deadline = time.monotonic() + self.server.setup_timeout
        try:
            if self.server.ssl_context is not None:
                self.request = self._handshake(key, deadline)
                if self.request is None:
                    return
            assoc = self._create_association()
            evt.trigger(assoc, evt.EVT_CONN_OPEN, {"address": self.client_address})
            assoc.start()
            while assoc.is_alive() and not (assoc.is_established or assoc.is_rejected or assoc.is_aborted):
                if time.monotonic() >= deadline:  # a partial A-ASSOCIATE-RQ, or none: the socket is shut under it
                    if assoc.dul.state_machine.current_state != "Sta1":  # Sta1: the caller has gone already
                        log.warning("DICOM connection from %s closed: no association within %gs", address, self._limit)
                    with contextlib.suppress(OSError, AttributeError):
                        assoc.dul.socket.socket.shutdown(socket.SHUT_RDWR)
                    break
                time.sleep(0.02)
            self.server.set_up(key)
            assoc.join()
        finally:
            self.server.leave(key, address)

    @property
    def _limit(self) -> float:
        return self.server.setup_timeout

    def _handshake(self, key: int, deadline: float) -> ssl.SSLSocket | None:
        """The TLS handshake, done by the deadline however slowly the caller sends its part."""
        tls = self.server.ssl_context.wrap_socket(self.request, server_side=True, do_handshake_on_connect=False)
        self.server.rewrapped(key, tls)  # the plain socket is detached now
        try:
            handshake_by(tls, deadline)
            return tls
        except (ssl.SSLError, OSError) as error:
            why = type(error).__name__
            log.warning("DICOM connection from %s: TLS handshake failed (%s)", self.client_address[0], why)
            with contextlib.suppress(OSError):
                tls.close()
            return None


class _Server(ThreadedAssociationServer):
    """pynetdicom's server, with limits applied before a connection gets a thread or an association slot: one address
    may have RIS_MWL_MAX_PER_PEER connections open; past RIS_MWL_MAX_PENDING connections setting up, the one setting
    up longest is closed for the new one; TLS is negotiated in the connection's thread (pynetdicom does it in the
    accept loop, where one silent client would hold up every other)."""

    daemon_threads = True
    block_on_close = False  # stopping the server does not wait for connections still setting up

    def __init__(self, *args, setup_timeout: float, max_per_peer: int, max_pending: int, **kwargs):
        self.setup_timeout = setup_timeout
        self.max_per_peer = max_per_peer
        self.max_pending = max_pending
        self._lock = threading.Lock()
        self._per_peer: Counter[str] = Counter()
        self._setting_up: OrderedDict[int, socket.socket] = OrderedDict()  # id(accepted socket) -> its socket now
        super().__init__(*args, request_handler=_Handler, **kwargs)

    def get_request(self):
        return self.socket.accept()  # TLS: in the connection's own thread (_Handler._handshake)

    def verify_request(self, request, client_address) -> bool:
        address = client_address[0]
        with self._lock:
            if self._per_peer[address] >= self.max_per_peer:
                log.warning("DICOM connection from %s refused: %d open from this address", address, self.max_per_peer)
                return False
            if len(self._setting_up) >= self.max_pending:
                _key, oldest = self._setting_up.popitem(last=False)
                with contextlib.suppress(OSError):
                    oldest.shutdown(socket.SHUT_RDWR)
                log.warning("DICOM: %d connections setting up; the oldest closed", self.max_pending)
            self._per_peer[address] += 1
            self._setting_up[id(request)] = request
        return True

    def rewrapped(self, key: int, sock: socket.socket) -> None:
        with self._lock:
            if key in self._setting_up:
                self._setting_up[key] = sock

    def set_up(self, key: int) -> None:
        with self._lock:
            self._setting_up.pop(key, None)

    def leave(self, key: int, address: str) -> None:
        with self._lock:
            self._setting_up.pop(key, None)
            self._per_peer[address] -= 1
            if self._per_peer[address] <= 0:
                del self._per_peer[address]

    def shutdown(self) -> None:
        with contextlib.suppress(ValueError):  # not in the AE's list of servers: made here, not by start_server
            super().shutdown()


def build_ae(ae_title: str) -> AE:
    # pynetdicom formats every request and response identifier for its debug log even when nothing logs it:
    # patient data, and time spent on every match.
    _config.LOG_REQUEST_IDENTIFIERS = False
    _config.LOG_RESPONSE_IDENTIFIERS = False
    encode.install()  # worklist responses written as bytes are sent as they are (worklist.encode)
    ae = AE(ae_title=ae_title)
    ae.require_called_aet = True  # pynetdicom accepts any called AE title otherwise
    # Connections setting up count in pynetdicom's own limit: room for them too; handle_requested enforces
    # RIS_MWL_MAX_ASSOCIATIONS on established associations.
    ae.maximum_associations = settings.RIS_MWL_MAX_ASSOCIATIONS + settings.RIS_MWL_MAX_PENDING
    ae.acse_timeout = settings.RIS_MWL_SETUP_TIMEOUT_SECONDS  # waiting for the A-ASSOCIATE-RQ (and the release)
    ae.network_timeout = 60
    ae.dimse_timeout = 60
    for context in SUPPORTED:
        ae.add_supported_context(context)
    if settings.RIS_MWL_RESTRICT_CALLERS:
        ae.require_calling_aet = allowed_callers()
    return ae


def tls_context() -> ssl.SSLContext | None:
    """TLS when a certificate is configured; with a CA, callers must present a certificate it signed."""
    return server_context(settings.RIS_MWL_TLS_CERT, settings.RIS_MWL_TLS_KEY, settings.RIS_MWL_TLS_CA)


def start(host: str, port: int, ae_title: str, *, block: bool):
    """Serve until stopped. With block=False, returns the server (call .shutdown() to stop it)."""
    ae = build_ae(ae_title)
    server = ae.make_server(
        (host, port),
        ae_title=ae_title,
        ssl_context=tls_context(),
        evt_handlers=HANDLERS,
        server_class=_Server,
        setup_timeout=settings.RIS_MWL_SETUP_TIMEOUT_SECONDS,
        max_per_peer=settings.RIS_MWL_MAX_PER_PEER,
        max_pending=settings.RIS_MWL_MAX_PENDING,
    )
    if block:
        try:
            server.serve_forever()
        finally:
            server.server_close()
        return None
    threading.Thread(target=server.serve_forever, name="mwl-scp", daemon=True).start()
    return server
