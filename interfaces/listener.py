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

Several processes (`serve(processes=N)`, `hl7_listener --processes N`, default one per CPU) share one listening
socket, each with its own database connections: a connection is accepted by one process and served by it to its
end, so its messages are applied in the order sent. A process with more connections open than another leaves a new
one to that other for a moment. The limits above (connections, per address, pending) hold per process. The parent
only supervises: SIGTERM or SIGINT stops every process; a process that dies is started again, and one dying more
than MAX_RESTARTS times a minute stops the listener with exit code 1.
"""

import contextlib
import ctypes
import ipaddress
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import socketserver
import ssl
import threading
import time
from collections import Counter, OrderedDict, deque

from django.conf import settings
from django.db import close_old_connections, connection, connections

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
                # This thread's database connection serves the whole MLLP connection: no health check per message
                # (a SELECT 1 each); a failure closes both, and the sender's reconnection gets a fresh one.
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
        sock: socket.socket | None = None,
        share: "_Share | None" = None,
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
        self.share = share
        super().__init__(address, _Connection, bind_and_activate=sock is None)
        if sock is not None:  # a socket listening already, shared with the other processes
            self.socket.close()
            self.socket = sock

    def get_request(self):
        if self.share is not None:
            self.share.yield_to_idler()
        return super().get_request()  # another process took it meanwhile: BlockingIOError, ignored

    def process_request(self, request, client_address) -> None:
        if self.share is not None:
            self.share.opened()
            log.info("MLLP connection from %s:%s served by process %d", *client_address[:2], os.getpid())
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        super().shutdown_request(request)
        if self.share is not None:
            self.share.closed()

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
    server = _server((host, port), tls=tls_context())
    if block:
        try:
            server.serve_forever()
        finally:
            server.server_close()
    else:
        threading.Thread(target=server.serve_forever, name="mllp-listener", daemon=True).start()
    return server


# --- several processes on one port ------------------------------------------------------------------------------

MAX_RESTARTS = 5  # a process dying more often than this in RESTART_WINDOW seconds stops the listener
RESTART_WINDOW = 60
YIELD_SECONDS = 0.05  # how long a busier process leaves a new connection to an idler one


class _Share:
    """What the processes share: how many connections each has open (one slot each, written only by its owner)."""

    def __init__(self, processes: int):
        self.counts = multiprocessing.get_context("fork").Array("i", processes, lock=False)
        self.index = -1  # this process's slot, set in each child
        self._lock = threading.Lock()

    def opened(self) -> None:
        with self._lock:
            self.counts[self.index] += 1

    def closed(self) -> None:
        with self._lock:
            self.counts[self.index] -= 1

    def yield_to_idler(self) -> None:
        """A new connection is waiting: while this process has more open than another, give that one a moment to
        take it (each connection stays with the process that accepts it, so spreading them spreads the work)."""
        deadline = time.monotonic() + YIELD_SECONDS
        while self.counts[self.index] > min(self.counts) and time.monotonic() < deadline:
            time.sleep(0.002)


def _die_with_parent() -> None:
    """Linux: this process is killed when the supervising parent dies without stopping it (kill -9, a crash): the
    listener goes as a whole, its port free for the next one; a message being applied then is rolled back and gets
    no ACK, as in one process."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _child(index: int, sock: socket.socket, tls: ssl.SSLContext | None, share: _Share) -> None:
    """One listener process: serve connections from the shared socket until SIGTERM."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops the children
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    share.index = index
    server = _server(sock.getsockname()[:2], tls=tls, sock=sock, share=share)
    threading.Thread(target=server.serve_forever, name="mllp-listener", daemon=True).start()
    log.info("HL7 listener process %d started (pid %d)", index + 1, os.getpid())
    while not stop.wait(1):
        pass
    server.shutdown()
    server.server_close()
    log.info("HL7 listener process %d stopped (pid %d)", index + 1, os.getpid())


def serve(host: str, port: int, *, processes: int) -> int:
    """Serve with `processes` processes on one listening socket until SIGTERM or SIGINT; the exit code.

    One process serves in this one, as start(block=True) does.
    """
    if processes <= 1:
        start(host, port, block=True)
        return 0
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=_Server.request_queue_size)
    sock.setblocking(False)  # the processes race to accept: the losers see BlockingIOError, not a hang
    tls = tls_context()
    share = _Share(processes)
    connections.close_all()  # no database connection crosses the fork
    context = multiprocessing.get_context("fork")
    stopping = threading.Event()

    def stop(_signum, _frame) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def spawn(index: int) -> multiprocessing.Process:
        process = context.Process(target=_child, args=(index, sock, tls, share), name=f"hl7-listener-{index + 1}")
        process.start()
        return process

    children = [spawn(index) for index in range(processes)]
    deaths: deque[float] = deque()
    code = 0
    try:
        while not stopping.is_set():
            multiprocessing.connection.wait([child.sentinel for child in children], timeout=0.5)
            for index, child in enumerate(children):
                if child.is_alive() or stopping.is_set():
                    continue
                now = time.monotonic()
                deaths.append(now)
                while deaths and deaths[0] < now - RESTART_WINDOW:
                    deaths.popleft()
                if len(deaths) > MAX_RESTARTS:
                    log.critical(
                        "HL7 listener process %d (pid %d) died with exit code %s; more than %d deaths in %d s: "
                        "the listener stops",
                        index + 1, child.pid, child.exitcode, MAX_RESTARTS, RESTART_WINDOW,
                    )  # fmt: skip
                    code = 1
                    stopping.set()
                    break
                log.error(
                    "HL7 listener process %d (pid %d) died with exit code %s; started again",
                    index + 1, child.pid, child.exitcode,
                )  # fmt: skip
                share.counts[index] = 0
                children[index] = spawn(index)
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()  # SIGTERM: the child stops accepting and exits
        for child in children:
            child.join(10)
            if child.is_alive():
                log.error("HL7 listener process %s did not stop within 10 s: killed", child.pid)
                child.kill()
                child.join()
        sock.close()
    return code


def _server(address, *, tls: ssl.SSLContext | None, sock=None, share: _Share | None = None) -> _Server:
    return _Server(
        address,
        tls=tls,
        tls_authenticates=bool(settings.RIS_HL7_TLS_CA),
        max_frame=settings.RIS_HL7_MAX_FRAME_BYTES,
        max_connections=settings.RIS_HL7_MAX_CONNECTIONS,
        idle=settings.RIS_HL7_IDLE_TIMEOUT_SECONDS,
        frame_timeout=settings.RIS_HL7_FRAME_TIMEOUT_SECONDS,
        max_per_peer=settings.RIS_HL7_MAX_PER_PEER,
        max_pending=settings.RIS_HL7_MAX_PENDING,
        sock=sock,
        share=share,
    )
