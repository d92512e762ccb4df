"""The MLLP listener: many connections at once, many messages per connection, one thread per connection.

Each message is handed to interfaces.services.message_receive (store, apply, ACK) and its ACK written back before
the next one is read, as original-mode senders expect. A broken frame closes only its own connection.

No peer can hold the listener with a slow or idle connection: every deadline is whole, never per read. A new
connection must finish its TLS handshake and its first frame within RIS_HL7_FRAME_TIMEOUT_SECONDS of connecting, and
takes one of RIS_HL7_MAX_CONNECTIONS only then (with client certificates: once the handshake is done); after that
each frame must end within that time of its first byte, and a connection that starts no frame within
RIS_HL7_IDLE_TIMEOUT_SECONDS of the last one is closed. One address may have RIS_HL7_MAX_PER_PEER connections open;
past RIS_HL7_MAX_PENDING connections waiting for their first frame, the oldest is closed for a new one. Closed
(RIS_HL7_OPEN off), connections from an address no configured sender uses (127.0.0.1 and ::1 aside, for the health
check) are closed before anything is read.
"""

import contextlib
import ipaddress
import logging
import socket
import socketserver
import ssl
import threading
import time
from collections import Counter, OrderedDict

from django.conf import settings
from django.db import close_old_connections, connection

from interfaces import services
from interfaces.mllp import FrameError, FrameReader, frame
from interfaces.services.receiving import peer_senders
from ris.tls import handshake_by, server_context

log = logging.getLogger(__name__)


LOCAL = {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}


def address_admitted(address: str) -> bool:
    """Closed mode: may this address connect at all? 127.0.0.1 and ::1 (the health check), and senders' addresses."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip in LOCAL:
        return True
    close_old_connections()
    return any(ip in network for _name, _facility, networks in peer_senders() for network in networks)


class _Connection(socketserver.BaseRequestHandler):
    server: "_Server"

    def handle(self) -> None:
        address = self.client_address[0]
        peer = f"{address}:{self.client_address[1]}"
        started = time.monotonic()
        try:
            if not settings.RIS_HL7_OPEN and not address_admitted(address):
                log.warning("MLLP connection from %s refused: no sender is configured for this address", peer)
                return
            if not self.server.enter(address, peer, self.request):
                return
            try:
                self._run(peer, deadline=started + self.server.frame_timeout)
            finally:
                self.server.leave(address)
        finally:
            connection.close()  # this connection's thread is done with the database

    def _run(self, peer: str, *, deadline: float) -> None:
        sock = self._secure(self.request, peer, deadline)
        if sock is None:
            return
        if self.server.tls_authenticates:  # a client certificate was verified: the handshake is the credential
            if not self.server.take_slot(peer):
                return
            deadline = time.monotonic() + self.server.idle_timeout
        self._serve(sock, peer, deadline=deadline)

    def _secure(self, sock: socket.socket, peer: str, deadline: float) -> socket.socket | None:
        """The TLS handshake (when configured), done by the deadline however slowly the peer sends its part."""
        if self.server.tls is None:
            return sock
        try:
            tls = self.server.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            self.server.rewrapped(tls)  # the plain socket is detached now
            handshake_by(tls, deadline)
            return tls
        except (ssl.SSLError, OSError) as error:
            log.warning("MLLP connection from %s: TLS handshake failed (%s)", peer, type(error).__name__)
            return None

    def _serve(self, sock: socket.socket, peer: str, *, deadline: float) -> None:
        reader = FrameReader(self.server.max_frame)
        slot = self.server.tls_authenticates
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                why = "no frame completed in time" if reader.in_frame or not slot else "idle"
                log.info("MLLP connection from %s closed: %s", peer, why)
                return
            try:
                sock.settimeout(remaining)
                data = sock.recv(65536)
            except TimeoutError:
                continue  # the deadline decides
            except OSError:
                return
            if not data:
                return
            was_in_frame = reader.in_frame
            try:
                messages = reader.feed(data)
            except FrameError as error:
                log.warning("MLLP connection from %s closed: %s", peer, error)
                return
            if messages and not slot:
                slot = self.server.take_slot(peer)
                if not slot:
                    return
            for message in messages:
                close_old_connections()
                try:
                    ack = services.message_receive(message, peer=peer)
                except Exception:  # the database is down, say: no ACK, the sender keeps the message and resends
                    log.exception("MLLP message from %s could not be stored; connection closed without ACK", peer)
                    return
                try:
                    sock.settimeout(self.server.frame_timeout)
                    sock.sendall(frame(ack.encode("utf-8")))
                except OSError:
                    return
            if messages or (slot and reader.in_frame and not was_in_frame):
                wait = self.server.frame_timeout if reader.in_frame else self.server.idle_timeout
                deadline = time.monotonic() + wait


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address,
        *,
        tls: ssl.SSLContext | None,
        tls_authenticates: bool = False,
        max_frame: int,
        max_connections: int,
        idle: int,
        frame_timeout: float = 30,
        max_per_peer: int = 10,
        max_pending: int = 200,
    ):
        self.tls = tls
        self.tls_authenticates = tls is not None and tls_authenticates
        self.max_frame = max_frame
        self.max_connections = max_connections
        self.idle_timeout = idle
        self.frame_timeout = frame_timeout
        self.max_per_peer = max_per_peer
        self.max_pending = max_pending
        self.slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self._per_peer: Counter[str] = Counter()
        self._waiting: OrderedDict[int, socket.socket] = OrderedDict()  # thread -> socket, oldest first
        self._slotted: set[int] = set()  # threads holding a slot
        super().__init__(address, _Connection)

    def enter(self, address: str, peer: str, sock: socket.socket) -> bool:
        """Count a new connection in, unless its address has too many open. With too many waiting for their first
        frame, the one waiting longest is closed: holding the listener then means outpacing every real sender."""
        with self._lock:
            if self._per_peer[address] >= self.max_per_peer:
                log.warning("MLLP connection from %s refused: %d open from this address", peer, self.max_per_peer)
                return False
            if len(self._waiting) >= self.max_pending:
                _thread, oldest = self._waiting.popitem(last=False)
                with contextlib.suppress(OSError):
                    oldest.shutdown(socket.SHUT_RDWR)
                log.warning("MLLP: %d connections waiting for a first frame; the oldest closed", self.max_pending)
            self._per_peer[address] += 1
            self._waiting[threading.get_ident()] = sock
            return True

    def rewrapped(self, sock: socket.socket) -> None:
        with self._lock:
            if threading.get_ident() in self._waiting:
                self._waiting[threading.get_ident()] = sock

    def take_slot(self, peer: str) -> bool:
        """The connection proved itself (a whole frame, or a verified certificate): one of max_connections."""
        if not self.slots.acquire(blocking=False):
            log.warning("MLLP connection from %s refused: %d connections open", peer, self.max_connections)
            return False
        with self._lock:
            self._waiting.pop(threading.get_ident(), None)
            self._slotted.add(threading.get_ident())
        return True

    def leave(self, address: str) -> None:
        with self._lock:
            self._per_peer[address] -= 1
            if self._per_peer[address] <= 0:
                del self._per_peer[address]
            self._waiting.pop(threading.get_ident(), None)
            if threading.get_ident() in self._slotted:
                self._slotted.discard(threading.get_ident())
                self.slots.release()


def tls_context() -> ssl.SSLContext | None:
    """TLS when a certificate is configured; with a CA, senders must present a certificate it signed."""
    return server_context(settings.RIS_HL7_TLS_CERT, settings.RIS_HL7_TLS_KEY, settings.RIS_HL7_TLS_CA)


def start(host: str, port: int, *, block: bool) -> _Server:
    """Serve until stopped. With block=False the server runs in a thread; call .shutdown() then .server_close()."""
    server = _Server(
        (host, port),
        tls=tls_context(),
        tls_authenticates=bool(settings.RIS_HL7_TLS_CA),
        max_frame=settings.RIS_HL7_MAX_FRAME_BYTES,
        max_connections=settings.RIS_HL7_MAX_CONNECTIONS,
        idle=settings.RIS_HL7_IDLE_TIMEOUT_SECONDS,
        frame_timeout=settings.RIS_HL7_FRAME_TIMEOUT_SECONDS,
        max_per_peer=settings.RIS_HL7_MAX_PER_PEER,
        max_pending=settings.RIS_HL7_MAX_PENDING,
    )
    if block:
        try:
            server.serve_forever()
        finally:
            server.server_close()
    else:
        threading.Thread(target=server.serve_forever, name="mllp-listener", daemon=True).start()
    return server
