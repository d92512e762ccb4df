"""HL7 throughput benchmark: ORM^O01 NW in original mode against the real MLLP listener, PostgreSQL and Celery.

Usage (from the project root):

    .venv/bin/python -m bench.hl7_throughput [--messages 10000] [--connections 4] [--warmup 200] [--runs 3]
        [--reference main] [--processes N] [--keep]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/hl7_throughput.py --messages 1000

Each run measures two listeners in turn on the same database, worker and machine: the reference, the listener of
--reference (a commit, default main; "none" skips it) checked out with `git worktree` under var/bench_hl7/, and this
tree's (with --processes, default one per CPU). The table gives each phase's median over --runs runs, both
listeners side by side, with the ratio.

The database is --database (default ris_bench_hl7) on DATABASE_URL's server (default postgres@127.0.0.1:5432):
created if missing, migrated, given a small catalog (facility BENCH_HL7, room "CT 1" open 07:00-19:00 every day,
procedure HL7CTHEAD, the sender CIS configured for 127.0.0.1 as a closed listener wants it), and, unless --keep
is given, emptied of what the messages write (patients, orders, exams,
their history, inbound and outbound messages, outbox events) before the listener starts.

The production processes then run as subprocesses on that database, their logs under var/bench_hl7/:

    listener  manage.py hl7_listener --host 127.0.0.1 --port <free port>
    worker    celery -A ris worker --concurrency 2 --loglevel WARNING     (answering a ris.ping before the start)

both with DATABASE_URL of the bench database, CELERY_BROKER_URL (default redis://127.0.0.1:6379/11; the
environment's CELERY_BROKER_URL wins) and DEBUG off. Nothing is pinned to a CPU.

A plain-socket MLLP client (TCP_NODELAY) sends --warmup untimed messages, then two timed phases of --messages each:

    (1) one connection                 target >= 250 msg/s, p99 ACK < 50 ms (issue 22)
    (2) --connections at once          target >= 400 msg/s, p99 ACK < 50 ms

every message a new order with one exam (ORM^O01, ORC-1 NW, MSH-15/16 empty: original mode), with its own control
ID and placer order number (prefixed by a run tag, so --keep re-runs never collide), for one of 300 patients whose
names are mostly not ASCII (Müller^Jürgen). Each connection waits for the ACK of a message before sending the next.
Per phase it prints the messages sent, the ACK codes, messages per second (sent / wall time), the ACK latency p50
and p99 (from the first byte sent to the last byte of the ACK read), and checks the database: the orders and exams
of the phase are exactly those of the messages acknowledged AA. The exit code is 0 unless something failed: a
mismatch, an ACK other than AA, a connection lost, an error in the listener's log, a process that did not start.
Targets missed are shown, and are not failures. The column "CPU ms/msg" is the CPU time the listener's processes used
during the phase per message; "lsn/cli" that time and this client process's over the wall time (100% = one core):
whether the listener is bound by its own CPU or waits for PostgreSQL.
"""

# ruff: noqa: E402, S603  (Django is set up, by bench.scheduling, before its models are imported; the subprocesses
# are this project's own commands)

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as clock
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
# Run as a file, this directory comes first on sys.path and bench/scheduling.py would shadow the `scheduling` app.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

DEFAULT_DATABASE = "ris_bench_hl7"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/11"
os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DEFAULT_DATABASE}")
os.environ.setdefault("CELERY_BROKER_URL", DEFAULT_BROKER_URL)  # read by the settings: set before Django starts

from django.core.management import call_command
from django.db import connection
from django.utils import timezone

# bench.scheduling sets Django up on import (DEBUG off, a SECRET_KEY); bench.worklist has the process helpers.
from bench.scheduling import create_database_if_missing
from bench.worklist import Server, free_port, use_database
from interfaces.models import InboundMessage, OutboundMessage, Sender
from ris.models import Facility, Modality, OpeningHours, OutboxEvent, Patient, ProcedureType, Room
from ris.tasks import ping
from scheduling.models import Exam, Order

HOST = "127.0.0.1"
LOG_DIR = PROJECT_DIR / "var" / "bench_hl7"
FACILITY_CODE = "BENCH_HL7"
PROCEDURE_CODE = "HL7CTHEAD"
SENDING_APPLICATION = "CIS"
PATIENTS = 300
START, END = b"\x0b", b"\x1c\x0d"
TARGET_P99_MS = 50.0
TARGET_RATE = {1: 250.0}  # messages per second on one connection; more connections: TARGET_RATE_MANY
TARGET_RATE_MANY = 400.0

# (family, given, sex, birth date): Latin-1 and beyond (ø, ř, ş, ő), and a few plain ASCII names.
NAMES = [
    ("Müller", "Jürgen", "M", "19700102"),
    ("Sørensen", "Åse", "F", "19820315"),
    ("Dvořák", "Tomáš", "M", "19591130"),
    ("Schröder", "Zoë", "F", "19910707"),
    ("Núñez", "José", "M", "19480229"),
    ("Öztürk", "Ayşe", "F", "19760611"),
    ("Lefèvre", "Chloé", "F", "20010120"),
    ("Kovács", "Zoltán", "M", "19650904"),
    ("Weiß", "Björn", "M", "19880812"),
    ("Gonçalves", "Inês", "F", "19930403"),
    ("Hołownia", "Łukasz", "M", "19700517"),
    ("Szőke", "Ildikó", "F", "19851023"),
    ("Smith", "James", "M", "19620118"),
    ("O'Brien", "Mary", "F", "19990925"),
]


# --- The database ---------------------------------------------------------------------------------------------


def database_url_named(url: str, name: str) -> str:
    """DATABASE_URL with another database name on the same server."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def ensure_catalog() -> None:
    """The facility, one CT room open 07:00-19:00 every day, and the procedure the messages order; idempotent."""
    facility, _ = Facility.objects.get_or_create(
        code=FACILITY_CODE, defaults={"name": "HL7 Bench Hospital", "city": "Springfield", "country": "US"}
    )
    ct = Modality.objects.get(code="CT")
    room, created = Room.objects.get_or_create(
        station_ae_title="HL7CT1",
        defaults={"name": "CT 1", "facility": facility, "modality": ct, "station_name": "HL7CT1", "location": "CT 1"},
    )
    if created:
        OpeningHours.objects.bulk_create(
            OpeningHours(room=room, weekday=day, opens_at=clock(7), closes_at=clock(19)) for day in range(7)
        )
    Sender.objects.update_or_create(name=SENDING_APPLICATION, defaults={"addresses": [HOST], "enabled": True})
    ProcedureType.objects.get_or_create(
        code=PROCEDURE_CODE,
        defaults={
            "name": "CT head without contrast",
            "modality": ct,
            "cpt_code": "70450",
            "default_duration_minutes": 20,
        },
    )


def written_tables() -> list[str]:
    """What applying ORM^O01 NW writes (and what the outbox would), with the history of each audited model."""
    tables = [m._meta.db_table for m in (Patient, Order, Exam, InboundMessage, OutboundMessage, OutboxEvent)]
    tables += [m.history.model._meta.db_table for m in (Patient, Order, Exam)]
    return tables


def truncate() -> None:
    with connection.cursor() as cursor:
        # CASCADE empties what refers to them as well (coverages, reports, MPPS): this database is the bench's
        cursor.execute(f"TRUNCATE {', '.join(written_tables())} RESTART IDENTITY CASCADE")


def prepare_database(url: str, keep: bool) -> None:
    name = use_database(url)
    if create_database_if_missing(url):
        print(f"  created database {name}")
    call_command("migrate", interactive=False, verbosity=0)
    ensure_catalog()
    if keep:
        print(f"  database {name}: kept as it is (--keep), {Order.objects.count():,} orders in it")
    else:
        truncate()
        print(f"  database {name}: migrated, catalog in place, message tables truncated")


# --- The messages ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    control_id: str
    placer: str
    frame: bytes


def orm_new(control_id: str, placer: str, patient: int, now: str) -> str:
    """ORM^O01 NW for one CT head (HL7 v2.5.1 ch. 4.4.1), original mode: MSH-15 and MSH-16 empty."""
    family, given, sex, birth = NAMES[patient % len(NAMES)]
    msh = f"MSH|^~\\&|{SENDING_APPLICATION}|HOSP|RIS|RAD|{now}||ORM^O01^ORM_O01|{control_id}|P|2.5.1||||||UNICODE UTF-8"
    return "\r".join(
        [
            msh,
            f"PID|1||HB{patient:05d}^^^HOSP^MR||{family}^{given}||{birth}|{sex}|||"
            f"Hauptstraße {patient}^^München^^80331^DE",
            f"PV1|1|O|||||||||||||||||V{control_id}",
            f"ORC|NW|{placer}^{SENDING_APPLICATION}",
            f"OBR|1|{placer}^{SENDING_APPLICATION}||{PROCEDURE_CODE}^CT head^99RIS"
            + "|" * 20
            + "CT"
            + "|" * 7
            + "^Headache",
            "DG1|1||R51.9^Headache^I10",
        ]
    )


def messages_for(tag: str, phase: str, count: int) -> list[Outgoing]:
    """`count` messages, control IDs <tag><phase><n> (20 characters at most), patients round robin."""
    now = f"{datetime.now():%Y%m%d%H%M%S}"
    out = []
    for number in range(1, count + 1):
        control_id = f"{tag}{phase}{number:07d}"
        placer = f"{tag}-{phase}-{number:07d}"
        text = orm_new(control_id, placer, number % PATIENTS, now)
        out.append(Outgoing(control_id, placer, START + text.encode("utf-8") + END))
    return out


def run_tag() -> str:
    """Six base-36 digits of the time in tenths of a second: a fresh prefix for every run (for --keep)."""
    value, digits = int(time.time() * 10) % 36**6, ""
    for _ in range(6):
        value, digit = divmod(value, 36)
        digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[digit] + digits
    return digits


# --- The MLLP client ------------------------------------------------------------------------------------------


class NoAck(Exception):
    """The connection closed, or stayed silent, before the ACK arrived."""


@dataclass
class Ack:
    control_id: str  # MSA-2: the control ID acknowledged
    code: str  # MSA-1
    text: str  # MSA-3, or ERR-8 when there is one

    @classmethod
    def parse(cls, data: bytes) -> Ack:
        segments = {s.split("|", 1)[0]: s.split("|") for s in data.decode("utf-8", "replace").split("\r") if s}
        msa = segments.get("MSA", [])
        err = segments.get("ERR", [])
        text = (err[8] if len(err) > 8 and err[8] else "") or (msa[3] if len(msa) > 3 else "")
        return cls(msa[2] if len(msa) > 2 else "", msa[1] if len(msa) > 1 else "(no MSA)", text)


@dataclass
class ConnectionRun:
    acks: list[tuple[Outgoing, Ack]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    error: str = ""


class MLLPConnection:
    """One MLLP connection: send a frame, wait for its ACK, then the next (original mode)."""

    def __init__(self, port: int, timeout: float):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()

    def exchange(self, frame: bytes) -> bytes:
        self.sock.sendall(frame)
        while (end := self.buffer.find(END)) < 0:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise NoAck(f"no ACK within {self.sock.gettimeout():.0f} s") from None
            if not chunk:
                raise NoAck("connection closed by the listener")
            self.buffer += chunk
        ack = bytes(self.buffer[:end]).lstrip(START)
        del self.buffer[: end + len(END)]
        return ack

    def send_all(self, messages: list[Outgoing], run: ConnectionRun) -> None:
        now = time.perf_counter
        for message in messages:
            started = now()
            try:
                ack = self.exchange(message.frame)
            except (NoAck, OSError) as error:
                run.error = f"{message.control_id}: {error}"
                return
            run.latencies_ms.append((now() - started) * 1000)
            run.acks.append((message, Ack.parse(ack)))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


# --- The phases -----------------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    connections: int
    messages: list[Outgoing]
    runs: list[ConnectionRun] = field(default_factory=list)
    wall_seconds: float = 0.0
    orders: int = 0
    exams: int = 0
    listener_cpu: float = math.nan  # CPU seconds the listener process used during the phase
    client_cpu: float = math.nan  # and this process (the MLLP client threads)
    problems: list[str] = field(default_factory=list)

    @property
    def acks(self) -> list[tuple[Outgoing, Ack]]:
        return [pair for run in self.runs for pair in run.acks]

    @property
    def latencies_ms(self) -> list[float]:
        return sorted(ms for run in self.runs for ms in run.latencies_ms)

    @property
    def sent(self) -> int:
        return sum(len(run.acks) + bool(run.error) for run in self.runs)

    def codes(self) -> Counter[str]:
        return Counter(ack.code for _message, ack in self.acks)

    def rate(self) -> float:
        return self.sent / self.wall_seconds if self.wall_seconds else 0.0

    def percentile(self, fraction: float) -> float:
        """Nearest rank."""
        ordered = self.latencies_ms
        return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)] if ordered else math.nan


def run_phase(phase: Phase, port: int, timeout: float, listener_pid: int) -> None:
    """Each connection sends every n-th message; all connect first, then start together."""
    slices = [phase.messages[i :: phase.connections] for i in range(phase.connections)]
    phase.runs = [ConnectionRun() for _ in slices]
    clients = [MLLPConnection(port, timeout) for _ in slices]
    start = threading.Barrier(len(clients) + 1)

    def send(client: MLLPConnection, messages: list[Outgoing], run: ConnectionRun) -> None:
        start.wait()
        client.send_all(messages, run)

    threads = [
        threading.Thread(target=send, args=args, name=f"mllp-{n}", daemon=True)
        for n, args in enumerate(zip(clients, slices, phase.runs, strict=True))
    ]
    try:
        for thread in threads:
            thread.start()
        listener_cpu, client_cpu = cpu_seconds(listener_pid), time.process_time()
        start.wait()
        started = time.perf_counter()
        for thread in threads:
            while thread.is_alive():  # a timed join: Ctrl-C still reaches the main thread
                thread.join(0.5)
        phase.wall_seconds = time.perf_counter() - started
        phase.listener_cpu = cpu_seconds(listener_pid) - listener_cpu
        phase.client_cpu = time.process_time() - client_cpu
    finally:
        for client in clients:
            client.close()


def verify(phase: Phase, tag: str, code: str) -> None:
    """The orders and exams of the phase in the database are exactly those of the messages acknowledged AA."""
    accepted = {message.placer for message, ack in phase.acks if ack.code == "AA"}
    orders = Order.objects.filter(
        placer_application=SENDING_APPLICATION, placer_order_number__startswith=f"{tag}-{code}-"
    )
    stored = set(orders.values_list("placer_order_number", flat=True))
    phase.orders = len(stored)
    phase.exams = Exam.objects.filter(order__in=orders).count()
    if phase.orders != len(accepted) or phase.exams != len(accepted):
        phase.problems.append(f"{len(accepted):,} AA but {phase.orders:,} orders and {phase.exams:,} exams stored")
    if missing := sorted(accepted - stored):
        phase.problems.append(f"{len(missing):,} acknowledged AA without an order, e.g. {', '.join(missing[:5])}")
    if extra := sorted(stored - accepted):
        phase.problems.append(f"{len(extra):,} orders stored without an AA, e.g. {', '.join(extra[:5])}")
    crossed = [m.control_id for m, ack in phase.acks if ack.control_id != m.control_id]
    if crossed:
        phase.problems.append(f"{len(crossed):,} ACKs name another control ID in MSA-2, e.g. {crossed[0]}")
    others = [(m.control_id, ack) for m, ack in phase.acks if ack.code != "AA"]
    if others:
        examples = "; ".join(f"{cid} {ack.code} {ack.text!r}" for cid, ack in others[:5])
        phase.problems.append(f"{len(others):,} ACKs not AA, e.g. {examples}")
    phase.problems += [f"connection {n + 1}: {run.error}" for n, run in enumerate(phase.runs) if run.error]
    unsent = len(phase.messages) - phase.sent
    if unsent:
        phase.problems.append(f"{unsent:,} messages not sent (their connection was lost)")


# --- The processes --------------------------------------------------------------------------------------------


class StartFailed(Exception):
    """A process could not be started: the reason is the message."""


def start_process(
    name: str, argv: list[str], env: dict[str, str], started: list[Server], port: int | None = None, cwd=PROJECT_DIR
) -> Server:
    """Start in its own session (Ctrl-C reaches only this process; the stop is ours), output to var/bench_hl7/,
    and add it to `started` at once (for the caller's finally). With a port, wait (up to a minute) until it accepts
    connections."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = LOG_DIR / f"{name}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = Server(name, process, port or 0, log)
    started.append(server)
    deadline = time.monotonic() + 60
    while port and time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartFailed(f"{name} exited with {process.returncode}:\n{server.tail()}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return server
        time.sleep(0.2)
    if port:
        raise StartFailed(f"{name} did not listen on port {port} within 60 s:\n{server.tail()}")
    return server


def stop(server: Server, signum: int = signal.SIGINT) -> None:
    """The signal that stops it cleanly (Ctrl-C for the listener; SIGTERM, Celery's warm shutdown, for the worker),
    SIGKILL after 15 s; then whatever is left of its process group (the worker's pool processes)."""
    if server.process.poll() is None:
        server.process.send_signal(signum)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.process.pid, signal.SIGKILL)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and its live children (the listener's processes), all their threads
    (proc(5): fields 14 and 15 of /proc/<pid>/stat; field 4 the parent)."""
    total = math.nan
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if stat.parent.name == str(pid) or fields[1] == str(pid):
                total = (0.0 if math.isnan(total) else total) + (int(fields[11]) + int(fields[12]))
    return total / os.sysconf("SC_CLK_TCK")


def wait_for_worker(worker: Server) -> float:
    """Seconds until the worker answers ris.ping through the broker."""
    started = time.perf_counter()
    result = ping.delay()
    deadline = time.monotonic() + 90
    while not result.ready():
        if worker.process.poll() is not None:
            raise StartFailed(f"worker exited with {worker.process.returncode}:\n{worker.tail()}")
        if time.monotonic() > deadline:
            raise StartFailed(f"worker did not answer ris.ping within 90 s:\n{worker.tail()}")
        time.sleep(0.1)
    result.get(timeout=1)
    return time.perf_counter() - started


LOG_PROBLEM = re.compile(r" (WARNING|ERROR|CRITICAL) |Traceback")


def log_problems(server: Server) -> list[str]:
    """Warning, error and traceback lines of a process's log."""
    with contextlib.suppress(OSError):
        return [line for line in server.log.read_text(errors="replace").splitlines() if LOG_PROBLEM.search(line)]
    return []


# --- The table ------------------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    values = sorted(v for v in values if not math.isnan(v))
    if not values:
        return math.nan
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


@dataclass
class Summary:
    """One phase of one listener over the runs: medians."""

    phases: list[Phase]

    def rate(self) -> float:
        return median([p.rate() for p in self.phases])

    def p50(self) -> float:
        return median([p.percentile(0.50) for p in self.phases])

    def p99(self) -> float:
        return median([p.percentile(0.99) for p in self.phases])

    def cpu_ms(self) -> float:
        return median([p.listener_cpu / p.sent * 1000 if p.sent else math.nan for p in self.phases])

    def load(self) -> str:
        listener = median([p.listener_cpu / p.wall_seconds for p in self.phases if p.wall_seconds])
        client = median([p.client_cpu / p.wall_seconds for p in self.phases if p.wall_seconds])
        return f"{listener:.0%}/{client:.0%}"

    def verdict(self) -> str:
        first = self.phases[0]
        rate = TARGET_RATE.get(first.connections, TARGET_RATE_MANY)
        misses = [
            name for name, miss in (("rate", self.rate() < rate), ("p99", not self.p99() < TARGET_P99_MS)) if miss
        ]
        return f">= {rate:.0f} msg/s, p99 < {TARGET_P99_MS:.0f} ms: " + (
            "MISSES " + ", ".join(misses) if misses else "meets target"
        )


def ratio(new: float, old: float) -> str:
    return f"{new / old:.2f}x" if old and not math.isnan(old) and not math.isnan(new) else "-"


def print_table(results: dict[str, dict[str, list[Phase]]], runs: int) -> None:
    """Medians per phase and listener, the reference first, then this tree's with its ratios to the reference."""
    print()
    print(f"Medians of {runs} run(s); each run measures both listeners in turn on the same database and worker.")
    header = (
        f"{'phase':<14} | {'listener':<22} | {'msg/s':>6} | {'p50 ms':>6} | {'p99 ms':>6} | {'CPU ms/msg':>10} | "
        f"{'lsn/cli':>9} | {'checks':<6} | target / result"
    )
    print(header)
    print("-" * (len(header) + 30))
    labels = list(results)
    for phase_name in dict.fromkeys(name for by_phase in results.values() for name in by_phase):
        reference = None
        for label in labels:
            phases = results[label].get(phase_name)
            if not phases:
                continue
            summary = Summary(phases)
            checks = "ok" if not any(p.problems for p in phases) else "FAILED"
            print(
                f"{phase_name:<14} | {label:<22} | {summary.rate():>6.0f} | {summary.p50():>6.1f} | "
                f"{summary.p99():>6.1f} | {summary.cpu_ms():>10.2f} | {summary.load():>9} | {checks:<6} | "
                f"{summary.verdict()}"
            )
            if reference is None:
                reference = summary
            else:
                print(
                    f"{'':<14} | {'  ratio to reference':<22} | {ratio(summary.rate(), reference.rate()):>6} | "
                    f"{ratio(summary.p50(), reference.p50()):>6} | {ratio(summary.p99(), reference.p99()):>6} | "
                    f"{ratio(summary.cpu_ms(), reference.cpu_ms()):>10} |"
                )
    print("\nEach run (msg/s, p99 ms):")
    for label in labels:
        for phase_name, phases in results[label].items():
            each = ", ".join(f"{p.rate():.0f} / {p.percentile(0.99):.1f}" for p in phases)
            print(f"  {label:<22} {phase_name:<14} {each}")


# --- Main -----------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000, help="messages per timed phase (default 10000)")
    parser.add_argument("--connections", type=int, default=4, help="connections of phase 2 (default 4)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed messages first, one connection (default 200)")
    parser.add_argument("--runs", type=int, default=3, help="runs; the table gives medians (default 3)")
    parser.add_argument("--reference", default="main", help='the commit to compare with (default main; "none": skip)')
    parser.add_argument("--processes", type=int, default=0, help="this tree's listener processes (default: per CPU)")
    parser.add_argument("--keep", action="store_true", help="do not truncate the message tables first")
    parser.add_argument(
        "--database", default=DEFAULT_DATABASE, help=f"on DATABASE_URL's server (default {DEFAULT_DATABASE})"
    )
    parser.add_argument("--ack-timeout", type=float, default=30, help="seconds to wait for an ACK (default 30)")
    args = parser.parse_args(argv)
    if args.messages < 1 or args.connections < 1 or args.warmup < 0 or args.runs < 1:
        parser.error("--messages, --connections and --runs must be at least 1, --warmup at least 0")
    return args


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@dataclass
class Listener:
    label: str
    key: str  # one letter, in the control IDs of its messages
    argv: list[str]
    cwd: Path


def reference_tree(revision: str) -> tuple[Path, str]:
    """The files of `revision` (git archive, no worktree registered) under var/bench_hl7/, and its short hash."""
    git = ["git", "-C", str(PROJECT_DIR)]
    commit = subprocess.run([*git, "rev-parse", "--verify", f"{revision}^{{commit}}"], capture_output=True, text=True)
    if commit.returncode:
        raise StartFailed(f"--reference {revision}: {commit.stderr.strip()}")
    sha = commit.stdout.strip()
    path = LOG_DIR / f"reference-{sha[:12]}"
    if not (path / "manage.py").exists():
        path.mkdir(parents=True, exist_ok=True)
        archive = subprocess.Popen([*git, "archive", "--format=tar", sha], stdout=subprocess.PIPE)
        with tarfile.open(fileobj=archive.stdout, mode="r|") as files:
            files.extractall(path, filter="data")
        archive.wait()
    return path, sha[:10]


def identifiers_aligned() -> None:
    """A reference from before migration 0020 numbers orders from the IdentifierSequence rows, this tree from
    PostgreSQL sequences (on the same database, migrated by this tree). Before each listener starts, each row and
    its sequence are set to the larger of the two: neither listener hands out a number the other used (the
    reference would otherwise skip them one by one, each skip a query, and measure that instead)."""
    from ris.selectors import sequence_last

    with connection.cursor() as cursor:
        cursor.execute("SELECT name, last_value FROM ris_identifiersequence")
        for name, last in cursor.fetchall():
            cursor.execute("SELECT to_regclass(%s)::text", [f"ris_identifier_{name}"])
            sequence = cursor.fetchone()[0]
            top = max(last, sequence_last(name))
            cursor.execute("UPDATE ris_identifiersequence SET last_value = %s WHERE name = %s", [top, name])
            if sequence is not None and top > 0:
                cursor.execute("SELECT setval(%s, %s, true)", [sequence, top])
    connection.close()


def measure(listener: Listener, run: int, args, env, tag: str, worker: Server, problems: list[str]) -> list[Phase]:
    """Start the listener (the identifier counters aligned first), warm it up, time one connection then
    --connections, stop it."""
    identifiers_aligned()
    port = free_port()
    started: list[Server] = []
    phases: list[Phase] = []
    name = f"listener-{listener.key}{run}"
    try:
        server = start_process(name, [*listener.argv, "--port", str(port)], env, started, port, cwd=listener.cwd)
        if args.warmup:
            warmup = Phase("warm-up", 1, messages_for(tag, f"{listener.key}{run}W", args.warmup))
            run_phase(warmup, port, args.ack_timeout, server.process.pid)
            verify(warmup, tag, f"{listener.key}{run}W")
            problems += [f"{listener.label} run {run} warm-up: {p}" for p in warmup.problems]
        for code, connections in (("A", 1), ("B", args.connections)):
            phase_name = f"{connections} connection" + ("s" if connections > 1 else "")
            full = f"{listener.key}{run}{code}"
            phase = Phase(phase_name, connections, messages_for(tag, full, args.messages))
            load = "/".join(f"{value:.1f}" for value in os.getloadavg())
            print(f"  run {run}, {listener.label}, {phase_name}: {args.messages:,} messages (load {load}) ...", end="")
            run_phase(phase, port, args.ack_timeout, server.process.pid)
            verify(phase, tag, full)
            connection.close()
            print(f" {phase.rate():.0f} msg/s, p99 {phase.percentile(0.99):.1f} ms", flush=True)
            phases.append(phase)
            problems += [f"{listener.label} run {run} {phase_name}: {p}" for p in phase.problems]
            if server.process.poll() is not None or worker.process.poll() is not None:
                break
    except OSError as error:  # the listener refused a connection
        problems.append(f"{listener.label}: MLLP connection to {HOST}:{port} failed: {error}")
    finally:
        for server in started:
            stop(server, signal.SIGINT)
            if server.process.returncode != 0:
                problems.append(f"{server.name} ended with exit code {server.process.returncode}")
            lines = log_problems(server)
            if lines:
                problems.append(f"{server.name} log: {len(lines):,} warning/error lines, first ones:")
                problems.extend(f"    {line}" for line in lines[:10])
    return phases


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Ctrl-C and SIGTERM both stop the processes (finally, below), even when this was started with SIGINT ignored
    # (a background job): the subprocesses then inherit the default action, not the ignoring.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    if not os.environ["DATABASE_URL"].startswith(("postgres://", "postgresql://")):
        raise SystemExit(f"DATABASE_URL must name a PostgreSQL server; got {os.environ['DATABASE_URL']!r}")
    url = database_url_named(os.environ["DATABASE_URL"], args.database)
    broker = os.environ["CELERY_BROKER_URL"]
    tag = run_tag()
    print(
        f"HL7 throughput benchmark: {args.messages:,} ORM^O01 NW per phase (1, then {args.connections} connections) "
        f"after {args.warmup:,} warm-up, {args.runs} run(s); run tag {tag}; broker {broker}; {os.cpu_count()} CPUs, "
        f"nothing pinned; {date.today()} {timezone.get_current_timezone_name()}"
    )
    prepare_database(url, args.keep)
    connection.close()  # the listener and the worker have the database to themselves, but for the checks

    env = os.environ | {"DATABASE_URL": url, "CELERY_BROKER_URL": broker, "PYTHONUNBUFFERED": "1"}
    base = [sys.executable, "manage.py", "hl7_listener", "--host", HOST]
    listeners = []
    problems: list[str] = []
    try:
        if args.reference.lower() != "none":
            path, sha = reference_tree(args.reference)
            listeners.append(Listener(f"reference {sha}", "R", base, path))
        this = [*base, "--processes", str(args.processes)] if args.processes else base
        listeners.append(Listener("this tree", "N", this, PROJECT_DIR))
    except (StartFailed, subprocess.CalledProcessError) as error:
        raise SystemExit(str(error)) from None
    celery = str(Path(sys.executable).parent / "celery")
    worker_argv = [celery, "-A", "ris", "worker", "--concurrency", "2", "--loglevel", "WARNING"]
    worker_argv += ["--hostname", f"hl7bench{os.getpid()}@%h"]  # its own node name beside any other worker
    processes: list[Server] = []
    results: dict[str, dict[str, list[Phase]]] = {listener.label: {} for listener in listeners}
    try:
        worker = start_process("worker", worker_argv, env, processes)
        print(
            f"  worker answered ris.ping in {wait_for_worker(worker):.1f} s; "
            f"logs under {LOG_DIR.relative_to(PROJECT_DIR)}/"
        )
        for run in range(1, args.runs + 1):
            for listener in listeners:
                for phase in measure(listener, run, args, env, tag, worker, problems):
                    results[listener.label].setdefault(phase.name, []).append(phase)
            if worker.process.poll() is not None:
                problems.append("the worker died")
                break
    except StartFailed as error:
        problems.append(str(error))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        for server in reversed(processes):
            stop(server, signal.SIGTERM)
    for server in processes:
        lines = log_problems(server)
        if lines:
            problems.append(f"{server.name} log: {len(lines):,} warning/error lines, first ones:")
            problems += [f"    {line}" for line in lines[:10]]
    print_table(results, args.runs)
    if problems:
        print("\nProblems:")
        for problem in problems:
            print(f"  {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
