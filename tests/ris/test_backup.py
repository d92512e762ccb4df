"""Backup and restore as docs/operations.md says: a dump restored into a fresh database (pg_dump/pg_restore on
PostgreSQL, the sqlite3 backup API on the embedded database) holds every patient, report and row, and a tar of the
media root gives back the exported claim files its export batches name."""

import os
import sqlite3
import subprocess
import sys
import uuid
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.db import connection
from django.utils import timezone
from psycopg import sql

from billing import services as billing
from billing.models import ExportBatch, Fee, FeeSchedule
from reporting import services as reporting
from ris.models import Role
from tests.billing.conftest import CPT, GLOBAL_FEE, billable_exam, insured_patient
from tests.conftest import need_tool
from tests.factories import (
    FacilityFactory,
    PatientFactory,
    PayerFactory,
    UserFactory,
    make_completed_exam,
    make_order,
    make_radiologist,
    npi_from,
)

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PATIENTS = "SELECT mrn, family_name, given_name FROM ris_patient ORDER BY mrn"
REPORTS = "SELECT id, status, findings, impression FROM reporting_report ORDER BY id"
BATCH_FILES = "SELECT csv_file, x12_file FROM billing_exportbatch ORDER BY id"


@dataclass(frozen=True)
class Clinic:
    """What was committed before the backup, as the restored copy must show it."""

    patients: list[tuple[str, str, str]]
    reports: list[tuple[int, str, str, str]]
    media_root: Path
    claim_files: dict[str, bytes]  # path under the media root -> contents


@pytest.fixture
def clinic(settings, tmp_path) -> Clinic:
    """Patients (names beyond ASCII), orders, a FINAL signed report and a draft, and an exported claim batch."""
    settings.MEDIA_ROOT = tmp_path / "files"
    address = {"street": "1 Hospital Way", "city": "Springfield", "state": "IL", "postal_code": "62701"}
    FacilityFactory(npi="1234567893", tax_id="123456789", **address)
    schedule = FeeSchedule.objects.create(name="Default")
    Fee.objects.create(schedule=schedule, cpt_code=CPT, modifier="", amount=GLOBAL_FEE)
    payer = PayerFactory(name="Acme Health", payer_id="ACME1", street="PO Box 1", city="Chicago", state="IL")
    attending = make_radiologist(attending=True, npi=npi_from(7))

    signed = billable_exam(insured_patient(payer, family_name="Müller", given_name="Jürgen"), attending)
    drafted = make_completed_exam(patient=PatientFactory(family_name="Øster", given_name="Åse"))
    reporting.report_save_draft(
        exam=drafted, user=attending, sections={"findings": "Kein Nachweis einer Blutung.", "impression": "Entwurf"}
    )
    make_order(patient=PatientFactory(family_name="山田", given_name="太郎"))  # ordered, not yet performed

    clerk = UserFactory(role=Role.BILLING)
    billing.claims_build(acting_user=clerk)
    today = timezone.localdate()
    billing.batch_create(date_from=today, date_to=today, payer=None, acting_user=clerk)  # exported on commit
    batch = ExportBatch.objects.get()
    assert (batch.status, bool(batch.x12_file.name)) == (ExportBatch.Status.DONE, True)
    assert signed.report.status == "FINAL"

    media_root = Path(settings.MEDIA_ROOT)
    with connection.cursor() as cursor:
        cursor.execute(PATIENTS)
        patients = cursor.fetchall()
        cursor.execute(REPORTS)
        reports = cursor.fetchall()
    assert [status for _, status, *_ in reports] == ["FINAL", "DRAFT"]
    files = {name: (media_root / name).read_bytes() for name in (batch.csv_file.name, batch.x12_file.name)}
    return Clinic(patients=patients, reports=reports, media_root=media_root, claim_files=files)


TABLES = {
    "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",  # sqlite_sequence (AUTOINCREMENT) among them
}


def row_counts(cursor, quote, vendor: str) -> dict[str, int]:
    """The number of rows of every table in the database."""
    cursor.execute(TABLES[vendor])
    counts = {}
    for (table,) in cursor.fetchall():
        cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")  # noqa: S608 -- names from the database's own catalogue
        counts[table] = cursor.fetchone()[0]
    return counts


def source_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        return row_counts(cursor, connection.ops.quote_name, connection.vendor)


def restore_media(clinic: Clinic, tmp_path: Path) -> Path:
    """tar the media root, unpack it elsewhere (as on a new server), return the new root."""
    tar = need_tool("tar")
    archive = tmp_path / "media.tar.gz"
    subprocess.run([tar, "-C", str(clinic.media_root), "-czf", str(archive), "."], check=True, timeout=60)
    restored = tmp_path / "restored-files"
    restored.mkdir()
    subprocess.run([tar, "-C", str(restored), "-xzf", str(archive)], check=True, timeout=60)
    return restored


def assert_claim_files_restored(batch_files: list[tuple[str, str]], media_root: Path, clinic: Clinic) -> None:
    """The restored batch names its files, and the restored media root holds them byte for byte."""
    named = [name for row in batch_files for name in row]
    assert sorted(named) == sorted(clinic.claim_files)
    assert {name: (media_root / name).read_bytes() for name in named} == clinic.claim_files


def manage(database_url: str, *args: str, timeout: int = 300) -> None:
    """`manage.py <args>` in a process of its own on another database, with tasks in-process (no broker)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "REDIS_URL")}
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**env, "DATABASE_URL": database_url, "RIS_LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def migrate_check(database_url: str) -> None:
    """`manage.py migrate --check` on the restored database: its schema is the one the code expects."""
    manage(database_url, "migrate", "--check")


def test_pg_dump_restored_into_a_fresh_database_holds_every_patient_report_and_row(postgresql, clinic, tmp_path):
    pg_dump, pg_restore = need_tool("pg_dump"), need_tool("pg_restore")
    createdb, dropdb = need_tool("createdb"), need_tool("dropdb")
    db = connection.settings_dict
    server = {"host": db["HOST"] or "127.0.0.1", "port": str(db["PORT"] or 5432), "user": db["USER"]}
    env = {**os.environ, "PGHOST": server["host"], "PGPORT": server["port"], "PGUSER": server["user"]}
    if db["PASSWORD"]:
        env["PGPASSWORD"] = db["PASSWORD"]

    def run(*args: str) -> None:
        subprocess.run(args, env=env, check=True, capture_output=True, timeout=120)

    dump = tmp_path / "ris.dump"
    run(pg_dump, "--format=custom", "--file", str(dump), "--dbname", db["NAME"])
    fresh = f"ris_restore_{uuid.uuid4().hex[:12]}"
    run(createdb, fresh)
    try:
        run(pg_restore, "--no-owner", "--exit-on-error", "--dbname", fresh, str(dump))
        with psycopg.connect(dbname=fresh, password=db["PASSWORD"] or None, **server) as restored:
            cursor = restored.cursor()
            patients = cursor.execute(PATIENTS).fetchall()
            reports = cursor.execute(REPORTS).fetchall()
            counts = row_counts(cursor, lambda name: sql.Identifier(name).as_string(restored), "postgresql")
        login = server["user"] + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
        url = f"postgres://{login}@{server['host']}:{server['port']}/{fresh}"
        migrate_check(url)
    finally:
        run(dropdb, "--if-exists", "--force", fresh)

    assert patients == clinic.patients
    assert reports == clinic.reports
    assert counts == source_counts()  # every table, the patient and report tables among them


def test_a_tar_of_the_media_root_gives_back_every_exported_claim_file(clinic, tmp_path):
    with connection.cursor() as cursor:
        cursor.execute(BATCH_FILES)
        batch_files = cursor.fetchall()
    assert_claim_files_restored(batch_files, restore_media(clinic, tmp_path), clinic)


def read_sqlite(path: Path) -> tuple[list, list, dict[str, int]]:
    """The patients, the reports and the row count of every table of a SQLite database file."""
    with closing(sqlite3.connect(path)) as database:
        assert database.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        patients = database.execute(PATIENTS).fetchall()
        reports = database.execute(REPORTS).fetchall()
        return patients, reports, row_counts(database.cursor(), connection.ops.quote_name, "sqlite")


# seed_demo with the schedule from yesterday to tomorrow (a backup holds three days as it holds twenty) and the tests'
# fast password hasher (PBKDF2 at production strength costs ~0.3 s a demo user), as the in-process tests seed it.
SEED_THREE_DAYS = """
from django.core.management import call_command
from django.test.utils import override_settings
from scheduling import demo
demo.DAYS_BACK = demo.DAYS_AHEAD = 1
with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
    call_command("seed_demo", force=True)
"""


def test_a_sqlite_backup_holds_every_patient_report_and_row(tmp_path):
    """The embedded database, whichever database this run uses: the demo department in a SQLite file of its own
    (migrate, seed_demo), copied with the sqlite3 online backup API (what `sqlite3 ... ".backup"` does)."""
    source, backup = tmp_path / "ris.sqlite3", tmp_path / "ris-backup.sqlite3"
    manage(f"sqlite:///{source}", "migrate")
    manage(f"sqlite:///{source}", "shell", "-c", SEED_THREE_DAYS)
    with closing(sqlite3.connect(source)) as live, closing(sqlite3.connect(backup)) as target:
        live.backup(target)

    patients, reports, counts = read_sqlite(backup)
    assert (patients, reports, counts) == read_sqlite(source)
    assert len(patients) == 200  # the demo department
    assert "FINAL" in {status for _, status, *_ in reports}
    migrate_check(f"sqlite:///{backup}")
