"""A pynetdicom SCU against the running SCP: character sets, cancel, MPPS, access control and bad input."""

import logging
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydicom import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import (
    ModalityPerformedProcedureStep,
    ModalityWorklistInformationFind,
    PatientRootQueryRetrieveInformationModelFind,
)

from ris.models import Role
from scheduling.models import Exam
from tests.factories import RoomFactory
from tests.worklist.conftest import at, final_n_set
from worklist import scp
from worklist.models import PerformedProcedureStep

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]


def associate(port: int, calling: str = "CT1", contexts=(ModalityWorklistInformationFind,)):
    ae = AE(ae_title=calling)
    for context in contexts:
        ae.add_requested_context(context)
    assoc = ae.associate("127.0.0.1", port, ae_title="RIS_MWL")
    assert assoc.is_established
    return assoc


def query(**root) -> Dataset:
    ds = Dataset()
    for keyword, value in root.items():
        setattr(ds, keyword, value)
    return ds


def find(assoc, identifier: Dataset) -> tuple[list[Dataset], list[int]]:
    results, statuses = [], []
    for status, answer in assoc.send_c_find(identifier, ModalityWorklistInformationFind):
        statuses.append(status.Status)
        if answer is not None and status.Status in (0xFF00, 0xFF01):
            results.append(answer)
    return results, statuses


def test_a_latin1_query_matches_names_stored_in_unicode_and_answers_in_latin1(department, mwl_port):
    assoc = associate(mwl_port)
    results, statuses = find(assoc, query(SpecificCharacterSet="ISO_IR 100", PatientName="Müller*", PatientID=""))
    assoc.release()
    assert statuses[-1] == 0x0000
    assert [(str(r.PatientName), r.SpecificCharacterSet) for r in results] == [("Müller^Jürgen", "ISO_IR 100")]


def test_identifiers_stay_out_of_the_log_even_at_debug_level(department, mwl_port, caplog):
    caplog.set_level(logging.DEBUG, logger="pynetdicom")
    assoc = associate(mwl_port)
    results, _ = find(assoc, query(PatientName="Müller*", PatientID="", PatientBirthDate=""))
    assoc.release()
    assert [str(r.PatientName) for r in results] == ["Müller^Jürgen"]
    assert "Find SCP Response" in caplog.text  # pynetdicom did log at debug level
    assert "Müller" not in caplog.text
    assert "P1" not in caplog.text.split()


def test_a_name_latin1_cannot_hold_comes_back_in_utf8(department, mwl_port):
    assoc = associate(mwl_port)
    results, _ = find(assoc, query(SpecificCharacterSet="ISO_IR 100", PatientID="P3", PatientName=""))
    assoc.release()
    assert [(str(r.PatientName), r.SpecificCharacterSet) for r in results] == [("山田^太郎", "ISO_IR 192")]


def test_an_unknown_return_key_is_answered_empty_with_warning_ff01(department, mwl_port):
    assoc = associate(mwl_port)
    results, statuses = find(assoc, query(PatientID="P1", PatientComments=""))
    assoc.release()
    assert statuses == [0xFF01, 0x0000]
    assert "PatientComments" in results[0]


def test_c_cancel_stops_the_stream_with_fe00(department, mwl_port, settings):
    settings.RIS_MWL_MAX_MATCHES = 10_000
    template = department["exams"]["yamada"]  # 5,000 copies of it: the cancel arrives mid-stream
    bulk_room = RoomFactory(modality=template.procedure_type.modality)
    Exam.objects.bulk_create(
        Exam(
            order=template.order,
            procedure_type=template.procedure_type,
            room=bulk_room,
            status=Exam.Status.SCHEDULED,
            scheduled_start=at(0) + timedelta(seconds=5 * n),
            scheduled_end=at(0) + timedelta(seconds=5 * n + 5),
            requested_procedure_id=f"BULK{n}",
            scheduled_procedure_step_id=f"BULK{n}",
            study_instance_uid=f"1.2.3.{n}",
        )
        for n in range(5000)
    )
    assoc = associate(mwl_port)
    statuses = []
    responses = assoc.send_c_find(query(PatientName="*", PatientID=""), ModalityWorklistInformationFind, msg_id=7)
    for status, _answer in responses:
        statuses.append(status.Status)
        if len(statuses) == 1:
            assoc.send_c_cancel(7, query_model=ModalityWorklistInformationFind)
    assoc.release()
    assert statuses[0] == 0xFF00
    assert statuses[-1] == 0xFE00
    assert len(statuses) < 5005  # 5,005 exams would match


def test_the_handler_stops_at_the_first_match_after_a_cancel(department):
    """The same, without the network race: the handler checks for a cancel before every match it sends."""

    class Event:
        identifier = query(PatientName="", PatientID="")
        assoc = type("Assoc", (), {"requestor": type("Requestor", (), {"ae_title": "CT1"})()})()
        sent = 0

        @property
        def is_cancelled(self) -> bool:
            return self.sent >= 2

    event = Event()
    statuses = []
    for status, _answer in scp.handle_find(event):
        statuses.append(status)
        event.sent += 1
    assert statuses == [0xFF00, 0xFF00, 0xFE00]


def test_a_query_retrieve_level_does_not_fit_the_worklist(department, mwl_port):
    assoc = associate(mwl_port)
    _, statuses = find(assoc, query(QueryRetrieveLevel="PATIENT", PatientID="P1"))
    again, more = find(assoc, query(PatientID="P1"))
    assoc.release()
    assert statuses == [0xA900]
    assert (len(again), more[-1]) == (1, 0x0000)  # and the service answers the next query


def test_another_sop_class_is_not_offered(department, mwl_port):
    ae = AE(ae_title="CT1")
    ae.add_requested_context(PatientRootQueryRetrieveInformationModelFind)
    assoc = ae.associate("127.0.0.1", mwl_port, ae_title="RIS_MWL")
    assert not assoc.is_established or not assoc.accepted_contexts
    if assoc.is_established:
        assoc.release()


def test_malformed_date_gets_a900_and_the_next_query_succeeds(department, mwl_port):
    assoc = associate(mwl_port)
    bad = query(PatientID="")
    sps = Dataset()
    sps.ScheduledProcedureStepStartDate = "2026-13-45"
    bad.ScheduledProcedureStepSequence = [sps]
    _, statuses = find(assoc, bad)
    _, after = find(assoc, query(PatientID="P1"))
    assoc.release()
    assert statuses == [0xA900]
    assert after == [0xFF00, 0x0000]


TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)  # any character UTF-8 can carry
ASCII = st.text(st.characters(codec="ascii"), max_size=20)  # CS, DA and UI values are never re-encoded
IDENTIFIERS = st.fixed_dictionaries(
    {},
    optional={
        "PatientName": TEXT,
        "PatientID": TEXT,
        "AccessionNumber": TEXT,
        "PatientSex": ASCII,
        "PatientBirthDate": ASCII,
        "StudyInstanceUID": ASCII,
        "AdmissionID": TEXT,
    },
)


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(values=IDENTIFIERS)
def test_random_identifiers_get_an_answer_and_the_service_keeps_serving(department, mwl_port, values):
    assoc = associate(mwl_port)
    identifier = Dataset()
    identifier.SpecificCharacterSet = "ISO_IR 192"  # so that the SCU can encode any text it is given
    for keyword, value in values.items():
        try:
            setattr(identifier, keyword, value)
        except (ValueError, TypeError):
            continue
    try:
        _, statuses = find(assoc, identifier)
        assert statuses, "no final status"
        assert statuses[-1] in (0x0000, 0xA900, 0xC001, 0xC310, 0xFE00)
        _, after = find(assoc, query(PatientID="P1"))
        assert after[-1] == 0x0000
    finally:
        assoc.release()


# --- MPPS --------------------------------------------------------------------------------------------------------


def mpps_create(exam: Exam, *, status: str = "IN PROGRESS", accession: str | None = None) -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = status
    ds.PerformedStationAETitle = "CT1"
    ds.PerformedProcedureStepID = "PPS1"
    now = timezone.localtime()
    ds.PerformedProcedureStepStartDate = f"{now:%Y%m%d}"
    ds.PerformedProcedureStepStartTime = f"{now:%H%M%S}"
    ds.PatientID = exam.order.patient.mrn
    item = Dataset()
    item.AccessionNumber = exam.accession_number if accession is None else accession
    item.RequestedProcedureID = exam.requested_procedure_id if accession is None else ""
    item.ScheduledProcedureStepID = exam.scheduled_procedure_step_id if accession is None else ""
    item.StudyInstanceUID = exam.study_instance_uid if accession is None else ""
    ds.ScheduledStepAttributesSequence = [item]
    return ds


def mpps_completed(instances: int = 3) -> Dataset:
    return final_n_set("COMPLETED", instances=instances)


def test_mpps_in_progress_then_completed_moves_the_exam_and_the_page_shows_it(department, mwl_port, client_for):
    exam = department["exams"]["muller"]
    uid = generate_uid()
    assoc = associate(mwl_port, contexts=(ModalityPerformedProcedureStep,))
    created, _ = assoc.send_n_create(mpps_create(exam), ModalityPerformedProcedureStep, uid)
    assert created.Status == 0x0000
    assert Exam.objects.get(pk=exam.pk).status == Exam.Status.IN_PROGRESS
    updated, _ = assoc.send_n_set(mpps_completed(instances=3), ModalityPerformedProcedureStep, uid)
    again, _ = assoc.send_n_set(mpps_completed(), ModalityPerformedProcedureStep, uid)
    unknown, _ = assoc.send_n_set(mpps_completed(), ModalityPerformedProcedureStep, generate_uid())
    duplicate, _ = assoc.send_n_create(mpps_create(exam), ModalityPerformedProcedureStep, uid)
    assoc.release()

    assert updated.Status == 0x0000
    exam.refresh_from_db()
    assert exam.status == Exam.Status.COMPLETED
    step = PerformedProcedureStep.objects.get(sop_instance_uid=uid)
    assert (step.status, step.instance_count, step.exam_id) == ("COMPLETED", 3, exam.pk)
    assert exam.history.latest().history_actor == "DICOM:CT1"
    assert (again.Status, again.ErrorID) == (0x0110, 0xA710)  # may no longer be updated (PS3.4 F.7.2.2.4)
    assert unknown.Status == 0x0112  # no such SOP instance
    assert duplicate.Status == 0x0111  # duplicate SOP instance

    page = client_for(Role.FRONT_DESK).get(reverse("scheduling:exam", args=[exam.pk])).content.decode()
    assert '<span class="badge status-completed">Completed</span>' in page


def test_mpps_for_an_unscheduled_patient_is_kept_for_reconciliation(department, mwl_port):
    exam = department["exams"]["oster"]
    uid = generate_uid()
    assoc = associate(mwl_port, contexts=(ModalityPerformedProcedureStep,))
    created, _ = assoc.send_n_create(mpps_create(exam, accession="UNKNOWN42"), ModalityPerformedProcedureStep, uid)
    assoc.release()
    assert created.Status == 0x0000
    step = PerformedProcedureStep.objects.get(sop_instance_uid=uid)
    assert (step.exam, step.accession_number, step.reconciled) == (None, "UNKNOWN42", False)
    assert Exam.objects.get(pk=exam.pk).status == Exam.Status.SCHEDULED


def test_mpps_created_other_than_in_progress_is_refused(department, mwl_port):
    assoc = associate(mwl_port, contexts=(ModalityPerformedProcedureStep,))
    created, _ = assoc.send_n_create(
        mpps_create(department["exams"]["oster"], status="COMPLETED"), ModalityPerformedProcedureStep, generate_uid()
    )
    assoc.release()
    assert created.Status == 0x0106
    assert not PerformedProcedureStep.objects.exists()


# --- access control ----------------------------------------------------------------------------------------------


def test_unknown_calling_ae_is_rejected_when_callers_are_restricted(department, mwl_port, settings):
    settings.RIS_MWL_RESTRICT_CALLERS = True
    settings.RIS_MWL_EXTRA_AE_TITLES = ["WORKSTATION"]
    stranger = AE(ae_title="STRANGER")
    stranger.add_requested_context(ModalityWorklistInformationFind)
    refused = stranger.associate("127.0.0.1", mwl_port, ae_title="RIS_MWL")
    assert refused.is_rejected
    for calling in ("CT1", "WORKSTATION"):
        assoc = associate(mwl_port, calling=calling)
        assoc.release()


def test_station_scoped_worklist_shows_only_the_callers_room(department, mwl_port, settings):
    settings.RIS_MWL_STATION_SCOPED = True
    assoc = associate(mwl_port, calling="CT2")
    results, _ = find(assoc, query(PatientName="", PatientID=""))
    assoc.release()
    assert [str(r.PatientName) for r in results] == ["山田^太郎"]


def test_with_restriction_on_and_nobody_allowed_every_caller_is_rejected(mwl_port, settings):
    settings.RIS_MWL_RESTRICT_CALLERS = True  # no rooms, no extra titles
    caller = AE(ae_title="CT1")
    caller.add_requested_context(ModalityWorklistInformationFind)
    assert caller.associate("127.0.0.1", mwl_port, ae_title="RIS_MWL").is_rejected


def test_n_create_without_a_uid_is_answered_with_the_uid_the_ris_gave_the_step(department, mwl_port):
    assoc = associate(mwl_port, contexts=(ModalityPerformedProcedureStep,))
    created, attributes = assoc.send_n_create(mpps_create(department["exams"]["oster"]), ModalityPerformedProcedureStep)
    assoc.release()
    assert created.Status == 0x0000
    assert PerformedProcedureStep.objects.get().sop_instance_uid == attributes.SOPInstanceUID
