"""UPS Pull over DIMSE (PS3.4 CC.2) against the running SCP, a pynetdicom SCU as the performing workstation: C-FIND
the workitems, claim one with N-ACTION, report the performed procedure with N-SET, complete it, read it with N-GET;
with the statuses of Table CC.1.1-2 for a wrong Transaction UID or an illegal transition."""

from datetime import timedelta

import pytest
from django.utils import timezone
from pydicom import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import UnifiedProcedureStepPull, UnifiedProcedureStepQuery

from scheduling.models import Exam
from worklist.models import Workitem
from worklist.ups import workitem_uid

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]

CHANGE_STATE = 1


def associate(port: int):
    ae = AE(ae_title="CT1")
    ae.add_requested_context(UnifiedProcedureStepPull)
    ae.add_requested_context(UnifiedProcedureStepQuery)
    assoc = ae.associate("127.0.0.1", port, ae_title="RIS_MWL")
    assert assoc.is_established
    return assoc


def state(value: str, transaction_uid: str) -> Dataset:
    ds = Dataset()
    ds.ProcedureStepState = value
    ds.TransactionUID = transaction_uid
    return ds


def performed(start, end) -> Dataset:
    item = Dataset()
    item.PerformedProcedureStepStartDateTime = f"{start:%Y%m%d%H%M%S}"
    item.PerformedProcedureStepEndDateTime = f"{end:%Y%m%d%H%M%S}"
    return item


def test_a_workstation_finds_claims_and_completes_a_workitem_over_dimse(department, mwl_port):
    exam = department["exams"]["muller"]
    assoc = associate(mwl_port)
    identifier = Dataset()
    identifier.PatientID = "P1"
    identifier.PatientName = ""
    identifier.SOPInstanceUID = ""
    identifier.ProcedureStepState = "SCHEDULED"
    identifier.ScheduledProcedureStepStartDateTime = ""
    request = Dataset()
    request.AccessionNumber = ""
    identifier.ReferencedRequestSequence = [request]
    answers = [
        (status.Status, answer)
        for status, answer in assoc.send_c_find(identifier, UnifiedProcedureStepPull)
        if status.Status in (0xFF00, 0xFF01)
    ]
    [(status, answer)] = answers
    assert status == 0xFF00
    uid = answer.SOPInstanceUID
    assert uid == workitem_uid(exam.study_instance_uid, exam.scheduled_procedure_step_id)
    assert answer.ReferencedRequestSequence[0].AccessionNumber == exam.accession_number
    assert str(answer.PatientName) == "Müller^Jürgen"

    transaction_uid = generate_uid()
    status, reply = assoc.send_n_action(
        state("IN PROGRESS", transaction_uid), CHANGE_STATE, UnifiedProcedureStepPull, uid
    )
    assert status.Status == 0x0000
    assert reply.TransactionUID == transaction_uid
    status, _ = assoc.send_n_action(state("IN PROGRESS", generate_uid()), CHANGE_STATE, UnifiedProcedureStepPull, uid)
    assert status.Status == 0xC302  # already IN PROGRESS
    status, _ = assoc.send_n_action(state("COMPLETED", generate_uid()), CHANGE_STATE, UnifiedProcedureStepPull, uid)
    assert status.Status == 0xC301  # not the claim's Transaction UID
    status, _ = assoc.send_n_action(state("COMPLETED", transaction_uid), CHANGE_STATE, UnifiedProcedureStepPull, uid)
    assert status.Status == 0xC304  # final state requirements not met

    start = timezone.localtime() - timedelta(minutes=6)
    modifications = Dataset()
    modifications.TransactionUID = transaction_uid
    modifications.UnifiedProcedureStepPerformedProcedureSequence = [performed(start, start + timedelta(minutes=5))]
    status, _ = assoc.send_n_set(modifications, UnifiedProcedureStepPull, uid)
    assert status.Status == 0x0000
    status, _ = assoc.send_n_action(state("COMPLETED", transaction_uid), CHANGE_STATE, UnifiedProcedureStepPull, uid)
    assert status.Status == 0x0000
    status, _ = assoc.send_n_action(state("COMPLETED", transaction_uid), CHANGE_STATE, UnifiedProcedureStepPull, uid)
    assert status.Status == 0xB306  # already COMPLETED: a warning

    status, got = assoc.send_n_get([0x00741000, 0x00081195, 0x00100020], UnifiedProcedureStepPull, uid)
    assoc.release()
    assert status.Status == 0x0000
    assert got.ProcedureStepState == "COMPLETED"
    assert "TransactionUID" not in got
    exam.refresh_from_db()
    assert exam.status == Exam.Status.COMPLETED
    assert exam.history.first().history_actor == "DICOM:CT1"
    assert Workitem.objects.get(exam=exam).claimed_by == "DICOM:CT1"


def test_an_unknown_workitem_is_c307(department, mwl_port):
    assoc = associate(mwl_port)
    status, _ = assoc.send_n_action(
        state("IN PROGRESS", generate_uid()), CHANGE_STATE, UnifiedProcedureStepPull, "2.25.1"
    )
    status_get, _ = assoc.send_n_get([0x00741000], UnifiedProcedureStepPull, "2.25.1")
    assoc.release()
    assert status.Status == 0xC307
    assert status_get.Status == 0xC307


def test_the_query_sop_class_finds_the_workitems_with_the_keys_asked(department, mwl_port):
    assoc = associate(mwl_port)
    identifier = Dataset()
    identifier.SOPInstanceUID = ""
    identifier.ProcedureStepState = ""
    identifier.Allergies = ""
    identifier.WorklistLabel = ""
    identifier.TransactionUID = ""  # never returned: zero-length, with FF01
    responses = list(assoc.send_c_find(identifier, UnifiedProcedureStepQuery))
    assoc.release()
    answers = [(status.Status, answer) for status, answer in responses if status.Status in (0xFF00, 0xFF01)]
    assert len(answers) == len(department["exams"])
    assert {status for status, _ in answers} == {0xFF01}
    assert {answer.ProcedureStepState for _, answer in answers} == {"SCHEDULED"}
    assert all(answer.TransactionUID == "" for _, answer in answers)
    assert responses[-1][0].Status == 0x0000
