"""Issue 19.7: with one accession number per exam, a message that names an exam says which procedure it is."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from reporting.services import report_save_draft
from ris.exceptions import ApplicationError
from ris.models import Role
from tests.factories import ProcedureTypeFactory, make_booked_exam, make_order


@pytest.mark.django_db
def test_the_cancel_message_names_the_procedure_of_the_exam_of_a_two_exam_order(client_for):
    chest = ProcedureTypeFactory(name="CT chest")
    abdomen = ProcedureTypeFactory(name="CT abdomen", modality=chest.modality)
    order = make_order(procedure_types=[chest, abdomen])
    second = order.exams.get(procedure_type=abdomen)
    desk = client_for(Role.FRONT_DESK)
    response = desk.post(reverse("scheduling:exam_cancel", args=[second.pk]), {"reason": "Duplicate order"})
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert shown == [f"Exam {second.accession_number} (CT abdomen) cancelled."]


@pytest.mark.django_db
def test_a_report_refused_for_an_unperformed_exam_names_its_accession_and_procedure(user_with_role):
    exam = make_booked_exam(procedure_types=[ProcedureTypeFactory(name="MR knee")])
    radiologist = user_with_role(Role.RADIOLOGIST)
    with pytest.raises(ApplicationError) as refused:
        report_save_draft(exam=exam, user=radiologist, sections={"findings": "x"})
    assert f"{exam.accession_number} (MR knee)" in refused.value.message


@pytest.mark.django_db
def test_history_rows_of_status_changes_are_written_in_words_not_codes():
    from scheduling.services import exam_check_in, exam_start
    from tests.factories import TEST_ACTOR, make_exam_due

    exam = exam_check_in(exam=make_exam_due(), acting_user=TEST_ACTOR)
    exam = exam_start(exam=exam, acting_user=TEST_ACTOR)
    assert exam.history.latest().history_change_reason == "in progress"
    assert exam.order.history.latest().history_change_reason == "exams now in progress"
