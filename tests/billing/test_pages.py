"""Billing pages: charges, the claim worklist with its errors, export batches with progress and downloads."""

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.export import CSV_COLUMNS
from billing.models import Charge, Claim, ExportBatch
from ris.models import Role
from tests.billing.conftest import billable_exam, insured_patient
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db

GET_PAGES = ["billing:home", "billing:charges", "billing:claims", "billing:batches"]


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.TECHNOLOGIST, Role.RADIOLOGIST])
def test_billing_pages_are_refused_to_other_roles(client_for, role):
    client = client_for(role)
    batch = ExportBatch.objects.create(
        number="B9", date_from=timezone.localdate(), date_to=timezone.localdate(), created_by=UserFactory()
    )
    for name in GET_PAGES:
        assert client.get(reverse(name)).status_code == 403, name
    for name, args in [("billing:batch", [batch.pk]), ("billing:batch_status", [batch.pk])]:
        assert client.get(reverse(name, args=args)).status_code == 403, name
    assert client.get(reverse("billing:batch_download", args=[batch.pk, "csv"])).status_code == 403
    assert client.post(reverse("billing:claims_build")).status_code == 403
    assert client.post(reverse("billing:batches"), {}).status_code == 403


@pytest.mark.parametrize("role", [Role.BILLING, Role.ADMIN])
def test_billing_pages_open_for_billing_clerks_and_administrators(client_for, role):
    client = client_for(role)
    for name in GET_PAGES:
        assert client.get(reverse(name)).status_code == 200, name


def test_the_charges_list_filters_and_totals(client_for, department, payer, attending):
    billable_exam(insured_patient(payer), attending)
    billable_exam(insured_patient(payer), attending)
    Charge.objects.filter(pk=Charge.objects.order_by("id").first().pk).update(status=Charge.Status.VOID)
    client = client_for(Role.BILLING)
    everything = client.get(reverse("billing:charges")).content.decode()
    assert "2 charges, total 840.00" in everything
    open_only = client.get(reverse("billing:charges"), {"status": "OPEN"}).content.decode()
    assert "1 charge, total 420.00" in open_only
    assert "0 charges" in client.get(reverse("billing:charges"), {"cpt_code": "99999"}).content.decode()


def test_building_claims_shows_the_held_ones_with_their_reasons(client_for, department, payer, attending):
    billable_exam(PatientFactory(), attending)  # no coverage
    billable_exam(insured_patient(payer), attending)
    client = client_for(Role.BILLING)
    page = client.post(reverse("billing:claims_build"), follow=True).content.decode()
    assert "2 claims built: 1 ready, 1 held." in page
    assert "No coverage: the patient has no active insurance" in page


def test_an_outcome_on_a_claim_not_exported_is_refused_and_changes_nothing(client_for, department, payer, attending):
    billable_exam(insured_patient(payer), attending)
    client = client_for(Role.BILLING)
    client.post(reverse("billing:claims_build"))
    claim = Claim.objects.get()
    page = client.post(reverse("billing:claim_outcome", args=[claim.pk]), {"status": "PAID"}, follow=True)
    assert "it cannot become paid" in page.content.decode()
    claim.refresh_from_db()
    assert claim.status == Claim.Status.READY


def test_a_batch_without_ready_claims_is_refused_on_the_form(client_for, department):
    today = timezone.localdate().isoformat()
    page = client_for(Role.BILLING).post(reverse("billing:batches"), {"date_from": today, "date_to": today})
    assert "No claims ready for export in that period." in page.content.decode()
    assert not ExportBatch.objects.exists()


def test_a_batch_is_exported_from_the_page_and_its_files_downloaded(
    client_for, department, payer, attending, django_capture_on_commit_callbacks
):
    billable_exam(insured_patient(payer), attending)
    client = client_for(Role.BILLING)
    client.post(reverse("billing:claims_build"))
    today = timezone.localdate().isoformat()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("billing:batches"), {"date_from": today, "date_to": today})
    batch = ExportBatch.objects.get()
    assert response["Location"] == reverse("billing:batch", args=[batch.pk])
    state = client.get(reverse("billing:batch_status", args=[batch.pk])).json()
    assert (state["status"], state["percent"], state["claims_done"]) == ("DONE", 100, 1)
    csv_download = client.get(state["downloads"]["csv"])
    assert csv_download["Content-Disposition"] == f'attachment; filename="{batch.number}.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(csv_download.streaming_content).decode())))
    assert rows[0] == CSV_COLUMNS
    assert len(rows) == 2
    x12_download = client.get(state["downloads"]["837"])
    assert b"".join(x12_download.streaming_content).startswith(b"ISA*00*")
    assert client.get(reverse("billing:batch_download", args=[batch.pk, "pdf"])).status_code == 404


def test_the_status_of_a_running_batch_tells_its_progress(client_for, department):
    today = timezone.localdate()
    batch = ExportBatch.objects.create(
        number="B7", date_from=today, date_to=today, created_by=UserFactory(), status="RUNNING", claims_total=8
    )
    ExportBatch.objects.filter(pk=batch.pk).update(claims_done=2)
    state = client_for(Role.BILLING).get(reverse("billing:batch_status", args=[batch.pk])).json()
    assert (state["status"], state["percent"], state["downloads"]) == ("RUNNING", 25, {})
    assert client_for(Role.BILLING).get(reverse("billing:batch_download", args=[batch.pk, "csv"])).status_code == 404
