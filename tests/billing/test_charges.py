"""Charge capture: one charge per performed exam, with code, modifiers, diagnoses, fee and rendering provider."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from billing import services
from billing.models import Charge, Fee, FeeSchedule
from ris.audit import Interface
from ris.exceptions import IllegalTransition
from scheduling.models import Exam
from scheduling.services import exam_cancel, exam_check_in, exam_complete, exam_discontinue, exam_start
from tests.billing.conftest import CPT, GLOBAL_FEE, billable_exam, insured_patient
from tests.factories import make_booked_exam, make_exam_booked_today

pytestmark = pytest.mark.django_db


def started_exam(patient, **kwargs) -> Exam:
    exam = make_exam_booked_today(patient=patient, diagnosis_codes=["R51.9", "S06.0X0A"], **kwargs)
    exam = exam_check_in(exam=exam, acting_user=Interface("TEST", "desk"))
    return exam_start(exam=exam, acting_user=Interface("TEST", "desk"))


def test_a_completed_exam_gets_one_charge_with_what_a_claim_needs(department, payer, attending):
    exam = billable_exam(insured_patient(payer), attending, diagnosis_codes=["R51.9", "S06.0X0A"])
    charge = Charge.objects.get()
    assert (charge.exam_id, charge.cpt_code, charge.modifiers, charge.units) == (exam.pk, CPT, [], 1)
    assert (charge.fee, charge.amount) == (GLOBAL_FEE, GLOBAL_FEE)
    assert charge.diagnosis_codes == ["R51.9", "S06.0X0A"]
    assert charge.date_of_service == exam.completed_at.date()
    assert charge.place_of_service == "22"
    assert charge.rendering_provider == attending  # set when the report was signed final
    assert charge.history.earliest().history_actor == "TEST:factory"  # who completed the exam


@pytest.mark.parametrize(
    ("mode", "modifiers", "fee"), [("professional", ["26"], "95.00"), ("technical", ["TC"], "325.00")]
)
def test_the_billing_mode_puts_26_or_tc_on_the_charge_and_takes_that_fee(
    department, payer, settings, mode, modifiers, fee
):
    settings.RIS_BILLING_MODE = mode
    billable_exam(insured_patient(payer), None, sign=False)
    charge = Charge.objects.get()
    assert (charge.modifiers, charge.fee) == (modifiers, Decimal(fee))


def test_the_payers_fee_schedule_wins_over_the_default(department, payer):
    own = FeeSchedule.objects.create(name="Acme 2026", payer=payer)
    Fee.objects.create(schedule=own, cpt_code=CPT, amount=Decimal("380.50"))
    billable_exam(insured_patient(payer), None, sign=False)
    assert Charge.objects.get().amount == Decimal("380.50")


def test_a_cancelled_exam_has_no_charge(department, payer):
    exam = make_booked_exam(patient=insured_patient(payer))
    exam_cancel(exam=exam, reason="Patient request", acting_user=Interface("TEST", "desk"))
    assert not Charge.objects.exists()


@pytest.mark.parametrize(("modifier_53", "modifiers"), [(True, ["53"]), (False, [])])
def test_a_discontinued_exam_is_charged_with_modifier_53_as_configured(
    department, payer, settings, modifier_53, modifiers
):
    settings.RIS_BILLING_DISCONTINUED_MODIFIER_53 = modifier_53
    exam = started_exam(insured_patient(payer))
    exam_discontinue(exam=exam, reason="Patient unwell", acting_user=Interface("DICOM", "CT1"))
    assert Charge.objects.get().modifiers == modifiers


def test_capturing_again_returns_the_same_charge(department, payer):
    exam = billable_exam(insured_patient(payer), None, sign=False)
    first = Charge.objects.get()
    assert services.charge_capture(exam=exam, acting_user=Interface("TEST", "again")) == first
    services.charge_capture_on_event({"exam_id": exam.pk, "status": "COMPLETED"}, Interface("HL7", "CIS"))
    assert Charge.objects.count() == 1


def _at_once(*calls) -> list:
    """Run the calls in threads released together; each result or exception in order."""
    results: list = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(index, call):
        barrier.wait()
        try:
            results[index] = call()
        except Exception as error:
            results[index] = error
        finally:
            connection.close()  # the thread's own connection

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_completion_applied_twice_at_once_gives_one_charge(postgresql, department, payer):
    exam = started_exam(insured_patient(payer))
    results = _at_once(
        lambda: exam_complete(exam=exam, acting_user=Interface("DICOM", "CT1")),
        lambda: exam_complete(exam=exam, acting_user=Interface("HL7", "CIS")),
    )
    assert sorted(type(result).__name__ for result in results) == ["Exam", "IllegalTransition"]
    assert isinstance(next(r for r in results if not isinstance(r, Exam)), IllegalTransition)
    assert Charge.objects.filter(exam=exam).count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_captures_racing_for_one_exam_store_one_charge(postgresql, department, payer, settings):
    settings.RIS_BILLING_DISCONTINUED_MODIFIER_53 = True
    exam = started_exam(insured_patient(payer))
    exam_complete(exam=exam, acting_user=Interface("DICOM", "CT1"))
    Charge.objects.all().delete()  # as if capture had not run: both captures below find no charge
    results = _at_once(
        lambda: services.charge_capture(exam=exam, acting_user=Interface("DICOM", "CT1")),
        lambda: services.charge_capture(exam=exam, acting_user=Interface("HL7", "CIS")),
    )
    assert all(isinstance(result, Charge) for result in results), results
    assert results[0].pk == results[1].pk == Charge.objects.get(exam=exam).pk
