"""order_create with the placer's Study Instance UIDs: used as given, checked as UIDs and for uniqueness."""

import re

import pytest

from ris.exceptions import ApplicationError
from ris.validators import validate_uid
from tests.factories import ProcedureTypeFactory, make_order

pytestmark = pytest.mark.django_db


def test_given_uids_are_used_and_an_empty_one_is_minted():
    head, chest = ProcedureTypeFactory(code="CTHEAD"), ProcedureTypeFactory(code="CTCHEST")
    order = make_order(procedure_types=[head, chest], study_instance_uids=["1.2.3.4", ""])
    first, second = order.exams.order_by("id")
    assert first.study_instance_uid == "1.2.3.4"
    validate_uid(second.study_instance_uid)
    assert second.study_instance_uid != "1.2.3.4"


@pytest.mark.parametrize(
    ("uids", "words"),
    [
        (["1.2.03"], "leading zero"),
        (["1.2.3", "1.2.3"], "given for two procedures"),
        (["1.2.3", "1.2.4", "1.2.5"], "3 Study Instance UIDs for 2 procedures"),
    ],
)
def test_a_bad_or_repeated_uid_is_refused_and_nothing_is_created(uids, words):
    procedures = [ProcedureTypeFactory(code="CTHEAD"), ProcedureTypeFactory(code="CTCHEST")]
    with pytest.raises(ApplicationError, match=words) as refused:
        make_order(procedure_types=procedures, study_instance_uids=uids)
    assert refused.value.field == "study_instance_uid"


def test_a_uid_another_exam_has_is_refused():
    make_order(study_instance_uids=["1.2.3.4"])
    with pytest.raises(ApplicationError, match=re.escape("1.2.3.4 is in use by another exam")):
        make_order(study_instance_uids=["1.2.3.4"])
