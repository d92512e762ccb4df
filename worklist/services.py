"""MPPS: what the modalities report moves their exams on. Every write here, in a transaction, with its actor."""

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from pydicom.datadict import tag_for_keyword

from clinical.documentation import exam_dose_from_modality
from ris.audit import Actor, Interface, attribute
from ris.exceptions import ApplicationError, IllegalTransition
from ris.models import Patient
from scheduling.models import Exam
from scheduling.services import exam_check_in, exam_complete, exam_discontinue, exam_start
from worklist.forwarding import forward_queue
from worklist.ian import images_refresh_group
from worklist.models import PerformedProcedureStep
from worklist.translate import StepReport

PURGE_ACTOR = Interface("RIS", "retention")

log = logging.getLogger(__name__)
PPS = PerformedProcedureStep.Status


class StepError(ApplicationError):
    """An MPPS request the SCP refuses; `status` is the DIMSE status PS3.4 F.7 names for it.

    `message` is for the log (it may name the SOP Instance UID); `comment` is the Error Comment (0000,0902) sent
    back: LO, so at most 64 characters, written to fit and naming no UID (a cut UID would name another instance).
    `tags` go back as the Attribute Identifier List (0000,1005) where the status has one.
    """

    status = 0x0110  # Processing failure
    error_id: int | None = None

    def __init__(self, message: str, *, comment: str = "", tags: tuple[int, ...] = (), **kwargs):
        super().__init__(message, **kwargs)
        self.comment = comment or message
        self.tags = tags


class DuplicateStep(StepError):
    status = 0x0111  # Duplicate SOP Instance


class NoSuchStep(StepError):
    status = 0x0112  # No such SOP Instance


class InvalidStep(StepError):
    status = 0x0106  # Invalid attribute value


class StepClosed(StepError):
    status = 0x0110  # Processing failure ...
    error_id = 0xA710  # ... Performed Procedure Step Object may no longer be updated (PS3.4 F.7.2.2.4)


class NotSettable(StepError):
    # PS3.7 C.4.3: "No such attribute", with the Attribute Identifier List: the attribute is not one an N-SET of
    # this SOP class may set (PS3.4 Table F.7.2-1, "Not allowed").
    status = 0x0105


class FinalStateIncomplete(StepError):
    status = 0x0110  # Processing failure: PS3.4 F.7 names no other status for it


# PS3.4 Table F.7.2-1: the top-level attributes whose N-SET requirement is "Not allowed". What identifies the
# patient, the scheduled steps, the station and the start is fixed at N-CREATE; correcting it is the RIS's job
# after the step has ended (PS3.4 F.7.2.2.3), by reconciliation.
NOT_SETTABLE = (
    "ScheduledStepAttributesSequence",
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "IssuerOfPatientIDQualifiersSequence",
    "OtherPatientIDsSequence",
    "PatientBirthDate",
    "PatientSex",
    "ReferencedPatientSequence",
    "AdmissionID",
    "IssuerOfAdmissionIDSequence",
    "ServiceEpisodeID",
    "IssuerOfServiceEpisodeIDSequence",
    "ServiceEpisodeDescription",
    "PerformedProcedureStepID",
    "PerformedStationAETitle",
    "PerformedStationName",
    "PerformedLocation",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "Modality",
    "StudyID",
)

# How an Error Comment names the final-state attributes (PS3.4 Table F.7.2-1, Final State column, Type 1).
FINAL_STATE_NAMES = {
    "PerformedProcedureStepEndDate": "End Date",
    "PerformedProcedureStepEndTime": "End Time",
    "PerformedSeriesSequence": "Performed Series",
    "SeriesInstanceUID": "Series UID",
    "ProtocolName": "Protocol Name",
    "ReferencedSOPClassUID": "Ref. SOP Class",
    "ReferencedSOPInstanceUID": "Ref. SOP Instance",
}
LO_MAX = 64


def fit_lo(prefix: str, names: list[str]) -> str:
    """`prefix` and as many whole `names` as fit in an LO value (64 characters), "..." when some are left out."""
    text = prefix
    for index, name in enumerate(names):
        part = (", " if index else "") + name
        rest = len(names) - index - 1
        if len(text) + len(part) + (5 if rest else 0) > LO_MAX:
            return text + (", ..." if index else "...")
        text += part
    return text


def _dose_store(exam_id: int | None, report: StepReport, actor: Actor, sop_instance_uid: str) -> None:
    """Keep the dose the step reports with its exam (clinical.documentation: it never overwrites a technologist's
    entry). A dose that cannot be stored is logged, never a reason to refuse the step.

    A grouped step keeps it with its first exam only: one acquisition has one dose, and the same CTDIvol and DLP
    on two exams would count the patient's dose twice."""
    if exam_id is None or not report.dose:
        return
    try:
        with transaction.atomic():
            exam_dose_from_modality(exam=Exam.objects.get(pk=exam_id), acting_user=actor, **vars(report.dose))
    except ApplicationError as error:
        log.warning("MPPS %s: dose not stored for exam %s: %s", sop_instance_uid, exam_id, error.message)


def _exam_of_item(accession: str, requested_id: str, sps_id: str, study_uid: str) -> Exam | None:
    """The exam one Scheduled Step Attributes item names: by SPS ID, else accession number with requested procedure
    ID, else an accession number that only one exam has, else the Study Instance UID."""
    exams = Exam.objects.select_related("order__patient")
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
        return exams.filter(study_instance_uid=study_uid).first()
    return None


def _identifiers(patient: Patient) -> set[tuple[str, str]]:
    """(MRN, issuer) of the patient and of every record merged into it (ADT^A40): a modality that read the
    worklist before the merge sends the old MRN."""
    seen, frontier = {patient.pk: patient}, [patient]
    while frontier and len(seen) < 100:
        frontier = [record for record in Patient.objects.filter(merged_into__in=frontier) if record.pk not in seen]
        seen.update((record.pk, record) for record in frontier)
    return {(record.mrn, record.mrn_issuer) for record in seen.values()}


def _patient_mismatch(report: StepReport, patient: Patient) -> str:
    """Why the step's Patient ID (with its Issuer, when sent) does not name the exams' patient; "" when it does.
    Patient ID is Type 2 (PS3.4 Table F.7.2-1): sent empty, it contradicts nothing."""
    if not report.patient_id:
        return ""
    identifiers = _identifiers(patient)
    if report.issuer_of_patient_id:
        if (report.patient_id, report.issuer_of_patient_id) in identifiers:
            return ""
        if report.patient_id in {mrn for mrn, _ in identifiers}:
            return "The Issuer of Patient ID is not that of the exams' patient."
    elif report.patient_id in {mrn for mrn, _ in identifiers}:
        return ""
    return "The Patient ID is not that of the scheduled exams' patient."


def scheduled_exams(report: StepReport) -> tuple[list[Exam], str]:
    """The exams the step performed, one per Scheduled Step Attributes item (several in the IHE group case), and
    why none when it cannot move them: an item that names no exam, exams of different patients, a Patient ID that
    is not theirs. All of them or none: a step half matched waits for reconciliation whole."""
    if not report.scheduled:
        return [], "The step names no scheduled procedure step."
    exams: list[Exam] = []
    unmatched = 0
    for item in report.scheduled:
        exam = _exam_of_item(*item)
        if exam is None:
            unmatched += 1
        elif exam.pk not in {known.pk for known in exams}:
            exams.append(exam)
    if not exams:
        return [], "No scheduled exam matches the step."
    if unmatched:
        return [], f"{unmatched} of its {len(report.scheduled)} scheduled steps match no exam."
    if len({exam.order.patient_id for exam in exams}) > 1:
        return [], "Its scheduled steps are exams of different patients."
    reason = _patient_mismatch(report, exams[0].order.patient)
    return ([], reason) if reason else (exams, "")


def _step_exams(step: PerformedProcedureStep) -> list[Exam]:
    """The step's exams, its first one first (`exam` alone for a step whose exams were never listed)."""
    exams = sorted(step.exams.all(), key=lambda exam: (exam.pk != step.exam_id, exam.pk))
    if not exams and step.exam_id:
        exams = [Exam.objects.get(pk=step.exam_id)]
    return exams


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


class _NotStarted(Exception):
    def __init__(self, exam: Exam, why: str = ""):
        super().__init__(exam.pk)
        self.exam = exam
        self.why = why


def _start_all(exams: list[Exam], *, actor: Actor, at: datetime | None, station: str, step) -> tuple[list[Exam], str]:
    """Start every exam of the step (checked in first when still SCHEDULED: never left ARRIVED), or none: when one
    cannot start (in progress already, cancelled...), those started are rolled back and the reason returned."""
    try:
        with transaction.atomic():
            started = []
            for exam in exams:
                try:
                    moved = exam_started_at_modality(exam, acting_user=actor, at=at, station=station, step=step)
                except ApplicationError as error:  # a rule of the exam's (the transition itself is logged, None)
                    raise _NotStarted(exam, error.message) from error
                if moved is None:
                    raise _NotStarted(exam)
                started.append(moved)
            return started, ""
    except _NotStarted as refused:
        exam = Exam.objects.get(pk=refused.exam.pk)  # as it is, its attempted moves rolled back
        log.warning("%s: exam %s not started, no exam of the step moved", step, exam.pk)
        why = refused.why.rstrip(".") or f"it is {exam.get_status_display().lower()}"
        return [], f"Exam {exam} could not be started: {why}."


@transaction.atomic
def mpps_create(
    *, sop_instance_uid: str, report: StepReport, attributes: dict, calling_ae: str
) -> PerformedProcedureStep:
    """N-CREATE: record the step and start its exams (every exam of a grouped step); a step that cannot move them
    all waits for reconciliation, with the reason."""
    if report.status != PPS.IN_PROGRESS:
        raise InvalidStep(
            f"MPPS {sop_instance_uid} created {report.status or '(no status)'}.",
            comment="An MPPS is created IN PROGRESS (PS3.4 F.7.2.1.3)",
            field="PerformedProcedureStepStatus",
        )
    actor = Interface("DICOM", calling_ae or "unknown")
    first = report.scheduled[0] if report.scheduled else ("", "", "", "")
    step = PerformedProcedureStep(
        sop_instance_uid=sop_instance_uid,
        status=PPS.IN_PROGRESS,
        performed_station_ae_title=report.station_ae_title or calling_ae,
        performed_station_name=report.station_name,
        performed_procedure_step_id=report.step_id,
        started_at=report.started_at,
        ended_at=report.ended_at,
        patient_id=report.patient_id,
        patient_name=report.patient_name,
        accession_number=first[0][:16],
        requested_procedure_id=first[1][:16],
        study_instance_uid=first[3][:64],
        performed_series=report.series,
        instance_count=sum(series["instances"] for series in report.series),
        attributes=attributes,
    )
    exams, reason = scheduled_exams(report)
    if exams:
        station = step.performed_station_ae_title or "unknown"
        exams, reason = _start_all(exams, actor=actor, at=report.started_at, station=station, step=step)
    step.exam = exams[0] if exams else None
    step.unmatched_reason = reason[:200]
    attribute(step, actor)
    try:
        with transaction.atomic():
            step.save()
    except IntegrityError:
        raise DuplicateStep(
            f"MPPS {sop_instance_uid} exists already.", comment="An MPPS with this SOP Instance UID exists already"
        ) from None
    if exams:
        step.exams.set(exams)
        images_refresh_group(exams=exams, acting_user=actor)  # images that came before the step (group case)
    _dose_store(step.exam_id, report, actor, sop_instance_uid)
    forward_queue(sop_instance_uid=sop_instance_uid, operation="N-CREATE", attributes=attributes)
    if exams:
        log.info("MPPS %s created by %s for exams %s", sop_instance_uid, calling_ae, [exam.pk for exam in exams])
    else:
        log.info("MPPS %s created by %s, unmatched: %s", sop_instance_uid, calling_ae, reason)
    return step


def _final_state_gaps(step: PerformedProcedureStep, report: StepReport) -> list[str]:
    """The Type 1 attributes of the final state (PS3.4 Table F.7.2-1 and F.7.2.2.2) that neither this N-SET nor
    the step holds: End Date and Time, a Performed Series Sequence with at least one item (note 2), and in each
    item its Series Instance UID, Protocol Name and the UIDs of the instances it references. (Its Type 2
    attributes may be absent: empty or absent, they tell the RIS the same.)"""
    gaps = []
    valued = report.present - report.empty
    if report.ended_at is None and step.ended_at is None:
        gaps.append("PerformedProcedureStepEndDate")
    if "PerformedProcedureStepEndTime" not in valued and step.ended_at is None:
        gaps.append("PerformedProcedureStepEndTime")
    series = report.series if "PerformedSeriesSequence" in report.present else step.performed_series
    if not series:
        gaps.append("PerformedSeriesSequence")
    for item in series:
        gaps += [keyword for keyword in item.get("missing", ()) if keyword not in gaps]
    return gaps


def _check_n_set(step: PerformedProcedureStep, report: StepReport) -> None:
    """Refuse what PS3.4 F.7.2.2 does not let an N-SET do, before anything changes."""
    uid = step.sop_instance_uid
    if step.status != PPS.IN_PROGRESS:
        raise StepClosed(
            f"MPPS {uid} is {step.status} and may no longer be updated.",
            comment="Performed Procedure Step Object may no longer be updated",
        )
    refused = [keyword for keyword in NOT_SETTABLE if keyword in report.present]
    if refused:
        raise NotSettable(
            f"MPPS {uid}: N-SET of {', '.join(refused)}, which may not be set (PS3.4 Table F.7.2-1).",
            comment=fit_lo("Not settable by N-SET: ", refused),
            tags=tuple(int(tag_for_keyword(keyword)) for keyword in refused),
        )
    if report.status and report.status not in PPS.values:
        raise InvalidStep(
            f"MPPS {uid}: {report.status!r} is not a Performed Procedure Step Status.",
            comment="Not a Performed Procedure Step Status",
        )
    if report.status in (PPS.COMPLETED, PPS.DISCONTINUED):
        gaps = _final_state_gaps(step, report)
        if gaps:
            raise FinalStateIncomplete(
                f"MPPS {uid}: {report.status} without {', '.join(gaps)} (PS3.4 F.7.2.2.2).",
                comment=fit_lo(f"{report.status} lacks ", [FINAL_STATE_NAMES.get(gap, gap) for gap in gaps]),
            )


@transaction.atomic
def mpps_update(
    *, sop_instance_uid: str, report: StepReport, attributes: dict, calling_ae: str
) -> PerformedProcedureStep:
    """N-SET: update the step; COMPLETED completes its exams, DISCONTINUED discontinues them. An N-SET that sets
    what it may not, or ends the step without its final-state attributes, changes nothing."""
    step = PerformedProcedureStep.objects.select_for_update().filter(sop_instance_uid=sop_instance_uid).first()
    if step is None:
        raise NoSuchStep(f"No MPPS {sop_instance_uid}.", comment="No MPPS with this SOP Instance UID")
    _check_n_set(step, report)
    actor = Interface("DICOM", calling_ae or "unknown")
    if "PerformedSeriesSequence" in report.present:  # a sequence is sent whole (PS3.4 F.7.2.2.2)
        step.performed_series = report.series
        step.instance_count = sum(series["instances"] for series in report.series)
    step.ended_at = report.ended_at or step.ended_at
    step.discontinuation_reason = report.discontinuation_reason or step.discontinuation_reason
    step.attributes = {**step.attributes, **attributes}
    if report.status:
        step.status = report.status
    if step.status != PPS.IN_PROGRESS:
        for exam in _step_exams(step):
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
    *, step: PerformedProcedureStep, exams: list[Exam], acting_user, note: str = ""
) -> PerformedProcedureStep:
    """Settle an unmatched step: attach it to the exams it was (one, or several for a grouped step, all of one
    patient; each catches up), or close it without any (`exams` empty)."""
    step = PerformedProcedureStep.objects.select_for_update().get(pk=step.pk)
    if step.reconciled or step.exam_id:
        raise ApplicationError("This performed procedure step is already settled.")
    exams = list({exam.pk: exam for exam in exams}.values())
    if len({exam.order.patient_id for exam in exams}) > 1:
        raise ApplicationError("These exams are of different patients: a step is one patient's.")
    station = step.performed_station_ae_title or "(unknown)"  # the step happened there: a fact, as in mpps_create
    for exam in exams:
        if exam.status == Exam.Status.SCHEDULED:
            exam = exam_check_in(exam=exam, acting_user=acting_user, at=step.started_at, performed_at=station)
        if exam.status == Exam.Status.ARRIVED:
            exam = exam_start(exam=exam, acting_user=acting_user, at=step.started_at, performed_at=station)
        if step.status == PPS.COMPLETED:
            exam_complete(exam=exam, acting_user=acting_user, at=step.ended_at)
        elif step.status == PPS.DISCONTINUED:
            reason = step.discontinuation_reason or "Discontinued at the modality"
            exam_discontinue(exam=exam, reason=reason, acting_user=acting_user, at=step.ended_at)
    step.exam = exams[0] if exams else None
    step.reconciled = True
    attribute(step, acting_user, note or ("attached to exams" if exams else "closed without an exam"))
    step.save()
    step.exams.set(exams)
    if exams:
        images_refresh_group(exams=exams, acting_user=acting_user)
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
    # A grouped step waits for all its exams to be finished.
    unfinished = Exam.objects.exclude(status__in=FINISHED)
    steps = PerformedProcedureStep.objects.filter(exam__status__in=FINISHED, ended_at__lt=before).exclude(
        exams__in=unfinished
    )
    count = 0
    for step in steps.iterator(chunk_size=500):
        attribute(step, actor, "retention period over")
        step.delete()
        count += 1
    if count:
        log.info("purged %d performed procedure steps finished before %s", count, before.date())
    return count
