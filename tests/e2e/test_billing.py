"""Billing in Chromium: the export batch's progress bar and files; insurance entered at the front desk readies a
held claim."""

from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from billing import services
from billing.models import Claim, ExportBatch, Fee, FeeSchedule
from ris.models import Coverage, Role
from tests.billing.conftest import billable_exam, insured_patient
from tests.factories import (
    TEST_PASSWORD,
    FacilityFactory,
    PatientFactory,
    PayerFactory,
    UserFactory,
    make_radiologist,
    npi_from,
)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_the_progress_bar_moves_while_the_export_runs_and_the_files_appear(live_server, page, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / ExportBatch.FOLDER).mkdir(parents=True)
    (tmp_path / ExportBatch.FOLDER / "B1.csv").write_text("batch\n")
    clerk = UserFactory(role=Role.BILLING, username="clerk")
    today = timezone.localdate()
    batch = ExportBatch.objects.create(
        number="B1", date_from=today, date_to=today, created_by=clerk, status="RUNNING", claims_total=4
    )
    page.goto(live_server.url)
    page.get_by_label("Username").fill("clerk")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server.url}/billing/batches/{batch.pk}/")
    bar = page.locator("#batch-bar")
    expect(bar).to_have_attribute("value", "0")

    ExportBatch.objects.filter(pk=batch.pk).update(claims_done=2)  # as the export task commits a chunk
    expect(bar).to_have_js_property("value", 50)
    expect(page.locator("#batch-done")).to_have_text("2")

    ExportBatch.objects.filter(pk=batch.pk).update(
        claims_done=4, status="DONE", csv_file=f"{ExportBatch.FOLDER}/B1.csv"
    )
    expect(bar).to_have_js_property("value", 100)
    expect(page.locator("#batch-status")).to_have_text("Done")
    expect(page.get_by_role("link", name="Download CSV")).to_be_visible()


def _sign_in(page, url: str, username: str) -> None:
    page.goto(url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _department():
    """A facility that bills, a default fee for the factories' CT head, a payer and an attending radiologist."""
    FacilityFactory(npi="1234567893", tax_id="123456789", street="1 Way", city="Springfield", state="IL")
    schedule = FeeSchedule.objects.create(name="Default")
    Fee.objects.create(schedule=schedule, cpt_code="70450", modifier="", amount=Decimal("420.00"))
    payer = PayerFactory(name="Acme Health", payer_id="ACME1")
    return payer, make_radiologist(npi=npi_from(7), first_name="Ada", last_name="Reader")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_insurance_entered_at_the_front_desk_makes_the_held_claim_ready(live_server, page, chromium):
    _payer, attending = _department()
    patient = PatientFactory(family_name="Kidd", given_name="Kim", street="5 Elm St", city="Springfield", state="IL")
    billable_exam(patient, attending)
    [claim] = services.claims_build(acting_user=attending)
    assert claim.status == Claim.Status.DRAFT  # "No coverage"
    UserFactory(role=Role.FRONT_DESK, username="desk")
    UserFactory(role=Role.BILLING, username="clerk")

    _sign_in(page, live_server.url, "desk")
    page.goto(f"{live_server.url}/scheduling/patients/{patient.pk}/")
    expect(page.locator("#coverages")).to_contain_text("No insurance on file")
    page.get_by_role("link", name="Add insurance").click()
    page.get_by_label("Payer").select_option(label="Acme Health (ACME1)")
    page.get_by_label("Member ID").fill("FAM123")
    page.get_by_label("Group number").fill("G7")
    page.get_by_label("Patient is the insured's").select_option("19")
    page.get_by_role("button", name="Save insurance").click()
    expect(page.locator(".field-error")).to_contain_text("give the insured's family name")  # the service's rule
    page.get_by_label("Insured's family name").fill("Kidd")
    page.get_by_label("Insured's given name").fill("Pat")
    page.get_by_label("Insured's birth date").fill("1975-03-04")
    page.get_by_label("Insured's sex").select_option("F")
    page.get_by_role("button", name="Save insurance").click()
    expect(page.locator("#coverages")).to_contain_text("FAM123")
    expect(page.locator("#coverages")).to_contain_text("KIDD, Pat (child)")

    billing = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="en-US").new_page()
    _sign_in(billing, live_server.url, "clerk")
    billing.goto(f"{live_server.url}/billing/claims/?status=READY")
    row = billing.locator(f"#claim-{claim.pk}")
    expect(row).to_contain_text("Ready")
    expect(row).to_contain_text("Acme Health")
    billing.context.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_the_clerk_filters_the_held_queue_ticks_all_and_validates_them_at_once(live_server, page):
    payer, attending = _department()
    uninsured = [PatientFactory(street="5 Elm St", city="Springfield", state="IL") for _ in range(2)]
    for patient in uninsured:
        billable_exam(patient, attending)
    billable_exam(insured_patient(payer), attending, diagnosis_codes=[])  # held for another reason: not in the queue
    services.claims_build(acting_user=attending)
    for patient in uninsured:  # put right where billing does not hear of it (e.g. a data load)
        Coverage.objects.create(patient=patient, payer=payer, member_id=f"LATE{patient.pk}")
    UserFactory(role=Role.BILLING, username="clerk")

    _sign_in(page, live_server.url, "clerk")
    page.goto(f"{live_server.url}/billing/claims/")
    page.get_by_label("Status").select_option("DRAFT")
    page.get_by_label("Held for").select_option(label="No coverage")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("2 claims.")).to_be_visible()
    page.get_by_label("Select all claims on this page").check()
    expect(page.locator('input[form="validate-selected"]:checked')).to_have_count(2)
    page.get_by_role("button", name="Validate selected").click()
    expect(page.locator(".messages")).to_contain_text("2 claims validated: 2 ready, 0 held.")
    expect(page.get_by_text("0 claims.")).to_be_visible()  # the queue, still filtered, is empty
    assert Claim.objects.filter(status=Claim.Status.READY).count() == 2
