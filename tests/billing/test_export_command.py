"""manage.py export_claims: an export batch from the terminal, with a progress bar; prints where the files are."""

import io
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from billing import export, services
from billing.models import Claim, ExportBatch
from ris.models import Role
from tests.billing.conftest import billable_exam, insured_patient
from tests.factories import PatientFactory, PayerFactory, UserFactory

pytestmark = pytest.mark.django_db


class Terminal(io.StringIO):
    """stderr as a terminal: tqdm draws its bar only there."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def clerk(db):
    return UserFactory(role=Role.BILLING, username="clerk")


@pytest.fixture
def ready_claims(department, payer, attending, clerk):
    """Three ready claims of today: two insured by `payer`, one self-pay."""
    billable_exam(insured_patient(payer), attending)
    billable_exam(insured_patient(payer, given_name="Second"), attending)
    billable_exam(PatientFactory(self_pay=True), attending)
    services.claims_build(acting_user=clerk)
    assert Claim.objects.filter(status=Claim.Status.READY).count() == 3


def today() -> str:
    return timezone.localdate().isoformat()


def test_the_command_writes_both_files_and_the_bar_reaches_the_total(
    ready_claims, clerk, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(export, "CHUNK", 1)  # one step of the bar per claim
    screen, out = Terminal(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", screen)
    with django_capture_on_commit_callbacks(execute=True):  # the task queued on commit runs, and finds it done
        call_command("export_claims", "--from", today(), "--to", today(), "--user", "clerk", stdout=out)
    batch = ExportBatch.objects.get()
    assert (batch.status, batch.claims_done, batch.claims_total, batch.created_by) == ("DONE", 3, 3, clerk)
    assert f"export {batch.number}: 100%" in screen.getvalue()
    assert "3/3" in screen.getvalue()
    assert f"CSV:  {batch.csv_file.path}" in out.getvalue()
    assert f"837P: {batch.x12_file.path}" in out.getvalue()
    assert len(Path(batch.csv_file.path).read_text().splitlines()) == 4  # header and one line per claim
    assert Path(batch.x12_file.path).read_text().count("CLM*") == 2  # the self-pay claim is on the CSV only
    assert set(Claim.objects.values_list("status", flat=True)) == {Claim.Status.EXPORTED}
    assert Claim.objects.first().history.latest().history_actor == "clerk"


def test_batch_run_reports_progress_after_each_chunk(ready_claims, clerk, monkeypatch):
    monkeypatch.setattr(export, "CHUNK", 2)
    day = timezone.localdate()
    batch = ExportBatch.objects.create(number="B1", date_from=day, date_to=day, created_by=clerk)
    calls = []
    export.batch_run(batch.pk, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 3), (3, 3)]


def test_the_command_exports_one_payers_claims(ready_claims, clerk, payer, attending):
    other = PayerFactory(payer_id="OTHER1")
    billable_exam(insured_patient(other), attending)
    services.claims_build(acting_user=clerk)
    out = io.StringIO()
    call_command(
        "export_claims", "--from", today(), "--to", today(), "--payer", "OTHER1", "--user", "clerk", stdout=out
    )
    batch = ExportBatch.objects.get()
    assert (batch.payer, batch.claims_done) == (other, 1)
    assert f"Batch {batch.number}: 1 claims exported." in out.getvalue()


@pytest.mark.parametrize(
    ("arguments", "refusal"),
    [
        (["--user", "clerk"], "No claims ready for export in that period."),
        (["--user", "clerk", "--payer", "NOPE"], "No payer has the payer ID 'NOPE'."),
        (["--user", "nobody"], "'nobody' is not an active billing clerk or administrator"),
        (["--user", "reader"], "'reader' is not an active billing clerk or administrator"),
    ],
)
def test_the_command_exits_1_when_nothing_is_exported(department, clerk, arguments, refusal):
    UserFactory(role=Role.RADIOLOGIST, username="reader")
    with pytest.raises(CommandError, match=refusal) as error:
        call_command("export_claims", "--from", today(), "--to", today(), *arguments, stdout=io.StringIO())
    assert error.value.returncode == 1
    assert not ExportBatch.objects.exists()


def test_a_date_that_is_not_iso_is_refused(clerk):
    with pytest.raises(CommandError, match=r"'28\.11\.2026' is not a date as YYYY-MM-DD"):
        call_command("export_claims", "--from", "28.11.2026", "--to", today(), "--user", "clerk")
