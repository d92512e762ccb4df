"""Claims: charges grouped per patient, payer and date of service; validation holds bad claims with clear errors."""

from decimal import Decimal

import pytest
from django.utils import timezone

from billing import services
from billing.models import Charge, Claim, ExportBatch
from ris.audit import Interface
from ris.exceptions import ApplicationError
from tests.billing.conftest import GLOBAL_FEE, billable_exam, insured_patient
from tests.factories import PatientFactory, make_radiologist

pytestmark = pytest.mark.django_db
CLERK = Interface("TEST", "billing")


def build() -> list[Claim]:
    return services.claims_build(acting_user=CLERK)


def test_charges_of_one_patient_payer_and_day_make_one_claim_whose_lines_are_its_charges(department, payer, attending):
    patient = insured_patient(payer)
    billable_exam(patient, attending)
    billable_exam(patient, attending, diagnosis_codes=["J18.9"])
    billable_exam(insured_patient(payer), attending)
    claims = build()
    assert len(claims) == 2
    mine = next(claim for claim in claims if claim.patient == patient)
    assert (mine.status, mine.errors, mine.payer) == (Claim.Status.READY, [], payer)
    assert sorted(mine.charges.values_list("pk", flat=True)) == sorted(
        Charge.objects.filter(patient=patient).values_list("pk", flat=True)
    )
    assert mine.total == 2 * GLOBAL_FEE == sum(charge.amount for charge in mine.charges.all())
    assert set(Charge.objects.values_list("status", flat=True)) == {Charge.Status.BILLED}
    assert build() == []  # charges are claimed once


def test_a_claim_with_errors_is_held_with_each_reason_and_ready_once_fixed(department, payer, attending):
    exam = billable_exam(insured_patient(payer), attending, diagnosis_codes=[])
    attending.npi = ""
    attending.save()
    charge = Charge.objects.get(exam=exam)
    charge.rendering_provider = attending
    charge.save()
    claim = build()[0]
    assert claim.status == Claim.Status.DRAFT
    assert "Line 1: no diagnosis code (ICD-10-CM) on the order." in claim.errors
    assert any("NPI of the rendering radiologist" in error for error in claim.errors)

    Charge.objects.filter(pk=charge.pk).update(diagnosis_codes=["R51.9"])
    attending.npi = "1234567893"
    attending.save()
    claim = services.claim_validate(claim=claim, acting_user=CLERK)
    assert (claim.status, claim.errors) == (Claim.Status.READY, [])


@pytest.mark.parametrize(
    ("spoil", "error"),
    [
        (lambda charge: setattr(charge, "cpt_code", "7045"), "procedure code '7045' is not 5 characters"),
        (lambda charge: setattr(charge, "diagnosis_codes", ["12345"]), "malformed diagnosis code '12345'"),
        (lambda charge: setattr(charge, "amount", Decimal("1.00")), "the amount does not match fee x units"),
    ],
)
def test_validation_names_malformed_codes_and_amounts(department, payer, attending, spoil, error):
    billable_exam(insured_patient(payer), attending)
    charge = Charge.objects.get()
    spoil(charge)
    charge.save()
    claim = build()[0]
    assert claim.status == Claim.Status.DRAFT
    assert any(error in text for text in claim.errors), claim.errors


def test_no_coverage_and_no_billing_npi_hold_the_claim(department, attending):
    department.npi = ""
    department.save()
    billable_exam(PatientFactory(), attending)
    claim = build()[0]
    assert claim.errors[:2] == [
        "No coverage: the patient has no active insurance for the date of service (or is self-pay).",
        "Missing or invalid NPI of the billing provider (the facility).",
    ]


def test_a_self_pay_patient_gets_a_ready_claim_without_a_payer(department, attending):
    billable_exam(PatientFactory(self_pay=True), attending)
    claim = build()[0]
    assert (claim.status, claim.payer, claim.self_pay) == (Claim.Status.READY, None, True)


def test_a_claims_outcome_comes_after_export_and_is_kept_in_its_history(department, payer, attending):
    billable_exam(insured_patient(payer), attending)
    claim = build()[0]
    with pytest.raises(ApplicationError, match="ready: it cannot become paid"):
        services.claim_set_outcome(claim=claim, status=Claim.Status.PAID, acting_user=CLERK)
    Claim.objects.filter(pk=claim.pk).update(status=Claim.Status.EXPORTED)
    services.claim_set_outcome(claim=claim, status=Claim.Status.DENIED, acting_user=CLERK, note="CO-16")
    claim.refresh_from_db()
    assert claim.status == Claim.Status.DENIED
    assert [row.status for row in claim.history.order_by("history_id")][-1] == "DENIED"
    assert claim.history.latest().history_change_reason == "CO-16"


def test_a_radiologist_without_npi_is_named_as_the_problem(department, payer):
    no_npi = make_radiologist(attending=True)
    billable_exam(insured_patient(payer), no_npi)
    assert any("NPI of the rendering radiologist" in error for error in build()[0].errors)


def test_a_claim_taken_into_an_export_is_not_revalidated_under_it(department, payer, attending):
    billable_exam(insured_patient(payer), attending)
    claim = build()[0]
    today = timezone.localdate()
    batch = ExportBatch.objects.create(number="B1", date_from=today, date_to=today, created_by=attending)
    Claim.objects.filter(pk=claim.pk).update(batch=batch)
    Charge.objects.filter(claim=claim).update(diagnosis_codes=[])  # would hold the claim if validated now
    assert services.claim_validate(claim=claim, acting_user=CLERK).status == Claim.Status.READY
