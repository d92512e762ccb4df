"""The shared pieces of the clinical app: CKD-EPI 2021, observation units, the safety banner's summary."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import timezone

from clinical import egfr as kidney
from clinical.models import Observation
from clinical.selectors import egfr_level, safety_summary
from tests.clinical.factories import contrast_allergy, egfr, observation
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("creatinine", "age", "sex", "expected"),
    [
        # The NKF CKD-EPI 2021 calculator rounds these to 92 and 69 (creatinine 1.0 mg/dL, age 50).
        (Decimal("1.0"), 50, "M", Decimal("91.7")),
        (Decimal("1.0"), 50, "F", Decimal("68.6")),
        (Decimal("0.7"), 40, "F", Decimal("112.1")),  # at the female knot: 142 * 0.9938^40 * 1.012
        (Decimal("2.5"), 70, "M", Decimal("27.0")),  # 142 * (2.5/0.9)^-1.2 * 0.9938^70
    ],
)
def test_ckd_epi_2021(creatinine, age, sex, expected):
    assert kidney.ckd_epi_2021(creatinine, age_years=age, sex=sex) == expected


def test_ckd_epi_is_not_computed_for_children_or_unknown_sex():
    assert kidney.ckd_epi_2021(Decimal("0.5"), age_years=17, sex="F") is None
    assert kidney.ckd_epi_2021(Decimal("1.0"), age_years=40, sex="U") is None


def test_creatinine_in_micromoles_is_stored_in_mg_per_dl():
    patient = PatientFactory()
    row = observation(patient, Observation.Kind.CREATININE, "88.42", "µmol/L")
    assert row.value == Decimal("1.0000")
    assert row.unit == "mg/dL"
    assert row.unit_received == "µmol/L"


def test_weight_in_pounds_is_stored_in_kilograms_and_an_unknown_unit_keeps_the_text():
    patient = PatientFactory()
    assert observation(patient, Observation.Kind.WEIGHT, "176", "lb").value == Decimal("79.8323")
    odd = observation(patient, Observation.Kind.WEIGHT, "12", "stone")
    assert odd.value is None
    assert odd.value_text == "12"
    assert odd.unit_received == "stone"


def test_egfr_level_by_threshold(settings):
    settings.RIS_EGFR_THRESHOLD = 30.0
    assert egfr_level(Decimal("29.9")) == "danger"
    assert egfr_level(Decimal("30.0")) == "warning"
    assert egfr_level(Decimal("45")) == "ok"


def test_banner_shows_contrast_allergy_and_latest_egfr():
    patient = PatientFactory(sex="M")
    contrast_allergy(patient)
    egfr(patient, 50, at=timezone.now() - timedelta(days=3))
    egfr(patient, 25)
    summary = safety_summary(patient)
    assert summary.egfr.value == Decimal("25.0000")
    assert summary.egfr_level == "danger"
    html = Template("{% load clinical %}{% patient_banner patient %}").render(Context({"patient": patient}))
    assert "contrast-allergy" in html
    assert "Iodinated contrast media" in html
    assert "egfr-danger" in html
    assert patient.mrn in html
