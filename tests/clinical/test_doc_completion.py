"""The technologist's record at completion (clinical.documentation): contrast, reaction, dose; corrections."""

from decimal import Decimal

import pytest
from django.utils import timezone

from clinical.documentation import exam_complete_documented, exam_document, exam_dose_from_modality
from clinical.models import Allergy, ExamDocumentation, Source
from ris.audit import Interface
from ris.exceptions import ApplicationError
from ris.models import ContrastClass, Role
from scheduling.models import Exam
from scheduling.services import exam_check_in, exam_start
from tests.factories import TEST_ACTOR, ModalityFactory, ProcedureTypeFactory, UserFactory, make_exam_booked_today

pytestmark = pytest.mark.django_db

IOHEXOL = {"contrast_agent": "iohexol 350 mgI/mL", "contrast_route": "IV", "contrast_lot": "L2291A"}


def exam_in_progress(modality: str = "CT", contrast: str = ContrastClass.IODINATED) -> Exam:
    procedure = ProcedureTypeFactory(modality=ModalityFactory(code=modality), contrast=contrast)
    exam = make_exam_booked_today(procedure_types=[procedure])
    exam = exam_check_in(exam=exam, acting_user=TEST_ACTOR)
    # Started as the scanner reports it: what these tests document is the completion, whatever the safety rules
    # would have held at the start (an MR exam here has no screening).
    return exam_start(exam=exam, acting_user=TEST_ACTOR, performed_at="MR1" if modality == "MR" else "")


def technologist():
    return UserFactory(role=Role.TECHNOLOGIST)


def test_completion_records_80_ml_of_contrast_and_completes_the_exam():
    exam = exam_in_progress()
    tech = technologist()
    doc = exam_complete_documented(
        exam=exam, acting_user=tech, contrast_given=True, contrast_volume_ml="80", ctdivol_mgy="12.4", **IOHEXOL
    )
    exam.refresh_from_db()
    assert exam.status == Exam.Status.COMPLETED
    assert (doc.contrast_given, doc.contrast_agent, doc.contrast_route) == (True, "iohexol 350 mgI/mL", "IV")
    assert (doc.contrast_volume_ml, doc.contrast_lot) == (Decimal("80.0"), "L2291A")
    assert (doc.ctdivol_mgy, doc.dose_source, doc.documented_by) == (Decimal("12.40"), Source.STAFF, tech.username)


@pytest.mark.parametrize(
    ("volume", "message"),
    [
        ("0", "more than 0 mL"),
        ("-5", "more than 0 mL"),
        ("2500", "more than the 2000 mL"),
        (None, "Give the contrast volume"),
        ("eighty", "not a number"),
    ],
)
def test_a_bad_volume_is_refused_and_the_exam_stays_in_progress(volume, message):
    exam = exam_in_progress()
    with pytest.raises(ApplicationError, match=message) as refused:
        exam_complete_documented(
            exam=exam, acting_user=TEST_ACTOR, contrast_given=True, contrast_volume_ml=volume, **IOHEXOL
        )
    assert refused.value.field == "contrast_volume_ml"
    exam.refresh_from_db()
    assert exam.status == Exam.Status.IN_PROGRESS
    assert not ExamDocumentation.objects.filter(exam=exam).exists()


def test_a_contrast_exam_must_say_whether_contrast_was_given():
    exam = exam_in_progress()
    with pytest.raises(ApplicationError, match="say whether contrast was given"):
        exam_complete_documented(exam=exam, acting_user=TEST_ACTOR)
    assert Exam.objects.get(pk=exam.pk).status == Exam.Status.IN_PROGRESS


def test_a_plain_exam_needs_no_contrast_answer_and_a_prefilled_agent_is_dropped_when_none_was_given():
    exam = exam_in_progress(modality="CT", contrast=ContrastClass.NONE)
    doc = exam_complete_documented(exam=exam, acting_user=TEST_ACTOR)
    assert doc.contrast_given is False
    later = exam_document(exam=exam, acting_user=TEST_ACTOR, contrast_given=False, contrast_volume_ml="50", **IOHEXOL)
    assert (later.contrast_agent, later.contrast_volume_ml) == ("", None)


def test_a_reaction_without_notes_is_refused():
    exam = exam_in_progress()
    with pytest.raises(ApplicationError, match="Describe the reaction") as refused:
        exam_complete_documented(
            exam=exam, acting_user=TEST_ACTOR, contrast_given=True, contrast_volume_ml=80, reaction="MILD", **IOHEXOL
        )
    assert refused.value.field == "reaction_notes"
    assert not Allergy.objects.exists()


def test_a_reaction_becomes_an_allergy_entry_of_the_contrast_class_sourced_reaction():
    exam = exam_in_progress()
    doc = exam_complete_documented(
        exam=exam,
        acting_user=technologist(),
        contrast_given=True,
        contrast_volume_ml=80,
        reaction="MODERATE",
        reaction_notes="Urticaria and wheeze 5 min after injection; diphenhydramine 50 mg IV.",
        **IOHEXOL,
    )
    allergy = doc.reaction_allergy
    assert allergy.patient == exam.order.patient
    assert (allergy.contrast_class, allergy.source, allergy.severity) == (
        ContrastClass.IODINATED,
        Source.REACTION,
        Allergy.Severity.MODERATE,
    )
    assert allergy.allergen_text == "iohexol 350 mgI/mL"
    assert allergy.reaction.startswith("Urticaria and wheeze")
    assert allergy.identified_on == timezone.localdate()
    assert exam.order.patient.clinical_status.allergies == "LISTED"


def test_a_reaction_to_an_agent_of_a_plain_protocol_is_classed_by_the_agent():
    exam = exam_in_progress(modality="MR", contrast=ContrastClass.NONE)
    doc = exam_complete_documented(
        exam=exam,
        acting_user=TEST_ACTOR,
        contrast_given=True,
        contrast_agent="gadoterate meglumine (Dotarem)",
        contrast_route="IV",
        contrast_volume_ml="15",
        reaction="MILD",
        reaction_notes="Nausea.",
    )
    assert doc.reaction_allergy.contrast_class == ContrastClass.GADOLINIUM


def test_a_correction_keeps_history_and_moves_the_allergy_with_it():
    exam = exam_in_progress()
    tech = technologist()
    doc = exam_complete_documented(exam=exam, acting_user=tech, contrast_given=True, contrast_volume_ml=80, **IOHEXOL)
    corrected = exam_document(
        exam=exam,
        acting_user=tech,
        contrast_given=True,
        contrast_volume_ml=90,
        reaction="SEVERE",
        reaction_notes="Delayed hypotension in recovery; adrenaline IM.",
        **IOHEXOL,
    )
    assert corrected.pk == doc.pk
    assert corrected.reaction_allergy.severity == Allergy.Severity.SEVERE
    reasons = list(doc.history.order_by("history_id").values_list("contrast_volume_ml", "history_change_reason"))
    assert reasons == [(Decimal("80.0"), "documented at completion"), (Decimal("90.0"), "documentation corrected")]
    back = exam_document(exam=exam, acting_user=tech, contrast_given=True, contrast_volume_ml=90, **IOHEXOL)
    back.reaction_allergy.refresh_from_db()
    assert back.reaction_allergy.active is False
    assert Allergy.objects.count() == 1


def test_dose_values_are_those_of_the_modality():
    ct = exam_in_progress(modality="CT", contrast=ContrastClass.NONE)
    with pytest.raises(ApplicationError, match="DAP is not recorded for CT exams"):
        exam_complete_documented(exam=ct, acting_user=TEST_ACTOR, dap_gycm2="1.2")
    rf = exam_in_progress(modality="RF", contrast=ContrastClass.NONE)
    doc = exam_complete_documented(exam=rf, acting_user=TEST_ACTOR, dap_gycm2="3.25", fluoroscopy_seconds="184")
    assert (doc.dap_gycm2, doc.fluoroscopy_seconds) == (Decimal("3.2500"), Decimal("184.0"))
    with pytest.raises(ApplicationError, match="implausibly high"):
        exam_document(exam=rf, acting_user=TEST_ACTOR, dap_gycm2="32500")


def test_a_dose_from_the_modality_fills_only_what_the_technologist_left_empty():
    exam = exam_in_progress(modality="CT", contrast=ContrastClass.NONE)
    exam_complete_documented(exam=exam, acting_user=TEST_ACTOR, ctdivol_mgy="9.5")
    doc = exam_dose_from_modality(
        exam=exam, acting_user=Interface("DICOM", "CT1"), ctdivol_mgy=Decimal("11.2"), dlp_mgycm=Decimal("456.7")
    )
    assert (doc.ctdivol_mgy, doc.dlp_mgycm, doc.dose_source) == (Decimal("9.50"), Decimal("456.70"), Source.STAFF)


def test_a_dose_from_the_modality_before_documentation_waits_for_the_technologist():
    exam = exam_in_progress(modality="CT", contrast=ContrastClass.IODINATED)
    doc = exam_dose_from_modality(exam=exam, acting_user=Interface("DICOM", "CT1"), ctdivol_mgy=Decimal("11.2"))
    assert (doc.dose_source, doc.documented_by, doc.documented_at) == (Source.MODALITY, "", None)
    documented = exam_complete_documented(
        exam=exam, acting_user=TEST_ACTOR, contrast_given=True, contrast_volume_ml=80, ctdivol_mgy="11.2", **IOHEXOL
    )
    assert (documented.pk, documented.ctdivol_mgy, documented.dose_source) == (doc.pk, Decimal("11.20"), "MODALITY")
