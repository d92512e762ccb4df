"""A scanner's MPPS IN PROGRESS over DICOM for an exam with an open safety flag: accepted (the scanner started),
the exam in progress, the flag marked "started open" for the radiologist."""

from datetime import timedelta

import pytest
from django.utils import timezone
from pydicom.uid import generate_uid
from pynetdicom.sop_class import ModalityPerformedProcedureStep

from clinical.models import SafetyFlag
from clinical.safety import open_findings
from ris.models import ContrastClass
from scheduling.models import Exam
from tests.clinical.factories import contrast_allergy
from tests.factories import ProcedureTypeFactory, make_booked_exam
from tests.worklist.conftest import at
from tests.worklist.test_scu import associate, mpps_create

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]


def test_mpps_in_progress_with_an_open_contrast_flag_is_accepted_and_marked(department, mwl_port):
    ct1 = department["rooms"]["CT1"]
    patient = department["patients"]["muller"]
    contrast_allergy(patient, reaction="anaphylaxis")
    procedure = ProcedureTypeFactory(
        code="CTABDC", name="CT abdomen with contrast", modality=ct1.modality, contrast=ContrastClass.IODINATED
    )
    exam = make_booked_exam(
        patient=patient, procedure_types=[procedure], room=ct1, start=at(13), booked_at=timezone.now() - timedelta(1)
    )
    (finding,) = open_findings(exam)

    assoc = associate(mwl_port, contexts=(ModalityPerformedProcedureStep,))
    created, _ = assoc.send_n_create(mpps_create(exam), ModalityPerformedProcedureStep, generate_uid())
    assoc.release()

    assert created.Status == 0x0000
    exam.refresh_from_db()
    assert exam.status == Exam.Status.IN_PROGRESS
    assert "started with open safety flag: Open safety flags: Prior contrast reaction" in (
        exam.history.latest().history_change_reason
    )
    flag = SafetyFlag.objects.get(exam=exam, kind=SafetyFlag.Kind.CONTRAST_REACTION, key=finding.key)
    assert flag.started_open_at is not None
    assert flag.started_open_by == "DICOM:CT1"
    assert flag.decision == ""
