"""Is the RIS working? One check per service it needs, for `/healthz/ready` and `manage.py ris_status`.

`/healthz` itself (liveness) runs none of them: it says only that the web process answers. `readiness` runs the checks
for `/healthz/ready` at most once per RIS_HEALTH_CACHE_SECONDS, one run at a time, so that callers cannot multiply
the associations and connections the checks open on the SCP and the listener.

Each check is one function answering (ok, detail); `run_checks` times them, runs them at once in threads and
reports any that has not answered within DEADLINE seconds as failed, so an answer comes in about 1-3 s even when
every peer is down. A check never raises: an exception is its failure, described by its type and first line.

- database: `SELECT 1` on the default connection, then the migration plan must be empty (a schema behind the code
  is a failure too).
- broker: a connection to CELERY_BROKER_URL (for Redis: a PING). Without a broker (CELERY_TASK_ALWAYS_EAGER) tasks
  run in the web process: "in-process", healthy.
- worklist_scp: a DICOM C-ECHO to RIS_MWL_AE_TITLE at RIS_MWL_HOST:RIS_MWL_PORT (PS3.4 A.4), calling as
  RIS_HEALTH. An SCP that rejects that calling AE title (RIS_MWL_RESTRICT_CALLERS) has still answered DICOM: healthy,
  and the detail says so.
- hl7_listener: a TCP connection to RIS_HL7_HOST:RIS_HL7_PORT that the listener keeps open; nothing is sent, so no
  message is stored.
- worker: a Celery broadcast ping; healthy when at least one worker answers. "in-process" without a broker.

A server bound to every address (0.0.0.0, ::) is checked on the loopback address. With TLS configured for the SCP or
the listener (RIS_MWL_TLS_CERT, RIS_HL7_TLS_CERT) the check speaks TLS and accepts only the certificate the server
is configured with; when the server demands client certificates (its *_TLS_CA) the check presents that same
certificate and key. No detail carries PHI or a password (URLs are shown masked). Operators' notes: docs/health.md.
"""

import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from kombu.utils.url import maybe_sanitize_url
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification

from ris.celery import app

TIMEOUT = 1.5  # seconds: one connection, handshake or answer of a peer
PING_TIMEOUT = 1.0  # seconds the worker check collects answers to its ping
KEPT_OPEN = 0.3  # seconds the HL7 listener must keep the check's connection open to count as accepting it
DEADLINE = 2.8  # seconds: a check that has not returned by then has failed
HEALTH_AE_TITLE = "RIS_HEALTH"  # the worklist check's calling AE title
IN_PROCESS = "in-process: no broker configured, tasks run in the calling process"

# A-ASSOCIATE-RJ from the service user, reason "calling AE title not recognised" (PS3.8 9.3.4).
SERVICE_USER, CALLING_AE_NOT_RECOGNISED = 1, 3


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    ms: int


@dataclass(frozen=True)
class Report:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def as_dict(self) -> dict:
        """The JSON of /healthz and `ris_status --json`."""
        return {
            "status": "ok" if self.ok else "fail",
            "checks": {c.name: {"ok": c.ok, "detail": c.detail, "ms": c.ms} for c in self.checks},
        }


# --- helpers ---------------------------------------------------------------------------------------------------

_PASSWORD_IN_URL = re.compile(r"(\w[\w+.-]*://[^:/@\s]*:)[^@\s]+@")


def masked(text: str) -> str:
    """`text` with the password of any URL in it replaced by **."""
    return _PASSWORD_IN_URL.sub(r"\1**@", text)


def _describe(error: BaseException) -> str:
    first = (str(error).strip().splitlines() or [""])[0]
    return masked(f"{type(error).__name__}: {first}"[:200] if first else type(error).__name__)


def _local(host: str) -> str:
    """The address to reach a server bound to `host`: the loopback one for 'every address'."""
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104  (a bind address)


def _client_tls(cert: str, key: str, ca: str) -> ssl.SSLContext | None:
    """TLS to one of the RIS's own servers (None without a certificate): trust exactly the server's configured
    certificate (the configured host may be 0.0.0.0, so no host name is checked); when the server demands client
    certificates (`ca`), present that same certificate."""
    if not cert:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # the server's own (CA-signed) certificate as the anchor
    context.load_verify_locations(cert)
    if ca:
        context.load_cert_chain(cert, key or None)
    return context


def _tcp(host: str, port: int) -> tuple[socket.socket | None, str]:
    """A connected socket, or None and why not."""
    try:
        return socket.create_connection((host, port), timeout=TIMEOUT), ""
    except ConnectionRefusedError:
        return None, "connection refused: nothing is listening"
    except TimeoutError:
        return None, f"no answer within {TIMEOUT:g} s"
    except OSError as error:
        return None, _describe(error)


# --- the checks ---------------------------------------------------------------------------------------------------


def database() -> tuple[bool, str]:
    """SELECT 1, then no unapplied migration."""
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    finally:
        connection.close()  # this thread's connection
    vendor = connection.display_name
    if plan:
        first = plan[0][0]
        return False, f"{vendor} answers; {len(plan)} migration(s) not applied, first {first.app_label}.{first.name}"
    return True, f"{vendor} answers; all migrations applied"


def _broker_connection():
    return app.connection_for_write(
        connect_timeout=TIMEOUT,
        transport_options={"socket_timeout": TIMEOUT, "socket_connect_timeout": TIMEOUT},
    )


def broker() -> tuple[bool, str]:
    """Connect to the broker (Redis: PING) once, without retrying."""
    if app.conf.task_always_eager:
        return True, IN_PROCESS
    with _broker_connection() as conn:
        url = maybe_sanitize_url(conn.as_uri(include_password=True))
        try:
            conn.ensure_connection(max_retries=0)
        except Exception as error:
            return False, f"{url}: {_describe(error)}"
    return True, f"{url}: accepts connections"


def worker() -> tuple[bool, str]:
    """Ping every worker through the broker; at least one must answer."""
    if app.conf.task_always_eager:
        return True, IN_PROCESS
    with _broker_connection() as conn:
        try:
            conn.ensure_connection(max_retries=0)
        except Exception as error:
            return False, f"broker unreachable, no worker can be asked ({_describe(error)})"
        replies = app.control.ping(timeout=PING_TIMEOUT, connection=conn)
    names = sorted(name for reply in replies or [] for name in reply)
    if not names:
        return False, f"no worker answered a ping within {PING_TIMEOUT:g} s"
    return True, f"{len(names)} worker(s) answered: {', '.join(names)}"


def worklist_scp() -> tuple[bool, str]:
    """C-ECHO (Verification, PS3.4 A.4) to the worklist SCP."""
    host, port, called = _local(settings.RIS_MWL_HOST), settings.RIS_MWL_PORT, settings.RIS_MWL_AE_TITLE
    tls = _client_tls(settings.RIS_MWL_TLS_CERT, settings.RIS_MWL_TLS_KEY, settings.RIS_MWL_TLS_CA)
    where = f"{called} at {host}:{port}" + (" (TLS)" if tls else "")
    sock, why = _tcp(host, port)  # tells "nothing listening" from a DICOM failure, which pynetdicom does not
    if sock is None:
        return False, f"{where}: {why}"
    sock.close()

    ae = AE(ae_title=HEALTH_AE_TITLE)
    ae.add_requested_context(Verification)
    ae.connection_timeout = ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT
    answers = []
    assoc = ae.associate(
        host,
        port,
        ae_title=called,
        tls_args=(tls, None) if tls else None,
        evt_handlers=[(evt.EVT_ACSE_RECV, lambda event: answers.append(event.primitive))],
    )
    if assoc.is_established:
        try:
            status = assoc.send_c_echo()
        finally:
            assoc.release()
        if status and getattr(status, "Status", None) == 0x0000:
            return True, f"{where}: C-ECHO answered Success"
        if status and "Status" in status:
            return False, f"{where}: C-ECHO answered status 0x{status.Status:04X}"
        return False, f"{where}: no C-ECHO response within {TIMEOUT:g} s"
    if assoc.is_rejected:
        rejection = next((p for p in answers if getattr(p, "result", None) in (0x01, 0x02)), None)
        if rejection and (rejection.result_source, rejection.diagnostic) == (SERVICE_USER, CALLING_AE_NOT_RECOGNISED):
            return True, (
                f"{where}: answers DICOM, but rejects the calling AE title {HEALTH_AE_TITLE} "
                "(RIS_MWL_RESTRICT_CALLERS): no C-ECHO; add it to RIS_MWL_EXTRA_AE_TITLES"
            )
        reason = rejection.reason_str if rejection else "no reason given"
        return False, f"{where}: association rejected ({reason})"
    if assoc.is_aborted:
        return False, f"{where}: association aborted by the SCP" + (" (does it trust the certificate?)" if tls else "")
    return False, f"{where}: accepts TCP connections but no DICOM association" + (
        " (TLS handshake failed?)" if tls else ""
    )


def hl7_listener() -> tuple[bool, str]:
    """Connect (and shake hands over TLS) and see that the listener keeps the connection open; send nothing."""
    host, port = _local(settings.RIS_HL7_HOST), settings.RIS_HL7_PORT
    tls = _client_tls(settings.RIS_HL7_TLS_CERT, settings.RIS_HL7_TLS_KEY, settings.RIS_HL7_TLS_CA)
    where = f"MLLP at {host}:{port}" + (" (TLS)" if tls else "")
    sock, why = _tcp(host, port)
    if sock is None:
        return False, f"{where}: {why}"
    try:
        if tls:
            try:
                sock = tls.wrap_socket(sock)
            except (ssl.SSLError, OSError) as error:
                return False, f"{where}: TLS handshake failed ({_describe(error)})"
        # A listener with every connection slot taken, or one refusing our certificate (TLS 1.3 says so only after
        # the handshake), closes at once; an accepting one waits for a message.
        sock.settimeout(KEPT_OPEN)
        try:
            data = sock.recv(1)
        except TimeoutError:
            return True, f"{where}: accepting connections"
        except (ssl.SSLError, OSError) as error:
            return False, f"{where}: connection closed by the listener ({_describe(error)})"
        return False, f"{where}: the listener closed the connection at once" + (" (sent data)" if data else "")
    finally:
        sock.close()


CHECKS: dict[str, Callable[[], tuple[bool, str]]] = {
    "database": database,
    "broker": broker,
    "worklist_scp": worklist_scp,
    "hl7_listener": hl7_listener,
    "worker": worker,
}


def _timed(name: str, check: Callable[[], tuple[bool, str]]) -> Check:
    started = time.monotonic()
    try:
        ok, detail = check()
    except Exception as error:
        ok, detail = False, _describe(error)
    return Check(name, ok, detail, round((time.monotonic() - started) * 1000))


_probing = threading.Lock()
_last: tuple[float, Report] | None = None  # (time.monotonic() of the run, its report)


def readiness(max_age: float) -> Report:
    """The checks for /healthz/ready: run at most once per `max_age` seconds and one run at a time, however many ask.
    Callers in between get the last report; callers while a run goes on get the last one too, or wait for the run
    when there is none yet. A peer (the SCP, the listener) sees at most one probe per `max_age` from this process."""
    global _last
    last = _last
    if last is not None and time.monotonic() - last[0] < max_age:
        return last[1]
    if not _probing.acquire(blocking=last is None):
        return last[1]
    try:
        if _last is not None and time.monotonic() - _last[0] < max_age:  # another caller ran it meanwhile
            return _last[1]
        report = run_checks()
        _last = (time.monotonic(), report)
        return report
    finally:
        _probing.release()


def forget_readiness() -> None:
    """Drop the cached report (tests; a next call runs the checks)."""
    global _last
    _last = None


def run_checks(checks: dict[str, Callable[[], tuple[bool, str]]] | None = None) -> Report:
    """Run the checks at once; one that has not answered within DEADLINE seconds has failed."""
    checks = CHECKS if checks is None else checks
    started = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=max(len(checks), 1), thread_name_prefix="health")
    futures = {name: pool.submit(_timed, name, check) for name, check in checks.items()}
    done, _late = wait(futures.values(), timeout=DEADLINE)
    pool.shutdown(wait=False, cancel_futures=True)  # a late check finishes on its own timeouts, unwaited for
    results = []
    for name, future in futures.items():
        if future in done:
            results.append(future.result())
        else:
            late = round((time.monotonic() - started) * 1000)
            results.append(Check(name, False, f"no answer within {DEADLINE:g} s", late))
    return Report(results)
