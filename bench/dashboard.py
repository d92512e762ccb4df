"""Dashboard benchmark: the department dashboard and its CSV on bench.reporting's PostgreSQL database of 1,000,000
exams.

Usage (from the project root):

    .venv/bin/python -m bench.dashboard [--iterations 50] [--skip-load] [--database ris_bench_reporting]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ris_bench_reporting .venv/bin/python bench/dashboard.py

The database is bench.reporting's (--database, else DATABASE_URL's, default ris_bench_reporting): created if
missing, migrated, and unless --skip-load is given loaded by bench.reporting's own loader, once (about three
minutes; a run that finds the rows there skips it): 100,000 patients, 1,000,000 orders and exams over about two
years in 40 CT/MR/US/DX rooms, about 1,400 exams a day, reports signed final for most. This benchmark adds, once,
what the "now" figures read and the reporting load has none of: 2,000 critical results (20 open) and 100,000
HL7 messages each way (40 waiting, 12 given up; 340 not applied over 100 days).

Each measurement then runs in-process `--iterations` times after a warm-up and prints n, the median and the 95th
percentile of the server time in milliseconds beside the target (p95 < 300 ms), with the SQL queries of one call:

    page, all modalities        GET /dashboard/?date_from=...&date_to=... (30 days), signed in as an administrator
    page, one modality          the same with modality=CT, MR, US or DX
    CSV, all modalities         GET /dashboard/dashboard.csv?... for the same 30 days
    selector, all modalities    dashboard.selectors.dashboard(...) alone: the figures without the page (breakdown)

Each call's 30 days end on a day drawn from the last 60 (today included), so that the figures are computed, not
repeated from PostgreSQL's caches of one period. DEBUG is off unless the environment says otherwise. The exit code
is 0 unless a measurement failed.
"""

# ruff: noqa: E402, S311  (Django is set up before its models are imported; random draws test data, not secrets)

from __future__ import annotations

import argparse
import random
import sys
from datetime import timedelta
from functools import partial
from pathlib import Path
from urllib.parse import urlencode

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
# Run as a file, this directory comes first on sys.path and bench/reporting.py would shadow the `reporting` app.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

# bench.reporting points DATABASE_URL at its database and sets Django up (through bench.scheduling) on import.
from bench.reporting import SEED, database_url, ensure_radiologists, load
from bench.scheduling import (
    Result,
    database_prepare,
    ensure_catalog,
    measure,
    print_results,
)
from dashboard.selectors import Period, dashboard
from interfaces.models import Destination, InboundMessage, OutboundMessage
from reporting.models import CriticalResult, Report
from ris.models import Role, User
from scheduling.models import Exam

TARGET_MS = 300
PERIOD_DAYS = 30
LATEST_END_DAYS = 60  # a period ends on one of the last 60 days
MODALITIES = ("CT", "MR", "US", "DX")
BENCH_USERNAME = "bench-admin"
MESSAGES = 100_000  # each way
CRITICAL_RESULTS, CRITICAL_OPEN = 2_000, 20
BATCH = 5_000


# --- The "now" figures' rows -------------------------------------------------------------------------------------


def ensure_admin() -> User:
    from django.contrib.auth.models import Group  # a model: only once bench.scheduling has set Django up

    user, _ = User.objects.get_or_create(
        username=BENCH_USERNAME, defaults={"first_name": "Bench", "last_name": "Admin"}
    )
    user.groups.add(Group.objects.get(name=Role.ADMIN.label))
    return user


def ensure_attention_rows(rng: random.Random, flagged_by: User) -> None:
    """Critical results and HL7 messages as a department has them after a while; once (skipped when there)."""
    now = timezone.now()
    if not CriticalResult.objects.exists():
        reports = list(
            Report.objects.filter(status=Report.Status.FINAL)
            .order_by("-signed_at")
            .values_list("id", "signed_at")[: CRITICAL_RESULTS * 20]
        )
        picked = sorted(rng.sample(reports, CRITICAL_RESULTS), key=lambda row: row[1])
        rows = []
        for number, (report_id, signed_at) in enumerate(picked):
            still_open = number >= CRITICAL_RESULTS - CRITICAL_OPEN  # the latest few
            told = signed_at + timedelta(minutes=rng.uniform(5, 60))
            rows.append(
                CriticalResult(
                    report_id=report_id,
                    category=rng.choice(CriticalResult.Category.values),
                    description="Critical finding",
                    flagged_by=flagged_by,
                    notified_person="" if still_open else "Ward physician",
                    notification_method="" if still_open else CriticalResult.Method.PHONE,
                    notified_at=None if still_open else told,
                    closed_at=None if still_open else told + timedelta(minutes=5),
                    closed_by=None if still_open else flagged_by,
                )
            )
        with transaction.atomic():
            created = CriticalResult.objects.bulk_create(rows, batch_size=BATCH)
            for critical, (_report_id, signed_at) in zip(created, picked, strict=True):
                critical.created_at = signed_at
            CriticalResult.objects.bulk_update(created, ["created_at"], batch_size=BATCH)
        print(f"  critical results: {CRITICAL_RESULTS:,} ({CRITICAL_OPEN} open)", flush=True)
    if not OutboundMessage.objects.exists():
        destination, _ = Destination.objects.get_or_create(
            name="BENCH-PACS", defaults={"host": "127.0.0.1", "port": 2575, "message_types": ["ORM", "ORU"]}
        )
        statuses = [OutboundMessage.Status.SENT] * (MESSAGES - 52)
        statuses += [OutboundMessage.Status.PENDING] * 40 + [OutboundMessage.Status.FAILED] * 12
        with transaction.atomic():
            OutboundMessage.objects.bulk_create(
                (
                    OutboundMessage(
                        destination=destination,
                        message_type="ORM",
                        trigger_event="O01",
                        control_id=f"BENCH{number:010d}",
                        raw=f"MSH|^~\\&|RIS|RAD|PACS|RAD|||ORM^O01|BENCH{number:010d}|P|2.5.1",
                        status=status,
                        attempts=1 if status == OutboundMessage.Status.SENT else 5,
                        sent_at=now if status == OutboundMessage.Status.SENT else None,
                    )
                    for number, status in enumerate(statuses)
                ),
                batch_size=BATCH,
            )
        print(f"  outbound HL7 messages: {MESSAGES:,} (40 waiting, 12 failed)", flush=True)
    if not InboundMessage.objects.exists():
        statuses = [InboundMessage.Status.APPLIED] * (MESSAGES - 340)
        statuses += [InboundMessage.Status.ERROR] * 330 + [InboundMessage.Status.REJECTED] * 10
        rng.shuffle(statuses)
        with transaction.atomic():
            created = InboundMessage.objects.bulk_create(
                (
                    InboundMessage(
                        raw=f"MSH|^~\\&|CIS|HOSP|RIS|RAD|||ORM^O01|CIS{number:010d}|P|2.5.1",
                        message_type="ORM",
                        trigger_event="O01",
                        control_id=f"CIS{number:010d}",
                        sending_application="CIS",
                        sending_facility="HOSP",
                        status=status,
                    )
                    for number, status in enumerate(statuses)
                ),
                batch_size=BATCH,
            )
            # Received evenly over the last 100 days, the errors among them (a few in the last 24 hours).
            for number, message in enumerate(created):
                message.created_at = now - timedelta(days=100) * (1 - number / len(created))
            InboundMessage.objects.bulk_update(created, ["created_at"], batch_size=BATCH)
        print(f"  inbound HL7 messages: {MESSAGES:,} (330 in error, 10 rejected over 100 days)", flush=True)
    with connection.cursor() as cursor:
        for model in (CriticalResult, OutboundMessage, InboundMessage):
            cursor.execute(f"VACUUM (ANALYZE) {model._meta.db_table}")


# --- Measuring ------------------------------------------------------------------------------------------------


def periods(rng: random.Random, count: int) -> list[Period]:
    today = timezone.localdate()
    ends = [today - timedelta(days=rng.randrange(LATEST_END_DAYS)) for _ in range(count)]
    return [Period(end - timedelta(days=PERIOD_DAYS - 1), end) for end in ends]


def query(period: Period, modality: str | None = None) -> str:
    fields = {"date_from": period.first.isoformat(), "date_to": period.last.isoformat()}
    if modality:
        fields["modality"] = modality
    return "?" + urlencode(fields)


def get(client: Client, url: str) -> None:
    response = client.get(url)
    if response.status_code != 200:
        raise AssertionError(f"GET {url} answered {response.status_code}")


def measure_all(user: User, rng: random.Random, iterations: int, warmup: int) -> list[Result]:
    client = Client()
    client.force_login(user)
    page, csv = reverse("dashboard:home"), reverse("dashboard:csv")
    count = iterations + warmup

    def calls(url: str, modalities: bool = False) -> list:
        return [
            partial(get, client, url + query(period, rng.choice(MODALITIES) if modalities else None))
            for period in periods(rng, count)
        ]

    selector = [partial(dashboard, period=period) for period in periods(rng, count)]
    return [
        measure("page, all modalities", TARGET_MS, calls(page), warmup),
        measure("page, one modality", TARGET_MS, calls(page, modalities=True), warmup),
        measure("CSV, all modalities", TARGET_MS, calls(csv), warmup),
        measure("  · selector, all modalities", TARGET_MS, selector, warmup),
    ]


def print_data() -> None:
    last = Period.last_days(PERIOD_DAYS)
    performed = Exam.objects.filter(completed_at__gte=last.start, completed_at__lt=last.end).count()
    signed = Report.objects.filter(status=Report.Status.FINAL, signed_at__gte=last.start, signed_at__lt=last.end)
    print(
        f"Data: {Exam.objects.count():,} exams, {Report.objects.count():,} reports; in the last {PERIOD_DAYS} days "
        f"{performed:,} exams performed and {signed.count():,} reports signed final; time zone "
        f"{settings.TIME_ZONE}, today {timezone.localdate()}."
    )


# --- Main -----------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=50, help="timed calls per measurement (default 50)")
    parser.add_argument("--skip-load", action="store_true", help="do not load data, measure what is there")
    parser.add_argument("--database", help="database name (default: DATABASE_URL's, ris_bench_reporting)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = database_url(args)
    database_prepare(url)
    now = timezone.localtime()
    facility = ensure_catalog(random.Random(SEED))  # bench.reporting's catalog: the same seed
    radiologists = ensure_radiologists()
    if args.skip_load:
        print("Load skipped (--skip-load).")
    else:
        load(facility, radiologists, now)
        ensure_attention_rows(random.Random(f"{SEED}:attention"), radiologists[0])
    print_data()
    iterations, warmup = args.iterations, max(5, min(20, args.iterations // 5))
    print(f"Measuring: {iterations} timed calls each after {warmup} warm-up calls...", flush=True)
    results = measure_all(ensure_admin(), random.Random(f"{SEED}:dashboard"), iterations, warmup)
    print_results(results)
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
