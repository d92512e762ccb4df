"""MR exams, screenings and implants for tests, made through the services."""

from clinical import mr
from clinical.models import MRScreening
from scheduling.models import Exam
from scheduling.services import exam_check_in
from tests.factories import TEST_ACTOR, ModalityFactory, ProcedureTypeFactory, make_exam_booked_today

ALL_NO = dict.fromkeys(MRScreening.QUESTIONS, "NO")


def mr_procedure():
    return ProcedureTypeFactory(modality=ModalityFactory(code="MR", name="Magnetic Resonance"), name="MR brain")


def mr_exam(**kwargs) -> Exam:
    """An MR exam booked for today, the patient checked in: the next step is the start."""
    exam = make_exam_booked_today(procedure_types=[mr_procedure()], **kwargs)
    return exam_check_in(exam=exam, acting_user=TEST_ACTOR)


def screen(exam, *, weight=None, details="", acting_user=TEST_ACTOR, **answers) -> MRScreening:
    return mr.mr_screening_save(
        exam=exam, answers={**ALL_NO, **answers}, weight=weight, details=details, acting_user=acting_user
    )


def implant(exam, mr_safety, device_type="Cardiac pacemaker", **kwargs):
    return mr.implant_add(
        patient=exam.order.patient, device_type=device_type, mr_safety=mr_safety, acting_user=TEST_ACTOR, **kwargs
    )
