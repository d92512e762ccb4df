"""Worklist benchmark: the RIS's DICOM Modality Worklist C-FIND SCP against DCMTK's wlmscpfs, over the network.

Usage (from the project root):

    .venv/bin/python -m bench.worklist [--sizes 1000,10000,100000,1000000] [--queries 50] [--servers ris,wlmscpfs]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ris_bench_mwl .venv/bin/python bench/worklist.py --sizes 1000

For each size N it keeps one PostgreSQL database per N, named after DATABASE_URL's with "_<N>" appended
(default ris_bench_mwl_1000, ..._10000, ..._100000, ..._1000000): created if missing and migrated. A database that
already holds exactly N exams, all SCHEDULED, starting today, is used as it is; otherwise its patients, orders and
exams are truncated and loaded again by COPY: N exams spread evenly over 30 days from today (local time, the
RIS_TIME_ZONE of the settings) on 20 rooms of 6 modalities (station AE titles CT1-CT4, MR1-MR3, US1-US4, DX1-DX4,
MG1-MG2, NM1-NM3), each a 50-second slot spaced evenly over the room's day (back to back around the clock at
1,000,000), so the exclusion constraint exam_room_no_overlap holds; one order per exam; about N/3 patients with
names from Faker's locales (bench.scheduling's name pool: many not ASCII). The catalog (facility, rooms, 3 procedure
types per modality, a few referring physicians) is made with the ORM.

For N up to --max-files (100,000) the same items are also written as DICOM worklist files for wlmscpfs, under
var/bench_wlm/n<N>/<CALLED_AE>/ (with a lockfile), and reused while they match the database (manifest.json).

Then each server is started in turn on a free port on 127.0.0.1 and queried by a pynetdicom SCU (AE BENCH,
TCP_NODELAY) on one association per query kind: --warmup untimed then --queries timed C-FINDs each (all pending
responses and the final one), the day varying over the 30 days; the timed ones stop early once they have taken
--budget seconds (600; the n column says how many each server answered: 1,000,000 exams make (b) ~33,000 matches):

    (a) one day + one modality + one station AE    (RIS target: median < 10 ms at every N, >= 100x wlmscpfs at 100k)
    (b) all of one day                             (RIS target: >= 3x faster than wlmscpfs at 100k)

    RIS       manage.py worklist_scp --host 127.0.0.1 --port <p> --ae-title RIS_MWL  (RIS_MWL_MAX_MATCHES=100000)
    wlmscpfs  wlmscpfs -csk -dfp var/bench_wlm/n<N> <p>                              (TCP_NODELAY=1)

Each server is pinned to all CPUs but one, the SCU to that one (--no-pin to let them float); PostgreSQL is left as
it is. Every query's match count is checked against the database (and so the two servers against each other); a
difference is printed as MISMATCH. The table gives the timed queries (RIS/wlmscpfs), the mean matches, median and
p95 wall time per C-FIND and the ratio wlmscpfs/RIS of the medians. The exit code is 0 unless a server failed
or a count did not match.
"""

# ruff: noqa: E402, S311, S603  (Django is set up before its models are imported; random draws test data, not
# secrets; the subprocesses run fixed programs with arguments built here)

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
# Run as a file, this directory comes first on sys.path and this module would shadow the `worklist` app.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/ris_bench_mwl"
os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)

import dj_database_url
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from pydicom import Dataset
from pydicom.sequence import Sequence
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind

# bench.scheduling sets Django up on import (production-like environment); its loading helpers are shared.
from bench.scheduling import (
    ORDER_COLUMNS,
    PATIENT_COLUMNS,
    check_copy_columns,
    check_order_copy_columns,
    copy_orders_and_exams,
    copy_rows,
    create_database_if_missing,
    patient_rows,
    reset_identity,
    vacuum_analyze,
)
from ris.models import Facility, Modality, Patient, ProcedureType, ReferringPhysician, Room
from scheduling.models import Exam, Order

SEED = 20261201
SIZES = (1_000, 10_000, 100_000, 1_000_000)
DAYS = 30
SLOT_SECONDS = 50
COPY_CHUNK = 20_000
FACILITY_CODE = "BENCH_MWL"
CALLED_AE = "RIS_MWL"
CALLING_AE = "BENCH"
HOST = "127.0.0.1"
WL_ROOT = PROJECT_DIR / "var" / "bench_wlm"
FILE_FORMAT = 2  # bump when worklist_item() changes: files written before are then written again
S = Exam.Status

ROOMS = {"CT": 4, "MR": 3, "US": 4, "DX": 4, "MG": 2, "NM": 3}  # 20 station AE titles: CT1..CT4, MR1..MR3, ...
PROCEDURES = {  # modality -> (name, CPT, minutes), codes MWL-<modality>-<n>
    "CT": [("CT head without contrast", "70450", 15), ("CT chest with contrast", "71260", 20),
           ("CT abdomen and pelvis with contrast", "74177", 25)],
    "MR": [("MR brain without contrast", "70551", 40), ("MR knee without contrast", "73721", 35),
           ("MR lumbar spine without contrast", "72148", 40)],
    "US": [("US abdomen complete", "76700", 30), ("US thyroid", "76536", 20), ("US pelvis", "76856", 30)],
    "DX": [("XR chest, 2 views", "71046", 10), ("XR knee, 3 views", "73562", 10), ("XR hand, 3 views", "73130", 10)],
    "MG": [("Screening mammography, bilateral", "77067", 20), ("Diagnostic mammography, unilateral", "77065", 25),
           ("Breast tomosynthesis, unilateral", "77061", 25)],
    "NM": [("NM bone scan, whole body", "78306", 45), ("NM thyroid uptake", "78014", 30),
           ("NM myocardial perfusion SPECT", "78452", 60)],
}  # fmt: skip
PHYSICIANS = [
    ("Okonkwo", "Adaeze"), ("Schröder", "Jürgen"), ("Nuñez", "José"), ("Lefèvre", "Chloé"), ("Smith", "James"),
    ("Sørensen", "Søren"), ("Dvořák", "Tomáš"), ("Kovács", "Zoltán"), ("Öztürk", "Ayşe"), ("Virtanen", "Aino"),
]  # fmt: skip


# --- The databases, one per size -----------------------------------------------------------------------------


def database_url_for(url: str, size: int) -> str:
    """DATABASE_URL with the database name suffixed by the size: .../ris_bench_mwl -> .../ris_bench_mwl_1000."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}_{size}"))


def use_database(url: str) -> str:
    """Point Django's default connection at another database (closing the current one); its name."""
    name = dj_database_url.parse(url)["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = name
    return name


@dataclass
class Catalog:
    rooms: list[tuple[int, str, str]]  # (room id, station AE title, modality code), in AE title order
    procedures: dict[str, list[int]]  # modality code -> procedure type ids
    physician_ids: list[int]


def ensure_catalog() -> Catalog:
    """The bench facility, its 20 rooms, 3 procedure types per modality and a few physicians; idempotent."""
    facility, _ = Facility.objects.get_or_create(
        code=FACILITY_CODE, defaults={"name": "Worklist Bench Hospital", "city": "Springfield", "country": "US"}
    )
    modalities = {m.code: m for m in Modality.objects.filter(code__in=ROOMS)}
    rooms, procedures = [], {}
    for code, count in ROOMS.items():
        for number in range(1, count + 1):
            room, _ = Room.objects.get_or_create(
                station_ae_title=f"{code}{number}",
                defaults={
                    "name": f"{code} {number}",
                    "facility": facility,
                    "modality": modalities[code],
                    "station_name": f"{code}_ROOM{number}",
                    "location": f"Radiology, {code} room {number}",
                    "location_code": f"{code} R{number}",  # SH: 16 characters
                },
            )
            rooms.append((room.pk, room.station_ae_title, code))
        procedures[code] = [
            ProcedureType.objects.get_or_create(
                code=f"MWL-{code}-{number}",
                defaults={"name": name, "modality": modalities[code], "cpt_code": cpt, "default_duration_minutes": m},
            )[0].pk
            for number, (name, cpt, m) in enumerate(PROCEDURES[code], start=1)
        ]
    physician_ids = [
        ReferringPhysician.objects.get_or_create(
            family_name=family, given_name=given, defaults={"facility": facility, "name_suffix": "MD"}
        )[0].pk
        for family, given in PHYSICIANS
    ]
    return Catalog(sorted(rooms, key=lambda room: room[1]), procedures, physician_ids)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, clock.min, tzinfo=tz)


def exam_slots(size: int, today: date, tz: ZoneInfo, rooms: int) -> Iterator[tuple[int, datetime, datetime]]:
    """(room index, start, end) of exam i = 0..size-1: round robin over rooms, then days, then the slots of a
    room-day, spaced evenly over its (local) day; each slot 50 s, or the spacing if shorter (a 23-hour DST day)."""
    per_room_day = math.ceil(size / (rooms * DAYS))
    days = [local_midnight(today + timedelta(days=d), tz).astimezone(UTC) for d in range(DAYS + 1)]
    spacing = [int((days[d + 1] - days[d]).total_seconds()) // per_room_day for d in range(DAYS)]
    if min(spacing) < SLOT_SECONDS - 1:
        raise RuntimeError(f"{size:,} exams do not fit {rooms} rooms x {DAYS} days in {SLOT_SECONDS}-second slots")
    for i in range(size):
        room, rest = i % rooms, i // rooms
        day, slot = rest % DAYS, rest // DAYS
        start = days[day] + timedelta(seconds=slot * spacing[day])
        yield room, start, start + timedelta(seconds=min(SLOT_SECONDS, spacing[day]))


EXAM_COLUMNS = (
    "id",
    "order_id",
    "procedure_type_id",
    "room_id",
    "scheduled_start",
    "scheduled_end",
    "requested_procedure_id",
    "scheduled_procedure_step_id",
    "study_instance_uid",
    "status",
    "status_changed_at",
    "status_reason",
    "created_at",
    "updated_at",
)


def order_and_exam_rows(
    rng: random.Random, catalog: Catalog, patient_ids: list[int], slots: list[tuple[int, datetime, datetime]],
    first: int, now: datetime,
) -> tuple[list[tuple], list[tuple]]:  # fmt: skip
    """COPY rows for a chunk of slots, exam and order numbers from `first`."""
    orders, exams = [], []
    for number, (room_index, start, end) in enumerate(slots, start=first):
        room_id, _ae, modality = catalog.rooms[room_index]
        physician = rng.choice(catalog.physician_ids) if rng.random() < 0.9 else None
        priority = rng.choices(["ROUTINE", "URGENT", "STAT"], weights=[90, 7, 3])[0]
        booked = now - timedelta(days=rng.uniform(0, 20))
        orders.append(
            (number, "", "", f"WF{number:09d}", f"W{number:09d}", rng.choice(patient_ids), physician, priority,
             "", "[]", "SCHEDULED", booked, booked, f"V{number:09d}" if rng.random() < 0.3 else "")
        )  # fmt: skip
        exams.append(
            (number, number, rng.choice(catalog.procedures[modality]), room_id, start, end, f"WRP{number:09d}",
             f"WSP{number:09d}", f"2.25.{rng.getrandbits(128)}", S.SCHEDULED, booked, "", booked, booked)
        )  # fmt: skip
    return orders, exams


def database_holds(size: int, today: date, tz: ZoneInfo) -> bool:
    """Exactly `size` exams, all SCHEDULED, the first starting at today's local midnight."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'SCHEDULED'), min(scheduled_start) FROM scheduling_exam"
        )
        total, scheduled, first = cursor.fetchone()
    return total == scheduled == size and first == local_midnight(today, tz)


def load(size: int, catalog: Catalog, today: date, tz: ZoneInfo) -> dict[str, float]:
    """Truncate patients, orders and exams and load `size` exams by COPY; the seconds each step took."""
    timings: dict[str, float] = {}
    now = timezone.now()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # CASCADE empties what refers to them as well (MPPS, coverages)
        cursor.execute("TRUNCATE scheduling_exam, scheduling_order, ris_patient RESTART IDENTITY CASCADE")
    check_copy_columns(Patient._meta.db_table, PATIENT_COLUMNS)
    check_order_copy_columns(ORDER_COLUMNS, EXAM_COLUMNS)
    with transaction.atomic():
        patients = max(1, size // 3)
        rows = patient_rows(random.Random(f"{SEED}:patients"), patients, today, now)
        copy_rows(Patient._meta.db_table, PATIENT_COLUMNS, rows)
    timings["patients"] = time.perf_counter() - started
    print(f"    patients: {patients:,} in {timings['patients']:.1f} s", flush=True)

    started = time.perf_counter()
    patient_ids = list(Patient.objects.order_by("id").values_list("id", flat=True))
    rng = random.Random(f"{SEED}:exams:{size}")
    slots = exam_slots(size, today, tz, len(catalog.rooms))
    written = 0
    with transaction.atomic():
        while chunk := list(itertools.islice(slots, COPY_CHUNK)):
            orders, exams = order_and_exam_rows(rng, catalog, patient_ids, chunk, written + 1, now)
            written += copy_orders_and_exams(orders, exams, ORDER_COLUMNS, EXAM_COLUMNS)
            if written % 200_000 == 0:
                print(f"    {written:,} orders and exams ({time.perf_counter() - started:.0f} s)", flush=True)
    reset_identity(Order._meta.db_table)
    reset_identity(Exam._meta.db_table)
    timings["orders and exams"] = time.perf_counter() - started
    print(f"    orders and exams: {written:,} of each in {timings['orders and exams']:.1f} s", flush=True)
    timings["vacuum analyze"] = vacuum_analyze()
    return timings


def prepare_database(url: str, size: int, today: date, tz: ZoneInfo) -> tuple[Catalog, dict[str, float]]:
    name = dj_database_url.parse(url)["NAME"]
    if create_database_if_missing(url):
        print(f"  created database {name}")
    use_database(url)
    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    catalog = ensure_catalog()
    timings = {"migrate and catalog": time.perf_counter() - started}
    if database_holds(size, today, tz):
        print(f"  database {name} already holds {size:,} exams from {today}: not reloaded")
        return catalog, timings
    print(f"  loading {size:,} exams into {name}:", flush=True)
    return catalog, timings | load(size, catalog, today, tz)


# --- The worklist files for wlmscpfs --------------------------------------------------------------------------


def person_name(*parts: str | None) -> str:
    return "^".join(part or "" for part in parts).rstrip("^")


def fingerprint() -> str:
    """What the worklist files were written from: every exam's step ID, start and study UID."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), md5(string_agg(scheduled_procedure_step_id || ' ' || scheduled_start::text || ' ' "
            "|| study_instance_uid, ',' ORDER BY id)) FROM scheduling_exam"
        )
        count, digest = cursor.fetchone()
    return f"{count}:{digest}"


def worklist_item(row: tuple, tz: ZoneInfo) -> Dataset:
    (family, given, middle, prefix, suffix, mrn, birth, sex, accession, rp_id, procedure, study_uid,
     doc_family, doc_given, doc_middle, doc_prefix, doc_suffix, modality, station_ae, station_name, location,
     start, sps_id) = row  # fmt: skip
    local = start.astimezone(tz)
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.AccessionNumber = accession
    ds.ReferringPhysicianName = person_name(doc_family, doc_given, doc_middle, doc_prefix, doc_suffix)
    ds.PatientName = person_name(family, given, middle, prefix, suffix)
    ds.PatientID = mrn
    ds.PatientBirthDate = f"{birth:%Y%m%d}" if birth else ""
    ds.PatientSex = sex
    ds.StudyInstanceUID = study_uid
    ds.RequestedProcedureID = rp_id
    ds.RequestedProcedureDescription = procedure[:64]
    ds.ReferencedStudySequence = Sequence()  # type 2: wlmscpfs adds them otherwise, with a warning per file
    ds.ReferencedPatientSequence = Sequence()
    sps = Dataset()
    sps.Modality = modality
    sps.ScheduledStationAETitle = station_ae
    sps.ScheduledProcedureStepStartDate = f"{local:%Y%m%d}"
    sps.ScheduledProcedureStepStartTime = f"{local:%H%M%S}"
    sps.ScheduledPerformingPhysicianName = ""
    sps.ScheduledProcedureStepDescription = procedure[:64]
    sps.ScheduledProcedureStepID = sps_id
    sps.ScheduledStationName = station_name
    sps.ScheduledProcedureStepLocation = location
    sps.ScheduledProcedureStepStatus = "SCHEDULED"
    ds.ScheduledProcedureStepSequence = Sequence([sps])
    return ds


def write_worklist_files(directory: Path, size: int, tz: ZoneInfo) -> float | None:
    """The database's exams as <directory>/<CALLED_AE>/*.wl plus a lockfile; None when the files there match."""
    manifest_path = directory / "manifest.json"
    manifest = {
        "format": FILE_FORMAT,
        "size": size,
        "database": connection.settings_dict["NAME"],
        "fingerprint": fingerprint(),
    }
    ae_dir = directory / CALLED_AE
    with contextlib.suppress(FileNotFoundError, ValueError):
        same = json.loads(manifest_path.read_text()) == manifest and (ae_dir / "lockfile").exists()
        if same and sum(1 for _ in ae_dir.glob("*.wl")) == size:
            return None
    started = time.perf_counter()
    shutil.rmtree(directory, ignore_errors=True)
    ae_dir.mkdir(parents=True)
    (ae_dir / "lockfile").touch()
    rows = Exam.objects.filter(status=S.SCHEDULED).order_by("id").values_list(
        "order__patient__family_name", "order__patient__given_name", "order__patient__middle_name",
        "order__patient__name_prefix", "order__patient__name_suffix", "order__patient__mrn",
        "order__patient__birth_date", "order__patient__sex", "accession_number", "requested_procedure_id",
        "procedure_type__name", "study_instance_uid", "order__referring_physician__family_name",
        "order__referring_physician__given_name", "order__referring_physician__middle_name",
        "order__referring_physician__name_prefix", "order__referring_physician__name_suffix",
        "procedure_type__modality__code", "room__station_ae_title", "room__station_name", "room__location_code",
        "scheduled_start", "scheduled_procedure_step_id",
    )  # fmt: skip
    written = 0
    for row in rows.iterator(chunk_size=5000):
        item = worklist_item(row, tz)
        item.save_as(ae_dir / f"{row[-1]}.wl", implicit_vr=False, little_endian=True, enforce_file_format=False)
        written += 1
    manifest_path.write_text(json.dumps(manifest))
    elapsed = time.perf_counter() - started
    print(f"  worklist files: {written:,} written to {ae_dir} in {elapsed:.1f} s", flush=True)
    return elapsed


# --- The queries ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    kind: str  # "a" or "b"
    day: date
    modality: str = ""
    station: str = ""

    def identifier(self) -> Dataset:
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.PatientName = ""
        ds.PatientID = ""
        ds.AccessionNumber = ""
        sps = Dataset()
        if self.kind == "a":
            sps.Modality = self.modality
            sps.ScheduledStationAETitle = self.station
        sps.ScheduledProcedureStepStartDate = f"{self.day:%Y%m%d}"
        sps.ScheduledProcedureStepStartTime = ""
        sps.ScheduledProcedureStepID = ""
        ds.ScheduledProcedureStepSequence = Sequence([sps])
        return ds

    def describe(self) -> str:
        if self.kind == "a":
            return f"(a) date {self.day:%Y%m%d}, modality {self.modality}, station AE {self.station}"
        return f"(b) date {self.day:%Y%m%d}"

    def expected(self, tz: ZoneInfo) -> int:
        """The matches by the database itself: what both servers should answer."""
        start = local_midnight(self.day, tz)
        exams = Exam.objects.filter(
            status__in=[S.SCHEDULED, S.ARRIVED],
            scheduled_start__gte=start,
            scheduled_start__lt=local_midnight(self.day + timedelta(days=1), tz),
        )
        if self.kind == "a":
            exams = exams.filter(room__station_ae_title=self.station, procedure_type__modality__code=self.modality)
        return exams.count()


def queries_for(kind: str, count: int, today: date, catalog: Catalog) -> list[Query]:
    """Days stepping by 7 (all 30 in turn), stations by 3 (all 20 in turn), so consecutive queries differ."""
    if kind == "b":
        return [Query("b", today + timedelta(days=(i * 7) % DAYS)) for i in range(count)]
    rooms = catalog.rooms
    return [
        Query(
            "a", today + timedelta(days=(i * 7) % DAYS), rooms[(i * 3) % len(rooms)][2], rooms[(i * 3) % len(rooms)][1]
        )
        for i in range(count)
    ]


# --- The servers ----------------------------------------------------------------------------------------------


class ServerUnavailable(Exception):
    """The server could not be started: the reason is the message."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def cpu_split(pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """(CPUs for the server, CPU for the SCU): the SCU gets the last CPU to itself, the server the others."""
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return None, None
    return set(cpus[:-1]), {cpus[-1]}


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    port: int
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


def start_server(name: str, argv: list[str], env: dict[str, str], port: int, cpus: set[int] | None) -> Server:
    """Start and wait (up to a minute) until the port accepts connections."""
    WL_ROOT.mkdir(parents=True, exist_ok=True)
    log = WL_ROOT / f"{name}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            argv,
            cwd=PROJECT_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
    server = Server(name, process, port, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerUnavailable(f"{name} exited with {process.returncode}:\n{server.tail()}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return server
        time.sleep(0.2)
    server.stop()
    raise ServerUnavailable(f"{name} did not listen on port {port} within 60 s:\n{server.tail()}")


def ris_command_available() -> str | None:
    """None when manage.py worklist_scp works, else why not."""
    if not (PROJECT_DIR / "worklist" / "management" / "commands" / "worklist_scp.py").exists():
        return "worklist_scp not available (worklist/management/commands/worklist_scp.py does not exist)"
    probe = subprocess.run(
        [sys.executable, "manage.py", "worklist_scp", "--help"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if probe.returncode != 0:
        return f"worklist_scp not available (manage.py worklist_scp --help: {probe.stderr.strip()[-300:]})"
    return None


def start_ris(database_url: str, cpus: set[int] | None) -> Server:
    if reason := ris_command_available():
        raise ServerUnavailable(reason)
    port = free_port()
    env = os.environ | {"DATABASE_URL": database_url, "RIS_MWL_MAX_MATCHES": "100000"}
    argv = [sys.executable, "manage.py", "worklist_scp", "--host", HOST, "--port", str(port), "--ae-title", CALLED_AE]
    return start_server("ris_scp", argv, env, port, cpus)


def start_wlmscpfs(directory: Path, cpus: set[int] | None) -> Server:
    program = shutil.which("wlmscpfs")
    if program is None:
        raise ServerUnavailable("wlmscpfs not installed (Debian package dcmtk)")
    port = free_port()
    argv = [program, "-csk", "-dfp", str(directory), str(port)]
    return start_server("wlmscpfs", argv, os.environ | {"TCP_NODELAY": "1"}, port, cpus)


# --- Timing ---------------------------------------------------------------------------------------------------


@dataclass
class Run:
    samples_ms: list[float] = field(default_factory=list)
    matches: list[int] = field(default_factory=list)  # per timed query
    error: str = ""
    cut: int = 0  # timed queries left out: over the time budget

    def median(self) -> float:
        return statistics.median(self.samples_ms)

    def p95(self) -> float:
        """Nearest rank."""
        ordered = sorted(self.samples_ms)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


PENDING = (0xFF00, 0xFF01)


def find(assoc, query: Query) -> tuple[float, int]:
    """One complete C-FIND: (milliseconds, matches). Raises on a failed or missing final status."""
    started = time.perf_counter()
    matches, final = 0, None
    for status, _identifier in assoc.send_c_find(query.identifier(), ModalityWorklistInformationFind):
        if not status or "Status" not in status:
            raise RuntimeError("no response (association aborted or timed out)")
        if status.Status in PENDING:
            matches += 1
        else:
            final = status.Status
    elapsed = (time.perf_counter() - started) * 1000
    if final != 0x0000:
        raise RuntimeError(f"C-FIND ended with status {final if final is None else hex(final)}")
    return elapsed, matches


def run_queries(port: int, queries: list[Query], warmup: int, budget: float, cpu: set[int] | None) -> Run:
    """Warm-up then timed C-FINDs on one association, from a pynetdicom SCU with TCP_NODELAY; the timed ones stop
    early once they have taken `budget` seconds (and at least 5 were made)."""
    run = Run()
    ae = AE(ae_title=CALLING_AE)
    ae.add_requested_context(ModalityWorklistInformationFind)
    ae.acse_timeout, ae.dimse_timeout, ae.network_timeout = 60, 900, 900
    previous = os.sched_getaffinity(0)
    if cpu:
        os.sched_setaffinity(0, cpu)  # the SCU's threads start after this and inherit it
    try:
        assoc = ae.associate(HOST, port, ae_title=CALLED_AE)
        if not assoc.is_established:
            run.error = "association refused or aborted"
            return run
        assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for number, query in enumerate(queries):
                elapsed, matches = find(assoc, query)
                if number >= warmup:
                    run.samples_ms.append(elapsed)
                    run.matches.append(matches)
                    if sum(run.samples_ms) > budget * 1000 and len(run.samples_ms) >= 5:
                        run.cut = len(queries) - number - 1
                        break
        except Exception as error:  # report it in the table, go on with the next measurement
            run.error = f"{type(error).__name__}: {error}"[:200]
        finally:
            if assoc.is_established:
                assoc.release()
    finally:
        os.sched_setaffinity(0, previous)
        ae.shutdown()
    return run


@dataclass
class Row:
    size: int
    kind: str
    queries: list[Query]
    expected: list[int]
    runs: dict[str, Run | None] = field(default_factory=dict)  # server -> run; None: not measured at this N


def check_counts(row: Row, warmup: int) -> list[str]:
    """Every timed query's matches against the database, per server: the mismatches, described."""
    problems = []
    timed = row.queries[warmup:]
    expected = row.expected[warmup:]
    for server, run in row.runs.items():
        if run is None or run.error:
            continue
        for index, (query, want, got) in enumerate(zip(timed, expected, run.matches, strict=False)):
            if got != want:
                others = {s: r.matches[index] for s, r in row.runs.items() if r and len(r.matches) > index}
                problems.append(
                    f"MISMATCH N={row.size:,} {query.describe()}: database {want}, {server} {got} (all: {others})"
                )
    return problems


def measure_size(
    size: int, url: str, args: argparse.Namespace, today: date, tz: ZoneInfo, server_cpus, scu_cpu
) -> tuple[list[Row], dict[str, float], list[str]]:
    """Prepare the data for one size and time both servers; (rows, load timings, messages)."""
    print(f"\nN = {size:,}", flush=True)
    catalog, timings = prepare_database(url, size, today, tz)
    messages: list[str] = []
    count = args.warmup + args.queries
    rows = []
    for kind in ("a", "b"):
        queries = queries_for(kind, count, today, catalog)
        rows.append(Row(size, kind, queries, [q.expected(tz) for q in queries]))
    directory = WL_ROOT / f"n{size}"
    with_files = size <= args.max_files and "wlmscpfs" in args.servers
    if with_files:
        elapsed = write_worklist_files(directory, size, tz)
        if elapsed is None:
            print(f"  worklist files in {directory} match the database: reused")
        else:
            timings["worklist files"] = elapsed
    connection.close()  # the servers and the SCU do not need this process's connection

    for name in ("ris", "wlmscpfs"):
        if name not in args.servers or (name == "wlmscpfs" and not with_files):
            for row in rows:
                row.runs[name] = None
            continue
        try:
            server = start_ris(url, server_cpus) if name == "ris" else start_wlmscpfs(directory, server_cpus)
        except ServerUnavailable as error:
            messages.append(f"N={size:,} {name}: {error}")
            print(f"  {name}: {str(error).splitlines()[0]}", flush=True)
            for row in rows:
                row.runs[name] = Run(error=str(error).splitlines()[0])
            continue
        try:
            for row in rows:
                started = time.perf_counter()
                run = run_queries(server.port, row.queries, args.warmup, args.budget, scu_cpu)
                row.runs[name] = run
                state = f"error: {run.error}" if run.error else f"median {run.median():.2f} ms"
                if run.cut:
                    state += f", {len(run.samples_ms)} timed queries: the budget of {args.budget:.0f} s was spent"
                print(f"  {name} ({row.kind}): {state} ({time.perf_counter() - started:.1f} s)", flush=True)
                if run.error:
                    messages.append(f"N={size:,} {name} ({row.kind}): {run.error}\n{server.tail()}")
        finally:
            server.stop()
    for row in rows:
        for problem in check_counts(row, args.warmup):
            print(f"  {problem}", flush=True)
            messages.append(problem)
    return rows, timings, messages


# --- The table ------------------------------------------------------------------------------------------------

TARGETS = {"a": "RIS median < 10 ms; >= 100x wlmscpfs at 100k", "b": ">= 3x wlmscpfs at 100k"}


def verdict(row: Row) -> str:
    ris, wlm = row.runs.get("ris"), row.runs.get("wlmscpfs")
    if not ris or ris.error or not ris.samples_ms:
        return "-"
    ratio = wlm.median() / ris.median() if wlm and not wlm.error and wlm.samples_ms else None
    misses = []
    if row.kind == "a" and ris.median() >= 10:
        misses.append("median >= 10 ms")
    if row.size == 100_000:
        need = 100 if row.kind == "a" else 3
        if ratio is None:
            misses.append("no wlmscpfs ratio")
        elif ratio < need:
            misses.append(f"ratio < {need}x")
    if row.kind == "b" and row.size != 100_000:
        return "(no target)"
    return "MISSES: " + ", ".join(misses) if misses else "meets target"


def cells(run: Run | None) -> tuple[str, str]:
    if run is None:
        return "-", "-"
    if run.error or not run.samples_ms:
        return "n/a", "n/a"
    return f"{run.median():.2f}", f"{run.p95():.2f}"


def print_table(rows: list[Row]) -> None:
    print()
    header = (
        f"{'N':>9} | {'query':<5} | {'n':>7} | {'matches':>8} | {'RIS med ms':>10} | {'RIS p95 ms':>10} | "
        f"{'wlm med ms':>10} | {'wlm p95 ms':>10} | {'ratio':>7} | target / result"
    )
    print(header)
    print("-" * (len(header) + 40))
    for row in rows:
        ris, wlm = row.runs.get("ris"), row.runs.get("wlmscpfs")
        counted = next((r.matches for r in (ris, wlm) if r and r.matches), row.expected)
        ris_median, ris_p95 = cells(ris)
        wlm_median, wlm_p95 = cells(wlm)
        n = "/".join(str(len(r.samples_ms)) if r else "-" for r in (ris, wlm))
        ratio = "-"
        if ris and wlm and ris.samples_ms and wlm.samples_ms and not ris.error and not wlm.error:
            ratio = f"{wlm.median() / ris.median():.1f}x"
        print(
            f"{row.size:>9,} | {'(' + row.kind + ')':<5} | {n:>7} | {statistics.mean(counted):>8.1f} | "
            f"{ris_median:>10} | {ris_p95:>10} | {wlm_median:>10} | {wlm_p95:>10} | {ratio:>7} | "
            f"{TARGETS[row.kind]}: {verdict(row)}"
        )


# --- Main -----------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(s.replace("_", "")) for s in text.split(",") if s.strip()],
        default=list(SIZES),
        help="numbers of exams, comma-separated (default 1000,10000,100000,1000000)",
    )
    parser.add_argument("--queries", type=int, default=50, help="timed C-FINDs per query kind (default 50)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed C-FINDs before them (default 2)")
    parser.add_argument(
        "--budget",
        type=float,
        default=600,
        help="seconds of timed C-FINDs per server and kind, after which it stops early (default 600)",
    )
    parser.add_argument(
        "--servers",
        type=lambda text: {s.strip() for s in text.split(",") if s.strip()},
        default={"ris", "wlmscpfs"},
        help="which to measure: ris, wlmscpfs or both (default ris,wlmscpfs)",
    )
    parser.add_argument(
        "--max-files", type=int, default=100_000, help="largest N given to wlmscpfs as files (default 100000)"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin the server and the SCU to separate CPUs")
    args = parser.parse_args(argv)
    if unknown := args.servers - {"ris", "wlmscpfs"}:
        parser.error(f"unknown servers: {sorted(unknown)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    base_url = os.environ["DATABASE_URL"]
    if not base_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit(f"DATABASE_URL must name a PostgreSQL database; got {base_url!r}")
    tz = ZoneInfo(settings.TIME_ZONE)
    today = timezone.localdate()
    server_cpus, scu_cpu = cpu_split(not args.no_pin)
    print(
        f"Worklist benchmark: sizes {', '.join(f'{n:,}' for n in args.sizes)}; {args.queries} timed C-FINDs per kind "
        f"after {args.warmup} warm-up; days {today} to {today + timedelta(days=DAYS - 1)} ({settings.TIME_ZONE}); "
        f"server CPUs {sorted(server_cpus) if server_cpus else 'any'}, SCU CPU {sorted(scu_cpu) if scu_cpu else 'any'}"
    )
    rows: list[Row] = []
    messages: list[str] = []
    loads: dict[int, dict[str, float]] = {}
    for size in args.sizes:
        size_rows, loads[size], size_messages = measure_size(
            size, database_url_for(base_url, size), args, today, tz, server_cpus, scu_cpu
        )
        rows += size_rows
        messages += size_messages
    print("\nLoad times (s):")
    for size, timings in loads.items():
        print(f"  {size:>9,}: " + ", ".join(f"{step} {seconds:.1f}" for step, seconds in timings.items()))
    print_table(rows)
    if messages:
        print("\nProblems:")
        for message in messages:
            print(f"  {message}")
    return 1 if messages else 0


if __name__ == "__main__":
    sys.exit(main())
