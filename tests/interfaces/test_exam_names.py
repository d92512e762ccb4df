"""Issue 19.7: an HL7 answer that names an exam says which procedure it is (one accession number per exam)."""

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from interfaces.services import message_receive
from scheduling.models import Exam
from scheduling.services import exam_book, exam_check_in, exam_complete, exam_start
from tests.factories import TEST_ACTOR
from tests.interfaces.conftest import orm


@pytest.mark.django_db
def test_an_hl7_cancel_of_a_performed_exam_is_refused_naming_its_accession_and_procedure(catalog):
    message_receive(orm("C1").encode())
    tomorrow_nine = datetime.combine(
        timezone.localdate() + timedelta(days=1), time(9), tzinfo=timezone.get_current_timezone()
    )
    exam = exam_book(exam=Exam.objects.get(), room=catalog["room"], start=tomorrow_nine, acting_user=TEST_ACTOR)
    for minutes, action in enumerate((exam_check_in, exam_start, exam_complete)):
        exam = action(exam=exam, acting_user=TEST_ACTOR, at=tomorrow_nine + timedelta(minutes=minutes))
    ack = message_receive(orm("C2", control="CA").encode())
    err = next(segment for segment in ack.split("\r") if segment.startswith("ERR|"))
    assert f"Exam {exam.accession_number} (CT head) is completed" in err
