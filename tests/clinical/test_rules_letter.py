"""The preparation letter names what the safety rules ask of the patient, from the same rule functions."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from clinical.models import MedicalAlert
from clinical.rules import preparation_needs
from ris.models import ContrastClass, Role
from tests.clinical.factories import contrast_allergy, egfr
from tests.factories import ModalityFactory, PatientFactory, ProcedureTypeFactory, local_at, make_booked_exam

pytestmark = pytest.mark.django_db

IN_TEN_DAYS = local_at(timezone.localdate() + timedelta(days=10), 9, 30)


def booked(*, patient=None, start=IN_TEN_DAYS, **procedure_kwargs):
    procedure = ProcedureTypeFactory(**procedure_kwargs)
    return make_booked_exam(patient=patient or PatientFactory(sex="M"), procedure_types=[procedure], start=start)


def aged(years: int, sex: str = "M"):
    return PatientFactory(sex=sex, birth_date=date(timezone.localdate().year - years, 1, 1))


def needs(exam) -> list[str]:
    return [need.kind for need in preparation_needs(exam)]


def letter(client_for, exam) -> str:
    return client_for(Role.FRONT_DESK).get(reverse("scheduling:exam_letter", args=[exam.pk])).content.decode()


def test_contrast_exam_without_a_recent_egfr_asks_for_a_kidney_test_and_keeps_the_catalog_text(client_for):
    exam = booked(
        patient=aged(70),
        contrast=ContrastClass.IODINATED,
        preparation="Nothing to eat for 4 hours before; drink a litre of water in the 2 hours before.",
    )
    html = letter(client_for, exam)
    assert "Nothing to eat for 4 hours before; drink a litre of water" in html
    assert "kidney blood test (creatinine / eGFR) taken no more than 30 days before your appointment" in html
    assert "No special preparation is needed." not in html


def test_a_result_recent_now_but_too_old_on_the_booked_day_still_asks_for_one():
    exam = booked(patient=aged(70), contrast=ContrastClass.IODINATED)
    egfr(exam.order.patient, 70, at=IN_TEN_DAYS - timedelta(days=31))  # 21 days old today, 31 on the day
    assert needs(exam) == ["egfr"]
    egfr(exam.order.patient, 72, at=timezone.now() - timedelta(hours=1))
    assert needs(exam) == []


def test_no_kidney_test_where_none_is_required_or_without_contrast():
    assert needs(booked(patient=aged(40), contrast=ContrastClass.IODINATED)) == []
    assert needs(booked(patient=aged(70))) == []


def test_a_renal_alert_asks_for_a_kidney_test_under_60():
    patient = aged(45)
    MedicalAlert.objects.create(patient=patient, code=MedicalAlert.Code.DIABETES_METFORMIN)
    assert needs(booked(patient=patient, contrast=ContrastClass.GADOLINIUM, modality=ModalityFactory(code="MR"))) == [
        "egfr",
        "mr",
    ]


def test_a_contrast_reaction_on_file_names_premedication(client_for):
    patient = aged(40)
    contrast_allergy(patient)
    exam = booked(patient=patient, contrast=ContrastClass.IODINATED)
    assert "Your radiologist decides whether you need medicine beforehand (premedication)" in letter(client_for, exam)
    assert needs(booked(patient=patient)) == []  # the same patient, no contrast


def test_ionizing_exam_for_a_woman_who_could_be_pregnant(client_for):
    exam = booked(patient=aged(30, sex="F"))
    assert "you will be asked whether you could be pregnant" in letter(client_for, exam)
    assert needs(booked(patient=aged(30, sex="M"))) == []
    assert needs(booked(patient=aged(70, sex="F"))) == []


def test_mr_names_the_safety_questionnaire(client_for):
    exam = booked(modality=ModalityFactory(code="MR", name="Magnetic Resonance"))
    html = letter(client_for, exam)
    assert "You will complete an MR safety questionnaire" in html
    assert "Tell us about any implants" in html


def test_nothing_asked_keeps_the_plain_letter(client_for):
    exam = booked(patient=aged(40))
    html = letter(client_for, exam)
    assert "No special preparation is needed." in html
    assert "safety-" not in html
