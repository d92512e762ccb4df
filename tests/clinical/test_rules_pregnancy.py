"""The pregnancy rule at its boundaries: ages, sex, unknown birth date, the status's age, its values."""

from datetime import date, timedelta

import pytest

from clinical import services
from clinical.models import PregnancyStatus, SafetyFlag
from clinical.safety import findings_for
from tests.factories import TEST_ACTOR, ModalityFactory, PatientFactory, ProcedureTypeFactory, local_at, make_order

pytestmark = pytest.mark.django_db

AT = local_at(date(2026, 12, 1), 10)
Kind = SafetyFlag.Kind


def exam_for(*, age: int | None = 30, sex: str = "F", modality: str = "CT"):
    born = date(AT.year - age, 6, 1) if age is not None else None
    patient = PatientFactory(birth_date=born, sex=sex)
    procedure = ProcedureTypeFactory(modality=ModalityFactory(code=modality, name=modality))
    return make_order(patient=patient, procedure_types=[procedure]).exams.get()


def kinds(exam, at=AT) -> list[str]:
    return [finding.kind for finding in findings_for(exam, at=at)]


def record(exam, status, *, at, **kwargs):
    return services.pregnancy_record(
        patient=exam.order.patient, status=status, acting_user=TEST_ACTOR, exam=exam, at=at, **kwargs
    )


@pytest.mark.parametrize(("age", "asked"), [(11, False), (12, True), (30, True), (55, True), (56, False)])
def test_age_range_12_to_55_inclusive(age, asked):
    assert (kinds(exam_for(age=age)) == [Kind.PREGNANCY_STATUS_MISSING]) is asked


def test_age_range_follows_the_settings(settings):
    settings.RIS_PREGNANCY_AGE_MAX = 50
    assert kinds(exam_for(age=51)) == []
    assert kinds(exam_for(age=50)) == [Kind.PREGNANCY_STATUS_MISSING]


def test_twelfth_birthday_on_the_exam_day_counts():
    patient = PatientFactory(birth_date=date(2014, 12, 1), sex="F")
    exam = make_order(patient=patient, procedure_types=[ProcedureTypeFactory()]).exams.get()
    assert kinds(exam) == [Kind.PREGNANCY_STATUS_MISSING]
    assert kinds(exam, at=AT - timedelta(days=1)) == []


@pytest.mark.parametrize("sex", ["M", "O", "U"])
def test_only_female_patients_are_asked(sex):
    assert kinds(exam_for(sex=sex)) == []


def test_unknown_birth_date_counts_as_within_the_range():
    assert kinds(exam_for(age=None)) == [Kind.PREGNANCY_STATUS_MISSING]


@pytest.mark.parametrize("modality", ["CT", "DX", "CR", "MG", "NM", "PT", "RF", "XA"])
def test_every_ionizing_modality(modality):
    assert kinds(exam_for(modality=modality)) == [Kind.PREGNANCY_STATUS_MISSING]


@pytest.mark.parametrize("modality", ["US", "MR"])
def test_non_ionizing_modalities_are_not_asked(modality):
    assert Kind.PREGNANCY_STATUS_MISSING not in kinds(exam_for(modality=modality))


@pytest.mark.parametrize(
    ("age_of_status", "missing"),
    [(timedelta(hours=23, minutes=59), False), (timedelta(hours=24), False), (timedelta(hours=24, seconds=1), True)],
)
def test_a_status_counts_for_24_hours(age_of_status, missing):
    exam = exam_for()
    record(exam, PregnancyStatus.NOT_PREGNANT, at=AT - age_of_status)
    assert (kinds(exam) == [Kind.PREGNANCY_STATUS_MISSING]) is missing


def test_status_hours_follow_the_setting(settings):
    settings.RIS_PREGNANCY_STATUS_MAX_AGE_HOURS = 2
    exam = exam_for()
    record(exam, PregnancyStatus.NOT_PREGNANT, at=AT - timedelta(hours=3))
    assert kinds(exam) == [Kind.PREGNANCY_STATUS_MISSING]


def test_a_status_recorded_after_the_moment_asked_does_not_count():
    exam = exam_for()
    record(exam, PregnancyStatus.NOT_PREGNANT, at=AT + timedelta(minutes=5))
    assert kinds(exam) == [Kind.PREGNANCY_STATUS_MISSING]


def test_missing_status_may_be_decided_by_a_radiologist_for_that_day():
    (finding,) = findings_for(exam_for(), at=AT)
    assert finding.key == "pregnancy-missing:2026-12-01"
    assert set(finding.decisions) == {
        SafetyFlag.Decision.PROCEED,
        SafetyFlag.Decision.PROCEED_ADJUSTED,
        SafetyFlag.Decision.CANCEL,
    }
    assert "no pregnancy status recorded in the last 24 hours" in finding.detail


@pytest.mark.parametrize(
    ("status", "flagged"),
    [
        (PregnancyStatus.NOT_PREGNANT, False),
        (PregnancyStatus.POSSIBLY, True),
        (PregnancyStatus.DEFINITELY, True),
        (PregnancyStatus.UNKNOWN, True),
    ],
)
def test_possibly_definitely_or_unknown_needs_a_decision(status, flagged):
    exam = exam_for()
    row = record(exam, status, at=AT - timedelta(hours=1), last_menstrual_period=date(2026, 10, 20))
    found = findings_for(exam, at=AT)
    if not flagged:
        assert found == []
        return
    (finding,) = found
    assert (finding.kind, finding.key) == (Kind.PREGNANCY, f"pregnancy:{row.pk}")
    assert "last menstrual period 2026-10-20" in finding.detail
    assert f"pregnancy status {PregnancyStatus(status).label.lower()}" in finding.detail


def test_the_newest_status_counts():
    exam = exam_for()
    record(exam, PregnancyStatus.POSSIBLY, at=AT - timedelta(hours=3))
    record(exam, PregnancyStatus.NOT_PREGNANT, at=AT - timedelta(hours=1))  # a negative test since
    assert kinds(exam) == []
    newest = record(exam, PregnancyStatus.DEFINITELY, at=AT - timedelta(minutes=5))
    assert [(f.kind, f.key) for f in findings_for(exam, at=AT)] == [(Kind.PREGNANCY, f"pregnancy:{newest.pk}")]
