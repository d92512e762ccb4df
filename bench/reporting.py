"""Reporting benchmark: the radiologists' reading worklist on a PostgreSQL database of 1,000,000 exams.

Usage (from the project root):

    .venv/bin/python -m bench.reporting [--iterations 50] [--skip-load] [--database ris_bench_reporting]
                                        [--reference main | --no-reference]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ris_bench_reporting .venv/bin/python bench/reporting.py

The database (--database, else DATABASE_URL's, default ris_bench_reporting) is created if missing and migrated.
Unless --skip-load is given, it is then loaded by COPY, once (a run that finds the rows there skips the load), with
bench.scheduling's catalog, patients and room-day schedules: 100,000 patients and 1,000,000 orders and exams from
about two years ago to a few days ahead, 40 CT/MR/US/DX rooms, 150 referring physicians, 3% of orders
STAT. What is reported is drawn to leave a backlog as a busy department has one: the exams of the last hours still
to read, then fewer and fewer, and a thin tail of old ones never signed, about 2.5% of all exams in COMPLETED or
PRELIMINARY. Preliminary and final exams have their report (12 radiologists as authors), a quarter of the
completed ones a draft; each run gives every radiologist one live reading claim and leaves some lapsed ones.

Each measurement then runs in-process `--iterations` times after a warm-up and prints n, the median and the 95th
percentile of the server time in milliseconds beside the target (p95 < 150 ms for the page):

    page                GET /reporting/ through django.test.Client, signed in as a radiologist: 200
    page, <filter>      the same with one filter (breakdown)
    selector, <filter>  list(reporting.selectors.reading_worklist(...)[:50]): the first page of rows (breakdown)

The filters vary per call: a modality, a body part, a referring physician, a date range of one to seven days in
the last two months, "mine". DEBUG is off unless the environment says otherwise. The exit code is 0 unless a
measurement failed.

Beside this tree's page figures, the same run measures a reference: the code of the git revision --reference
(default HEAD~1, the previous commit), unpacked into a temporary folder and run in a child process on the same
database, signed in as the same user. Each GET goes to this tree then to the reference, with the same URL, so
that both see the same load; the table gives both and their ratio. The reference must use the same schema (the
same migrations) as this tree.
"""

# ruff: noqa: E402, S311  (Django is set up before its models are imported; random draws test data, not secrets)

from __future__ import annotations

import argparse
import heapq
import io
import itertools
import json
import math
import os
import random
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from datetime import time as clock
from functools import partial
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
# Run as a file, this directory comes first on sys.path and this module would shadow the `reporting` app.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/ris_bench_reporting"
os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)

from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

# bench.scheduling sets Django up on import (production-like environment); its catalog and loaders are shared.
from bench.scheduling import (
    EXAM_COLUMNS,
    ORDER_COLUMNS,
    Outcome,
    PlannedExam,
    Result,
    RoomPlan,
    booking_time,
    check_copy_columns,
    check_order_copy_columns,
    copy_orders_and_exams,
    copy_rows,
    database_prepare,
    ensure_catalog,
    load_patients,
    next_id,
    order_and_exam_rows,
    outcome_for,
    print_results,
    progress,
    reset_identity,
    room_day_slots,
    room_plans,
    vacuum_analyze,
)
from bench.scheduling import measure as measure_calls
from reporting.models import ReadingClaim, Report
from reporting.selectors import reading_worklist
from ris.models import Facility, Patient, ProcedureType, ReferringPhysician, Role, User
from scheduling.demo import DIAGNOSES
from scheduling.models import Exam, Order

SEED = 20261205
PATIENTS = 100_000
EXAMS = 1_000_000
AHEAD_DAYS = 3  # bookings reach this far ahead: the reading worklist only ever sees the past
MAX_LEAD_DAYS = 30  # as bench.scheduling: an exam was booked at most this long before it
COPY_CHUNK = 20_000
RADIOLOGISTS = 12
BENCH_USERNAME = "bench-radiologist-01"  # the one signed in; the others author reports and hold claims
PAGE_TARGET_MS = 150
PAGE_ROWS = 50
S = Exam.Status
BACKLOG = (S.COMPLETED, S.PRELIMINARY)


# --- The data: exams with a reading backlog, their reports ------------------------------------------------------


def reading_status(rng: random.Random, age: timedelta) -> str:
    """How far the reading of an exam performed `age` ago has got: most of the last hours' to read, a tail of old
    ones left unsigned (about 2% for good, more in the last weeks), the rest final, now and then amended."""
    hours = age.total_seconds() / 3600
    if hours < 2:
        return rng.choices([S.COMPLETED, S.PRELIMINARY, S.FINAL], weights=[80, 5, 15])[0]
    if hours < 24:
        return rng.choices([S.COMPLETED, S.PRELIMINARY, S.FINAL], weights=[25, 15, 60])[0]
    if hours < 72:
        return rng.choices([S.COMPLETED, S.PRELIMINARY, S.FINAL], weights=[8, 7, 85])[0]
    unread = 0.02 + 0.15 * math.exp(-hours / 24 / 30)
    if rng.random() < unread:
        return S.COMPLETED if rng.random() < 0.6 else S.PRELIMINARY
    return S.AMENDED if rng.random() < 0.01 else S.FINAL


def reading_outcome(rng: random.Random, start: datetime, end: datetime, booked: datetime, now: datetime) -> Outcome:
    """bench.scheduling's outcome (cancelled, no-show, under way, performed), with the reading backlog above."""
    outcome = outcome_for(rng, start, end, booked, now)
    if outcome.completed_at is None or outcome.status not in {S.COMPLETED, S.PRELIMINARY, S.FINAL, S.AMENDED}:
        return outcome
    age = now - outcome.completed_at
    status = reading_status(rng, age)
    if status == S.COMPLETED:
        return outcome._replace(status=status, changed_at=outcome.completed_at)
    reported = outcome.completed_at + min(age, timedelta(hours=rng.uniform(0.2, 30)))
    return outcome._replace(status=status, changed_at=reported)


def first_day(rooms: list[RoomPlan], last_day: date, today: date, tz: ZoneInfo) -> tuple[date, int]:
    """Going back from `last_day`: the first day from which the schedules hold EXAMS, and that day's excess."""
    day, total = last_day, 0
    while True:
        total += sum(len(room_day_slots(room, day, today, tz)) for room in rooms)
        if total >= EXAMS:
            return day, total - EXAMS
        day -= timedelta(days=1)


def planned_exams(
    rng: random.Random, rooms: list[RoomPlan], patient_ids: list[int], physician_ids: list[int], now: datetime
) -> Iterator[PlannedExam]:
    """EXAMS exams up to AHEAD_DAYS from today, yielded in about the order they were booked (the table's order)."""
    tz = ZoneInfo(settings.TIME_ZONE)
    today = now.astimezone(tz).date()
    last_day = today + timedelta(days=AHEAD_DAYS)
    day, excess = first_day(rooms, last_day, today, tz)
    print(f"    {len(rooms)} rooms, exams from {day} to {last_day} ({(last_day - day).days} days)", flush=True)
    pending: list[tuple[datetime, int, PlannedExam]] = []
    sequence = itertools.count()
    while day <= last_day:
        slots = sorted((s, e, p, room.id) for room in rooms for s, e, p in room_day_slots(room, day, today, tz))
        for start, end, procedure_id, room_id in slots[excess:]:
            booked = booking_time(rng, start, now)
            exam = PlannedExam(
                booked_at=booked,
                room_id=room_id,
                procedure_type_id=procedure_id,
                start=start,
                end=end,
                outcome=reading_outcome(rng, start, end, booked, now),
                patient_id=patient_ids[int(len(patient_ids) * rng.random() ** 1.6)],  # some patients come often
                physician_id=rng.choice(physician_ids) if rng.random() < 0.9 else None,
                priority=rng.choices(["ROUTINE", "URGENT", "STAT"], weights=[87, 10, 3])[0],
                diagnosis=rng.randrange(len(DIAGNOSES)),
            )
            heapq.heappush(pending, (booked, next(sequence), exam))
        excess = 0
        day += timedelta(days=1)
        settled = datetime.combine(day, clock.min, tzinfo=tz) - timedelta(days=MAX_LEAD_DAYS + 1)
        while pending and pending[0][0] < settled:
            yield heapq.heappop(pending)[2]
    while pending:
        yield heapq.heappop(pending)[2]


REPORT_COLUMNS = (
    "exam_id",
    "status",
    "clinical_information",
    "technique",
    "comparison",
    "findings",
    "impression",
    "author_id",
    "preliminary_by_id",
    "preliminary_at",
    "signed_by_id",
    "signed_at",
    "created_at",
    "updated_at",
    "revision",
)
REASONS_SHORT = "As per request."
FINDINGS = [
    "No acute abnormality. Normal appearances for age.",
    "Small simple cyst, no follow-up needed. Otherwise unremarkable.",
    "Mild degenerative change. No fracture or dislocation.",
    "Subsegmental atelectasis at the bases. No consolidation or effusion.",
    "Findings as described; correlate clinically and with prior imaging.",
]


def report_rows(rng: random.Random, exams: list[PlannedExam], first_exam_id: int, authors: list[int]) -> list[tuple]:
    """The report of each exam that has one: drafts for a quarter of the completed, the preliminary and final."""
    rows = []
    for offset, exam in enumerate(exams):
        outcome = exam.outcome
        if outcome.completed_at is None or outcome.status not in {S.COMPLETED, S.PRELIMINARY, S.FINAL, S.AMENDED}:
            continue
        if outcome.status == S.COMPLETED and rng.random() >= 0.25:
            continue
        author = rng.choice(authors)
        started = outcome.completed_at + timedelta(minutes=rng.uniform(1, 30))
        changed = max(started, outcome.changed_at)
        status, prelim_by, prelim_at, signed_by, signed_at = Report.Status.DRAFT, None, None, None, None
        if outcome.status == S.PRELIMINARY:
            status, prelim_by, prelim_at = Report.Status.PRELIMINARY, author, changed
        elif outcome.status in {S.FINAL, S.AMENDED}:
            status, signed_by, signed_at = Report.Status.FINAL, author, changed
        finding = FINDINGS[rng.randrange(len(FINDINGS))]
        rows.append(
            (
                first_exam_id + offset,
                status,
                REASONS_SHORT,
                "Standard protocol.",
                "None available.",
                finding,
                finding.split(".")[0] + ".",
                author,
                prelim_by,
                prelim_at,
                signed_by,
                signed_at,
                started,
                changed,
                1 if status == Report.Status.DRAFT else 2,  # each save a revision: a draft, then its signing
            )
        )
    return rows


def ensure_radiologists() -> list[User]:
    """RADIOLOGISTS users in the radiologist group; the first is the one the page is measured for."""
    from django.contrib.auth.models import Group  # a model: only once bench.scheduling has set Django up

    group = Group.objects.get(name=Role.RADIOLOGIST.label)
    users = []
    for number in range(1, RADIOLOGISTS + 1):
        user, _ = User.objects.get_or_create(
            username=f"bench-radiologist-{number:02d}", defaults={"first_name": "Reader", "last_name": f"{number:02d}"}
        )
        user.groups.add(group)
        users.append(user)
    return users


def load_exams(rng: random.Random, facility: Facility, authors: list[int], now: datetime) -> float:
    check_order_copy_columns(ORDER_COLUMNS, EXAM_COLUMNS)
    check_copy_columns(Report._meta.db_table, REPORT_COLUMNS)
    patient_ids = list(Patient.objects.filter(merged_into__isnull=True).order_by("id").values_list("id", flat=True))
    physician_ids = list(ReferringPhysician.objects.filter(facility=facility).values_list("id", flat=True))
    started = time.perf_counter()
    plan = planned_exams(rng, room_plans(facility), patient_ids, physician_ids, now)
    order_id, exam_id = next_id(Order._meta.db_table), next_id(Exam._meta.db_table)
    written = reports = 0
    with transaction.atomic(), progress(total=EXAMS, desc="orders, exams and reports") as bar:
        while chunk := list(itertools.islice(plan, COPY_CHUNK)):
            orders, exams = order_and_exam_rows(rng, chunk, order_id + written, exam_id + written)
            copy_orders_and_exams(orders, exams, ORDER_COLUMNS, EXAM_COLUMNS)
            reviews = report_rows(rng, chunk, exam_id + written, authors)
            reports += copy_rows(Report._meta.db_table, REPORT_COLUMNS, reviews)
            written += len(chunk)
            bar.update(len(chunk))
        bar.set_postfix_str("committing (deferred foreign-key checks)")
    for model in (Order, Exam, Report):
        reset_identity(model._meta.db_table)
    elapsed = time.perf_counter() - started
    print(f"  orders and exams: {written:,} of each, {reports:,} reports in {elapsed:.1f} s", flush=True)
    return elapsed


def load(facility: Facility, radiologists: list[User], now: datetime) -> None:
    """Load what is missing; a database that has the rows already is left as it is."""
    patients, exams = Patient.objects.count(), Exam.objects.count()
    if patients >= PATIENTS and exams >= EXAMS:
        print(f"Load skipped: {patients:,} patients and {exams:,} exams already there.")
        return
    print("Loading:", flush=True)
    total = 0.0
    if patients < PATIENTS:
        total += load_patients(random.Random(f"{SEED}:patients"), now)
    if exams < EXAMS:
        authors = [user.pk for user in radiologists]
        total += load_exams(random.Random(f"{SEED}:exams"), facility, authors, now)
    total += vacuum_analyze()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {Report._meta.db_table}")
    print(f"  load total: {total:.1f} s ({total / 60:.1f} min)", flush=True)


def refresh_claims(rng: random.Random, radiologists: list[User]) -> None:
    """One live claim per radiologist and a few hundred lapsed ones, as this run's clock has them."""
    now = timezone.now()
    lapse = timedelta(minutes=settings.RIS_READING_CLAIM_MINUTES)
    backlog = list(Exam.objects.filter(status__in=BACKLOG).values_list("id", flat=True))
    picked = rng.sample(backlog, min(len(backlog), 300))
    with transaction.atomic():
        ReadingClaim.objects.all().delete()
        ReadingClaim.objects.bulk_create(
            ReadingClaim(
                exam_id=exam_id,
                user=radiologists[number % len(radiologists)],
                last_activity=now - (lapse * rng.uniform(0, 0.5) if number < len(radiologists) else lapse * 2),
            )
            for number, exam_id in enumerate(picked)
        )


# --- Measuring ------------------------------------------------------------------------------------------------


class Draws:
    """Filter values drawn per call from what the database holds."""

    def __init__(self, rng: random.Random, facility: Facility):
        self.rng = rng
        self.modalities = sorted(
            ProcedureType.objects.filter(exams__isnull=False).values_list("modality__code", flat=True).distinct()
        )
        self.body_parts = sorted(
            ProcedureType.objects.exclude(body_part="").values_list("body_part", flat=True).distinct()
        )
        self.physicians = list(ReferringPhysician.objects.filter(facility=facility).values_list("id", flat=True))
        self.today = timezone.localdate()

    def criteria(self, kind: str) -> dict:
        rng = self.rng
        if kind == "modality":
            return {"modality": rng.choice(self.modalities)}
        if kind == "body part":
            return {"body_part": rng.choice(self.body_parts)}
        if kind == "physician":
            return {"referring_physician": rng.choice(self.physicians)}
        if kind == "date range":
            to = self.today - timedelta(days=rng.randint(0, 60))
            return {"date_from": to - timedelta(days=rng.randint(0, 6)), "date_to": to}
        if kind == "mine":
            return {"mine": True}
        return {}


KINDS = ("no filter", "modality", "body part", "physician", "date range", "mine")  # physician: referring


def first_rows(user: User, criteria: dict) -> int:
    return len(list(reading_worklist(user=user, **criteria)[:PAGE_ROWS]))


def page_get(client: Client, url: str) -> None:
    response = client.get(url)
    if response.status_code != 200:
        raise AssertionError(f"GET {url} answered {response.status_code}")


def query_string(criteria: dict) -> str:
    fields = {name: ("on" if value is True else value) for name, value in criteria.items()}
    return f"?{urlencode(fields)}" if fields else ""


def measure(user: User, draws: Draws, iterations: int, warmup: int) -> list[Result]:
    client = Client()
    client.force_login(user)
    home = reverse("reporting:home")
    results = []
    for kind in KINDS:
        calls: list[Callable[[], object]] = [
            partial(page_get, client, home + query_string(draws.criteria(kind))) for _ in range(iterations + warmup)
        ]
        name = "page" if kind == "no filter" else f"  · page, {kind}"
        results.append(measure_calls(name, PAGE_TARGET_MS, calls, warmup))
    for kind in KINDS:
        calls = [partial(first_rows, user, draws.criteria(kind)) for _ in range(iterations + warmup)]
        results.append(measure_calls(f"  · selector, {kind}", PAGE_TARGET_MS, calls, warmup))
    return results


# --- The reference: another revision's pages, measured in the same run ----------------------------------------

# Run by the child process in the reference's folder: sign in, then time each GET read from stdin.
REFERENCE_RUNNER = """
import json, os, sys, time
sys.path.insert(0, os.getcwd())
os.environ["DJANGO_SETTINGS_MODULE"] = "ris.settings"
import django
django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
client = Client()
client.force_login(get_user_model().objects.get(username=sys.argv[1]))
print("ready", flush=True)
for line in sys.stdin:
    started = time.perf_counter()
    status = client.get(line.strip()).status_code
    print(json.dumps([status, (time.perf_counter() - started) * 1000]), flush=True)
"""


class Reference:
    """The pages of git revision `revision`, served by a child process (its own Django) on the same database."""

    def __init__(self, revision: str, username: str):
        self.revision = revision
        self.folder = tempfile.TemporaryDirectory(prefix="bench-reporting-ref-")
        command = ["git", "archive", "--format=tar", revision]  # git on PATH; the revision is the operator's
        archive = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, check=True).stdout  # noqa: S603
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(self.folder.name, filter="data")
        env = {**os.environ, "DATABASE_URL": connection_url(), "PYTHONPATH": self.folder.name}
        self.process = subprocess.Popen(  # noqa: S603  (this interpreter, the runner above)
            [sys.executable, "-c", REFERENCE_RUNNER, username],
            cwd=self.folder.name,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the reference ({revision}) did not start")

    def get(self, url: str) -> float:
        """Milliseconds the reference took to answer GET `url` (200 expected)."""
        self.process.stdin.write(url + "\n")
        self.process.stdin.flush()
        status, elapsed = json.loads(self.process.stdout.readline())
        if status != 200:
            raise AssertionError(f"reference GET {url} answered {status}")
        return elapsed

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.folder.cleanup()


def connection_url() -> str:
    """The database this run uses, as a URL for the reference's settings."""
    name = connection.settings_dict["NAME"]
    return urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}"))


def timed_get(client: Client, url: str) -> float:
    started = time.perf_counter()
    page_get(client, url)
    return (time.perf_counter() - started) * 1000


def measure_against(
    user: User, draws: Draws, reference: Reference, iterations: int, warmup: int
) -> list[tuple[str, Result, Result]]:
    """Each page kind: this tree's and the reference's times, GET after GET with the same URLs."""
    client = Client()
    client.force_login(user)
    home = reverse("reporting:home")
    rows = []
    for kind in KINDS:
        name = "page" if kind == "no filter" else f"  · page, {kind}"
        ours, theirs = Result(name, PAGE_TARGET_MS), Result(name, PAGE_TARGET_MS)
        try:
            for number in range(iterations + warmup):
                url = home + query_string(draws.criteria(kind))
                mine_ms, reference_ms = timed_get(client, url), reference.get(url)
                if number >= warmup:
                    ours.samples_ms.append(mine_ms)
                    theirs.samples_ms.append(reference_ms)
        except Exception as error:  # report it in the table, measure the rest, fail at the end
            ours.note, ours.failed = f"failed: {type(error).__name__}: {error}"[:200], True
        rows.append((name, ours, theirs))
    return rows


def print_comparison(rows: list[tuple[str, Result, Result]], revision: str) -> None:
    print()
    print(f"This tree against the reference ({revision}), same run, same URLs, GET after GET:")
    header = f"{'page':<26} {'n':>4} {'median ms':>10} {'p95 ms':>8} {'ref median':>11} {'ref p95':>8}"
    print(f"{header} {'p95 ratio':>10}  result")
    print("-" * 100)
    for name, ours, theirs in rows:
        if not ours.samples_ms or not theirs.samples_ms:
            print(f"{name:<26} {'-':>4}  {ours.note}")
            continue
        p95, ref_p95 = ours.percentile(0.95), theirs.percentile(0.95)
        verdict = "meets target" if p95 < PAGE_TARGET_MS else "MISSES target"
        if name.startswith("  "):
            verdict = "(breakdown)" if p95 < PAGE_TARGET_MS else "(breakdown, over the target)"
        print(
            f"{name:<26} {len(ours.samples_ms):>4} {ours.percentile(0.5):>10.2f} {p95:>8.2f} "
            f"{theirs.percentile(0.5):>11.2f} {ref_p95:>8.2f} {ref_p95 / p95:>9.2f}x  {verdict}"
        )
    print("(p95 ratio: the reference's p95 over this tree's; above 1, this tree is faster.)")


# --- Main -----------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=50, help="timed calls per measurement (default 50)")
    parser.add_argument("--skip-load", action="store_true", help="do not load data, measure what is there")
    parser.add_argument("--database", help="database name (default: DATABASE_URL's, ris_bench_reporting)")
    parser.add_argument("--reference", default="HEAD~1", help="git revision measured beside (default HEAD~1)")
    parser.add_argument("--no-reference", action="store_true", help="measure this tree only")
    return parser.parse_args(argv)


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


def print_backlog() -> None:
    backlog = Exam.objects.filter(status__in=BACKLOG)
    total, waiting, stat = Exam.objects.count(), backlog.count(), backlog.filter(order__priority="STAT").count()
    share = waiting / total if total else 0
    print(f"Backlog: {waiting:,} exams COMPLETED or PRELIMINARY ({share:.1%} of {total:,}), {stat:,} of them STAT.")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = database_url(args)
    database_prepare(url)
    now = timezone.localtime()
    facility = ensure_catalog(random.Random(SEED))
    radiologists = ensure_radiologists()
    if args.skip_load:
        print("Load skipped (--skip-load).")
    else:
        load(facility, radiologists, now)
    refresh_claims(random.Random(f"{SEED}:claims"), radiologists)
    print(
        f"Data: {Patient.objects.count():,} patients, {Exam.objects.count():,} exams, "
        f"{Report.objects.count():,} reports; time zone {settings.TIME_ZONE}, today {timezone.localdate()}."
    )
    print_backlog()
    iterations, warmup = args.iterations, max(5, min(20, args.iterations // 5))
    print(f"Measuring: {iterations} timed calls each after {warmup} warm-up calls...", flush=True)
    user = next(user for user in radiologists if user.username == BENCH_USERNAME)
    results = measure(user, Draws(random.Random(f"{SEED}:filters"), facility), iterations, warmup)
    print_results(results)
    failed = any(r.failed for r in results)
    if not args.no_reference:
        print(f"Measuring beside the reference ({args.reference})...", flush=True)
        reference = Reference(args.reference, user.get_username())
        try:
            draws = Draws(random.Random(f"{SEED}:filters"), facility)
            rows = measure_against(user, draws, reference, iterations, warmup)
        finally:
            reference.close()
        print_comparison(rows, args.reference)
        failed = failed or any(ours.failed for _name, ours, _theirs in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
