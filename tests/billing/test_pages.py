"""Billing pages: charges, the claim worklist with its errors, export batches with progress and downloads."""

import csv
import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from billing.export import CSV_COLUMNS
from billing.models import Charge, Claim, ExportBatch
from ris.models import AccessRecord, Role
from tests.billing.conftest import billable_exam, insured_patient
from tests.factories import PatientFactory, PayerFactory, UserFactory

pytestmark = pytest.mark.django_db

OTHER_ROLES = [Role.FRONT_DESK, Role.TECHNOLOGIST, Role.RADIOLOGIST]
BILLING_ROLES = [Role.BILLING, Role.ADMIN]
# name: (method, URL name, takes the claim / the batch, what billing and admin get)
ENDPOINTS = {
    "home": ("get", "billing:home", None, 200),
    "charges": ("get", "billing:charges", None, 200),
    "claims": ("get", "billing:claims", None, 200),
    "claims_build": ("post", "billing:claims_build", None, 302),
    "claim_validate": ("post", "billing:claim_validate", "claim", 302),
    "claim_outcome": ("post", "billing:claim_outcome", "claim", 302),
    "batches": ("get", "billing:batches", None, 200),
    "batch_create": ("post", "billing:batches", None, 200),  # an empty form comes back with its errors
    "batch": ("get", "billing:batch", "batch", 200),
    "batch_status": ("get", "billing:batch_status", "batch", 200),
    "download_csv": ("get", "billing:batch_download", "csv", 200),
    "download_837": ("get", "billing:batch_download", "837", 200),
}


def text(response) -> str:
    return response.content.decode()


def streamed(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture
def done_batch(db):
    """A finished batch with both files on disk (MEDIA_ROOT is a temporary folder: tests/billing/conftest.py)."""
    today = timezone.localdate()
    batch = ExportBatch.objects.create(
        number="B900",
        date_from=today,
        date_to=today,
        created_by=UserFactory(),
        status=ExportBatch.Status.DONE,
        claims_total=1,
        claims_done=1,
    )
    batch.csv_file.save("B900.csv", ContentFile(",".join(CSV_COLUMNS).encode() + b"\r\n"), save=False)
    batch.x12_file.save("B900.837", ContentFile(b"ISA*00*~"), save=False)
    batch.save()
    return batch


@pytest.fixture
def endpoint_url(done_batch):
    claim = Claim.objects.create(number="C900", patient=PatientFactory(), date_of_service=timezone.localdate())

    def make(name: str) -> tuple[str, str]:
        method, url_name, target, _expected = ENDPOINTS[name]
        args = {None: [], "claim": [claim.pk], "batch": [done_batch.pk]}.get(target, [done_batch.pk, target])
        return method, reverse(url_name, args=args)

    return make


# --- who may use the pages -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENDPOINTS)
@pytest.mark.parametrize("role", OTHER_ROLES, ids=str)
def test_billing_pages_and_endpoints_are_refused_to_other_roles(client_for, endpoint_url, role, name):
    method, url = endpoint_url(name)
    assert getattr(client_for(role), method)(url).status_code == 403


@pytest.mark.parametrize("name", ENDPOINTS)
@pytest.mark.parametrize("role", BILLING_ROLES, ids=str)
def test_billing_pages_and_endpoints_admit_billing_clerks_and_administrators(client_for, endpoint_url, role, name):
    method, url = endpoint_url(name)
    assert getattr(client_for(role), method)(url).status_code == ENDPOINTS[name][3]


def test_anonymous_users_are_sent_to_the_login_page(client, done_batch):
    for url in (reverse("billing:charges"), reverse("billing:batch_download", args=[done_batch.pk, "csv"])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_the_billing_home_keeps_its_exams_and_links_to_the_billing_pages(client_for, department, payer, attending):
    exam = billable_exam(insured_patient(payer), attending)
    page = text(client_for(Role.BILLING).get(reverse("billing:home")))
    assert exam.accession_number in page
    assert "Final report on file" in page
    assert "Normal." not in page  # the report's text stays with the radiologists
    for name in ("billing:charges", "billing:claims", "billing:batches"):
        assert f'href="{reverse(name)}"' in page


# --- charges ---------------------------------------------------------------------------------------------------------


def test_the_charges_list_filters_rows_and_totals(client_for, department, payer, attending):
    void = billable_exam(insured_patient(payer), attending)
    kept = billable_exam(insured_patient(payer), attending, diagnosis_codes=["R05.9", "J18.9"])
    older = billable_exam(insured_patient(payer), attending)
    Charge.objects.filter(exam=void).update(status=Charge.Status.VOID)
    Charge.objects.filter(exam=older).update(date_of_service=timezone.localdate() - timedelta(days=10))
    client = client_for(Role.BILLING)

    def listed(**filters) -> tuple[list[str], str]:
        response = client.get(reverse("billing:charges"), filters)
        assert response.status_code == 200
        assert response.context["page"].paginator.per_page == settings.RIS_PAGE_SIZE
        return [charge.exam.accession_number for charge in response.context["page"]], text(response)

    rows, page = listed()
    assert len(rows) == 3
    assert "3 charges, total 1260.00" in page
    assert "R05.9, J18.9" in page
    assert "Ada Reader" in page
    rows, page = listed(status="OPEN")
    assert sorted(rows) == sorted([kept.accession_number, older.accession_number])
    assert "2 charges, total 840.00" in page
    rows, page = listed(status="OPEN", date_from=(timezone.localdate() - timedelta(days=1)).isoformat())
    assert rows == [kept.accession_number]
    assert "1 charge, total 420.00" in page
    rows, page = listed(cpt_code="99999")
    assert rows == []
    assert "0 charges, total 0.00" in page


def test_a_charge_filter_in_error_shows_the_error_and_no_rows(client_for, department):
    today = timezone.localdate()
    response = client_for(Role.BILLING).get(
        reverse("billing:charges"), {"date_from": today.isoformat(), "date_to": (today - timedelta(days=1)).isoformat()}
    )
    assert response.context["page"] is None
    assert "The end date is before the start date." in text(response)


def test_a_billed_charge_links_to_its_claim(client_for, department, payer, attending):
    billable_exam(insured_patient(payer), attending)
    client = client_for(Role.BILLING)
    client.post(reverse("billing:claims_build"))
    claim = Claim.objects.get()
    page = text(client.get(reverse("billing:charges")))
    assert f'href="{reverse("billing:claims")}?status=READY#claim-{claim.pk}">{claim.number}</a>' in page


# --- claims ----------------------------------------------------------------------------------------------------------


def test_building_claims_shows_the_held_ones_with_their_reasons(client_for, department, payer, attending):
    uninsured = PatientFactory()
    billable_exam(uninsured, attending)  # no coverage
    billable_exam(insured_patient(payer), attending)
    client = client_for(Role.BILLING)
    response = client.post(reverse("billing:claims_build"), follow=True)
    assert response.redirect_chain == [(reverse("billing:claims"), 302)]
    page = text(response)
    assert "2 claims built: 1 ready, 1 held." in page
    held = Claim.objects.get(patient=uninsured)
    assert held.status == Claim.Status.DRAFT
    row = page[page.index(f'id="claim-{held.pk}"') :].split("</tr>")[0]
    assert "No coverage: the patient has no active insurance" in row
    assert "Self-pay" in row
    assert "0 claims built" in text(client.post(reverse("billing:claims_build"), follow=True))


def test_the_claim_worklist_filters_by_status_and_payer(client_for, department, payer, attending):
    other = PayerFactory(name="Other Health", payer_id="OTHER1")
    billable_exam(insured_patient(payer), attending)
    billable_exam(insured_patient(other), attending)
    billable_exam(insured_patient(payer), attending, diagnosis_codes=[])  # held
    client = client_for(Role.BILLING)
    client.post(reverse("billing:claims_build"))

    def listed(**filters) -> set[str]:
        return {claim.number for claim in client.get(reverse("billing:claims"), filters).context["page"]}

    assert listed() == set(Claim.objects.values_list("number", flat=True))
    assert listed(payer=other.pk) == {Claim.objects.get(payer=other).number}
    assert listed(status="DRAFT") == {Claim.objects.get(status=Claim.Status.DRAFT).number}
    assert listed(status="READY", payer=payer.pk) == {Claim.objects.get(payer=payer, status=Claim.Status.READY).number}


def test_a_held_claim_put_right_is_validated_again_from_the_page(client_for, department, payer, attending):
    exam = billable_exam(insured_patient(payer), attending, diagnosis_codes=[])
    client = client_for(Role.BILLING)
    client.post(reverse("billing:claims_build"))
    claim = Claim.objects.get()
    assert claim.status == Claim.Status.DRAFT
    Charge.objects.filter(exam=exam).update(diagnosis_codes=["R05.9"])
    back = reverse("billing:claims") + "?status=DRAFT"
    response = client.post(reverse("billing:claim_validate", args=[claim.pk]), {"next": back}, follow=True)
    assert response.redirect_chain == [(back, 302)]
    assert f"Claim {claim.number}: ready." in text(response)
    claim.refresh_from_db()
    assert (claim.status, claim.errors) == (Claim.Status.READY, [])


def test_an_outcome_on_a_claim_not_exported_is_refused_and_changes_nothing(client_for, department, payer, attending):
    billable_exam(insured_patient(payer), attending)
    client = client_for(Role.BILLING)
    client.post(reverse("billing:claims_build"))
    claim = Claim.objects.get()
    before = claim.history.count()
    response = client.post(
        reverse("billing:claim_outcome", args=[claim.pk]), {"status": "PAID", "note": "EOB 1"}, follow=True
    )
    assert f"Claim {claim.number} is ready: it cannot become paid." in text(response)
    claim.refresh_from_db()
    assert claim.status == Claim.Status.READY
    assert claim.history.count() == before


def test_the_outcome_of_an_exported_claim_is_recorded(client_for, department, payer, attending):
    billable_exam(insured_patient(payer), attending)
    client = client_for(Role.BILLING)
    client.post(reverse("billing:claims_build"))
    claim = Claim.objects.get()
    Claim.objects.filter(pk=claim.pk).update(status=Claim.Status.EXPORTED)
    page = text(client.get(reverse("billing:claims")))
    assert page.count('id="id_status"') == 1  # the rows' outcome forms repeat no id of the filter form
    assert reverse("billing:claim_outcome", args=[claim.pk]) in page
    refused = client.post(reverse("billing:claim_outcome", args=[claim.pk]), {"status": "EXPORTED"}, follow=True)
    assert "choose paid or denied" in text(refused)
    response = client.post(
        reverse("billing:claim_outcome", args=[claim.pk]), {"status": "DENIED", "note": "CO-16"}, follow=True
    )
    assert f"Claim {claim.number}: denied." in text(response)
    claim.refresh_from_db()
    assert claim.status == Claim.Status.DENIED
    assert claim.history.latest().history_change_reason == "CO-16"


# --- export batches --------------------------------------------------------------------------------------------------


def test_a_batch_without_ready_claims_is_refused_on_the_form(client_for, department):
    today = timezone.localdate().isoformat()
    response = client_for(Role.BILLING).post(reverse("billing:batches"), {"date_from": today, "date_to": today})
    assert response.status_code == 200
    assert "No claims ready for export in that period." in text(response)
    assert not ExportBatch.objects.exists()


def test_the_batch_form_checks_its_period_and_offers_active_payers_only(client_for, department, payer):
    PayerFactory(name="Gone Insurance", active=False)
    client = client_for(Role.BILLING)
    page = text(client.get(reverse("billing:batches")))
    assert "All payers" in page
    assert "Acme Health" in page
    assert "Gone Insurance" not in page
    today = timezone.localdate()
    response = client.post(
        reverse("billing:batches"), {"date_from": today.isoformat(), "date_to": (today - timedelta(days=1)).isoformat()}
    )
    assert "The end date is before the start date." in text(response)
    assert not ExportBatch.objects.exists()


def test_a_batch_is_exported_from_the_page_and_its_files_downloaded(
    client_for, department, payer, attending, django_capture_on_commit_callbacks
):
    billable_exam(insured_patient(payer), attending, diagnosis_codes=["R05.9"])
    billable_exam(PatientFactory(self_pay=True), attending)  # on the CSV, not on the 837P
    client = client_for(Role.BILLING)
    client.post(reverse("billing:claims_build"))
    assert Claim.objects.filter(status=Claim.Status.READY).count() == 2
    today = timezone.localdate().isoformat()
    with django_capture_on_commit_callbacks() as queued:  # the export waits for the commit: held back here
        response = client.post(reverse("billing:batches"), {"date_from": today, "date_to": today, "payer": ""})
    batch = ExportBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("billing:batch", args=[batch.pk])

    waiting = text(client.get(response["Location"]))
    assert '<progress id="batch-bar" max="100" value="0">' in waiting
    assert 'http-equiv="refresh"' in waiting  # the fallback without JavaScript
    assert "js/progress.js" in waiting
    assert reverse("billing:batch_status", args=[batch.pk]) in waiting
    state = client.get(reverse("billing:batch_status", args=[batch.pk])).json()
    assert state == {
        "status": "QUEUED",
        "status_label": "Queued",
        "claims_done": 0,
        "claims_total": 2,
        "percent": 0,
        "eta_seconds": None,
        "eta_text": "",
        "error": "",
        "downloads": {},
    }
    assert client.get(reverse("billing:batch_download", args=[batch.pk, "csv"])).status_code == 404

    for callback in queued:  # the commit: the export task runs (in-process in tests)
        callback()
    state = client.get(reverse("billing:batch_status", args=[batch.pk])).json()
    assert (state["status"], state["percent"], state["claims_done"], state["claims_total"]) == ("DONE", 100, 2, 2)
    assert state["downloads"] == {
        "csv": reverse("billing:batch_download", args=[batch.pk, "csv"]),
        "837": reverse("billing:batch_download", args=[batch.pk, "837"]),
    }
    done = text(client.get(reverse("billing:batch", args=[batch.pk])))
    assert '<progress id="batch-bar" max="100" value="100">' in done
    assert 'http-equiv="refresh"' not in done
    assert f'href="{state["downloads"]["csv"]}"' in done
    assert f'href="{state["downloads"]["837"]}"' in done

    csv_download = client.get(state["downloads"]["csv"])
    assert csv_download.status_code == 200
    assert csv_download["Content-Type"] == "text/csv"
    assert csv_download["Content-Disposition"] == f'attachment; filename="{batch.number}.csv"'
    rows = list(csv.reader(io.StringIO(streamed(csv_download).decode())))
    assert rows[0] == CSV_COLUMNS
    assert len(rows) == 3
    x12_download = client.get(state["downloads"]["837"])
    assert x12_download["Content-Type"] == "application/edi-x12"
    assert x12_download["Content-Disposition"] == f'attachment; filename="{batch.number}.837"'
    x12 = streamed(x12_download)
    assert x12.startswith(b"ISA*00*")
    assert x12.count(b"CLM*") == 1
    assert client.get(reverse("billing:batch_download", args=[batch.pk, "pdf"])).status_code == 404
    listing = text(client.get(reverse("billing:batches")))
    assert batch.number in listing
    assert "2 / 2" in listing
    assert set(Claim.objects.values_list("status", flat=True)) == {Claim.Status.EXPORTED}


def test_the_status_of_a_running_batch_tells_its_progress(client_for, department):
    today = timezone.localdate()
    batch = ExportBatch.objects.create(
        number="B7", date_from=today, date_to=today, created_by=UserFactory(), status="RUNNING", claims_total=8
    )
    ExportBatch.objects.filter(pk=batch.pk).update(claims_done=2)
    client = client_for(Role.BILLING)
    state = client.get(reverse("billing:batch_status", args=[batch.pk])).json()
    assert (state["status"], state["percent"], state["downloads"]) == ("RUNNING", 25, {})
    assert '<progress id="batch-bar" max="100" value="25">' in text(
        client.get(reverse("billing:batch", args=[batch.pk]))
    )
    assert client.get(reverse("billing:batch_download", args=[batch.pk, "csv"])).status_code == 404


def test_a_failed_batch_shows_its_error_and_offers_no_file(client_for, department):
    today = timezone.localdate()
    batch = ExportBatch.objects.create(
        number="B8", date_from=today, date_to=today, created_by=UserFactory(), status="FAILED", error="disk full"
    )
    client = client_for(Role.BILLING)
    page = text(client.get(reverse("billing:batch", args=[batch.pk])))
    assert "disk full" in page
    assert 'http-equiv="refresh"' not in page
    assert client.get(reverse("billing:batch_status", args=[batch.pk])).json()["error"] == "disk full"


def test_a_download_whose_file_is_gone_is_not_found(client_for, done_batch):
    done_batch.csv_file.storage.delete(done_batch.csv_file.name)
    client = client_for(Role.BILLING)
    assert client.get(reverse("billing:batch_download", args=[done_batch.pk, "csv"])).status_code == 404
    assert client.get(reverse("billing:batch_download", args=[done_batch.pk, "837"])).status_code == 200


# --- the PHI access log ----------------------------------------------------------------------------------------------


def logged(kind: str) -> set[int]:
    return set(AccessRecord.objects.filter(kind=kind).values_list("object_id", flat=True))


def test_the_billing_pages_record_the_patients_they_list(client_for, department, payer, attending):
    exam = billable_exam(insured_patient(payer), attending)
    patient = exam.order.patient
    client = client_for(Role.BILLING)
    assert client.get(reverse("billing:home")).status_code == 200
    assert logged("exam") == {exam.pk}
    client.post(reverse("billing:claims_build"))
    for name in ("billing:charges", "billing:claims"):
        assert client.get(reverse(name)).status_code == 200
    paths = set(AccessRecord.objects.filter(kind="patient").values_list("path", "object_id"))
    assert paths == {(reverse("billing:charges"), patient.pk), (reverse("billing:claims"), patient.pk)}


def test_a_batch_file_download_records_every_patient_in_it(client_for, done_batch):
    patients = [PatientFactory(), PatientFactory()]
    for number, patient in enumerate(patients):
        Claim.objects.create(
            number=f"C91{number}", patient=patient, date_of_service=timezone.localdate(), batch=done_batch
        )
    client = client_for(Role.BILLING)
    for kind in ("csv", "837"):
        response = client.get(reverse("billing:batch_download", args=[done_batch.pk, kind]))
        assert response.status_code == 200
        streamed(response)
    rows = AccessRecord.objects.values_list("path", "patient_id")
    assert sorted(rows) == sorted(
        (reverse("billing:batch_download", args=[done_batch.pk, kind]), patient.pk)
        for kind in ("csv", "837")
        for patient in patients
    )
