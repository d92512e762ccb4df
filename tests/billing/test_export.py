"""Export batches: CSV and X12 837P files that match the claims, validated by pyx12, control numbers never repeated."""

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from billing import services
from billing.export import CSV_COLUMNS
from billing.models import Charge, Claim, ExportBatch
from ris.exceptions import ApplicationError
from ris.models import Coverage, Role
from tests.billing.conftest import billable_exam, insured_patient
from tests.billing.x12_validation import x12_errors
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db


def export(clerk, payer=None) -> ExportBatch:
    services.claims_build(acting_user=clerk)
    today = timezone.localdate()
    batch = services.batch_create(date_from=today, date_to=today, payer=payer, acting_user=clerk)
    return ExportBatch.objects.get(pk=batch.pk)


@pytest.fixture
def clerk(db):
    return UserFactory(role=Role.BILLING)


@pytest.fixture
def claims_of_a_day(department, payer, attending):
    """Four claims: two lines for one patient, a child insured through a parent, a self-pay patient, one held."""
    adult = insured_patient(payer)
    billable_exam(adult, attending)
    billable_exam(adult, attending, diagnosis_codes=["J18.9", "R05.9"])
    child = insured_patient(payer, given_name="Kid")
    Coverage.objects.filter(patient=child).update(
        relationship=Coverage.Relationship.CHILD,
        subscriber_family_name="Parent",
        subscriber_given_name="Pat",
        subscriber_birth_date="1980-02-03",
        subscriber_sex="M",
    )
    billable_exam(child, attending)
    billable_exam(PatientFactory(self_pay=True), attending)
    billable_exam(insured_patient(payer), attending, diagnosis_codes=[])  # held: no diagnosis


def test_a_batch_exports_ready_claims_to_csv_and_a_valid_837p(
    claims_of_a_day, clerk, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        batch = export(clerk)
    batch.refresh_from_db()
    assert (batch.status, batch.claims_total, batch.claims_done, batch.percent) == ("DONE", 3, 3, 100)

    rows = list(csv.DictReader(io.StringIO(batch.csv_file.read().decode())))
    assert list(rows[0]) == CSV_COLUMNS
    exported = Charge.objects.filter(claim__batch=batch)
    assert len(rows) == exported.count() == 4
    assert sum(Decimal(row["amount"]) for row in rows) == sum(charge.amount for charge in exported)
    for claim in Claim.objects.filter(batch=batch):
        lines = [row for row in rows if row["claim_number"] == claim.number]
        assert sorted(Decimal(row["amount"]) for row in lines) == sorted(c.amount for c in claim.charges.all())
        assert claim.status == Claim.Status.EXPORTED
        assert claim.history.latest().history_actor == clerk.username

    path = batch.x12_file.path
    assert x12_errors(path) == []
    text = Path(path).read_text()
    assert text.count("CLM*") == 2  # the self-pay claim is on the CSV only
    assert f"*{batch.control_number:09d}*" in text.split("~")[0]
    assert Claim.objects.filter(status=Claim.Status.DRAFT).count() == 1  # the held claim stays behind


def test_names_a_spreadsheet_would_run_reach_the_csv_as_text(
    department, payer, attending, clerk, django_capture_on_commit_callbacks
):
    patient = insured_patient(payer, family_name="-2+3+cmd|' /C calc'!A0", given_name='=HYPERLINK("http://x.example")')
    billable_exam(patient, attending)
    with django_capture_on_commit_callbacks(execute=True):
        batch = export(clerk)
    batch.refresh_from_db()
    row = next(csv.DictReader(io.StringIO(batch.csv_file.read().decode())))
    assert (row["patient_family_name"], row["patient_given_name"]) == (
        "'-2+3+cmd|' /C calc'!A0",
        '\'=HYPERLINK("http://x.example")',
    )


def test_control_numbers_never_repeat_and_a_claim_is_exported_once(
    department, payer, attending, clerk, django_capture_on_commit_callbacks
):
    numbers = []
    for _ in range(3):
        billable_exam(insured_patient(payer), attending)
        with django_capture_on_commit_callbacks(execute=True):
            batch = export(clerk)
        batch.refresh_from_db()
        assert batch.claims_total == 1
        numbers.append(batch.control_number)
    assert len(set(numbers)) == 3
    today = timezone.localdate()
    with pytest.raises(ApplicationError, match="No claims ready"):
        services.batch_create(date_from=today, date_to=today, payer=None, acting_user=clerk)


def test_a_batch_for_one_payer_leaves_the_others(
    department, payer, attending, clerk, django_capture_on_commit_callbacks
):
    from tests.factories import PayerFactory

    billable_exam(insured_patient(payer), attending)
    billable_exam(insured_patient(PayerFactory(name="Other", payer_id="OTHER1")), attending)
    with django_capture_on_commit_callbacks(execute=True):
        batch = export(clerk, payer=payer)
    assert Claim.objects.get(batch=batch).payer == payer
    assert Claim.objects.filter(batch__isnull=True, status=Claim.Status.READY).count() == 1


def test_a_failing_export_marks_the_batch_failed_and_releases_its_claims(
    claims_of_a_day, clerk, monkeypatch, tmp_path, django_capture_on_commit_callbacks
):
    def broken(*args, **kwargs):
        raise ValueError("disk full")

    monkeypatch.setattr("billing.export.x12.write_837p", broken)
    with django_capture_on_commit_callbacks(execute=True):
        batch = export(clerk)
    batch.refresh_from_db()
    assert (batch.status, batch.error) == ("FAILED", "disk full")
    assert not list((tmp_path / "files").rglob(f"{batch.number}.*"))  # nothing half-written is kept
    assert not Claim.objects.filter(batch=batch).exists()
    assert Claim.objects.filter(status=Claim.Status.READY).count() == 3


def test_a_batch_of_self_pay_claims_only_gives_a_csv_and_no_837p(
    department, attending, clerk, django_capture_on_commit_callbacks
):
    billable_exam(PatientFactory(self_pay=True), attending)
    with django_capture_on_commit_callbacks(execute=True):
        batch = export(clerk)
    batch.refresh_from_db()
    assert (batch.status, bool(batch.csv_file), bool(batch.x12_file)) == ("DONE", True, False)
    assert len(batch.csv_file.read().decode().splitlines()) == 2
