"""MPPS: what the modalities report moves their exams on. Every write here, in a transaction, with its actor."""

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from clinical.documentation import exam_dose_from_modality
from ris.audit import Actor, Interface, attribute
from ris.exceptions import ApplicationError, IllegalTransition
from scheduling.models import Exam
from scheduling.services import exam_check_in, exam_complete, exam_discontinue, exam_start
from worklist.forwarding import forward_queue
from worklist.models import PerformedProcedureStep
from worklist.translate import StepReport

PURGE_ACTOR = Interface("RIS", "retention")

log = logging.getLogger(__name__)
PPS = PerformedProcedureStep.Status


class StepError(ApplicationError):
    """An MPPS request the SCP refuses; `status` is the DIMSE status PS3.4 F.7 names for it."""

    status = 0x0110  # Processing failure
    error_id: int | None = None


class DuplicateStep(StepError):
    status = 0x0111  # Duplicate SOP Instance


class NoSuchStep(StepError):
    status = 0x0112  # No such SOP Instance


class InvalidStep(StepError):
    status = 0x0106  # Invalid attribute value


class StepClosed(StepError):
    status = 0x0110  # Processing failure ...
    error_id = 0xA710  # ... Performed Procedure Step Object may no longer be updated (PS3.4 F.7.2.2.4)


def _dose_store(exam_id: int | None, report: StepReport, actor: Actor, sop_instance_uid: str) -> None:
    """Keep the dose the step reports with its exam (clinical.documentation: it never overwrites a technologist's
    entry). A dose that cannot be stored is logged, never a reason to refuse the step."""
    if exam_id is None or not report.dose:
        return
    try:
        with transaction.atomic():
            exam_dose_from_modality(exam=Exam.objects.get(pk=exam_id), acting_user=actor, **vars(report.dose))
    except ApplicationError as error:
        log.warning("MPPS %s: dose not stored for exam %s: %s", sop_instance_uid, exam_id, error.message)


def _scheduled_exam(report: StepReport) -> Exam | None:
    """The exam an MPPS refers to: by SPS ID, else accession number with requested procedure ID."""
    for accession, requested_id, sps_id, study_uid in report.scheduled:
        exams = Exam.objects.select_related("order")
        if sps_id:
            exam = exams.filter(scheduled_procedure_step_id=sps_id).first()
            if exam:
                return exam
        if accession and requested_id:
            exam = exams.filter(accession_number=accession, requested_procedure_id=requested_id).first()
            if exam:
                return exam
        if accession:
            candidates = list(exams.filter(accession_number=accession)[:2])
            if len(candidates) == 1:
                return candidates[0]
        if study_uid:
            exam = exams.filter(study_instance_uid=study_uid).first()
            if exam:
                return exam
    return None


# --- the exam moves with what the modality did: MPPS and UPS alike -------------------------------------------------


def exam_started_at_modality(exam: Exam, *, acting_user: Actor, at: datetime | None, station: str, step=None):
    """The modality started the exam (an MPPS IN PROGRESS, a UPS workitem IN PROGRESS): check in when still
    SCHEDULED (the patient is evidently here), then IN_PROGRESS; never left ARRIVED. The scanner's report is a fact
    on whatever day it came: recorded, the history naming the station when it was not the booked day. Returns the
    exam, or None when it cannot be started (logged; the step then waits for reconciliation)."""
    try:
        with transaction.atomic():
            if exam.status == Exam.Status.SCHEDULED:
                exam = exam_check_in(exam=exam, acting_user=acting_user, at=at, performed_at=station)
            return exam_start(exam=exam, acting_user=acting_user, at=at, performed_at=station)
    except IllegalTransition as error:
        log.warning("%s: exam %s not started: %s", _named(step), exam.pk, error.message)
        return None


def exam_finished_at_modality(
    exam: Exam, *, completed: bool, acting_user: Actor, at: datetime | None, reason: str = "", step=None
) -> Exam | None:
    """The modality completed (or discontinued) the exam: an MPPS COMPLETED/DISCONTINUED, a UPS workitem
    COMPLETED/CANCELED. Returns the exam, or None when it could not move on (logged)."""
    try:
        with transaction.atomic():
            if completed:
                return exam_complete(exam=exam, acting_user=acting_user, at=at)
            reason = reason or "Discontinued at the modality"
            return exam_discontinue(exam=exam, reason=reason, acting_user=acting_user, at=at)
    except IllegalTransition as error:
        log.warning("%s: exam %s not moved on: %s", _named(step), exam.pk, error.message)
        return None


def _named(step) -> str:
    return str(step) if step is not None else "Procedure step"


@transaction.atomic
def mpps_create(
    *, sop_instance_uid: str, report: StepReport, attributes: dict, calling_ae: str
) -> PerformedProcedureStep:
    """N-CREATE: record the step and start its exam; a step that matches no exam waits for reconciliation."""
    if report.status != PPS.IN_PROGRESS:
        raise InvalidStep("An MPPS is created IN PROGRESS (PS3.4 F.7.2.1).", field="PerformedProcedureStepStatus")
    actor = Interface("DICOM", calling_ae or "unknown")
    exam = _scheduled_exam(report)
    step = PerformedProcedureStep(
        sop_instance_uid=sop_instance_uid,
        status=PPS.IN_PROGRESS,
        performed_station_ae_title=report.station_ae_title or calling_ae,
        performed_station_name=report.station_name,
        performed_procedure_step_id=report.step_id,
        started_at=report.started_at,
        patient_id=report.patient_id,
        patient_name=report.patient_name,
        accession_number=(report.scheduled[0][0] if report.scheduled else "")[:16],
        requested_procedure_id=(report.scheduled[0][1] if report.scheduled else "")[:16],
        study_instance_uid=(report.scheduled[0][3] if report.scheduled else "")[:64],
        attributes=attributes,
    )
    if exam is not None:
        station = step.performed_station_ae_title or "unknown"
        exam = exam_started_at_modality(exam, acting_user=actor, at=report.started_at, station=station, step=step)
    step.exam = exam
    attribute(step, actor)
    try:
        with transaction.atomic():
            step.save()
    except IntegrityError:
        raise DuplicateStep(f"MPPS {sop_instance_uid} exists already.") from None
    _dose_store(step.exam_id, report, actor, sop_instance_uid)
    forward_queue(sop_instance_uid=sop_instance_uid, operation="N-CREATE", attributes=attributes)
    log.info("MPPS %s created by %s for exam %s", sop_instance_uid, calling_ae, exam.pk if exam else "(unmatched)")
    return step


@transaction.atomic
def mpps_update(
    *, sop_instance_uid: str, report: StepReport, attributes: dict, calling_ae: str
) -> PerformedProcedureStep:
    """N-SET: update the step; COMPLETED completes its exam, DISCONTINUED discontinues it."""
    step = PerformedProcedureStep.objects.select_for_update().filter(sop_instance_uid=sop_instance_uid).first()
    if step is None:
        raise NoSuchStep(f"No MPPS {sop_instance_uid}.")
    if step.status != PPS.IN_PROGRESS:
        raise StepClosed(f"MPPS {sop_instance_uid} is {step.status} and may no longer be updated.")
    if report.status and report.status not in PPS.values:
        raise InvalidStep(f"{report.status!r} is not a Performed Procedure Step Status.")
    actor = Interface("DICOM", calling_ae or "unknown")
    if report.series:
        step.performed_series = report.series
        step.instance_count = sum(series["instances"] for series in report.series)
    step.ended_at = report.ended_at or step.ended_at
    step.discontinuation_reason = report.discontinuation_reason or step.discontinuation_reason
    step.attributes = {**step.attributes, **attributes}
    if report.status:
        step.status = report.status
    if step.exam_id and step.status != PPS.IN_PROGRESS:
        exam = Exam.objects.get(pk=step.exam_id)
        exam_finished_at_modality(
            exam,
            completed=step.status == PPS.COMPLETED,
            acting_user=actor,
            at=step.ended_at,
            reason=step.discontinuation_reason,
            step=step,
        )
    attribute(step, actor)
    step.save()
    _dose_store(step.exam_id, report, actor, sop_instance_uid)
    forward_queue(sop_instance_uid=sop_instance_uid, operation="N-SET", attributes=attributes)
    return step


@transaction.atomic
def mpps_reconcile(
    *, step: PerformedProcedureStep, exam: Exam | None, acting_user, note: str = ""
) -> PerformedProcedureStep:
    """Settle an unmatched step: attach it to the exam it was (the exam catches up), or close it without one."""
    step = PerformedProcedureStep.objects.select_for_update().get(pk=step.pk)
    if step.reconciled or step.exam_id:
        raise ApplicationError("This performed procedure step is already settled.")
    if exam is not None:
        station = step.performed_station_ae_title or "(unknown)"  # the step happened there: a fact, as in mpps_create
        if exam.status == Exam.Status.SCHEDULED:
            exam = exam_check_in(exam=exam, acting_user=acting_user, at=step.started_at, performed_at=station)
        if exam.status == Exam.Status.ARRIVED:
            exam = exam_start(exam=exam, acting_user=acting_user, at=step.started_at, performed_at=station)
        if step.status == PPS.COMPLETED:
            exam_complete(exam=exam, acting_user=acting_user, at=step.ended_at)
        elif step.status == PPS.DISCONTINUED:
            reason = step.discontinuation_reason or "Discontinued at the modality"
            exam_discontinue(exam=exam, reason=reason, acting_user=acting_user, at=step.ended_at)
        step.exam = exam
    step.reconciled = True
    attribute(step, acting_user, note or ("attached to exam" if exam else "closed without an exam"))
    step.save()
    return step


# Exams whose performed steps may be purged: the exam is over and nothing on the modality side can change it.
FINISHED = (
    Exam.Status.COMPLETED,
    Exam.Status.PRELIMINARY,
    Exam.Status.FINAL,
    Exam.Status.AMENDED,
    Exam.Status.DISCONTINUED,
)


@transaction.atomic
def performed_steps_purge(*, days: int, now: datetime | None = None, actor=PURGE_ACTOR) -> int:
    """Remove the MPPS records of exams finished more than `days` ago (their times and status live on the exam;
    each removal leaves a history row). Steps never matched to an exam wait for the front desk and are kept."""
    if days <= 0:
        return 0
    before = (now or timezone.now()) - timedelta(days=days)
    steps = PerformedProcedureStep.objects.filter(exam__status__in=FINISHED, ended_at__lt=before)
    count = 0
    for step in steps.iterator(chunk_size=500):
        attribute(step, actor, "retention period over")
        step.delete()
        count += 1
    if count:
        log.info("purged %d performed procedure steps finished before %s", count, before.date())
    return count
