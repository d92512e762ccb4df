"""TLS for the RIS's own servers (the DICOM worklist SCP, the HL7 listener)."""

import ssl


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
