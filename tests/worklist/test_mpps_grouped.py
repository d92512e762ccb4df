"""Grouped procedures (IHE RAD "group case"): one MPPS for two requested procedures moves both exams; the Patient ID
must be theirs; an N-SET may change only what PS3.4 Table F.7.2-1 allows, and ends the step only with the final
state attributes. A pynetdicom SCU acts as the modality against the running SCP."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from pydicom import Dataset
from pydicom.tag import Tag
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import ModalityPerformedProcedureStep, ModalityWorklistInformationFind

from clinical.models import ExamDocumentation
from ris.exceptions import ApplicationError
from ris.models import ContrastClass, Role
from ris.services import patient_merge
from scheduling.models import Exam
from scheduling.services import exam_check_in
from tests.factories import TEST_ACTOR, PatientFactory, ProcedureTypeFactory, make_booked_exam
from tests.worklist.conftest import at, final_n_set
from worklist import services
from worklist.models import PerformedProcedureStep
from worklist.services import (
    FinalStateIncomplete,
    NotSettable,
    fit_lo,
    mpps_create,
    mpps_reconcile,
    mpps_update,
    performed_steps_purge,
    scheduled_exams,
)
from worklist.translate import StepReport, parse_step_report

S = Exam.Status


@pytest.fixture
def two_exams(department):
    """Müller's CT head at 09:00 and a CT chest at 09:30, two requested procedures the CT does in one acquisition."""
    ct1 = department["rooms"]["CT1"]
    chest = ProcedureTypeFactory(
        code="CTCHEST", name="CT chest", modality=ct1.modality, contrast=ContrastClass.NONE, default_duration_minutes=20
    )
    second = make_booked_exam(
        patient=department["patients"]["muller"],
        procedure_types=[chest],
        room=ct1,
        start=at(9, 30),
        booked_at=timezone.now() - timedelta(days=1),
    )
    return [department["exams"]["muller"], second]


def item(exam: Exam) -> Dataset:
    ds = Dataset()
    ds.StudyInstanceUID = exam.study_instance_uid
    ds.ReferencedStudySequence = []
    ds.AccessionNumber = exam.accession_number
    ds.RequestedProcedureID = exam.requested_procedure_id
    ds.RequestedProcedureDescription = ""
    ds.ScheduledProcedureStepID = exam.scheduled_procedure_step_id
    ds.ScheduledProcedureStepDescription = ""
    ds.ScheduledProtocolCodeSequence = []
    return ds


def grouped_n_create(exams: list[Exam], *, patient_id: str | None = None) -> Dataset:
    """An N-CREATE as a CT sends it for two worklist entries done in one acquisition (PS3.4 F.7.2.1.2 note 2)."""
    patient = exams[0].order.patient
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ScheduledStepAttributesSequence = [item(exam) for exam in exams]
    ds.PatientName = f"{patient.family_name}^{patient.given_name}"
    ds.PatientID = patient.mrn if patient_id is None else patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = patient.sex
    ds.ReferencedPatientSequence = []
    ds.PerformedProcedureStepID = "PPS-G1"
    ds.PerformedStationAETitle = "CT1"
    ds.PerformedStationName = "CT1"
    ds.PerformedLocation = ""
    now = timezone.localtime()
    ds.PerformedProcedureStepStartDate = f"{now:%Y%m%d}"
    ds.PerformedProcedureStepStartTime = f"{now:%H%M%S}"
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedProcedureStepDescription = "CT head and chest"
    ds.PerformedProcedureTypeDescription = ""
    ds.ProcedureCodeSequence = []
    ds.PerformedProcedureStepEndDate = ""
    ds.PerformedProcedureStepEndTime = ""
    ds.Modality = "CT"
    ds.StudyID = "1"
    ds.PerformedProtocolCodeSequence = []
    ds.PerformedSeriesSequence = []
    return ds


def modality(port: int):
    ae = AE(ae_title="CT1")
    ae.add_requested_context(ModalityPerformedProcedureStep)
    ae.add_requested_context(ModalityWorklistInformationFind)
    assoc = ae.associate("127.0.0.1", port, ae_title="RIS_MWL")
    assert assoc.is_established
    return assoc


def statuses(*exams: Exam) -> list[str]:
    return [Exam.objects.get(pk=exam.pk).status for exam in exams]


def sps_statuses(assoc, patient_id: str) -> dict[str, str]:
    """The Scheduled Procedure Step Status the worklist gives each of the patient's exams, by accession number."""
    query = Dataset()
    query.PatientID = patient_id
    query.AccessionNumber = ""
    sps = Dataset()
    sps.ScheduledProcedureStepStatus = ""
    query.ScheduledProcedureStepSequence = [sps]
    found = {}
    for status, answer in assoc.send_c_find(query, ModalityWorklistInformationFind):
        if answer is not None and status.Status in (0xFF00, 0xFF01):
            found[answer.AccessionNumber] = answer.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStatus
    return found


# --- over the network ---------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_a_grouped_step_starts_both_exams_and_completes_both(two_exams, mwl_port, settings):
    settings.RIS_MWL_STATUSES = ["SCHEDULED", "ARRIVED", "IN_PROGRESS"]
    head, chest = two_exams
    exam_check_in(exam=chest, acting_user=TEST_ACTOR)  # one arrived at the desk, the other not yet
    uid = generate_uid()
    assoc = modality(mwl_port)
    try:
        created, _ = assoc.send_n_create(grouped_n_create(two_exams), ModalityPerformedProcedureStep, uid)
        started = statuses(head, chest)
        on_the_worklist = sps_statuses(assoc, "P1")
        completed, _ = assoc.send_n_set(final_n_set("COMPLETED", instances=4), ModalityPerformedProcedureStep, uid)
        again, _ = assoc.send_n_set(final_n_set("COMPLETED"), ModalityPerformedProcedureStep, uid)
    finally:
        assoc.release()

    assert created.Status == 0x0000
    assert started == [S.IN_PROGRESS, S.IN_PROGRESS]  # started, never left ARRIVED
    assert on_the_worklist == {head.accession_number: "STARTED", chest.accession_number: "STARTED"}
    assert completed.Status == 0x0000
    assert statuses(head, chest) == [S.COMPLETED, S.COMPLETED]
    step = PerformedProcedureStep.objects.get(sop_instance_uid=uid)
    assert (step.exam_id, sorted(step.exams.values_list("pk", flat=True))) == (head.pk, sorted([head.pk, chest.pk]))
    assert (step.status, step.instance_count, step.unmatched_reason) == ("COMPLETED", 4, "")
    assert {Exam.objects.get(pk=exam.pk).history.latest().history_actor for exam in two_exams} == {"DICOM:CT1"}
    assert (again.Status, again.ErrorID) == (0x0110, 0xA710)
    assert again.ErrorComment == "Performed Procedure Step Object may no longer be updated"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_a_patient_id_not_the_exams_patients_keeps_the_step_for_reconciliation(two_exams, mwl_port, client_for):
    uid = generate_uid()
    assoc = modality(mwl_port)
    try:
        created, _ = assoc.send_n_create(
            grouped_n_create(two_exams, patient_id="P2"), ModalityPerformedProcedureStep, uid
        )
    finally:
        assoc.release()

    assert created.Status == 0x0000  # recorded, never dropped
    assert statuses(*two_exams) == [S.SCHEDULED, S.SCHEDULED]
    step = PerformedProcedureStep.objects.get(sop_instance_uid=uid)
    assert (step.exam, step.exams.count()) == (None, 0)
    assert step.unmatched_reason == "The Patient ID is not that of the scheduled exams' patient."
    page = client_for(Role.FRONT_DESK).get(reverse("worklist:reconcile_list")).content.decode()
    assert "The Patient ID is not that of the scheduled exams&#x27; patient." in page
    assert f"{two_exams[0].accession_number}, {two_exams[1].accession_number}" in page


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_an_n_set_of_what_may_not_be_set_is_refused_and_changes_nothing(two_exams, mwl_port):
    uid = generate_uid()
    assoc = modality(mwl_port)
    try:
        assoc.send_n_create(grouped_n_create(two_exams), ModalityPerformedProcedureStep, uid)
        n_set = final_n_set("COMPLETED")
        n_set.PatientID = "P2"  # the patient "corrected" at the modality
        n_set.PerformedStationAETitle = "CT2"
        refused, _ = assoc.send_n_set(n_set, ModalityPerformedProcedureStep, uid)
    finally:
        assoc.release()

    assert refused.Status == 0x0105  # No such attribute (PS3.7 C.4.3), with the Attribute Identifier List
    assert [Tag(tag) for tag in refused.AttributeIdentifierList] == [Tag(0x0010, 0x0020), Tag(0x0040, 0x0241)]
    assert refused.ErrorComment == "Not settable by N-SET: PatientID, PerformedStationAETitle"
    step = PerformedProcedureStep.objects.get(sop_instance_uid=uid)
    assert (step.status, step.patient_id, step.performed_series) == ("IN PROGRESS", "P1", [])
    assert statuses(*two_exams) == [S.IN_PROGRESS, S.IN_PROGRESS]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_completed_without_a_performed_series_is_refused_and_the_step_stays_in_progress(two_exams, mwl_port):
    uid = generate_uid()
    assoc = modality(mwl_port)
    try:
        assoc.send_n_create(grouped_n_create(two_exams), ModalityPerformedProcedureStep, uid)
        n_set = final_n_set("COMPLETED")
        del n_set.PerformedSeriesSequence
        refused, _ = assoc.send_n_set(n_set, ModalityPerformedProcedureStep, uid)
        still_open = (PerformedProcedureStep.objects.get(sop_instance_uid=uid).status, statuses(*two_exams))
        completed, _ = assoc.send_n_set(final_n_set("COMPLETED"), ModalityPerformedProcedureStep, uid)
        unknown, _ = assoc.send_n_set(final_n_set("COMPLETED"), ModalityPerformedProcedureStep, generate_uid())
    finally:
        assoc.release()

    assert refused.Status == 0x0110
    assert "ErrorID" not in refused  # A710 is for a step already ended
    assert refused.ErrorComment == "COMPLETED lacks Performed Series"
    assert still_open == ("IN PROGRESS", [S.IN_PROGRESS, S.IN_PROGRESS])
    assert completed.Status == 0x0000  # the real N-SET that followed
    assert statuses(*two_exams) == [S.COMPLETED, S.COMPLETED]
    assert unknown.Status == 0x0112
    assert unknown.ErrorComment == "No MPPS with this SOP Instance UID"  # the UID goes in the log, never cut here


# --- the rules, service by service --------------------------------------------------------------------------------


def report_for(exams: list[Exam], **changes) -> StepReport:
    report = StepReport(
        status="IN PROGRESS",
        station_ae_title="CT1",
        started_at=timezone.now(),
        patient_id=exams[0].order.patient.mrn,
        scheduled=[(e.accession_number, e.requested_procedure_id, e.scheduled_procedure_step_id, "") for e in exams],
    )
    for name, value in changes.items():
        setattr(report, name, value)
    return report


def create(exams: list[Exam], uid: str = "1.2.826.0.1.77", **changes) -> PerformedProcedureStep:
    return mpps_create(sop_instance_uid=uid, report=report_for(exams, **changes), attributes={}, calling_ae="CT1")


def n_set(uid: str, ds: Dataset) -> PerformedProcedureStep:
    report = parse_step_report(ds, tz=timezone.get_current_timezone())
    return mpps_update(sop_instance_uid=uid, report=report, attributes={}, calling_ae="CT1")


@pytest.fixture
def patients_exams(db):
    patient = PatientFactory(mrn="M1", mrn_issuer="HOSP")
    procedures = [ProcedureTypeFactory(contrast=ContrastClass.NONE) for _ in range(2)]
    booked = timezone.now() - timedelta(days=1)
    exams = []
    for hour, procedure in ((9, procedures[0]), (10, procedures[1])):
        start = at(hour)
        exams.append(make_booked_exam(patient=patient, procedure_types=[procedure], start=start, booked_at=booked))
    return patient, exams


@pytest.mark.django_db
def test_a_step_whose_items_only_partly_match_moves_no_exam(patients_exams):
    _, exams = patients_exams
    report = report_for(exams)
    report.scheduled.append(("NOSUCH", "", "", ""))
    step = mpps_create(sop_instance_uid="1.2.826.0.1.78", report=report, attributes={}, calling_ae="CT1")
    assert (step.exam, step.unmatched_reason) == (None, "1 of its 3 scheduled steps match no exam.")
    assert statuses(*exams) == [S.SCHEDULED, S.SCHEDULED]


@pytest.mark.django_db
def test_a_step_naming_exams_of_two_patients_moves_none(patients_exams):
    _, exams = patients_exams
    other = make_booked_exam(start=at(11), booked_at=timezone.now() - timedelta(days=1))
    step = create([exams[0], other], patient_id="")
    assert (step.exam, step.unmatched_reason) == (None, "Its scheduled steps are exams of different patients.")
    assert statuses(exams[0], other) == [S.SCHEDULED, S.SCHEDULED]


@pytest.mark.django_db
def test_the_issuer_of_patient_id_when_sent_must_be_the_patients(patients_exams):
    _, exams = patients_exams
    assert scheduled_exams(report_for(exams, issuer_of_patient_id="HOSP"))[0] == exams
    assert scheduled_exams(report_for(exams, issuer_of_patient_id="OTHER")) == (
        [],
        "The Issuer of Patient ID is not that of the exams' patient.",
    )
    assert scheduled_exams(report_for(exams, patient_id=""))[0] == exams  # Type 2, sent empty: nothing to contradict


@pytest.mark.django_db
def test_the_mrn_of_a_record_merged_into_the_patient_is_the_patients(patients_exams):
    patient, exams = patients_exams
    old = PatientFactory(mrn="OLD7", mrn_issuer="HOSP")
    patient_merge(source=old, target=patient, acting_user=TEST_ACTOR)
    assert scheduled_exams(report_for(exams, patient_id="OLD7", issuer_of_patient_id="HOSP"))[0] == exams


@pytest.mark.django_db
def test_one_exam_that_cannot_start_leaves_the_other_untouched(patients_exams):
    _, exams = patients_exams
    create([exams[1]], uid="1.2.826.0.1.79")  # the second exam is in progress already
    step = create(exams, uid="1.2.826.0.1.80")
    assert step.exam is None
    assert step.unmatched_reason == f"Exam {exams[1]} could not be started: it is in progress."
    assert statuses(*exams) == [S.SCHEDULED, S.IN_PROGRESS]
    assert not Exam.objects.get(pk=exams[0].pk).history.filter(status=S.ARRIVED).exists()


@pytest.mark.django_db
def test_discontinued_needs_the_final_state_too_and_then_discontinues_both(patients_exams):
    _, exams = patients_exams
    create(exams)
    bare = Dataset()
    bare.PerformedProcedureStepStatus = "DISCONTINUED"
    with pytest.raises(FinalStateIncomplete) as refused:
        n_set("1.2.826.0.1.77", bare)
    assert refused.value.comment == "DISCONTINUED lacks End Date, End Time, Performed Series"
    n_set("1.2.826.0.1.77", final_n_set("DISCONTINUED", instances=0))
    assert statuses(*exams) == [S.DISCONTINUED, S.DISCONTINUED]


@pytest.mark.django_db
def test_a_series_without_protocol_name_or_instance_uids_is_not_a_final_state(patients_exams):
    _, exams = patients_exams
    create(exams)
    ds = final_n_set("COMPLETED")
    del ds.PerformedSeriesSequence[0].ProtocolName
    ds.PerformedSeriesSequence[0].ReferencedImageSequence[0].ReferencedSOPInstanceUID = ""
    with pytest.raises(FinalStateIncomplete) as refused:
        n_set("1.2.826.0.1.77", ds)
    assert refused.value.comment == "COMPLETED lacks Protocol Name, Ref. SOP Instance"


@pytest.mark.django_db
def test_the_final_state_may_be_sent_over_several_n_sets(patients_exams):
    _, exams = patients_exams
    create(exams)
    series_first = final_n_set("IN PROGRESS")
    del series_first.PerformedProcedureStepEndDate, series_first.PerformedProcedureStepEndTime
    n_set("1.2.826.0.1.77", series_first)
    ends = final_n_set("COMPLETED")
    del ends.PerformedSeriesSequence
    assert n_set("1.2.826.0.1.77", ends).instance_count == 3
    assert statuses(*exams) == [S.COMPLETED, S.COMPLETED]


@pytest.mark.django_db
def test_an_n_set_of_the_scheduled_steps_is_refused(patients_exams):
    _, exams = patients_exams
    create(exams)
    ds = Dataset()
    ds.ScheduledStepAttributesSequence = [item(exams[0])]
    with pytest.raises(NotSettable) as refused:
        n_set("1.2.826.0.1.77", ds)
    assert refused.value.tags == (0x00400270,)


@pytest.mark.django_db
def test_the_dose_of_a_grouped_acquisition_is_kept_with_its_first_exam_only(patients_exams):
    _, exams = patients_exams
    ct = exams[0].procedure_type.modality
    ct.code = "CT"
    ct.save()
    exams[1].procedure_type.modality = ct
    exams[1].procedure_type.save()
    create(exams)
    ds = final_n_set("COMPLETED")
    ds.CommentsOnRadiationDose = "Total DLP: 456.7 mGy*cm"
    n_set("1.2.826.0.1.77", ds)
    assert ExamDocumentation.objects.get(exam=exams[0]).dlp_mgycm == Decimal("456.70")
    assert not ExamDocumentation.objects.filter(exam=exams[1], dlp_mgycm__isnull=False).exists()


@pytest.mark.django_db
def test_the_front_desk_attaches_a_grouped_step_to_both_its_exams(patients_exams, client_for):
    _, exams = patients_exams
    step = create(exams, patient_id="TYPED")
    n_set(step.sop_instance_uid, final_n_set("COMPLETED"))
    desk = client_for(Role.FRONT_DESK)
    desk.post(
        reverse("worklist:reconcile", args=[step.pk]),
        {"accession_number": f"{exams[0].accession_number}, {exams[1].accession_number}"},
    )
    step.refresh_from_db()
    assert (step.exam, set(step.exams.all()), step.reconciled) == (exams[0], set(exams), True)
    assert statuses(*exams) == [S.COMPLETED, S.COMPLETED]


@pytest.mark.django_db
def test_a_step_is_not_attached_to_exams_of_two_patients(patients_exams):
    _, exams = patients_exams
    step = create(exams, patient_id="TYPED")
    other = make_booked_exam(start=at(11), booked_at=timezone.now() - timedelta(days=1))
    with pytest.raises(Exception, match="different patients"):
        mpps_reconcile(step=step, exams=[exams[0], other], acting_user=TEST_ACTOR)
    assert statuses(exams[0], other) == [S.SCHEDULED, S.SCHEDULED]


def test_error_comments_keep_whole_names_within_64_characters():
    names = ["PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime", "PerformedStationAETitle"]
    comment = fit_lo("Not settable by N-SET: ", names)
    assert comment == "Not settable by N-SET: PerformedProcedureStepStartDate, ..."
    assert len(comment) <= 64


@pytest.mark.django_db
def test_a_step_linked_by_its_exam_alone_still_completes_it(patients_exams):
    _, exams = patients_exams
    create([exams[0]])
    step = PerformedProcedureStep.objects.get(sop_instance_uid="1.2.826.0.1.77")
    step.exams.clear()  # as a step written before it listed its exams
    n_set("1.2.826.0.1.77", final_n_set("COMPLETED"))
    assert statuses(exams[0]) == [S.COMPLETED]


@pytest.mark.django_db
def test_an_exam_rule_refusing_the_start_rolls_back_the_exam_started_before_it(patients_exams, monkeypatch):
    _, exams = patients_exams
    started = services.exam_started_at_modality

    def refuse_the_second(exam, **kwargs):
        if exam.pk == exams[1].pk:
            raise ApplicationError("Not on this modality.")
        return started(exam, **kwargs)

    monkeypatch.setattr(services, "exam_started_at_modality", refuse_the_second)
    step = create(exams)
    assert step.unmatched_reason == f"Exam {exams[1]} could not be started: Not on this modality."
    assert statuses(*exams) == [S.SCHEDULED, S.SCHEDULED]


@pytest.mark.django_db
def test_a_grouped_step_is_purged_only_once_all_its_exams_are_finished(patients_exams):
    _, exams = patients_exams
    step = create(exams)
    n_set(step.sop_instance_uid, final_n_set("COMPLETED"))
    later = timezone.now() + timedelta(days=40)
    exam_reopened = Exam.objects.filter(pk=exams[1].pk)
    exam_reopened.update(status=S.IN_PROGRESS)  # as if the second exam had not been finished
    assert performed_steps_purge(days=30, now=later) == 0
    exam_reopened.update(status=S.COMPLETED)
    assert performed_steps_purge(days=30, now=later) == 1
