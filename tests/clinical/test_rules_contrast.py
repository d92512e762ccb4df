"""The contrast rule at each of its boundaries: eGFR threshold, result age per risk group, age, alerts, allergies."""

from datetime import date, timedelta

import pytest

from clinical import services
from clinical.models import ExamProtocol, MedicalAlert, SafetyFlag
from clinical.safety import findings_for, open_findings
from ris.models import ContrastClass, Role
from scheduling.models import Order
from tests.clinical.factories import contrast_allergy, egfr
from tests.factories import TEST_ACTOR, PatientFactory, ProcedureTypeFactory, UserFactory, local_at, make_order

pytestmark = pytest.mark.django_db

AT = local_at(date(2026, 12, 1), 10)
Kind = SafetyFlag.Kind


def contrast_exam(*, age: int = 45, contrast=ContrastClass.IODINATED, patient_class: str = "", sex: str = "M"):
    born = date(AT.year - age, 6, 1) if age is not None else None
    patient = PatientFactory(birth_date=born, sex=sex)
    procedure = ProcedureTypeFactory(contrast=contrast, name="CT abdomen with contrast")
    order = make_order(patient=patient, procedure_types=[procedure])
    Order.objects.filter(pk=order.pk).update(patient_class=patient_class)  # as HL7 PV1-2 sets it
    return order.exams.select_related("order").get()


def kinds(exam, at=AT) -> list[str]:
    return [finding.kind for finding in findings_for(exam, at=at)]


def one(exam, kind, at=AT):
    (finding,) = [finding for finding in findings_for(exam, at=at) if finding.kind == kind]
    return finding


@pytest.mark.parametrize(("value", "flagged"), [("29.9", True), ("30.0", False), ("30", False), ("12", True)])
def test_egfr_below_the_threshold_is_flagged_strictly(value, flagged):
    exam = contrast_exam()
    egfr(exam.order.patient, value, at=AT - timedelta(days=1))
    assert (Kind.EGFR_LOW in kinds(exam)) is flagged


def test_egfr_threshold_follows_the_setting(settings):
    settings.RIS_EGFR_THRESHOLD = 45.0
    exam = contrast_exam()
    egfr(exam.order.patient, "44.9", at=AT - timedelta(days=1))
    assert Kind.EGFR_LOW in kinds(exam)
    egfr(exam.order.patient, "45", at=AT - timedelta(hours=1))
    assert Kind.EGFR_LOW not in kinds(exam)


def test_low_egfr_detail_reads_like_a_radiologist_writes_it():
    exam = contrast_exam()
    row = egfr(exam.order.patient, 25, at=local_at(date(2026, 11, 30), 8))
    finding = one(exam, Kind.EGFR_LOW)
    assert finding.key == f"egfr:{row.pk}"
    assert finding.detail == "eGFR 25 mL/min/1.73 m² on 2026-11-30 (below 30)"
    assert finding.decisions == (
        SafetyFlag.Decision.PROCEED,
        SafetyFlag.Decision.PROCEED_ADJUSTED,
        SafetyFlag.Decision.NON_CONTRAST,
        SafetyFlag.Decision.CANCEL,
    )
    assert finding.deciders == frozenset({Role.RADIOLOGIST})


def test_a_low_egfr_is_flagged_however_old_it_is():
    exam = contrast_exam(age=30)  # no eGFR required at 30 without an alert
    egfr(exam.order.patient, 20, at=AT - timedelta(days=400))
    assert kinds(exam) == [Kind.EGFR_LOW]


def test_an_egfr_after_the_moment_asked_is_not_read():
    exam = contrast_exam()
    egfr(exam.order.patient, 20, at=AT + timedelta(hours=1))
    assert kinds(exam) == []


@pytest.mark.parametrize(
    ("patient_class", "age_of_result", "missing"),
    [
        ("", timedelta(days=30), False),
        ("", timedelta(days=30, seconds=1), True),
        ("", timedelta(days=31), True),
        ("O", timedelta(days=30), False),
        ("O", timedelta(days=31), True),
        ("I", timedelta(days=2), False),
        ("I", timedelta(days=2, seconds=1), True),
        ("I", timedelta(days=3), True),
        ("E", timedelta(days=2), False),
        ("E", timedelta(days=3), True),
    ],
)
def test_egfr_result_age_per_risk_group(patient_class, age_of_result, missing):
    exam = contrast_exam(age=70, patient_class=patient_class)
    egfr(exam.order.patient, 75, at=AT - age_of_result)
    assert (Kind.EGFR_MISSING in kinds(exam)) is missing


def test_result_age_follows_the_settings(settings):
    settings.RIS_EGFR_MAX_AGE_DAYS_OUTPATIENT = 90
    exam = contrast_exam(age=70)
    egfr(exam.order.patient, 75, at=AT - timedelta(days=60))
    assert kinds(exam) == []


@pytest.mark.parametrize(("age", "required"), [(59, False), (60, True), (85, True)])
def test_egfr_required_from_age_60(age, required):
    exam = contrast_exam(age=age)
    assert (Kind.EGFR_MISSING in kinds(exam)) is required


def test_age_counts_on_the_exam_day_birthday_included():
    patient = PatientFactory(birth_date=date(1966, 12, 1), sex="M")  # 60 on AT's day
    exam = make_order(patient=patient, procedure_types=[ProcedureTypeFactory(contrast="IODINATED")]).exams.get()
    assert kinds(exam) == [Kind.EGFR_MISSING]
    assert kinds(exam, at=AT - timedelta(days=1)) == []  # 59 the day before


def test_unknown_birth_date_needs_no_egfr_by_age():
    exam = contrast_exam(age=None)
    assert kinds(exam) == []


@pytest.mark.parametrize("code", ["RENAL_DISEASE", "DIABETES", "DIABETES_METFORMIN"])
def test_a_renal_risk_alert_under_60_requires_an_egfr(code):
    exam = contrast_exam(age=40)
    MedicalAlert.objects.create(patient=exam.order.patient, code=code)
    finding = one(exam, Kind.EGFR_MISSING)
    assert finding.key == "egfr-missing:none"
    assert "none on file" in finding.detail


def test_other_alerts_and_inactive_renal_alerts_do_not_require_one():
    exam = contrast_exam(age=40)
    MedicalAlert.objects.create(patient=exam.order.patient, code="FALL_RISK")
    MedicalAlert.objects.create(patient=exam.order.patient, code="RENAL_DISEASE", active=False)
    assert kinds(exam) == []


def test_missing_egfr_names_the_old_result():
    exam = contrast_exam(age=70)
    row = egfr(exam.order.patient, 55, at=local_at(date(2026, 9, 1), 9))
    finding = one(exam, Kind.EGFR_MISSING)
    assert finding.key == f"egfr-missing:{row.pk}"
    assert "An eGFR from the last 30 days is required before iodinated contrast (aged 70)" in finding.detail
    assert "eGFR 55 mL/min/1.73 m² on 2026-09-01" in finding.detail


def test_an_old_low_result_and_no_recent_one_raise_both():
    exam = contrast_exam(age=70)
    egfr(exam.order.patient, 25, at=AT - timedelta(days=40))
    assert kinds(exam) == [Kind.EGFR_LOW, Kind.EGFR_MISSING]


@pytest.mark.parametrize(
    ("allergy_class", "exam_class", "flagged"),
    [
        ("IODINATED", "IODINATED", True),
        ("GADOLINIUM", "GADOLINIUM", True),
        ("OTHER", "IODINATED", True),  # a contrast medium of unrecorded class counts against both
        ("OTHER", "GADOLINIUM", True),
        ("GADOLINIUM", "IODINATED", False),
        ("IODINATED", "GADOLINIUM", False),
    ],
)
def test_prior_contrast_reaction_by_class(allergy_class, exam_class, flagged):
    exam = contrast_exam(contrast=exam_class)
    contrast_allergy(exam.order.patient, contrast_class=allergy_class)
    assert (Kind.CONTRAST_REACTION in kinds(exam)) is flagged


def test_contrast_reaction_key_names_the_allergies_and_ignores_inactive_and_other_allergies():
    exam = contrast_exam()
    patient = exam.order.patient
    first = contrast_allergy(patient, reaction="hives")
    second = contrast_allergy(patient, allergen_text="Iohexol", reaction="bronchospasm")
    gone = contrast_allergy(patient, allergen_text="Iopamidol")
    gone.active = False
    gone.save()
    services.allergy_add(patient=patient, allergen_text="Penicillin", acting_user=TEST_ACTOR)
    finding = one(exam, Kind.CONTRAST_REACTION)
    assert finding.key == f"allergy:{first.pk},{second.pk}"
    assert "Iohexol (bronchospasm, moderate)" in finding.detail
    assert "Penicillin" not in finding.detail
    assert "Iopamidol" not in finding.detail


def test_no_contrast_procedure_no_contrast_findings():
    exam = contrast_exam(age=80, contrast=ContrastClass.NONE)
    contrast_allergy(exam.order.patient)
    egfr(exam.order.patient, 10, at=AT - timedelta(days=100))
    assert kinds(exam) == []


def test_other_contrast_class_procedure_raises_no_contrast_findings():
    exam = contrast_exam(age=80, contrast=ContrastClass.OTHER)
    egfr(exam.order.patient, 10, at=AT - timedelta(days=1))
    assert kinds(exam) == []


def test_protocol_changed_to_non_contrast_makes_the_findings_go():
    exam = contrast_exam(age=80)
    contrast_allergy(exam.order.patient)
    egfr(exam.order.patient, 20, at=AT - timedelta(days=1))
    assert kinds(exam) == [Kind.CONTRAST_REACTION, Kind.EGFR_LOW]
    radiologist = UserFactory(role=Role.RADIOLOGIST)
    ExamProtocol.objects.create(
        exam=exam, contrast=ContrastClass.NONE, protocoled_by=radiologist, protocoled_at=AT - timedelta(hours=1)
    )
    assert kinds(exam) == []


def test_protocol_with_contrast_brings_findings_to_a_plain_procedure():
    exam = contrast_exam(age=80, contrast=ContrastClass.NONE)
    egfr(exam.order.patient, 20, at=AT - timedelta(days=1))
    radiologist = UserFactory(role=Role.RADIOLOGIST)
    ExamProtocol.objects.create(
        exam=exam, contrast=ContrastClass.GADOLINIUM, protocoled_by=radiologist, protocoled_at=AT - timedelta(hours=1)
    )
    assert kinds(exam) == [Kind.EGFR_LOW]


def test_non_contrast_decision_clears_every_contrast_finding():
    exam = contrast_exam(age=80)
    egfr(exam.order.patient, 20)
    radiologist = UserFactory(role=Role.RADIOLOGIST)
    (low,) = open_findings(exam)
    services.safety_flag_decide(
        exam=exam,
        kind=low.kind,
        key=low.key,
        decision=SafetyFlag.Decision.NON_CONTRAST,
        reason="eGFR 20: non-contrast CT answers the question",
        acting_user=radiologist,
    )
    assert findings_for(exam) == []
