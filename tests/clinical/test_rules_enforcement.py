"""The safety rules in every way an exam starts: the technologist's buttons, the service the API and HL7 would call,
the modality's MPPS (accepted, marked "started open"), and decisions that let the start through until new evidence
arrives."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from clinical import services
from clinical.models import SafetyFlag
from clinical.safety import open_findings
from ris.exceptions import ApplicationError
from ris.models import ContrastClass, Role
from scheduling.models import Exam
from scheduling.services import Action, exam_action_refusal, exam_check_in, exam_start
from tests.clinical.factories import contrast_allergy, egfr
from tests.factories import (
    TEST_ACTOR,
    PatientFactory,
    ProcedureTypeFactory,
    UserFactory,
    make_exam_booked_today,
    make_radiologist,
)
from worklist.services import mpps_create
from worklist.translate import StepReport

pytestmark = pytest.mark.django_db

Kind = SafetyFlag.Kind


def contrast_ct_with_low_egfr(*, arrived: bool = True) -> Exam:
    patient = PatientFactory(sex="M", mrn="CT25")
    procedure = ProcedureTypeFactory(name="CT abdomen with contrast", contrast=ContrastClass.IODINATED)
    egfr(patient, 25, at=timezone.now() - timedelta(days=2))
    exam = make_exam_booked_today(patient=patient, procedure_types=[procedure])
    return exam_check_in(exam=exam, acting_user=TEST_ACTOR) if arrived else exam


def decide(exam, finding, decision=SafetyFlag.Decision.PROCEED, reason="benefit outweighs the risk"):
    return services.safety_flag_decide(
        exam=exam, kind=finding.kind, key=finding.key, decision=decision, reason=reason, acting_user=make_radiologist()
    )


def test_the_service_refuses_a_start_while_a_finding_is_open():
    exam = contrast_ct_with_low_egfr()
    with pytest.raises(ApplicationError) as refused:
        exam_start(exam=exam, acting_user=TEST_ACTOR)
    assert "Open safety flags: Low eGFR: eGFR 25 mL/min/1.73 m²" in refused.value.message
    assert Exam.objects.get(pk=exam.pk).status == Exam.Status.ARRIVED
    assert "Low eGFR" in exam_action_refusal(exam, Action.START)


def test_technologist_start_button_is_refused_with_the_message_and_not_offered(client_for):
    exam = contrast_ct_with_low_egfr()
    client = client_for(Role.TECHNOLOGIST)
    page = client.get(reverse("scheduling:exam", args=[exam.pk])).content.decode()
    assert reverse("scheduling:exam_start", args=[exam.pk]) not in page
    assert "Open safety flags: Low eGFR" in page
    listed = client.get(reverse("worklist:home")).content.decode()
    assert reverse("scheduling:exam_start", args=[exam.pk]) not in listed
    assert "Safety flags open" in listed

    response = client.post(reverse("scheduling:exam_start", args=[exam.pk]))
    assert response.status_code == 302
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert any("Open safety flags: Low eGFR" in message for message in shown)
    assert Exam.objects.get(pk=exam.pk).status == Exam.Status.ARRIVED


def test_a_decision_lets_the_start_through_and_the_button_returns(client_for):
    exam = contrast_ct_with_low_egfr()
    (finding,) = open_findings(exam)
    decide(exam, finding, SafetyFlag.Decision.PROCEED_ADJUSTED, "reduced dose, IV hydration before and after")
    client = client_for(Role.TECHNOLOGIST)
    assert reverse("scheduling:exam_start", args=[exam.pk]) in client.get(reverse("worklist:home")).content.decode()
    client.post(reverse("scheduling:exam_start", args=[exam.pk]))
    assert Exam.objects.get(pk=exam.pk).status == Exam.Status.IN_PROGRESS


def test_a_newer_egfr_after_the_decision_makes_a_new_open_finding():
    exam = contrast_ct_with_low_egfr()
    (finding,) = open_findings(exam)
    decide(exam, finding)
    newer = egfr(exam.order.patient, 22, at=timezone.now() - timedelta(minutes=5))
    (again,) = open_findings(exam)
    assert (again.kind, again.key) == (Kind.EGFR_LOW, f"egfr:{newer.pk}")
    with pytest.raises(ApplicationError):
        exam_start(exam=exam, acting_user=TEST_ACTOR)


def test_a_newer_normal_egfr_clears_the_finding():
    exam = contrast_ct_with_low_egfr()
    egfr(exam.order.patient, 48, at=timezone.now() - timedelta(minutes=5))
    assert open_findings(exam) == []
    assert exam_start(exam=exam, acting_user=TEST_ACTOR).status == Exam.Status.IN_PROGRESS


def test_a_new_allergy_after_the_decision_makes_a_new_open_finding():
    exam = contrast_ct_with_low_egfr()
    patient = exam.order.patient
    first = contrast_allergy(patient, reaction="hives")
    for finding in open_findings(exam):
        decide(exam, finding, SafetyFlag.Decision.PROCEED_ADJUSTED, "premedicated with prednisone 50 mg x3")
    assert open_findings(exam) == []
    second = contrast_allergy(patient, allergen_text="Iopromide", reaction="laryngeal oedema")
    (again,) = open_findings(exam)
    assert (again.kind, again.key) == (Kind.CONTRAST_REACTION, f"allergy:{first.pk},{second.pk}")


def test_only_a_radiologist_decides_contrast_findings():
    exam = contrast_ct_with_low_egfr()
    (finding,) = open_findings(exam)
    with pytest.raises(ApplicationError, match="Only a radiologist"):
        services.safety_flag_decide(
            exam=exam,
            kind=finding.kind,
            key=finding.key,
            decision=SafetyFlag.Decision.PROCEED,
            reason="in a hurry",
            acting_user=UserFactory(role=Role.TECHNOLOGIST),
        )


def test_mpps_in_progress_with_an_open_flag_is_accepted_and_marked():
    exam = contrast_ct_with_low_egfr(arrived=False)
    (finding,) = open_findings(exam)
    started = timezone.now().replace(microsecond=0)
    report = StepReport(
        status="IN PROGRESS",
        station_ae_title="CT1",
        step_id="PPS1",
        started_at=started,
        patient_id=exam.order.patient.mrn,
        scheduled=[
            (
                exam.accession_number,
                exam.requested_procedure_id,
                exam.scheduled_procedure_step_id,
                exam.study_instance_uid,
            )
        ],
    )
    step = mpps_create(sop_instance_uid="1.2.826.0.1.3680043.10.999.1", report=report, attributes={}, calling_ae="CT1")
    exam.refresh_from_db()
    assert step.exam_id == exam.pk
    assert exam.status == Exam.Status.IN_PROGRESS
    note = exam.history.latest().history_change_reason
    assert note.startswith("started with open safety flag: Open safety flags: Low eGFR: eGFR 25")
    flag = SafetyFlag.objects.get(exam=exam, kind=finding.kind, key=finding.key)
    assert flag.started_open_at == started
    assert flag.started_open_by == "DICOM:CT1"
    assert flag.decision == ""
    assert open_findings(exam) == [finding]  # still open: listed for the radiologist


def test_mpps_after_the_decision_leaves_no_started_open_mark():
    exam = contrast_ct_with_low_egfr()
    (finding,) = open_findings(exam)
    flag = decide(exam, finding)
    report = StepReport(
        status="IN PROGRESS",
        station_ae_title="CT1",
        started_at=timezone.now(),
        scheduled=[(exam.accession_number, "", "", "")],
    )
    mpps_create(sop_instance_uid="1.2.826.0.1.3680043.10.999.2", report=report, attributes={}, calling_ae="CT1")
    exam.refresh_from_db()
    flag.refresh_from_db()
    assert exam.status == Exam.Status.IN_PROGRESS
    assert "open safety flag" not in (exam.history.latest().history_change_reason or "")
    assert flag.started_open_at is None
