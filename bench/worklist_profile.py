"""Worklist C-FIND cost per match: the byte-built responses (worklist.encode) beside the pydicom path they replace,
measured in the same run, in-process and over the network.

Usage (from the project root; a PostgreSQL database of its own, created and migrated if missing):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ris_bench_mwlenc .venv/bin/python bench/worklist_profile.py
        [--queries 20] [--warmup 3] [--no-network] [--profile]

Data: one realistic day (tomorrow): 20 rooms (CT1-4, MR1-3, US1-4, DX1-4, MG1-2, NM1-3), 40 exams each (800), one
patient per exam with an allergy, an alert and a weight; loaded once (about a minute), reused while it holds 800.
Queries, with the full key set (every return key the SCP knows, the SPS item key by key, as PS3.4 K.6-1 lists):
(a) day + modality + station: 40 matches; (b) the whole day: 800; (c) a patient ID: 1; (d) an accession number: 1.

1. In-process CPU (time.process_time, median of --queries): per match, building and encoding the identifier as
   pynetdicom's find SCP gets it (pydicom: ResponsePlan.build + pynetdicom's encode; bytes: ResponseEncoder +
   the adapter), and whole C-FINDs through worklist.scp.handle_find (database included); then the wall time of
   the byte path with the statements prepared and bound on the client (the previous commit).
2. PostgreSQL, server side: each kind's statements as Django sends them, EXPLAIN ANALYZEd (planning and
   execution ms), and how often the prepared ones were planned after repeated C-FINDs (pg_prepared_statements).
3. Network (unless --no-network): the SCP in a subprocess per path: pydicom (no adapter: the previous commit),
   bytes (this one) and floor (each query's responses made once, then replayed: pynetdicom's layers alone); asked
   by a pynetdicom SCU (TCP_NODELAY, one association, --warmup then --queries each) and by DCMTK findscu
   (TCP_NODELAY=1, `--repeat` on one association; per query = (wall of N+1 repeats - wall of 1) / N).
4. --profile: cProfile of (b) through the handler and the adapter in-process, byte path (top functions).
"""

# ruff: noqa: E402, S603  (Django is set up before its models are imported; the subprocesses run fixed programs)

from __future__ import annotations

import argparse
import contextlib
import cProfile
import logging
import os
import pstats
import re
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]  # bench/ would shadow `worklist`
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ris_bench_mwlenc")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ris.settings")
os.environ.setdefault("RIS_MWL_RESTRICT_CALLERS", "0")
os.environ.setdefault("RIS_MWL_MAX_MATCHES", "100000")

import django

django.setup()

from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pydicom import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, dsutils
from pynetdicom.sop_class import ModalityWorklistInformationFind

from ris import statements
from worklist import encode, scp, selectors
from worklist.translate import ResponsePlan, full_key_query, worklist_item

ROOMS = {"CT": 4, "MR": 3, "US": 4, "DX": 4, "MG": 2, "NM": 3}
PER_ROOM = 40


def ensure_database() -> None:
    """Create the database named by DATABASE_URL if missing, and migrate it."""
    name = connection.settings_dict["NAME"]
    try:
        connection.ensure_connection()
    except Exception:
        import psycopg

        params = {k: v for k, v in connection.get_connection_params().items() if k in ("host", "port", "user")}
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", verbosity=0)


def day() -> datetime:
    return timezone.localdate() + timedelta(days=1)


def load() -> None:
    """800 exams tomorrow on 20 rooms, each patient with clinical facts (kept while they are there)."""
    from clinical.models import Allergy, MedicalAlert, Observation
    from scheduling.models import Exam
    from tests.factories import ProcedureTypeFactory, room_open_round_the_clock

    start_of_day = datetime.combine(day(), clock(0), tzinfo=timezone.get_current_timezone())
    if Exam.objects.filter(scheduled_start__gte=start_of_day, scheduled_start__lt=start_of_day + timedelta(1)).count():
        return
    from ris.models import Modality
    from tests.factories import make_booked_exam

    print("Loading 800 exams (once)...", flush=True)
    began = time.monotonic()
    for modality_code, rooms in ROOMS.items():
        modality, _ = Modality.objects.get_or_create(code=modality_code, defaults={"name": modality_code})
        procedure = ProcedureTypeFactory(modality=modality, default_duration_minutes=20)
        for number in range(1, rooms + 1):
            room = room_open_round_the_clock(
                name=f"{modality_code} {number}", station_ae_title=f"{modality_code}{number}", modality=modality
            )
            for slot in range(PER_ROOM):
                start = start_of_day + timedelta(hours=6, minutes=20 * slot)
                exam = make_booked_exam(procedure_types=[procedure], room=room, start=start)
                _facts(exam.order.patient, Allergy, MedicalAlert, Observation)
    print(f"  loaded in {time.monotonic() - began:.0f} s", flush=True)


def _facts(patient, allergy_model, alert_model, observation_model) -> None:
    """An allergy, an alert and a weight: the clinical keys of the full key set have something to say."""
    allergy_model.objects.create(patient=patient, allergen_text="Penicillin", reaction="hives")
    alert_model.objects.create(patient=patient, code=alert_model.Code.FALL_RISK)
    observation_model.objects.create(
        patient=patient,
        kind=observation_model.Kind.WEIGHT,
        value=Decimal("72.5"),
        unit="kg",
        observed_at=timezone.now(),
    )


def queries() -> dict[str, tuple[Dataset, int]]:
    from scheduling.models import Exam

    date = f"{day():%Y%m%d}"
    one = Exam.objects.filter(room__station_ae_title="CT1").select_related("order__patient").order_by("id").first()
    made = {}
    for kind, keys, expected in [
        ("(a) day+modality+station", {"Modality": "CT", "ScheduledStationAETitle": "CT1"}, PER_ROOM),
        ("(b) whole day", {}, PER_ROOM * sum(ROOMS.values())),
        ("(c) patient ID", {"PatientID": one.order.patient.mrn}, 1),
        ("(d) accession", {"AccessionNumber": one.accession_number}, 1),
    ]:
        query = full_key_query()
        item = query.ScheduledProcedureStepSequence[0]
        item.ScheduledProcedureStepStartDate = date if kind[1] in "ab" else ""
        for keyword, value in keys.items():
            setattr(item if keyword in ("Modality", "ScheduledStationAETitle") else query, keyword, value)
        made[kind] = (query, expected)
    return made


# --- 1. in-process ---------------------------------------------------------------------------------------------


class Context:
    transfer_syntax = ExplicitVRLittleEndian


class Event:
    """What handle_find reads of a pynetdicom event; `context` None is the pydicom path."""

    assoc = type("Assoc", (), {"requestor": type("Requestor", (), {"ae_title": "CT1"})()})()
    is_cancelled = False

    def __init__(self, identifier: Dataset, context):
        self.identifier = identifier
        self.context = context


def cfind_cpu(identifier: Dataset, byte_path: bool) -> tuple[float, int]:
    """CPU seconds of one C-FIND through the handler, each identifier encoded as pynetdicom's find SCP does."""
    began = time.process_time()
    count = 0
    for status, response in scp.handle_find(Event(identifier, Context() if byte_path else None)):
        if response is not None:
            encode.encode_identifier(response, False, True, False)
            count += status in (scp.PENDING, scp.PENDING_WARNING)
    return time.process_time() - began, count


def per_match_cpu(identifier: Dataset, repeats: int) -> tuple[float, float]:
    """Median CPU microseconds per match of the identifier alone: worklist_item + build + pydicom encode, and
    worklist_item + byte encoder (the rows and facts read once)."""
    plan = ResponsePlan(identifier)
    encoder = encode.ResponseEncoder(plan, ExplicitVRLittleEndian)
    query = scp.parse_query(identifier, tz=timezone.get_current_timezone(), fold=scp.fold)
    exams = selectors.worklist_exams(query, statuses=["SCHEDULED", "ARRIVED", "IN_PROGRESS"], limit=100000)
    rows = list(selectors.worklist_matches(selectors.worklist_rows(exams), patient_facts=True, exam_facts=True))

    def values(row, patient, exam):
        return worklist_item(
            row,
            local_start=timezone.localtime(row["scheduled_start"]),
            coding_scheme="99RIS",
            protocol_scheme="99RISPROT",
            patient=patient,
            exam=exam,
        )

    def pydicom_path():
        for match in rows:
            dsutils.encode(plan.build(values(*match))[0], False, True)

    def byte_path():
        for match in rows:
            item = values(*match)
            encoder.encode(item, plan.charset(item))

    timings = {pydicom_path: [], byte_path: []}
    for _ in range(repeats):
        for path, spent in timings.items():  # alternating: both see the same machine
            began = time.process_time()
            path()
            spent.append(time.process_time() - began)
    return tuple(statistics.median(spent) / len(rows) * 1e6 for spent in timings.values())


def in_process(made, repeats: int) -> None:
    encode.install()
    print("\n1. In-process CPU (medians), full key set, explicit VR LE")
    first = next(iter(made.values()))[0]
    pydicom_us, bytes_us = per_match_cpu(made["(b) whole day"][0], max(3, repeats // 4))
    print(
        f"  identifier per match (item + build + encode): pydicom {pydicom_us:7.0f} us   bytes {bytes_us:5.0f} us"
        f"   x{pydicom_us / bytes_us:.1f}"
    )
    del first
    print(f"  {'query':28} {'matches':>7} {'pydicom ms':>11} {'bytes ms':>9} {'ratio':>6} {'us/match p/b':>14}")
    for kind, (identifier, expected) in made.items():
        spent = {True: [], False: []}
        count = 0
        for _ in range(repeats):
            for byte_path in (False, True):
                seconds, count = cfind_cpu(identifier, byte_path)
                spent[byte_path].append(seconds)
        old, new = statistics.median(spent[False]) * 1e3, statistics.median(spent[True]) * 1e3
        flag = "" if count == expected else f"  MISMATCH (expected {expected})"
        print(
            f"  {kind:28} {count:7d} {old:11.1f} {new:9.1f} {old / new:6.1f} "
            f"{old / count * 1e3:7.0f}/{new / count * 1e3:<6.0f}{flag}"
        )


def unprepared(_connection) -> contextlib.AbstractContextManager:
    """ris.statements.prepared's stand-in: Django's client-side binding, nothing prepared."""
    return contextlib.nullcontext()


def prepared_vs_not(made, repeats: int) -> None:
    """Wall time of the byte path's C-FINDs with the statements prepared and with Django's client-side binding."""
    real = statements.prepared
    print("  wall ms, byte path: statements prepared vs bound on the client (Django's way)")
    for kind, (identifier, _expected) in made.items():
        walls = {True: [], False: []}
        for _ in range(repeats):
            for prepared in (False, True):
                statements.prepared = real if prepared else unprepared
                began = time.perf_counter()
                cfind_cpu(identifier, True)
                walls[prepared].append(time.perf_counter() - began)
        statements.prepared = real
        old, new = (statistics.median(walls[flag]) * 1e3 for flag in (False, True))
        print(f"  {kind:28} client-bound {old:8.1f}   prepared {new:8.1f}   x{old / new:.2f}")


def planning(made, repeats: int) -> None:
    """What preparing saves on the server: each kind's statements EXPLAIN ANALYZEd as Django sends them (values
    in the SQL: planned on every C-FIND), then how PostgreSQL plans the prepared ones after `repeats` C-FINDs."""
    print("\n2. PostgreSQL, server side: planning and execution per C-FIND (medians of EXPLAIN ANALYZE, client-bound)")
    real = statements.prepared
    for kind, (identifier, _expected) in made.items():
        statements.prepared = unprepared
        with CaptureQueriesContext(connection) as captured:
            cfind_cpu(identifier, True)
        statements.prepared = real
        texts = [q["sql"] for q in captured.captured_queries if q["sql"] and q["sql"].startswith("SELECT ")]
        texts = [sql for sql in texts if sql != "SELECT 1"]
        spent = []
        for _ in range(5):
            plan = run = 0.0
            with connection.cursor() as cursor:
                for sql in texts:
                    cursor.execute("EXPLAIN (ANALYZE, SUMMARY, TIMING OFF) " + sql)
                    text = "\n".join(row[0] for row in cursor.fetchall())
                    plan += float(re.search(r"Planning Time: ([\d.]+)", text).group(1))
                    run += float(re.search(r"Execution Time: ([\d.]+)", text).group(1))
            spent.append((plan, run))
        plan, run = (statistics.median(part) for part in zip(*spent, strict=True))
        print(f"  {kind:28} {len(texts):2d} statements: planning {plan:6.2f} ms, execution {run:6.2f} ms")
    connection.close()  # a fresh connection: its prepared statements are this section's
    for identifier, _expected in made.values():
        for _ in range(repeats):
            cfind_cpu(identifier, True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), sum(generic_plans), sum(custom_plans) FROM pg_prepared_statements")
        count, generic, custom = cursor.fetchone()
    print(
        f"  prepared after {repeats} C-FINDs of each kind on one connection: {count} statements, executed with a"
        f" generic plan (not planned) {generic} times, planned (custom plan) {custom} times"
    )


def profile(made) -> None:
    encode.install()
    identifier = made["(b) whole day"][0]
    profiler = cProfile.Profile()
    profiler.enable()
    cfind_cpu(identifier, True)
    profiler.disable()
    print("\n4. cProfile of (b) through the handler, byte path (cumulative, top 25)")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


# --- 2. network ------------------------------------------------------------------------------------------------

SERVE = """
import os, sys
sys.path.insert(0, {project!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ris.settings")
import django
django.setup()
import logging
logging.getLogger("worklist").setLevel(logging.WARNING)
from worklist import encode, scp
mode = {mode!r}
if mode == "pydicom":  # no adapter: every identifier and command set is encoded by pydicom (the previous commit)
    encode.install = lambda: None
if mode == "floor":  # each query's responses made once, then replayed: what pynetdicom's layers cost alone
    answers = {{}}
    def replay(event):
        key = event.request.Identifier.getvalue()
        if key not in answers:
            answers[key] = list(scp.handle_find(event))
        yield from answers[key]
    scp.HANDLERS[:] = [(kind, replay if handler is scp.handle_find else handler) for kind, handler in scp.HANDLERS]
scp.start("127.0.0.1", {port}, "RIS_MWL", block=True)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(mode: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    code = SERVE.format(project=str(PROJECT_DIR), mode=mode, port=port)
    server = subprocess.Popen([sys.executable, "-c", code], env=os.environ.copy())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return server, port
        time.sleep(0.2)
    server.kill()
    raise SystemExit("the SCP did not start")


def scu_medians(port: int, made, warmup: int, repeats: int) -> dict[str, tuple[float, int]]:
    ae = AE(ae_title="CT1")
    ae.add_requested_context(ModalityWorklistInformationFind, [ExplicitVRLittleEndian])
    assoc = ae.associate("127.0.0.1", port, ae_title="RIS_MWL")
    assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    results = {}
    try:
        for kind, (identifier, _expected) in made.items():
            walls, count = [], 0
            for index in range(warmup + repeats):
                began = time.perf_counter()
                count = sum(
                    status.Status in (0xFF00, 0xFF01)
                    for status, _ in assoc.send_c_find(identifier, ModalityWorklistInformationFind)
                )
                if index >= warmup:
                    walls.append(time.perf_counter() - began)
            results[kind] = (statistics.median(walls) * 1e3, count)
    finally:
        assoc.release()
    return results


def findscu_args(identifier: Dataset) -> list[str]:
    keys = []
    for element in identifier:
        if element.keyword == "ScheduledProcedureStepSequence":
            for inner in element.value[0]:
                value = "" if inner.VR == "SQ" else (inner.value or "")
                keys.append(f"ScheduledProcedureStepSequence[0].{inner.keyword}" + (f"={value}" if value else ""))
        elif element.VR == "SQ":
            keys.append(element.keyword)
        else:
            keys.append(element.keyword + (f"={element.value}" if element.value else ""))
    return [arg for key in keys for arg in ("-k", key)]


def findscu_median(port: int, identifier: Dataset, repeats: int, runs: int = 3) -> float:
    """ms per C-FIND of findscu --repeat on one association: (N+1 repeats - 1 repeat) / N, median of `runs`."""
    base = ["findscu", "-W", "-aet", "CT1", "-aec", "RIS_MWL", *findscu_args(identifier)]
    env = {**os.environ, "TCP_NODELAY": "1"}

    def wall(repeat: int) -> float:
        began = time.perf_counter()
        subprocess.run(
            [*base, "--repeat", str(repeat), "127.0.0.1", str(port)], env=env, check=True, capture_output=True
        )
        return time.perf_counter() - began

    wall(1)  # warm-up (the floor server makes its answers on a query's first sight)
    return statistics.median((wall(repeats + 1) - wall(1)) / repeats for _ in range(runs)) * 1e3


def network(made, warmup: int, repeats: int) -> None:
    print(
        "\n3. Network, full key set, explicit VR LE: median ms per C-FIND. pydicom: the SCP without the adapter (the"
        "\n   previous commit); bytes: this one; floor: each query's responses replayed (pynetdicom's layers alone)"
    )
    modes = ("pydicom", "bytes", "floor")
    figures = {}
    for mode in modes:
        server, port = start_server(mode)
        try:
            scu = scu_medians(port, made, warmup, repeats)
            dcmtk = {kind: findscu_median(port, identifier, repeats) for kind, (identifier, _) in made.items()}
        finally:
            server.terminate()
            server.wait(10)
        figures[mode] = (scu, dcmtk)
    print(
        f"  {'query':26} {'n':>4} | {'SCU: pydicom':>12} {'bytes':>7} {'floor':>7} {'ratio':>5} | "
        f"{'findscu: pydicom':>16} {'bytes':>7} {'floor':>7} {'ratio':>5}"
    )
    for kind, (_identifier, expected) in made.items():
        counts = {figures[mode][0][kind][1] for mode in modes}
        scu = [figures[mode][0][kind][0] for mode in modes]
        dcmtk = [figures[mode][1][kind] for mode in modes]
        flag = "" if counts == {expected} else f"  MISMATCH ({sorted(counts)}, expected {expected})"
        print(
            f"  {kind:26} {expected:4d} | {scu[0]:12.1f} {scu[1]:7.1f} {scu[2]:7.1f} {scu[0] / scu[1]:5.1f} | "
            f"{dcmtk[0]:16.1f} {dcmtk[1]:7.1f} {dcmtk[2]:7.1f} {dcmtk[0] / dcmtk[1]:5.1f}{flag}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=20, help="timed C-FINDs per query kind and path (20)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-network", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("DATABASE_URL must name a PostgreSQL database")
    logging.getLogger("worklist").setLevel(logging.WARNING)  # a line per C-FIND would drown the tables
    ensure_database()
    load()
    made = queries()
    print(f"Worklist per-match profile: {day()}, 800 exams on 20 rooms; {args.queries} timed queries per kind")
    in_process(made, args.queries)
    prepared_vs_not(made, args.queries)
    planning(made, args.queries)
    if not args.no_network:
        network(made, args.warmup, args.queries)
    if args.profile:
        profile(made)
    return 0


if __name__ == "__main__":
    sys.exit(main())
