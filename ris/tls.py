"""TLS for the RIS's own servers (the DICOM worklist SCP, the HL7 listener)."""

import select
import ssl
import time


def server_context(cert: str, key: str = "", ca: str = "") -> ssl.SSLContext | None:
    """A server TLS context when a certificate is configured (else None); with a CA, peers must present a
    certificate it signed."""
    if not cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key or None)
    if ca:
        context.load_verify_locations(ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def handshake_by(tls: ssl.SSLSocket, deadline: float) -> None:
    """Complete a server-side TLS handshake by `deadline` (time.monotonic()), however slowly the peer sends its
    part: a per-read timeout would let a peer that trickles a byte at a time hold the connection for ever.
    Raises TimeoutError past the deadline, ssl.SSLError or OSError when the handshake fails."""
    tls.setblocking(False)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            waiting = ([tls], [])
        except ssl.SSLWantWriteError:
            waiting = ([], [tls])
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not any(select.select(*waiting, [], remaining)[:2]):
            raise TimeoutError
    tls.setblocking(True)
