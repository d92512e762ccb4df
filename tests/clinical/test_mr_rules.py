"""MR safety: the screening questionnaire, implants, and the rule that decides whether an MR exam may start."""

from decimal import Decimal

import pytest

from clinical import mr
from clinical.models import MRSafety, MRScreening, Observation, SafetyFlag
from clinical.safety import findings_for, open_findings
from clinical.services import safety_flag_decide
from ris.exceptions import ApplicationError
from ris.models import Role
from scheduling.models import Exam
from scheduling.services import exam_check_in, exam_start
from tests.clinical.factories import observation
from tests.clinical.mr_factories import ALL_NO, implant, mr_exam, screen
from tests.factories import (
    TEST_ACTOR,
    UserFactory,
    make_exam_booked_today,
)

pytestmark = pytest.mark.django_db
Kind = SafetyFlag.Kind
Decision = SafetyFlag.Decision


def kinds(exam) -> set[str]:
    return {finding.kind for finding in open_findings(exam)}


def finding(exam, kind):
    return next(found for found in findings_for(exam) if found.kind == kind)


def decide(exam, kind, decision, user, reason="Reviewed the device card and the labelling"):
    found = finding(exam, kind)
    return safety_flag_decide(exam=exam, kind=kind, key=found.key, decision=decision, reason=reason, acting_user=user)


def start(exam) -> Exam:
    return exam_start(exam=exam, acting_user=TEST_ACTOR)


def test_a_screening_with_every_answer_no_lets_the_exam_start():
    exam = mr_exam()
    screen(exam, weight="82.5")
    assert start(exam).status == Exam.Status.IN_PROGRESS


def test_no_screening_refuses_the_start():
    exam = mr_exam()
    with pytest.raises(ApplicationError, match="MR screening not done"):
        start(exam)


def test_an_emergency_without_screening_may_proceed_on_a_radiologists_decision():
    exam = mr_exam()
    decide(exam, Kind.MR_SCREENING_MISSING, Decision.PROCEED, UserFactory(role=Role.RADIOLOGIST))
    assert start(exam).status == Exam.Status.IN_PROGRESS


def test_no_screening_offers_only_proceed_or_cancel():
    assert finding(mr_exam(), Kind.MR_SCREENING_MISSING).decisions == (Decision.PROCEED, Decision.CANCEL)


# --- MR Unsafe ------------------------------------------------------------------------------------------------------


def test_mr_unsafe_implant_refuses_the_start():
    exam = mr_exam()
    screen(exam, implants_or_devices="YES", details="Pacemaker since 2019")
    implant(exam, MRSafety.UNSAFE)
    with pytest.raises(ApplicationError, match="MR Unsafe"):
        start(exam)


@pytest.mark.parametrize("decision", [Decision.PROCEED, Decision.PROCEED_ADJUSTED, Decision.NON_CONTRAST])
def test_not_even_a_radiologist_can_let_an_mr_unsafe_exam_proceed(decision):
    exam = mr_exam()
    screen(exam)
    implant(exam, MRSafety.UNSAFE)
    with pytest.raises(ApplicationError, match="not possible"):
        decide(exam, Kind.MR_UNSAFE, decision, UserFactory(role=Role.RADIOLOGIST))


def test_mr_unsafe_still_refuses_the_start_when_everything_else_is_cleared():
    exam = mr_exam()
    screen(exam, implants_or_devices="YES", details="Pacemaker and a hip replacement")
    implant(exam, MRSafety.UNSAFE)
    officer = UserFactory(role=Role.MR_SAFETY_OFFICER)
    decide(exam, Kind.MR_CLEARANCE, Decision.PROCEED, officer)
    assert kinds(exam) == {Kind.MR_UNSAFE}
    with pytest.raises(ApplicationError, match="MR Unsafe"):
        start(exam)


def test_mr_unsafe_can_only_be_cancelled_and_cancelling_cancels_the_exam():
    exam = mr_exam()
    screen(exam)
    implant(exam, MRSafety.UNSAFE)
    decide(exam, Kind.MR_UNSAFE, Decision.CANCEL, UserFactory(role=Role.MR_SAFETY_OFFICER))
    exam.refresh_from_db()
    assert exam.status == Exam.Status.CANCELLED


def test_an_mr_unsafe_implant_entered_in_error_no_longer_blocks():
    exam = mr_exam()
    screen(exam)
    wrong = implant(exam, MRSafety.UNSAFE)
    mr.implant_remove(implant=wrong, reason=mr.ImplantRemoval.ERROR, acting_user=TEST_ACTOR, note="other patient")
    assert start(exam).status == Exam.Status.IN_PROGRESS


def test_an_mr_conditional_implant_is_not_mr_unsafe():
    exam = mr_exam()
    screen(exam, implants_or_devices="YES", details="Pacemaker, MR Conditional system")
    implant(exam, MRSafety.CONDITIONAL)
    assert kinds(exam) == {Kind.MR_CLEARANCE}


def test_an_mr_safe_implant_needs_nothing():
    exam = mr_exam()
    screen(exam)
    implant(exam, MRSafety.SAFE, device_type="Titanium dental implant")
    assert findings_for(exam) == []


# --- Clearance ------------------------------------------------------------------------------------------------------


def test_a_conditional_implant_needs_clearance_before_the_start():
    exam = mr_exam()
    screen(exam, implants_or_devices="YES", details="Pacemaker")
    implant(exam, MRSafety.CONDITIONAL, make_model="Medtronic Azure XT MRI SureScan", conditions="1.5 T and 3 T")
    with pytest.raises(ApplicationError, match="needs clearance"):
        start(exam)


def test_a_technologist_cannot_clear_a_conditional_implant():
    exam = mr_exam()
    screen(exam, implants_or_devices="YES", details="Pacemaker")
    implant(exam, MRSafety.CONDITIONAL)
    with pytest.raises(ApplicationError, match="Only a"):
        decide(exam, Kind.MR_CLEARANCE, Decision.PROCEED, UserFactory(role=Role.TECHNOLOGIST))


def test_an_mr_safety_officer_clears_a_conditional_implant_and_the_exam_starts():
    exam = mr_exam()
    screen(exam, implants_or_devices="YES", details="Pacemaker")
    implant(exam, MRSafety.CONDITIONAL)
    decide(exam, Kind.MR_CLEARANCE, Decision.PROCEED, UserFactory(role=Role.MR_SAFETY_OFFICER))
    assert start(exam).status == Exam.Status.IN_PROGRESS


def test_an_implant_of_unknown_mr_status_needs_clearance():
    exam = mr_exam()
    screen(exam)
    implant(exam, MRSafety.UNKNOWN, device_type="Neurostimulator")
    assert "Neurostimulator (MR status not known)" in finding(exam, Kind.MR_CLEARANCE).detail


@pytest.mark.parametrize("question", ["implants_or_devices", "metal_fragments", "prior_surgery", "pregnancy"])
@pytest.mark.parametrize("answer", ["YES", "UNKNOWN"])
def test_a_yes_or_not_known_answer_needs_clearance(question, answer):
    exam = mr_exam()
    screen(exam, details="Welder, metal in the left eye in 2004", **{question: answer})
    assert kinds(exam) == {Kind.MR_CLEARANCE}


def test_claustrophobia_alone_is_a_note_for_the_technologist_not_a_clearance():
    exam = mr_exam()
    screening = screen(exam, claustrophobia="YES", details="Panicked in a CT scanner")
    assert findings_for(exam) == []
    assert "Claustrophobic" in mr.technologist_notes(screening)[0]


@pytest.mark.parametrize(("weight", "needs_clearance"), [("200.0", False), ("200.1", True)])
def test_the_screening_weight_against_the_table_limit(settings, weight, needs_clearance):
    settings.RIS_MR_TABLE_LIMIT_KG = 200.0
    exam = mr_exam()
    screen(exam, weight=weight)
    assert (Kind.MR_CLEARANCE in kinds(exam)) is needs_clearance


@pytest.mark.parametrize(("weight", "needs_clearance"), [("200.0", False), ("200.1", True)])
def test_without_a_screening_weight_the_latest_measured_weight_counts(settings, weight, needs_clearance):
    settings.RIS_MR_TABLE_LIMIT_KG = 200.0
    exam = mr_exam()
    observation(exam.order.patient, Observation.Kind.WEIGHT, weight, "kg")
    screen(exam)
    assert (Kind.MR_CLEARANCE in kinds(exam)) is needs_clearance


def test_the_screening_weight_wins_over_the_measured_one(settings):
    settings.RIS_MR_TABLE_LIMIT_KG = 200.0
    exam = mr_exam()
    observation(exam.order.patient, Observation.Kind.WEIGHT, "215", "kg")
    screen(exam, weight="150")
    assert kinds(exam) == set()


# --- New evidence needs a new clearance -----------------------------------------------------------------------------


def cleared_exam():
    exam = mr_exam()
    screen(exam, implants_or_devices="YES", details="Pacemaker")
    pacemaker = implant(exam, MRSafety.CONDITIONAL)
    decide(exam, Kind.MR_CLEARANCE, Decision.PROCEED, UserFactory(role=Role.MR_SAFETY_OFFICER))
    assert kinds(exam) == set()
    return exam, pacemaker


def test_changing_the_screening_after_clearance_reopens_it():
    exam, _pacemaker = cleared_exam()
    screen(exam, implants_or_devices="YES", metal_fragments="YES", details="Pacemaker; shrapnel in the leg")
    assert kinds(exam) == {Kind.MR_CLEARANCE}
    with pytest.raises(ApplicationError, match="needs clearance"):
        start(exam)


def test_saving_the_same_screening_again_keeps_the_clearance():
    exam, _pacemaker = cleared_exam()
    screen(exam, implants_or_devices="YES", details="Pacemaker")
    assert start(exam).status == Exam.Status.IN_PROGRESS


def test_a_new_implant_after_clearance_reopens_it():
    exam, _pacemaker = cleared_exam()
    implant(exam, MRSafety.CONDITIONAL, device_type="Insulin pump")
    assert kinds(exam) == {Kind.MR_CLEARANCE}


def test_a_changed_implant_marking_after_clearance_reopens_it():
    exam, pacemaker = cleared_exam()
    mr.implant_update(implant=pacemaker, acting_user=TEST_ACTOR, conditions="1.5 T only, SAR 2 W/kg")
    assert kinds(exam) == {Kind.MR_CLEARANCE}


# --- Other modalities -----------------------------------------------------------------------------------------------


def test_a_ct_exam_ignores_mr_implants_and_needs_no_screening():
    exam = exam_check_in(exam=make_exam_booked_today(), acting_user=TEST_ACTOR)
    implant(exam, MRSafety.UNSAFE)
    assert findings_for(exam) == []
    assert start(exam).status == Exam.Status.IN_PROGRESS


def test_a_screening_is_refused_for_a_ct_exam():
    exam = make_exam_booked_today()
    with pytest.raises(ApplicationError, match="MR exams"):
        screen(exam)


# --- The screening itself -------------------------------------------------------------------------------------------


def test_a_yes_needs_its_details():
    exam = mr_exam()
    with pytest.raises(ApplicationError, match="details") as refused:
        screen(exam, prior_surgery="YES")
    assert refused.value.field == "details"
    assert not MRScreening.objects.filter(exam=exam).exists()


def test_each_question_must_be_answered():
    exam = mr_exam()
    answers = {**ALL_NO}
    del answers["pregnancy"]
    with pytest.raises(ApplicationError) as refused:
        mr.mr_screening_save(exam=exam, answers=answers, weight=None, details="", acting_user=TEST_ACTOR)
    assert refused.value.field == "pregnancy"


def test_a_weight_that_is_not_a_weight_is_refused():
    with pytest.raises(ApplicationError) as refused:
        screen(mr_exam(), weight="-3")
    assert refused.value.field == "weight_kg"


def test_one_screening_per_exam_and_a_change_keeps_the_history():
    exam = mr_exam()
    screen(exam, weight="80")
    screening = screen(exam, weight="84")
    assert MRScreening.objects.filter(exam=exam).count() == 1
    assert [row.weight_kg for row in screening.history.order_by("history_id")] == [Decimal("80.0"), Decimal("84.0")]


def test_a_screening_cannot_be_changed_once_the_exam_started():
    exam = mr_exam()
    screen(exam)
    start(exam)
    with pytest.raises(ApplicationError, match="no longer be changed"):
        screen(exam, weight="90")


def test_a_removed_implant_cannot_be_changed():
    exam = mr_exam()
    clip = implant(exam, MRSafety.CONDITIONAL, device_type="Aneurysm clip")
    mr.implant_remove(implant=clip, reason=mr.ImplantRemoval.REMOVED, acting_user=TEST_ACTOR)
    with pytest.raises(ApplicationError, match="removed"):
        mr.implant_update(implant=clip, acting_user=TEST_ACTOR, mr_safety=MRSafety.SAFE)


def test_removing_an_implant_says_why_in_its_history():
    exam = mr_exam()
    clip = implant(exam, MRSafety.CONDITIONAL, device_type="Aneurysm clip")
    mr.implant_remove(implant=clip, reason=mr.ImplantRemoval.REMOVED, acting_user=TEST_ACTOR, note="explanted 2025")
    assert clip.history.latest().history_change_reason == "removed: explanted 2025"


def test_an_implant_needs_a_name():
    with pytest.raises(ApplicationError) as refused:
        implant(mr_exam(), MRSafety.SAFE, device_type="  ")
    assert refused.value.field == "device_type"
