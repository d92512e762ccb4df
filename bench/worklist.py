"""Worklist benchmark on a department's data: the RIS's Modality Worklist C-FIND SCP beside DCMTK's wlmscpfs and
Orthanc's worklists plugin, over the network, with two clients.

Usage (from the project root; PostgreSQL only):

    .venv/bin/python -m bench.worklist [--sizes 10000,100000,1000000] [--runs 3] [--budget 8]
        [--queries 20] [--warmup 1] [--kinds abcde] [--key-sets full,minimal] [--clients pynetdicom,findscu]
        [--servers ris,wlmscpfs,orthanc] [--files-once] [--no-pin]

The data. For each history size H (default 10,000, 100,000 and 1,000,000) a PostgreSQL database named after
DATABASE_URL's (default postgres://postgres@127.0.0.1:5432/ris_bench_mwl) with "_<H>" appended holds H COMPLETED
exams spread evenly over the three years before today (one order each, patients drawn from all) and the schedule
a department has: 40 exams a day on each of 20 stations (CT1-CT4, MR1-MR3, US1-US4, DX1-DX4, MG1-MG2, NM1-NM3),
every 18 minutes from 07:00 local time (RIS_TIME_ZONE), for the 30 days from today: 800 a day, 24,000 SCHEDULED
exams of 16,000 patients, identical in every database. Patients: max(16,000, (H + 24,000) / 3), names from
bench.scheduling's pool (Faker's European and US locales: many not ASCII). Everything is loaded by COPY and kept:
a database that holds the right counts is reused; one whose schedule starts on another day gets only its schedule
reloaded. Loading took under a minute at 10,000, 2.5 minutes at 100,000 and 14 minutes at 1,000,000 on this 2-core
machine under a load average of 12 (a minute of it migrating the new database; then the patients, the history and
VACUUM ANALYZE).

The servers, each started in turn on a free port of 127.0.0.1 and pinned to all CPUs but the last (the clients get
that one; --no-pin lets them float):

    ris       manage.py worklist_scp --ae-title RIS_MWL (RIS_MWL_MAX_MATCHES=100000): history + schedule
    wlmscpfs  TCP_NODELAY=1 wlmscpfs -csk -dfp var/bench_wlm/schedule <port>: the 24,000 scheduled items as files
              var/bench_wlm/schedule/RIS_MWL/*.wl (with the lockfile), written once and reused while the schedule
              in the database is the same (manifest.json)
    orthanc   TCP_NODELAY=1 /usr/sbin/Orthanc var/bench_wlm/orthanc/config.json: the worklists plugin
              (libModalityWorklists.so) on the same files, HTTP off, storage under var/bench_wlm/orthanc/

A server whose program is missing is skipped with the reason. The file servers hold the schedule only (the same
at every H); the RIS holds the history too.

The queries, each with a full key set (every Type 1/2 return key of PS3.4 Table K.6-1, sequences included, as
modalities send it) and a minimal one (patient name and ID, accession number, modality, station, start date, start
time, step ID):

    (a) one day + modality + station AE (40 matches)   (b) one whole day (800)   (c) a patient ID (1-5)
    (d) an accession number (1)                        (e) a patient name prefix "Xyz*" (5-100)

Days step by 7 over the 30 and stations by 3 over the 20, so consecutive queries differ; patient IDs and accession
numbers are drawn from the schedule; the name prefixes are ones on which a case-sensitive server (wlmscpfs) and
folding ones (the RIS folds case and accents, Orthanc case) must agree. Every query's match count is checked
against the database: a server that answers otherwise is printed as MISMATCH (and the exit code is 1).

The clients, per server and cell (query kind x key set): --warmup untimed then up to --queries timed C-FINDs on one
association, the timed ones cut after --budget seconds (at least 3):

    pynetdicom  an SCU in this process, TCP_NODELAY and a 4 MiB receive buffer (SO_RCVBUF) on its socket; wall
                time of each send_c_find until its final response.
    findscu     DCMTK findscu -W (TCP_NODELAY=1), one run with one query file per C-FIND (as many timed ones as
                pynetdicom made in its budget): findscu sends them one after another on one association. Its log
                (log4cplus, -lc) stamps each line with microseconds; a query's time is from "Sending Find Request"
                to "Received Final Find Response", so each query has its own figure (findscu's own work between
                them, reading the next file and opening the association, is left out). -sr keeps the responses
                out of the log: one line per pending response is all it writes.

Server-side times. Both clients' figures hold the client's own work: findscu's little, the pynetdicom SCU's much
(it decodes every response into a Dataset and polls its DUL every ~1 ms: (b) ~1,050 ms against findscu's ~210 on
the same server). The issue's targets are server-side, so each client run is also captured on the loopback
interface, the same way for every server and client: `tcpdump -i lo -w - -U --immediate-mode -B 16384 -s 256 -n
'tcp port <port>'` (the pcap to a file this process opened), started before the client (once it says "listening
on") and stopped (SIGINT) 0.2 s after it; tcpdump runs on the client's CPU. bench/capture.py reads the file (no
packet library) and gives each C-FIND on the association its time from the client's first segment of the request
(the burst that starts with a P-DATA-TF carrying a C-FIND-RQ command set) to the server's last segment with payload
before the client's next request or its A-RELEASE-RQ; association setup and release are not queries, the warm-up
ones are dropped as for the client's figures. Its count must be the client's (warm-up included) and tcpdump must
report no packet dropped; otherwise that cell has no server-side figure and the run says why (never a guess).
Without tcpdump (Debian package tcpdump; capturing needs root or CAP_NET_RAW) the bench says so once and gives the
client-side figures only. With TCP_NODELAY on both clients the request's PDUs follow each other within ~0.03 ms, so
the window is the server's: reading the request, matching, writing every response, and the loopback. Except where
the client reads its responses more slowly than the server writes them: TCP flow control then holds the server.
The pynetdicom SCU decodes in Python: with the kernel's own buffer its window fell to 0 again and again on (b), and
the RIS's server-side (b) was 128-386 ms with it against ~130 ms with findscu; so its socket gets a receive buffer
that holds a whole (b) answer (SCU_RECEIVE_BUFFER). The run's line gives the buffer the kernel granted and, when
not 0, the median time of a C-FIND during which the client advertised a full window: a lower bound of that wait (a
small window holds the server too).

The output: a line per server and cell as it goes, then per history size a table of query x key set x client with
the matches per query and, per server, the client-side median ("ms") and the server-side median and p95 ("srv",
"p95"); the ratios wlmscpfs/RIS and Orthanc/RIS and a verdict against the issue's targets for the full key set:
(a) <= 40 ms at every size and >= 30x both file servers at 100k and 1M; (b) <= 700 ms and >= 3x both at every size;
(c), (d) <= 10 ms. The ratios and the verdict use the server-side medians where the RIS and every other server of
the line have one, else the client-side ones for the whole line (never a mix): the "by" column (srv, cli) and the
verdict ("ok (server-side)") say which. With --runs R the whole measurement is repeated R times (the data loaded
once) and the table gives the median of the runs' medians (and p95s); a server-side figure only if every run had
one. Times are milliseconds of wall time on a shared machine: read the ratios, measured in the same
run, before the milliseconds. Most of a run is the file servers: they read all 24,000 files on every query, whatever
H (~1.5 s a query on an idle machine, 4-8 s on this one under a load average of 12), so every one of their 20 cells
costs 20-60 s. --files-once measures them at the first size only and shows those figures at the others (the table
says so; they are then measured minutes apart from the RIS, so on a noisy machine the ratios drift with the load).
On 2026-12-06 under that load, --sizes 10000,100000,1000000 --files-once took 46 minutes, 14 of them loading
1,000,000; without --files-once expect about 20 minutes more per extra size.
"""

# ruff: noqa: E402, S311, S603  (Django is set up before its models are imported; random draws test data, not
# secrets; the subprocesses run fixed programs with arguments built here)

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
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

from bench.capture import capturing, server_side, tcpdump, window_full_times

# bench.scheduling sets Django up on import (production-like environment); its loading helpers are shared.
from bench.scheduling import (
    EXAM_COLUMNS,
    IMAGES_NONE,
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
from bench.worklist_data import (
    CLIENTS,
    FINDSCU_LOG_LAYOUT,
    KEY_SETS,
    SCHEDULE_PATIENTS,
    SCHEDULE_SIZE,
    SERVERS,
    STATIONS,
    Cell,
    Query,
    Run,
    build_queries,
    findscu_times,
    history_slots,
    name_prefixes,
    pick_spread,
    schedule_slots,
    table,
)
from ris.models import Facility, Modality, Patient, ProcedureType, ReferringPhysician, Room
from ris.text import fold
from scheduling.models import Exam, Order
from scheduling.workflow import order_status_for

SEED = 20261206
SIZES = (10_000, 100_000, 1_000_000)
COPY_CHUNK = 20_000
FACILITY_CODE = "BENCH_MWL"
CALLED_AE = "RIS_MWL"
CALLING_AE = "BENCH"
HOST = "127.0.0.1"
WL_ROOT = PROJECT_DIR / "var" / "bench_wlm"
FILES_DIR = WL_ROOT / "schedule"  # wlmscpfs: <FILES_DIR>/<CALLED_AE>/*.wl; Orthanc: that folder itself
FILE_FORMAT = 3  # bump when worklist_item() changes: files written before are then written again
BIRTH_REFERENCE = date(2026, 1, 1)  # patients' ages are counted from here, so every database has the same ones
VALUES_PER_KIND = 200  # patient IDs and accession numbers drawn for (c) and (d); name prefixes for (e): up to 30
ORTHANC = Path("/usr/sbin/Orthanc")
ORTHANC_WORKLISTS = Path("/usr/share/orthanc/plugins/libModalityWorklists.so")
S = Exam.Status

# The values of bench.scheduling's last COPY columns, the same for every row here: no patient class, no
# plausibility override; no images (a worklist does not read them).
ORDER_DEFAULTS = ("", "")
EXAM_DEFAULTS = IMAGES_NONE

PROCEDURES = {  # modality -> (name, code, minutes), codes MWL-<modality>-<n>
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


# --- The databases, one per history size ----------------------------------------------------------------------


def database_url_for(url: str, size: int) -> str:
    """DATABASE_URL with the database name suffixed by the size: .../ris_bench_mwl -> .../ris_bench_mwl_10000."""
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
    rooms: list[tuple[int, str, str]]  # (room id, station AE title, modality code), in STATIONS order
    procedures: dict[str, list[int]]  # modality code -> procedure type ids
    physician_ids: list[int]


def ensure_catalog() -> Catalog:
    """The bench facility, its 20 rooms, 3 procedure types per modality and a few physicians; idempotent."""
    facility, _ = Facility.objects.get_or_create(
        code=FACILITY_CODE, defaults={"name": "Worklist Bench Hospital", "city": "Springfield", "country": "US"}
    )
    modalities = {m.code: m for m in Modality.objects.filter(code__in=PROCEDURES)}
    rooms = []
    for station, code in STATIONS:
        number = station[len(code) :]
        room, _ = Room.objects.get_or_create(
            station_ae_title=station,
            defaults={
                "name": f"{code} {number}",
                "facility": facility,
                "modality": modalities[code],
                "station_name": f"{code}_ROOM{number}",
                "location": f"Radiology, {code} room {number}",
                "location_code": f"{code} R{number}",  # SH: 16 characters
            },
        )
        rooms.append((room.pk, station, code))
    procedures = {
        code: [
            ProcedureType.objects.get_or_create(
                code=f"MWL-{code}-{number}",
                defaults={"name": name, "modality": modalities[code], "cpt_code": cpt, "default_duration_minutes": m},
            )[0].pk
            for number, (name, cpt, m) in enumerate(names, start=1)
        ]
        for code, names in PROCEDURES.items()
    }
    physician_ids = [
        ReferringPhysician.objects.get_or_create(
            family_name=family, given_name=given, defaults={"facility": facility, "name_suffix": "MD"}
        )[0].pk
        for family, given in PHYSICIANS
    ]
    return Catalog(rooms, procedures, physician_ids)


def patients_for(size: int) -> int:
    """Patients in a database of `size` history exams: about three exams each, at least the schedule's."""
    return max(SCHEDULE_PATIENTS, (size + SCHEDULE_SIZE) // 3)


def first_scheduled_start(today: date, tz: ZoneInfo) -> datetime:
    return next(schedule_slots(today, tz))[1]


def order_and_exam_rows(
    rng: random.Random, catalog: Catalog, slots, first: int, *, scheduled: bool, patients: int, now: datetime
) -> tuple[list[tuple], list[tuple]]:
    """COPY rows of one-exam orders, numbered from `first`: SCHEDULED ones booked in the last 20 days (numbers
    S...), or COMPLETED ones performed in their slot (numbers H...); patients drawn from ids 1..`patients`."""
    letter = "S" if scheduled else "H"
    order_status = Order.Status.SCHEDULED if scheduled else order_status_for([S.COMPLETED])
    orders, exams = [], []
    for n, (station, start, end) in enumerate(slots, start=first):
        room_id, _station, modality = catalog.rooms[station]
        physician = rng.choice(catalog.physician_ids) if rng.random() < 0.9 else None
        if scheduled:
            priority = rng.choices(["ROUTINE", "URGENT", "STAT"], weights=[90, 7, 3])[0]
            booked = now - timedelta(days=rng.uniform(0, 20))
            status, updated, performed = S.SCHEDULED, booked, (None, None, None)
        else:
            priority, booked = "ROUTINE", start - timedelta(days=rng.uniform(0.1, 20))
            status, updated, performed = S.COMPLETED, end, (start - timedelta(minutes=10), start, end)
        patient = rng.randint(1, patients)
        admission = f"V{n:09d}" if scheduled and rng.random() < 0.3 else ""
        orders.append(
            (n, "", "", f"{letter}F{n:09d}", f"{letter}{n:09d}", patient, physician, priority, "", "[]",
             order_status, booked, updated, admission, *ORDER_DEFAULTS)
        )  # fmt: skip
        exams.append(
            (n, n, rng.choice(catalog.procedures[modality]), room_id, start, end, f"{letter}RP{n:09d}",
             f"{letter}SP{n:09d}", f"2.25.{rng.getrandbits(128)}", status, updated, *performed, "", booked, updated,
             *EXAM_DEFAULTS)
        )  # fmt: skip
    return orders, exams


def database_counts() -> tuple[int, int, int, int, datetime | None]:
    """(patients, exams, scheduled, completed, first scheduled start)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM ris_patient), count(*), count(*) FILTER (WHERE status = 'SCHEDULED'), "
            "count(*) FILTER (WHERE status = 'COMPLETED'), min(scheduled_start) FILTER (WHERE status = 'SCHEDULED') "
            "FROM scheduling_exam"
        )
        return cursor.fetchone()


def load_schedule(catalog: Catalog, today: date, tz: ZoneInfo) -> float:
    """Replace the scheduled exams (ids 1..24,000) and their orders by today's schedule."""
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM scheduling_accessionnumber WHERE order_id <= %s", [SCHEDULE_SIZE])
        cursor.execute("DELETE FROM scheduling_exam WHERE id <= %s", [SCHEDULE_SIZE])
        cursor.execute("DELETE FROM scheduling_order WHERE id <= %s", [SCHEDULE_SIZE])
        orders, exams = order_and_exam_rows(
            random.Random(f"{SEED}:schedule"), catalog, schedule_slots(today, tz), 1, scheduled=True,
            patients=SCHEDULE_PATIENTS, now=timezone.now(),
        )  # fmt: skip
        copy_orders_and_exams(orders, exams, ORDER_COLUMNS, EXAM_COLUMNS)
    elapsed = time.perf_counter() - started
    print(f"    schedule: {SCHEDULE_SIZE:,} exams in {elapsed:.1f} s", flush=True)
    return elapsed


def load(size: int, catalog: Catalog, today: date, tz: ZoneInfo) -> dict[str, float]:
    """Truncate patients, orders and exams; load the patients, the schedule and `size` history exams by COPY."""
    timings: dict[str, float] = {}
    now = timezone.now()
    started = time.perf_counter()
    with connection.cursor() as cursor:  # CASCADE empties what refers to them as well (MPPS, coverages)
        cursor.execute(
            "TRUNCATE scheduling_accessionnumber, scheduling_exam, scheduling_order, ris_patient "
            "RESTART IDENTITY CASCADE"
        )
    check_copy_columns(Patient._meta.db_table, PATIENT_COLUMNS)
    check_order_copy_columns(ORDER_COLUMNS, EXAM_COLUMNS)
    patients = patients_for(size)
    with transaction.atomic():  # ids 1..patients: the identity was restarted
        copy_rows(
            Patient._meta.db_table,
            PATIENT_COLUMNS,
            patient_rows(random.Random(f"{SEED}:patients"), patients, BIRTH_REFERENCE, now),
        )
    timings["patients"] = time.perf_counter() - started
    print(f"    patients: {patients:,} in {timings['patients']:.1f} s", flush=True)
    timings["schedule"] = load_schedule(catalog, today, tz)

    started = time.perf_counter()
    rng = random.Random(f"{SEED}:history:{size}")
    slots = history_slots(size, today, tz)
    written = 0
    with transaction.atomic():
        while chunk := list(itertools.islice(slots, COPY_CHUNK)):
            orders, exams = order_and_exam_rows(
                rng, catalog, chunk, SCHEDULE_SIZE + written + 1, scheduled=False, patients=patients, now=now
            )
            written += copy_orders_and_exams(orders, exams, ORDER_COLUMNS, EXAM_COLUMNS)
            if written % 200_000 == 0:
                print(f"    {written:,} history exams ({time.perf_counter() - started:.0f} s)", flush=True)
    reset_identity(Order._meta.db_table)
    reset_identity(Exam._meta.db_table)
    timings["history"] = time.perf_counter() - started
    print(f"    history: {written:,} completed exams in {timings['history']:.1f} s", flush=True)
    return timings


def prepare_database(url: str, size: int, today: date, tz: ZoneInfo) -> tuple[Catalog, dict[str, float]]:
    """Create, migrate and load the database of one history size unless it holds that data already."""
    name = dj_database_url.parse(url)["NAME"]
    if create_database_if_missing(url):
        print(f"  created database {name}")
    use_database(url)
    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    catalog = ensure_catalog()
    timings = {"migrate and catalog": time.perf_counter() - started}
    patients, exams, scheduled, completed, first = database_counts()
    if (patients, exams, completed) != (patients_for(size), size + SCHEDULE_SIZE, size):
        print(f"  loading {name}: {patients_for(size):,} patients, {size:,} history exams, the schedule", flush=True)
        timings |= load(size, catalog, today, tz)
    elif scheduled != SCHEDULE_SIZE or first != first_scheduled_start(today, tz):
        print(f"  database {name} holds the history; its schedule is reloaded from {today}", flush=True)
        timings["schedule"] = load_schedule(catalog, today, tz)
    else:
        print(f"  database {name} already holds {size:,} history exams and the schedule from {today}: reused")
        return catalog, timings
    timings["vacuum analyze"] = vacuum_analyze()
    return catalog, timings


# --- The worklist files for wlmscpfs and Orthanc ----------------------------------------------------------------


def person_name(*parts: str | None) -> str:
    return "^".join(part or "" for part in parts).rstrip("^")


SCHEDULE_FIELDS = (
    "order__patient__family_name", "order__patient__given_name", "order__patient__middle_name",
    "order__patient__name_prefix", "order__patient__name_suffix", "order__patient__mrn",
    "order__patient__birth_date", "order__patient__sex", "accession_number", "requested_procedure_id",
    "procedure_type__code", "procedure_type__name", "study_instance_uid", "order__referring_physician__family_name",
    "order__referring_physician__given_name", "order__referring_physician__middle_name",
    "order__referring_physician__name_prefix", "order__referring_physician__name_suffix", "order__priority",
    "order__admission_id", "procedure_type__modality__code", "room__station_ae_title", "room__station_name",
    "room__location_code", "scheduled_start", "scheduled_procedure_step_id",
)  # fmt: skip
PRIORITY = {"STAT": "STAT", "URGENT": "HIGH", "ROUTINE": "ROUTINE"}


def schedule_values() -> list[tuple]:
    return list(Exam.objects.filter(status=S.SCHEDULED).order_by("id").values_list(*SCHEDULE_FIELDS))


def code_item(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "99RIS"
    item.CodeMeaning = meaning[:64]
    return item


def worklist_item(row: tuple, tz: ZoneInfo) -> Dataset:
    """What a file-based server needs to answer the full key set for one scheduled exam."""
    (family, given, middle, prefix, suffix, mrn, birth, sex, accession, rp_id, code, procedure, study_uid,
     doc_family, doc_given, doc_middle, doc_prefix, doc_suffix, priority, admission, modality, station_ae,
     station_name, location, start, sps_id) = row  # fmt: skip
    local = start.astimezone(tz)
    physician = person_name(doc_family, doc_given, doc_middle, doc_prefix, doc_suffix)
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.AccessionNumber = accession
    ds.ReferringPhysicianName = physician
    ds.ReferencedStudySequence = Sequence()  # type 2: wlmscpfs adds them otherwise, with a warning per file
    ds.ReferencedPatientSequence = Sequence()
    ds.PatientName = person_name(family, given, middle, prefix, suffix)
    ds.PatientID = mrn
    ds.PatientBirthDate = f"{birth:%Y%m%d}" if birth else ""
    ds.PatientSex = sex
    ds.AdmissionID = admission
    ds.StudyInstanceUID = study_uid
    ds.RequestingPhysician = physician
    ds.RequestedProcedureDescription = procedure[:64]
    ds.RequestedProcedureCodeSequence = Sequence([code_item(code, procedure)])
    ds.RequestedProcedureID = rp_id
    ds.RequestedProcedurePriority = PRIORITY.get(priority, "")
    sps = Dataset()
    sps.Modality = modality
    sps.ScheduledStationAETitle = station_ae
    sps.ScheduledProcedureStepStartDate = f"{local:%Y%m%d}"
    sps.ScheduledProcedureStepStartTime = f"{local:%H%M%S}"
    sps.ScheduledPerformingPhysicianName = ""
    sps.ScheduledProcedureStepDescription = procedure[:64]
    sps.ScheduledProtocolCodeSequence = Sequence([code_item(code, procedure)])
    sps.ScheduledProcedureStepID = sps_id
    sps.ScheduledStationName = station_name
    sps.ScheduledProcedureStepLocation = location
    sps.ScheduledProcedureStepStatus = "SCHEDULED"
    ds.ScheduledProcedureStepSequence = Sequence([sps])
    return ds


def write_worklist_files(tz: ZoneInfo) -> float | None:
    """The database's scheduled exams as FILES_DIR/<CALLED_AE>/*.wl plus a lockfile; None when the files there
    were written from the same schedule."""
    rows = schedule_values()
    digest = hashlib.sha256(repr(rows).encode()).hexdigest()
    manifest = {"format": FILE_FORMAT, "items": len(rows), "schedule": digest}
    manifest_path = FILES_DIR / "manifest.json"
    ae_dir = FILES_DIR / CALLED_AE
    with contextlib.suppress(FileNotFoundError, ValueError):
        if json.loads(manifest_path.read_text()) == manifest and (ae_dir / "lockfile").exists():
            return None
    started = time.perf_counter()
    shutil.rmtree(FILES_DIR, ignore_errors=True)
    ae_dir.mkdir(parents=True)
    (ae_dir / "lockfile").touch()
    for row in rows:
        path = ae_dir / f"{row[-1]}.wl"
        worklist_item(row, tz).save_as(path, implicit_vr=False, little_endian=True, enforce_file_format=False)
    manifest_path.write_text(json.dumps(manifest))
    elapsed = time.perf_counter() - started
    print(f"  worklist files: {len(rows):,} written to {ae_dir} in {elapsed:.1f} s", flush=True)
    return elapsed


# --- The queries and what the database says they match ----------------------------------------------------------


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, clock.min, tzinfo=tz)


def expected(query: Query, tz: ZoneInfo) -> int:
    """The matches by the database itself: what every server should answer."""
    exams = Exam.objects.filter(status__in=settings.RIS_MWL_STATUSES)
    if query.kind in "ab":
        exams = exams.filter(
            scheduled_start__gte=local_midnight(query.day, tz),
            scheduled_start__lt=local_midnight(query.day + timedelta(days=1), tz),
        )
    if query.kind == "a":
        exams = exams.filter(room__station_ae_title=query.station, procedure_type__modality__code=query.modality)
    elif query.kind == "c":
        exams = exams.filter(order__patient__mrn=query.value)
    elif query.kind == "d":
        exams = exams.filter(accession_number=query.value)
    elif query.kind == "e":  # "Xyz*": family names that start so, as typed (PostgreSQL LIKE is case-sensitive)
        exams = exams.filter(order__patient__family_name__startswith=query.value.rstrip("*"))
    return exams.count()


def size_queries(kinds: str, count: int, today: date, tz: ZoneInfo) -> dict[str, tuple[list[Query], list[int]]]:
    """Per kind: `count` queries (warm-up ones first) and each one's expected matches, from the current database."""
    scheduled = Exam.objects.filter(status=S.SCHEDULED)
    mrns = pick_spread(
        scheduled.values_list("order__patient__mrn", flat=True).distinct(), VALUES_PER_KIND, f"{SEED}:mrn"
    )
    accessions = pick_spread(scheduled.values_list("accession_number", flat=True), VALUES_PER_KIND, f"{SEED}:acc")
    families = list(scheduled.values_list("order__patient__family_name", flat=True))
    prefixes = pick_spread(name_prefixes(families, fold, least=5, most=100), 30, f"{SEED}:names")
    result = {}
    for kind in kinds:
        queries = build_queries(
            kind, count, today, patient_ids=mrns, accessions=accessions, name_patterns=[f"{p}*" for p in prefixes]
        )
        result[kind] = (queries, [expected(query, tz) for query in queries])
    return result


# --- The servers ----------------------------------------------------------------------------------------------


class ServerUnavailable(Exception):
    """The server could not be started: the reason is the message."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def cpu_split(pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """(CPUs for the server, CPU for the clients): the clients get the last CPU to themselves, the server the others."""
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return None, None
    return set(cpus[:-1]), {cpus[-1]}


def pinned(cpus: set[int] | None):
    return (lambda: os.sched_setaffinity(0, cpus)) if cpus else None


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
    """Start and wait (up to two minutes) until the port accepts connections."""
    WL_ROOT.mkdir(parents=True, exist_ok=True)
    log = WL_ROOT / f"{name}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            argv, cwd=PROJECT_DIR, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=pinned(cpus),
        )  # fmt: skip
    server = Server(name, process, port, log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerUnavailable(f"{name} exited with {process.returncode}:\n{server.tail()}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return server
        time.sleep(0.2)
    server.stop()
    raise ServerUnavailable(f"{name} did not listen on port {port} within 120 s:\n{server.tail()}")


def missing(name: str) -> str | None:
    """Why a server cannot be run here, or None."""
    if name == "ris":
        if not (PROJECT_DIR / "worklist" / "management" / "commands" / "worklist_scp.py").exists():
            return "manage.py worklist_scp does not exist"
    elif name == "wlmscpfs":
        if shutil.which("wlmscpfs") is None:
            return "wlmscpfs is not installed (Debian package dcmtk)"
    elif not ORTHANC.exists() or not ORTHANC_WORKLISTS.exists():
        return f"{ORTHANC} or {ORTHANC_WORKLISTS} is missing (Debian package orthanc)"
    return None


def start(name: str, database_url: str, cpus: set[int] | None) -> Server:
    port = free_port()
    nodelay = os.environ | {"TCP_NODELAY": "1"}  # Debian's DCMTK (wlmscpfs, Orthanc's DICOM layer) reads it
    if name == "ris":
        env = os.environ | {
            "DATABASE_URL": database_url,
            "RIS_MWL_MAX_MATCHES": "100000",
            "RIS_MWL_EXTRA_AE_TITLES": CALLING_AE,  # callers are restricted to known AE titles
        }
        argv = [
            sys.executable,
            "manage.py",
            "worklist_scp",
            "--host",
            HOST,
            "--port",
            str(port),
            "--ae-title",
            CALLED_AE,
        ]
        return start_server("ris_scp", argv, env, port, cpus)
    if name == "wlmscpfs":
        argv = [shutil.which("wlmscpfs"), "-csk", "-dfp", str(FILES_DIR), str(port)]
        return start_server("wlmscpfs", argv, nodelay, port, cpus)
    home = WL_ROOT / "orthanc"
    home.mkdir(parents=True, exist_ok=True)
    config = {
        "Name": "bench",
        "StorageDirectory": str(home / "storage"),
        "IndexDirectory": str(home / "index"),
        "DicomServerEnabled": True,
        "DicomAet": CALLED_AE,
        "DicomPort": port,
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowFindWorklist": True,
        "DicomScpTimeout": 900,
        "HttpServerEnabled": False,
        "HttpPort": free_port(),
        "RemoteAccessAllowed": False,
        "DefaultEncoding": "Utf8",
        "Plugins": [str(ORTHANC_WORKLISTS)],
        "Worklists": {"Enable": True, "Database": str(FILES_DIR / CALLED_AE)},
    }
    (home / "config.json").write_text(json.dumps(config, indent=2))
    return start_server("orthanc", [str(ORTHANC), str(home / "config.json")], nodelay, port, cpus)


# --- The clients ----------------------------------------------------------------------------------------------

PENDING = (0xFF00, 0xFF01)
MIN_TIMED = 3
# The pynetdicom SCU's socket receive buffer (SO_RCVBUF, as TCP_NODELAY: a client setting, not the server's). The SCU
# decodes each response in Python more slowly than a server writes them; with the kernel's autotuned buffer its
# window fell to 0 on (b) and TCP held the server for a median 33-142 ms of each C-FIND (the capture's window-full
# time). (b)'s 800 responses with the full key set are ~0.66 MB on the wire (about twice that as the kernel counts
# its buffers): 4 MiB (doubled by the kernel, within net.core.rmem_max) holds them, and the window stayed open
# (server-side (b) at 1M then 152 ms, beside 133 ms with findscu in the same run).
SCU_RECEIVE_BUFFER = 4 * 1024 * 1024


def find(assoc, identifier: Dataset) -> tuple[float, int]:
    """One complete C-FIND: (milliseconds, matches). Raises on a failed or missing final status."""
    started = time.perf_counter()
    matches, final = 0, None
    for status, _identifier in assoc.send_c_find(identifier, ModalityWorklistInformationFind):
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


def run_pynetdicom(port: int, queries: list[Query], key_set: str, warmup: int, budget: float, cpu) -> Run:
    """Warm-up then timed C-FINDs on one association, from a pynetdicom SCU with TCP_NODELAY; the timed ones stop
    once they have taken `budget` seconds (and at least MIN_TIMED were made)."""
    run = Run()
    identifiers = [query.identifier(key_set) for query in queries]
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
        sock = assoc.dul.socket.socket
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SCU_RECEIVE_BUFFER)
        run.receive_buffer = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        try:
            for number, identifier in enumerate(identifiers):
                elapsed, matches = find(assoc, identifier)
                if number >= warmup:
                    run.samples_ms.append(elapsed)
                    run.matches.append(matches)
                    if sum(run.samples_ms) > budget * 1000 and len(run.samples_ms) >= MIN_TIMED:
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


def run_findscu(port: int, queries: list[Query], key_set: str, warmup: int, cpu) -> Run:
    """The queries as files given to one findscu run (one association); each C-FIND's time from its log."""
    program = shutil.which("findscu")
    if program is None:
        return Run(error="findscu is not installed (Debian package dcmtk)")
    with tempfile.TemporaryDirectory(prefix="bench_findscu_") as workdir:
        work = Path(workdir)
        files = []
        for number, query in enumerate(queries):
            path = work / f"q{number:04d}.dcm"
            query.identifier(key_set).save_as(path, implicit_vr=False, little_endian=True, enforce_file_format=False)
            files.append(str(path))
        log = work / "findscu.log"
        (work / "log.cfg").write_text(
            "log4cplus.rootLogger = INFO, file\n"
            "log4cplus.appender.file = log4cplus::FileAppender\n"
            f"log4cplus.appender.file.File = {log}\n"
            "log4cplus.appender.file.layout = log4cplus::PatternLayout\n"
            f"log4cplus.appender.file.layout.ConversionPattern = {FINDSCU_LOG_LAYOUT}\n"
        )
        argv = [program, "-W", "-aet", CALLING_AE, "-aec", CALLED_AE, "-lc", str(work / "log.cfg"), "-sr", HOST,
                str(port), *files]  # fmt: skip
        done = subprocess.run(
            argv, cwd=work, env=os.environ | {"TCP_NODELAY": "1"}, capture_output=True, text=True, timeout=3600,
            check=False, preexec_fn=pinned(cpu),
        )  # fmt: skip
        text = log.read_text(errors="replace") if log.exists() else ""
    times = findscu_times(text)
    if done.returncode != 0 or len(times) != len(queries):
        tail = (done.stderr or text).strip().splitlines()[-3:]
        return Run(error=f"findscu exit {done.returncode}, {len(times)} of {len(queries)} answered: {' | '.join(tail)}")
    failed = [status for _ms, _n, status in times if status != "Success"]
    if failed:
        return Run(error=f"findscu: final status {failed[0]}")
    timed = times[warmup:]
    return Run(samples_ms=[ms for ms, _n, _s in timed], matches=[n for _ms, n, _s in timed])


def run_client(client: str, port: int, queries: list[Query], key_set: str, timed_count: int | None, args, cpu) -> Run:
    """One client's C-FINDs on one association (findscu: as many timed ones as the pynetdicom SCU made within the
    budget, `timed_count`), under a tcpdump capture when there is one: then the server-side times too."""

    def go() -> Run:
        if client == "pynetdicom":
            return run_pynetdicom(port, queries, key_set, args.warmup, args.budget, cpu)
        return run_findscu(port, queries[: args.warmup + (timed_count or args.queries)], key_set, args.warmup, cpu)

    if args.tcpdump is None:
        return go()
    with capturing(args.tcpdump, port, pinned(cpu)) as capture:
        run = go() if capture.started else None
    if run is None:
        args.tcpdump = None
        print(f"  {capture.error}: no more captures, client-side figures only from here", flush=True)
        return go()
    if run.error:
        return run
    if capture.segments is None:
        run.server_error = capture.error
    else:
        made = args.warmup + len(run.samples_ms)  # every query the client made, warm-up ones too
        run.server_ms, run.server_error = server_side(capture.segments, port, made, args.warmup)
        if run.server_ms:
            run.window_full_ms = window_full_times(capture.segments, port)[args.warmup :]
    return run


# --- One measurement ------------------------------------------------------------------------------------------


def check_counts(cell: Cell, server: str, run: Run, queries: list[Query], expected_counts: list[int]) -> list[str]:
    """Every timed query's matches against the database: the mismatches, described."""
    return [
        f"MISMATCH H={cell.size:,} {query.describe()} ({cell.key_set}, {cell.client}): database {want}, {server} {got}"
        for query, want, got in zip(queries, expected_counts, run.matches, strict=False)
        if got != want
    ]


def measure_size(
    size: int, url: str, plan: dict[str, tuple[list[Query], list[int]]], cells: dict, servers: list[str], args, tz,
    server_cpus, cpu,
) -> tuple[list[str], list[str]]:  # fmt: skip
    """Every server x kind x key set x client once at one history size; the problems, and the cells left without
    a server-side figure (why)."""
    use_database(url)
    if write_worklist_files(tz) is None:
        print(f"  worklist files in {FILES_DIR / CALLED_AE} were written from this schedule: reused", flush=True)
    connection.close()  # the servers and the clients do not need this process's connection
    problems: list[str] = []
    notes: list[str] = []
    for name in servers:
        if reason := missing(name):
            print(f"  {name}: skipped, {reason}", flush=True)
            continue
        try:
            server = start(name, url, server_cpus)
        except ServerUnavailable as error:
            problems.append(f"H={size:,} {name}: {error}")
            print(f"  {name}: {str(error).splitlines()[0]}", flush=True)
            continue
        try:
            for kind in args.kinds:
                queries, counts = plan[kind]
                for key_set in args.key_sets:
                    timed_count = None
                    for client in args.clients:
                        cell = cells.setdefault(
                            (size, kind, key_set, client), Cell(size, kind, key_set, client, matches=None)
                        )
                        started = time.perf_counter()
                        run = run_client(client, server.port, queries, key_set, timed_count, args, cpu)
                        if client == "pynetdicom":
                            timed_count = len(run.samples_ms) or None
                        cell.runs.setdefault(name, []).append(run)
                        timed = counts[args.warmup :]
                        cell.matches = sum(timed[: len(run.matches)] or timed) / len(timed[: len(run.matches)] or timed)
                        if run.error:
                            state = f"error: {run.error}"
                            problems.append(f"H={size:,} {name} ({kind}, {key_set}, {client}): {run.error}")
                        else:
                            state = f"{len(run.samples_ms)} timed, median {run.median():.1f} ms, p95 {run.p95():.1f}"
                            if run.receive_buffer:
                                state += f" (receive buffer {run.receive_buffer // 1024:,} KiB)"
                            if run.server_ms:
                                state += f"; server-side {run.server_median():.1f}, p95 {run.server_p95():.1f}"
                                if held := statistics.median(run.window_full_ms):
                                    state += f" (of it the client's receive window full: median {held:.1f} ms)"
                            elif run.server_error:
                                state += f"; no server-side figure: {run.server_error}"
                                notes.append(f"H={size:,} {name} ({kind}, {key_set}, {client}): {run.server_error}")
                        print(
                            f"  {name:<8} ({kind}) {key_set:<7} {client:<10} {state} "
                            f"({time.perf_counter() - started:.1f} s)",
                            flush=True,
                        )
                        for problem in check_counts(cell, name, run, queries[args.warmup :], timed):
                            cell.mismatch = True
                            print(f"  {problem}", flush=True)
                            problems.append(problem)
        finally:
            server.stop()
    return problems, notes


def copy_file_server_runs(cells: dict, source: int, target: int) -> None:
    """--files-once: the file servers' latest runs at size `source` stand for them at `target` too."""
    for (size, kind, key_set, client), cell in list(cells.items()):
        if size != source:
            continue
        other = cells.setdefault((target, kind, key_set, client), Cell(target, kind, key_set, client, cell.matches))
        for server, runs in cell.runs.items():
            if server != "ris" and runs:
                other.runs.setdefault(server, []).append(runs[-1])
        other.mismatch = other.mismatch or cell.mismatch


# --- Main -----------------------------------------------------------------------------------------------------


def listed(choices: tuple[str, ...] | str):
    def parse(text: str) -> list[str]:
        values = list(text) if isinstance(choices, str) else [v.strip() for v in text.split(",") if v.strip()]
        if unknown := [v for v in values if v not in choices]:
            raise argparse.ArgumentTypeError(f"unknown: {unknown}; choose from {list(choices)}")
        return values

    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(s.replace("_", "")) for s in text.split(",") if s.strip()],
        default=list(SIZES),
        help="history sizes (completed exams), comma-separated (default 10000,100000,1000000)",
    )
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole measurement; medians of the runs")
    parser.add_argument("--queries", type=int, default=20, help="timed C-FINDs per cell at most (default 20)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed C-FINDs before them (default 1)")
    parser.add_argument(
        "--budget", type=float, default=8, help="seconds of timed C-FINDs per cell before it stops (default 8)"
    )
    parser.add_argument("--kinds", type=listed("abcde"), default=list("abcde"), help="query kinds (default abcde)")
    parser.add_argument("--key-sets", type=listed(tuple(KEY_SETS)), default=list(KEY_SETS), help="full,minimal")
    parser.add_argument("--clients", type=listed(CLIENTS), default=list(CLIENTS), help="pynetdicom,findscu")
    parser.add_argument("--servers", type=listed(SERVERS), default=list(SERVERS), help="ris,wlmscpfs,orthanc")
    parser.add_argument(
        "--files-once",
        action="store_true",
        help="measure wlmscpfs and Orthanc at the first size of each run only and show those figures at every size "
        "(they serve the same 24,000 files whatever the history size); saves ~20 minutes a size",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin the servers and clients to separate CPUs")
    args = parser.parse_args(argv)
    if args.queries < MIN_TIMED or args.runs < 1:
        parser.error(f"--queries must be at least {MIN_TIMED} and --runs at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    base_url = os.environ["DATABASE_URL"]
    if not base_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit(f"DATABASE_URL must name a PostgreSQL database; got {base_url!r}")
    tz = ZoneInfo(settings.TIME_ZONE)
    today = timezone.localdate()
    server_cpus, cpu = cpu_split(not args.no_pin)
    args.tcpdump = tcpdump()
    if args.tcpdump is None:
        print("tcpdump is not installed (Debian package tcpdump): no server-side figures, client-side ones only")
    print(
        f"Worklist benchmark: history {', '.join(f'{n:,}' for n in args.sizes)}; schedule {SCHEDULE_SIZE:,} exams "
        f"from {today} ({settings.TIME_ZONE}); up to {args.queries} timed C-FINDs per cell after {args.warmup} "
        f"warm-up, {args.budget:g} s budget; {args.runs} run(s); server CPUs "
        f"{sorted(server_cpus) if server_cpus else 'any'}, client CPU {sorted(cpu) if cpu else 'any'}"
    )
    plans, loads = {}, {}
    cells: dict[tuple, Cell] = {}
    problems: list[str] = []
    notes: list[str] = []
    first = args.sizes[0]
    note = f"wlmscpfs and Orthanc measured at {first:,} (--files-once)" if args.files_once else ""
    for number in range(1, args.runs + 1):
        for size in args.sizes:
            if size not in plans:  # the first run loads each size just before measuring it
                print(f"\nH = {size:,}", flush=True)
                url = database_url_for(base_url, size)
                _catalog, loads[size] = prepare_database(url, size, today, tz)
                plans[size] = (url, size_queries("".join(args.kinds), args.warmup + args.queries, today, tz))
            url, plan = plans[size]
            print(f"\nRun {number} of {args.runs}, H = {size:,}", flush=True)
            servers = ["ris"] if args.files_once and size != first and "ris" in args.servers else args.servers
            found, left_out = measure_size(size, url, plan, cells, servers, args, tz, server_cpus, cpu)
            problems += found
            notes += left_out
            if servers != args.servers:
                copy_file_server_runs(cells, first, size)
            if number == 1 and size != args.sizes[-1]:
                print(table([cell for cell in cells.values() if cell.size == size], number, note), flush=True)
        print(table(list(cells.values()), number, note), flush=True)
    print("\nLoad times (s):")
    for size, timings in loads.items():
        print(f"  {size:>9,}: " + ", ".join(f"{step} {seconds:.1f}" for step, seconds in timings.items()))
    if notes:
        print("\nServer-side figures left out (the table gives the client-side ones; ratios and verdict then too):")
        for note_line in notes:
            print(f"  {note_line}")
    if problems:
        print("\nProblems:")
        for problem in problems:
            print(f"  {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
