"""A department ready to bill: a facility with NPI and EIN, a default fee schedule, a payer, and billable exams."""

from decimal import Decimal

import pytest

from billing.models import Fee, FeeSchedule
from reporting import services as reporting
from ris.models import Coverage
from tests.factories import (
    TEST_PASSWORD,
    FacilityFactory,
    PatientFactory,
    PayerFactory,
    make_completed_exam,
    make_radiologist,
    npi_from,
)

CPT = "70450"  # ProcedureTypeFactory's code: CT head without contrast
GLOBAL_FEE = Decimal("420.00")


@pytest.fixture(autouse=True)
def _files_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "files"


@pytest.fixture
def department(db):
    facility = FacilityFactory(
        npi="1234567893",
        tax_id="123456789",
        street="1 Hospital Way",
        city="Springfield",
        state="IL",
        postal_code="62701",
    )
    schedule = FeeSchedule.objects.create(name="Default")
    Fee.objects.create(schedule=schedule, cpt_code=CPT, modifier="", amount=GLOBAL_FEE)
    Fee.objects.create(schedule=schedule, cpt_code=CPT, modifier="26", amount=Decimal("95.00"))
    Fee.objects.create(schedule=schedule, cpt_code=CPT, modifier="TC", amount=Decimal("325.00"))
    return facility


@pytest.fixture
def payer(db):
    return PayerFactory(name="Acme Health", payer_id="ACME1", street="PO Box 1", city="Chicago", state="IL")


def insured_patient(payer, **kwargs):
    patient = PatientFactory(street="5 Elm St", city="Springfield", state="IL", postal_code="62704", **kwargs)
    Coverage.objects.create(patient=patient, payer=payer, member_id="MEM123456", group_number="GRP1")
    return patient


@pytest.fixture
def attending(db):
    return make_radiologist(attending=True, npi=npi_from(7), first_name="Ada", last_name="Reader")


def billable_exam(patient, attending, *, diagnosis_codes=("R51.9",), sign=True):
    """An exam performed for an order with diagnoses, its report signed final by `attending` (the renderer)."""
    exam = make_completed_exam(patient=patient, diagnosis_codes=list(diagnosis_codes))
    if sign:
        report = reporting.report_save_draft(exam=exam, user=attending, sections={"impression": "Normal."})
        reporting.report_sign_final(report=report, user=attending, password=TEST_PASSWORD)
    return exam
