"""Billing benchmark: the export of 10,000 ready claims (20,000 service lines) to CSV and X12 837P on PostgreSQL.

Usage (from the project root):

    .venv/bin/python -m bench.billing [--claims 10000] [--lines-per-claim 2] [--runs 3] [--validate]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ris_bench_billing .venv/bin/python bench/billing.py

The database (--database, else DATABASE_URL's, default ris_bench_billing) is created if missing and migrated. It is
then loaded once, by COPY and bulk_create (the billing services are not what is measured), with a billing facility
(NPI, EIN, address), a default fee schedule, four radiologists with NPIs and, per data set (one payer per
--claims/--lines-per-claim pair, so that sizes can live side by side): one patient per claim with a birth date, an
address and a primary coverage (a fifth of them insured through a parent or spouse), the claim's orders and exams
(one per line, ICD-10-CM diagnosis codes, an accession number), their BILLED charges (CPT codes of the demo catalog,
a quarter with modifier 26, a rendering radiologist) and one READY claim per patient-day in the last 30 days. A run
that finds the data set there skips the load.

Each run puts the claims back to READY outside any batch (the previous batches of the data set and their files are
deleted, the claims table vacuumed), then exports them in a child process, so that its peak memory is that of the
export alone, like a Celery worker's: billing.services.batch_create (its on_commit queueing of the Celery task is
captured, so the task does not run eagerly) and then billing.export.batch_run, which is what the task runs. Printed
per run: the wall time of both (and of the export's steps: writing the files, finishing), the child's peak RSS
(VmHWM) and its RSS before the export, the claims and lines exported and the sizes of the files; then the medians
beside the targets

    wall time   < 30 s
    peak RSS    < 500 MB

Every run is verified: the batch DONE, every claim EXPORTED, one CSV row per line whose amounts add up to the
charges, one CLM segment per claim in the 837P. --validate also walks the last 837P file with pyx12 and prints how
long that took and its errors. --profile runs the export under cProfile and prints its hot spots. DEBUG is off (as
in production) unless the environment says otherwise. The exit code is 0 unless a verification failed.
"""

# ruff: noqa: E402, S311  (Django is set up before its models are imported; random draws test data, not secrets)

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit, urlunsplit

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
# Run as a file, this directory comes first on sys.path and this module would shadow the `billing` app.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/ris_bench_billing"
os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
# The export writes its files under MEDIA_ROOT: keep the bench's out of the project's var/ (each run deletes its own).
os.environ.setdefault("RIS_MEDIA_ROOT", str(Path(tempfile.gettempdir()) / "ris_bench_billing_files"))

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min, Sum
from django.utils import timezone

# bench.scheduling sets Django up on import (production-like environment); its catalog and loaders are shared.
from bench.scheduling import (
    EXAM_COLUMNS,
    ORDER_COLUMNS,
    PATIENT_COLUMNS,
    Outcome,
    PlannedExam,
    check_copy_columns,
    check_order_copy_columns,
    copy_orders_and_exams,
    copy_rows,
    database_prepare,
    ensure_catalog,
    next_id,
    order_and_exam_rows,
    patient_rows,
    reset_identity,
)
from billing import export, services, tasks
from billing.models import Charge, Claim, ExportBatch, Fee, FeeSchedule
from billing.selectors import billing_provider
from ris.demo import valid_npi
from ris.models import Coverage, Facility, Patient, Payer, ProcedureType, Role, Room, User
from scheduling.demo import DIAGNOSES
from scheduling.models import Exam, Order

SEED = 20261212
WALL_TARGET_S = 30
MEMORY_TARGET_MB = 500
FACILITY_CODE = "BENCH"  # bench.scheduling's facility: the billing provider (the first facility) gets NPI and EIN
BILLING_NPI = "1234567893"
BILLING_TAX_ID = "123456789"
CLERK_USERNAME = "bench-billing-clerk"
RADIOLOGISTS = 4
DAYS_BACK = 30  # dates of service: the last 30 days
CPT_CODES = ["70450", "71046", "71045", "71250", "74177", "70551", "72148", "73721", "76700", "76856"]
BASE_FEE = {"CT": 450, "MR": 900, "US": 220, "DX": 95}
PROFESSIONAL_SHARE = Decimal("0.22")
PROFESSIONAL_READS = 0.25  # share of lines billed with modifier 26
S = Exam.Status
PHASES = {"_write_files": "files s", "_finish": "finish s"}  # billing.export's steps after _start, timed apart


# --- The data set ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSet:
    """One payer's claims: --claims claims of --lines-per-claim lines each."""

    claims: int
    lines: int

    @property
    def key(self) -> str:
        return f"B{self.claims}X{self.lines}"  # prefix of MRNs and claim numbers (upper case: X12 would upper it)

    @property
    def payer_id(self) -> str:
        return f"BENCH{self.claims}X{self.lines}"


def ensure_department() -> tuple[Facility, FeeSchedule, list[User], User]:
    """The billing facility (the first one), the default fee schedule, the radiologists and the clerk; idempotent."""
    from django.contrib.auth.models import Group  # a model: only once bench.scheduling has set Django up

    facility, _ = Facility.objects.get_or_create(code=FACILITY_CODE, defaults={"name": "Bench General Hospital"})
    address = {
        "npi": BILLING_NPI,
        "tax_id": BILLING_TAX_ID,
        "street": "1 Hospital Way",
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701",
        "country": "US",
    }
    if any(getattr(facility, name) != value for name, value in address.items()):
        for name, value in address.items():
            setattr(facility, name, value)
        facility.save()
    ensure_catalog(random.Random(SEED))  # rooms, the demo procedure catalog, 150 referring physicians with NPIs
    provider = billing_provider()
    if provider is None or provider.pk != facility.pk:
        raise SystemExit(f"The billing provider is {provider}, not the bench facility: use a database of its own.")
    schedule, _ = FeeSchedule.objects.get_or_create(name="Default", payer=None)
    for procedure in ProcedureType.objects.filter(cpt_code__in=CPT_CODES).select_related("modality"):
        total = Decimal(BASE_FEE.get(procedure.modality.code, 200))
        professional = (total * PROFESSIONAL_SHARE).quantize(Decimal("1"))
        for modifier, amount in (("", total), ("26", professional), ("TC", total - professional)):
            Fee.objects.get_or_create(
                schedule=schedule, cpt_code=procedure.cpt_code, modifier=modifier, defaults={"amount": amount}
            )
    rng = random.Random(f"{SEED}:radiologists")
    group = Group.objects.get(name=Role.RADIOLOGIST.label)
    radiologists = []
    for number in range(1, RADIOLOGISTS + 1):
        npi = valid_npi(rng)
        user, _ = User.objects.get_or_create(
            username=f"bench-billing-radiologist-{number}",
            defaults={"first_name": "Reader", "last_name": f"Radiologist {number}", "npi": npi},
        )
        user.groups.add(group)
        radiologists.append(user)
    clerk, _ = User.objects.get_or_create(
        username=CLERK_USERNAME, defaults={"first_name": "Bench", "last_name": "Clerk"}
    )
    clerk.groups.add(Group.objects.get(name=Role.BILLING.label))
    return facility, schedule, radiologists, clerk


def ensure_payer(data: DataSet) -> Payer:
    payer, _ = Payer.objects.get_or_create(
        payer_id=data.payer_id,
        defaults={
            "name": "Bench Health Plan",
            "street": "PO Box 1000",
            "city": "Chicago",
            "state": "IL",
            "postal_code": "60601",
            "country": "US",
        },
    )
    return payer


def load_patients(rng: random.Random, data: DataSet, now: datetime) -> list[Patient]:
    """One patient per claim (MRNs of the data set), by COPY; returned with the fields the coverages need."""
    check_copy_columns(Patient._meta.db_table, PATIENT_COLUMNS)
    rows = (
        (f"{data.key}-{number:07d}", *row[1:])
        for number, row in enumerate(patient_rows(rng, data.claims, now.date(), now), start=1)
    )
    with transaction.atomic():
        copy_rows(Patient._meta.db_table, PATIENT_COLUMNS, rows)
    return list(
        Patient.objects.filter(mrn__startswith=f"{data.key}-")
        .order_by("mrn")
        .only("id", "family_name", "birth_date", "sex")
    )


def coverage_for(rng: random.Random, patient: Patient, payer: Payer) -> Coverage:
    """The primary coverage: mostly the patient's own; a child insured by a parent, a spouse by the other."""
    coverage = Coverage(
        patient_id=patient.pk,
        payer=payer,
        member_id=f"M{rng.randrange(10**9):09d}",
        group_number=f"GRP{rng.randrange(1000):04d}" if rng.random() < 0.85 else "",
    )
    roll = rng.random()
    if roll < 0.2 and patient.birth_date:
        is_child = roll < 0.12
        coverage.relationship = Coverage.Relationship.CHILD if is_child else Coverage.Relationship.SPOUSE
        coverage.subscriber_family_name = patient.family_name
        coverage.subscriber_given_name = rng.choice(["Anna", "Bernd", "Chloé", "Dávid", "Erik", "Søren", "Zoë"])
        years = rng.randint(22, 40) if is_child else rng.randint(-5, 5)
        coverage.subscriber_birth_date = patient.birth_date - timedelta(days=365 * years + rng.randrange(365))
        coverage.subscriber_sex = rng.choice("MF")
    return coverage


def load(data: DataSet, payer: Payer, facility: Facility, radiologists: list[User], now: datetime) -> float:
    """Patients, coverages, orders and exams, charges and claims of the data set; the seconds it took."""
    started = time.perf_counter()
    rng = random.Random(f"{SEED}:{data.key}")
    check_order_copy_columns(ORDER_COLUMNS, EXAM_COLUMNS)
    patients = load_patients(rng, data, now)
    print(f"  patients: {len(patients):,} ({time.perf_counter() - started:.1f} s)", flush=True)

    procedures = list(ProcedureType.objects.filter(cpt_code__in=CPT_CODES).select_related("modality"))
    rooms: dict[int, list[int]] = {}
    for room_id, modality_id in Room.objects.filter(facility=facility).values_list("id", "modality_id"):
        rooms.setdefault(modality_id, []).append(room_id)
    procedures = [p for p in procedures if p.modality_id in rooms]
    fees = {(f.cpt_code, f.modifier): f.amount for f in Fee.objects.filter(schedule__payer__isnull=True)}
    physicians = list(facility.referringphysician_set.exclude(npi=None).values_list("id", flat=True))
    tz = timezone.get_current_timezone()
    today = timezone.localdate()

    with transaction.atomic():
        coverages = Coverage.objects.bulk_create(
            (coverage_for(rng, patient, payer) for patient in patients), batch_size=2000
        )
        # Per claim: a day, then one exam (with its order) per line, back to back that morning.
        planned: list[PlannedExam] = []
        days: list[date] = []
        for patient in patients:
            day = today - timedelta(days=rng.randint(1, DAYS_BACK))
            days.append(day)
            start = datetime.combine(day, datetime.min.time(), tzinfo=tz) + timedelta(hours=rng.uniform(7, 16))
            physician = rng.choice(physicians) if physicians and rng.random() < 0.9 else None
            for _ in range(data.lines):
                procedure = rng.choice(procedures)
                end = start + timedelta(minutes=procedure.default_duration_minutes)
                completed = end - timedelta(minutes=2)
                outcome = Outcome(
                    S.FINAL, completed + timedelta(hours=3), start - timedelta(minutes=15), start, completed
                )
                planned.append(
                    PlannedExam(
                        booked_at=start - timedelta(days=rng.randint(1, 14)),
                        room_id=rng.choice(rooms[procedure.modality_id]),
                        procedure_type_id=procedure.pk,
                        start=start,
                        end=end,
                        outcome=outcome,
                        patient_id=patient.pk,
                        physician_id=physician,
                        priority="ROUTINE",
                        diagnosis=rng.randrange(len(DIAGNOSES)),
                    )
                )
                start = end + timedelta(minutes=rng.randint(5, 40))
        order_id, exam_id = next_id(Order._meta.db_table), next_id(Exam._meta.db_table)
        orders, exams = order_and_exam_rows(rng, planned, order_id, exam_id)
        copy_orders_and_exams(orders, exams, ORDER_COLUMNS, EXAM_COLUMNS)
        print(f"  coverages, orders and exams: {len(exams):,} ({time.perf_counter() - started:.1f} s)", flush=True)

        procedure_by_id = {p.pk: p for p in procedures}
        claims, charges = [], []
        for index, (patient, coverage, day) in enumerate(zip(patients, coverages, days, strict=True)):
            lines = []
            for offset in range(index * data.lines, (index + 1) * data.lines):
                exam = planned[offset]
                code = procedure_by_id[exam.procedure_type_id].cpt_code
                modifier = "26" if rng.random() < PROFESSIONAL_READS else ""
                fee = fees[(code, modifier)]
                lines.append(
                    Charge(
                        exam_id=exam_id + offset,
                        patient_id=patient.pk,
                        status=Charge.Status.BILLED,
                        cpt_code=code,
                        modifiers=[modifier] if modifier else [],
                        units=1,
                        diagnosis_codes=[DIAGNOSES[exam.diagnosis]],
                        date_of_service=day,
                        place_of_service=settings.RIS_BILLING_PLACE_OF_SERVICE,
                        rendering_provider=rng.choice(radiologists),
                        fee=fee,
                        amount=fee,
                    )
                )
            claims.append(
                Claim(
                    number=f"{data.key}-{index + 1:07d}",
                    patient_id=patient.pk,
                    payer=payer,
                    coverage=coverage,
                    date_of_service=day,
                    status=Claim.Status.READY,
                    total=sum((charge.amount for charge in lines), Decimal("0")),
                    errors=[],
                )
            )
            charges.append(lines)
        Claim.objects.bulk_create(claims, batch_size=2000)
        for claim, lines in zip(claims, charges, strict=True):
            for charge in lines:
                charge.claim_id = claim.pk
        Charge.objects.bulk_create((charge for lines in charges for charge in lines), batch_size=2000)
    reset_identity(Order._meta.db_table)
    reset_identity(Exam._meta.db_table)
    with connection.cursor() as cursor:
        for model in (Patient, Coverage, Order, Exam, Charge, Claim):
            cursor.execute(f"VACUUM (ANALYZE) {model._meta.db_table}")
    elapsed = time.perf_counter() - started
    lines = sum(map(len, charges))
    print(f"  charges and claims: {lines:,} charges on {len(claims):,} claims; load total {elapsed:.1f} s", flush=True)
    return elapsed


def ensure_data(data: DataSet, payer: Payer, facility: Facility, radiologists: list[User]) -> float | None:
    """Load the data set unless it is there; the load's seconds, None if skipped."""
    claims = Claim.objects.filter(payer=payer)
    found = claims.count()
    if found == data.claims and Charge.objects.filter(claim__payer=payer).count() == data.claims * data.lines:
        print(f"Load skipped: {found:,} claims of payer {payer.payer_id} already there.")
        return None
    if found:
        raise SystemExit(f"Payer {payer.payer_id} has {found:,} claims, not {data.claims:,}: drop the database.")
    print(f"Loading {data.claims:,} claims of {data.lines} lines (payer {payer.payer_id}):", flush=True)
    return load(data, payer, facility, radiologists, timezone.localtime())


def reset(payer: Payer) -> None:
    """The data set's claims READY outside any batch, its previous batches and their files gone; vacuumed."""
    media = Path(settings.MEDIA_ROOT)
    with transaction.atomic():
        Claim.objects.filter(payer=payer).update(status=Claim.Status.READY, batch=None)
        batches = ExportBatch.objects.filter(payer=payer)
        for batch in batches:
            for name in (batch.csv_file.name, batch.x12_file.name):
                if name:
                    (media / name).unlink(missing_ok=True)
        batches.delete()
    # Every run starts alike: without this each one finds the dead row versions of the runs before it.
    with connection.cursor() as cursor:
        for model in (Claim, ExportBatch):
            cursor.execute(f"VACUUM (ANALYZE) {model._meta.db_table}")


# --- The export, in a child process ----------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's VmHWM, of this program alone: ru_maxrss is not, as it keeps the
    parent's resident size at the fork through the exec (the parent holds the loaded data set)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 1024)
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024  # kB


def export_only(payer_id: str, profile: bool) -> int:
    """The measured export: batch_create (the Celery task it queues captured) and batch_run; prints a RESULT."""
    payer = Payer.objects.get(payer_id=payer_id)
    span = Claim.objects.filter(payer=payer).aggregate(first=Min("date_of_service"), last=Max("date_of_service"))
    clerk = User.objects.get(username=CLERK_USERNAME)
    connection.ensure_connection()
    baseline = peak_rss_mb()
    queued: list[int] = []
    phases: dict[str, float] = {}

    def timed(name: str, function):
        def call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                phases[name] = phases.get(name, 0) + time.perf_counter() - started

        return call

    def run() -> ExportBatch:
        # With no broker configured, Celery runs tasks eagerly: queueing is captured, the worker's call made here.
        with mock.patch.object(tasks.export_batch, "delay", new=queued.append), transaction.atomic():
            batch = services.batch_create(date_from=span["first"], date_to=span["last"], payer=payer, acting_user=clerk)
        if queued != [batch.pk]:
            raise RuntimeError(f"batch_create queued {queued}, not the export of batch {batch.pk}")
        created.append(time.perf_counter())
        # The files (reading the claims, CSV and 837P) and the end (claims EXPORTED with history), timed apart.
        wrapped = {name: timed(name, getattr(export, name)) for name in PHASES if hasattr(export, name)}
        with mock.patch.multiple(export, **wrapped):
            return export.batch_run(batch.pk)

    created: list[float] = []
    started = time.perf_counter()
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        batch = profiler.runcall(run)
        wall = time.perf_counter() - started
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(25)
    else:
        batch = run()
        wall = time.perf_counter() - started
    result = {
        "batch_id": batch.pk if batch else None,
        "wall_s": wall,
        "create_s": created[0] - started if created else None,
        "phases": phases,
        "baseline_mb": baseline,
        "peak_mb": peak_rss_mb(),
    }
    print("RESULT " + json.dumps(result), flush=True)
    return 0


@dataclass
class Run:
    wall_s: float
    create_s: float
    peak_mb: float
    baseline_mb: float
    phases: dict[str, float] = field(default_factory=dict)
    claims: int = 0
    lines: int = 0
    csv_mb: float = 0
    x12_mb: float = 0
    x12_path: Path | None = None
    problems: list[str] = field(default_factory=list)


def export_in_child(args: argparse.Namespace, payer: Payer) -> Run:
    command = [sys.executable, "-m", "bench.billing", "--export-only", "--payer-id", payer.payer_id]
    if args.database:
        command += ["--database", args.database]
    if args.profile:
        command.append("--profile")
    child = subprocess.run(command, cwd=PROJECT_DIR, stdout=subprocess.PIPE, text=True, check=False)  # noqa: S603
    lines = [line for line in child.stdout.splitlines() if line.startswith("RESULT ")]
    if child.returncode or not lines:
        raise SystemExit(f"The export process failed (exit code {child.returncode}):\n{child.stdout}")
    result = json.loads(lines[-1].removeprefix("RESULT "))
    run = Run(result["wall_s"], result["create_s"], result["peak_mb"], result["baseline_mb"], result["phases"])
    verify(run, payer, result["batch_id"])
    return run


def verify(run: Run, payer: Payer, batch_id: int | None) -> None:
    """What the export should have done; each miss goes into run.problems."""
    problems = run.problems
    batch = ExportBatch.objects.filter(pk=batch_id).first() if batch_id else None
    if batch is None:
        problems.append("no batch")
        return
    if batch.status != ExportBatch.Status.DONE:
        problems.append(f"batch {batch.number} is {batch.status}: {batch.error[:300]}")
        return
    claims = Claim.objects.filter(payer=payer)
    loaded = claims.count()
    charges = Charge.objects.filter(claim__payer=payer)
    lines, total = charges.count(), charges.aggregate(total=Sum("amount"))["total"]
    run.claims = claims.filter(batch=batch, status=Claim.Status.EXPORTED).count()
    if run.claims != loaded:
        problems.append(f"{run.claims:,} claims exported of {loaded:,}")
    if batch.claims_done != loaded or batch.claims_total != loaded:
        problems.append(f"batch counts {batch.claims_done}/{batch.claims_total}, not {loaded}")
    if not batch.csv_file.name or not batch.x12_file.name:
        problems.append(f"batch files: CSV {batch.csv_file.name!r}, 837P {batch.x12_file.name!r}")
        return
    media = Path(settings.MEDIA_ROOT)
    csv_path, run.x12_path = media / batch.csv_file.name, media / batch.x12_file.name
    run.csv_mb, run.x12_mb = csv_path.stat().st_size / 2**20, run.x12_path.stat().st_size / 2**20
    with csv_path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    run.lines = len(rows)
    if run.lines != lines:
        problems.append(f"{run.lines:,} CSV rows for {lines:,} lines")
    csv_total = sum((Decimal(row["amount"]) for row in rows), Decimal("0"))
    if csv_total != total:
        problems.append(f"CSV amounts add up to {csv_total}, the charges to {total}")
    if len({row["claim_number"] for row in rows}) != loaded:
        problems.append("the CSV does not hold every claim")
    segments = run.x12_path.read_text(encoding="ascii").split("~")
    claim_segments = sum(1 for segment in segments if segment.lstrip().startswith("CLM*"))
    if claim_segments != loaded:
        problems.append(f"{claim_segments:,} CLM segments in the 837P for {loaded:,} claims")
    line_segments = sum(1 for segment in segments if segment.lstrip().startswith("SV1*"))
    if line_segments != lines:
        problems.append(f"{line_segments:,} SV1 segments in the 837P for {lines:,} lines")


def validate(path: Path) -> bool:
    """pyx12 over the 837P file: its time and errors; True if valid."""
    from tests.billing.x12_validation import x12_errors

    print(f"\nValidating {path.name} ({path.stat().st_size / 2**20:.1f} MB) with pyx12...", flush=True)
    started = time.perf_counter()
    errors = x12_errors(path)
    elapsed = time.perf_counter() - started
    print(f"pyx12: {elapsed:.1f} s, {len(errors)} error(s)")
    for message in errors[:20]:
        print(f"  {message}")
    return not errors


# --- Main ------------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=int, default=10_000, help="claims to export (default 10,000)")
    parser.add_argument("--lines-per-claim", type=int, default=2, help="service lines per claim (default 2)")
    parser.add_argument("--runs", type=int, default=3, help="exports measured (default 3)")
    parser.add_argument("--validate", action="store_true", help="validate the last 837P file with pyx12")
    parser.add_argument("--profile", action="store_true", help="profile the export (cProfile, to stderr)")
    parser.add_argument("--database", help="database name (default: DATABASE_URL's, ris_bench_billing)")
    parser.add_argument("--export-only", action="store_true", help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--payer-id", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.claims < 1 or not 1 <= args.lines_per_claim <= 50 or args.runs < 1:
        parser.error("--claims and --runs must be at least 1, --lines-per-claim 1 to 50")
    return args


def database_url(args: argparse.Namespace) -> str:
    """DATABASE_URL, with --database as its name when given; Django's connection follows (it is not open yet)."""
    url = os.environ["DATABASE_URL"]
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit(f"DATABASE_URL must name a PostgreSQL database; got {url!r}")
    if args.database:
        url = urlunsplit(urlsplit(url)._replace(path=f"/{args.database}"))
        connection.close()
        connection.settings_dict["NAME"] = args.database
    return url


def print_runs(runs: list[Run]) -> None:
    print()
    phases = "".join(f" {label:>9}" for label in PHASES.values())
    print(f"{'run':>3} {'wall s':>8} {'create s':>9}{phases} {'peak RSS MB':>12} {'base MB':>8} {'claims':>8} "
          f"{'lines':>8} {'csv MB':>7} {'837 MB':>7}  verification")  # fmt: skip
    print("-" * (116 + 10 * len(PHASES)))
    for number, run in enumerate(runs, start=1):
        verdict = "; ".join(run.problems) if run.problems else "ok"
        times = "".join(f" {run.phases[name]:>9.2f}" if name in run.phases else f" {'-':>9}" for name in PHASES)
        print(
            f"{number:>3} {run.wall_s:>8.2f} {run.create_s:>9.2f}{times} {run.peak_mb:>12.1f} {run.baseline_mb:>8.1f} "
            f"{run.claims:>8,} {run.lines:>8,} {run.csv_mb:>7.2f} {run.x12_mb:>7.2f}  {verdict}"
        )
    wall = statistics.median(run.wall_s for run in runs)
    peak = statistics.median(run.peak_mb for run in runs)
    print()
    print(f"median wall time  {wall:8.2f} s   target < {WALL_TARGET_S} s    "
          f"{'meets target' if wall < WALL_TARGET_S else 'over'}")  # fmt: skip
    print(f"median peak RSS   {peak:8.1f} MB  target < {MEMORY_TARGET_MB} MB   "
          f"{'meets target' if peak < MEMORY_TARGET_MB else 'over'}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = database_url(args)
    if args.export_only:
        return export_only(args.payer_id, args.profile)
    database_prepare(url)
    data = DataSet(args.claims, args.lines_per_claim)
    facility, _schedule, radiologists, _clerk = ensure_department()
    payer = ensure_payer(data)
    ensure_data(data, payer, facility, radiologists)
    print(
        f"Data: {Claim.objects.filter(payer=payer).count():,} claims, "
        f"{Charge.objects.filter(claim__payer=payer).count():,} charges of payer {payer.payer_id}; "
        f"files under {settings.MEDIA_ROOT}; DEBUG {settings.DEBUG}."
    )
    runs = []
    for number in range(1, args.runs + 1):
        reset(payer)
        print(f"Run {number}: exporting in a child process...", flush=True)
        runs.append(export_in_child(args, payer))
        run = runs[-1]
        print(f"  {run.wall_s:.2f} s, peak {run.peak_mb:.0f} MB, {'ok' if not run.problems else run.problems}")
    print_runs(runs)
    failed = any(run.problems for run in runs)
    if args.validate and runs[-1].x12_path is not None and runs[-1].x12_path.exists():
        failed |= not validate(runs[-1].x12_path)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
