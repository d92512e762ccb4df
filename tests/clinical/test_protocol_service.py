"""Protocoling an exam (clinical.protocols.exam_protocol_set) and the contrast the safety rules then read."""

import pytest

from clinical.models import ExamProtocol, Protocol
from clinical.protocols import exam_protocol_set
from clinical.safety import effective_contrast, uses_contrast
from ris.exceptions import ApplicationError
from ris.models import ContrastClass, Role
from scheduling.services import exam_check_in, exam_start
from tests.factories import (
    TEST_ACTOR,
    ModalityFactory,
    ProcedureTypeFactory,
    UserFactory,
    make_booked_exam,
    make_exam_booked_today,
    make_order,
    make_radiologist,
)

pytestmark = pytest.mark.django_db


def ct_procedure(**kwargs):
    return ProcedureTypeFactory(modality=ModalityFactory(code="CT"), needs_protocol=True, **kwargs)


def ct_exam(**procedure):
    return make_order(procedure_types=[ct_procedure(**procedure)]).exams.get()


def portal_venous(**kwargs) -> Protocol:
    defaults = {
        "code": "CTAPPV",
        "name": "CT abdomen/pelvis portal venous",
        "modality": ModalityFactory(code="CT"),
        "contrast": ContrastClass.IODINATED,
        "contrast_agent": "iohexol 350 mgI/mL",
        "contrast_route": "IV",
        "technologist_notes": "100 mL at 3 mL/s, scan at 70 s.",
    }
    return Protocol.objects.create(**defaults | kwargs)


def test_a_catalog_protocol_fills_contrast_agent_and_route():
    exam = ct_exam()
    record = exam_protocol_set(exam=exam, protocol=portal_venous(), acting_user=make_radiologist())
    assert (record.contrast, record.contrast_agent, record.contrast_route) == (
        ContrastClass.IODINATED,
        "iohexol 350 mgI/mL",
        "IV",
    )


def test_a_value_given_overrides_the_protocols():
    exam = ct_exam()
    record = exam_protocol_set(
        exam=exam, protocol=portal_venous(), contrast_agent="iopamidol 370 mgI/mL", acting_user=make_radiologist()
    )
    assert (record.contrast_agent, record.contrast_route) == ("iopamidol 370 mgI/mL", "IV")


def test_another_contrast_than_the_protocols_drops_its_agent_and_route():
    exam = ct_exam()
    record = exam_protocol_set(
        exam=exam, protocol=portal_venous(), contrast=ContrastClass.NONE, acting_user=make_radiologist()
    )
    assert (record.contrast, record.contrast_agent, record.contrast_route) == (ContrastClass.NONE, "", "")


def test_notes_alone_protocol_an_exam_and_keep_the_procedures_contrast():
    exam = ct_exam(contrast=ContrastClass.IODINATED)
    record = exam_protocol_set(exam=exam, protocol=None, notes="Renal mass protocol", acting_user=make_radiologist())
    assert record.protocol is None
    assert record.notes == "Renal mass protocol"
    assert record.contrast == ContrastClass.IODINATED


def test_neither_protocol_nor_notes_is_refused():
    with pytest.raises(ApplicationError, match="Choose a protocol or write notes"):
        exam_protocol_set(exam=ct_exam(), protocol=None, notes="  ", acting_user=make_radiologist())


def test_a_technologist_may_not_protocol():
    exam = ct_exam()
    with pytest.raises(ApplicationError, match="Only a radiologist"):
        exam_protocol_set(exam=exam, protocol=portal_venous(), acting_user=UserFactory(role=Role.TECHNOLOGIST))
    assert not ExamProtocol.objects.exists()


def test_an_administrator_may_protocol():
    record = exam_protocol_set(exam=ct_exam(), protocol=portal_venous(), acting_user=UserFactory(role=Role.ADMIN))
    assert record.pk is not None


def test_an_interface_may_not_protocol():
    with pytest.raises(ApplicationError, match="Only a radiologist"):
        exam_protocol_set(exam=ct_exam(), protocol=portal_venous(), acting_user=TEST_ACTOR)


def test_a_protocol_of_another_modality_is_refused():
    mr = Protocol.objects.create(code="MRKNEERT", name="MR knee routine", modality=ModalityFactory(code="MR"))
    with pytest.raises(ApplicationError, match="is for MR, not CT"):
        exam_protocol_set(exam=ct_exam(), protocol=mr, acting_user=make_radiologist())


def test_an_inactive_protocol_is_refused():
    with pytest.raises(ApplicationError, match="no longer in use"):
        exam_protocol_set(exam=ct_exam(), protocol=portal_venous(active=False), acting_user=make_radiologist())


def test_an_agent_without_contrast_is_refused():
    with pytest.raises(ApplicationError, match="without contrast"):
        exam_protocol_set(
            exam=ct_exam(),
            protocol=None,
            notes="x",
            contrast=ContrastClass.NONE,
            contrast_agent="iohexol",
            acting_user=make_radiologist(),
        )


@pytest.mark.parametrize("step", ["booked", "arrived"])
def test_booked_and_arrived_exams_may_be_protocoled(step):
    exam = make_exam_booked_today(procedure_types=[ct_procedure()])
    if step == "arrived":
        exam = exam_check_in(exam=exam, acting_user=TEST_ACTOR)
    assert exam_protocol_set(exam=exam, protocol=portal_venous(), acting_user=make_radiologist()).pk


def test_a_started_exam_can_no_longer_be_protocoled():
    exam = make_exam_booked_today(procedure_types=[ct_procedure()])
    exam = exam_start(exam=exam_check_in(exam=exam, acting_user=TEST_ACTOR), acting_user=TEST_ACTOR)
    with pytest.raises(ApplicationError, match="in progress: a protocol is chosen before the exam starts"):
        exam_protocol_set(exam=exam, protocol=portal_venous(), acting_user=make_radiologist())


def test_protocoling_and_changing_it_leave_history_rows_naming_the_radiologist():
    exam = make_booked_exam(procedure_types=[ct_procedure()])
    radiologist = make_radiologist(username="rreader")
    exam_protocol_set(exam=exam, protocol=portal_venous(), acting_user=radiologist)
    record = exam_protocol_set(exam=exam, protocol=None, notes="Delayed phase too", acting_user=radiologist)
    reasons = list(record.history.order_by("history_id").values_list("history_change_reason", "history_actor"))
    assert reasons == [("protocoled: CTAPPV", "rreader"), ("protocol changed: notes only", "rreader")]


def test_the_protocols_contrast_overrides_the_procedures():
    exam = ct_exam(contrast=ContrastClass.NONE)
    assert effective_contrast(exam) == ContrastClass.NONE
    exam_protocol_set(exam=exam, protocol=portal_venous(), acting_user=make_radiologist())
    assert effective_contrast(exam) == ContrastClass.IODINATED
    assert uses_contrast(exam)


def test_a_non_contrast_protocol_takes_the_contrast_off_a_contrast_procedure():
    exam = ct_exam(contrast=ContrastClass.IODINATED)
    plain = Protocol.objects.create(code="CTAPSTONE", name="CT stone", modality=ModalityFactory(code="CT"))
    exam_protocol_set(exam=exam, protocol=plain, acting_user=make_radiologist())
    assert effective_contrast(exam) == ContrastClass.NONE
