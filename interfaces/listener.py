"""The MLLP listener: many connections at once, many messages per connection, one thread per connection.

Each message is handed to interfaces.services.message_receive (store, apply, ACK) and its ACK written back before
the next one is read, as original-mode senders expect. A broken frame closes only its own connection.
"""

import logging
import socket
import socketserver
import ssl
import threading

from django.conf import settings
from django.db import close_old_connections, connection

from interfaces import services
from interfaces.mllp import FrameError, FrameReader, frame
from ris.tls import server_context

log = logging.getLogger(__name__)


class _Connection(socketserver.BaseRequestHandler):
    server: "_Server"

    def handle(self) -> None:
        peer = f"{self.client_address[0]}:{self.client_address[1]}"
        if not self.server.slots.acquire(blocking=False):
            log.warning("MLLP connection from %s refused: %d connections open", peer, self.server.max_connections)
            return
        try:
            sock = self._secure(self.request, peer)
            if sock is not None:
                self._serve(sock, peer)
        finally:
            self.server.slots.release()
            connection.close()  # this connection's thread is done with the database

    def _secure(self, sock: socket.socket, peer: str) -> socket.socket | None:
        sock.settimeout(self.server.idle_timeout)
        if self.server.tls is None:
            return sock
        try:
            return self.server.tls.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError) as error:
            log.warning("MLLP connection from %s: TLS handshake failed (%s)", peer, type(error).__name__)
            return None

    def _serve(self, sock: socket.socket, peer: str) -> None:
        reader = FrameReader(self.server.max_frame)
        while True:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                log.info("MLLP connection from %s closed after %ds idle", peer, self.server.idle_timeout)
                return
            except OSError:
                return
            if not data:
                return
            try:
                messages = reader.feed(data)
            except FrameError as error:
                log.warning("MLLP connection from %s closed: %s", peer, error)
                return
            for message in messages:
                close_old_connections()
                try:
                    ack = services.message_receive(message, peer=peer)
                except Exception:  # the database is down, say: no ACK, the sender keeps the message and resends
                    log.exception("MLLP message from %s could not be stored; connection closed without ACK", peer)
                    return
                try:
                    sock.sendall(frame(ack.encode("utf-8")))
                except OSError:
                    return


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, *, tls: ssl.SSLContext | None, max_frame: int, max_connections: int, idle: int):
        self.tls = tls
        self.max_frame = max_frame
        self.max_connections = max_connections
        self.idle_timeout = idle
        self.slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, _Connection)


def tls_context() -> ssl.SSLContext | None:
    """TLS when a certificate is configured; with a CA, senders must present a certificate it signed."""
    return server_context(settings.RIS_HL7_TLS_CERT, settings.RIS_HL7_TLS_KEY, settings.RIS_HL7_TLS_CA)


def start(host: str, port: int, *, block: bool) -> _Server:
    """Serve until stopped. With block=False the server runs in a thread; call .shutdown() then .server_close()."""
    server = _Server(
        (host, port),
        tls=tls_context(),
        max_frame=settings.RIS_HL7_MAX_FRAME_BYTES,
        max_connections=settings.RIS_HL7_MAX_CONNECTIONS,
        idle=settings.RIS_HL7_IDLE_TIMEOUT_SECONDS,
    )
    if block:
        try:
            server.serve_forever()
        finally:
            server.server_close()
    else:
        threading.Thread(target=server.serve_forever, name="mllp-listener", daemon=True).start()
    return server
