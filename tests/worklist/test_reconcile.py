"""An MPPS for no scheduled exam waits on the front desk's list until it is attached to its exam or closed."""

import pytest
from django.urls import reverse
from django.utils import timezone

from ris.models import Role
from scheduling.models import Exam
from tests.factories import make_booked_exam
from tests.worklist.conftest import final_n_set
from worklist.models import PerformedProcedureStep
from worklist.services import mpps_create, mpps_update
from worklist.translate import StepReport, parse_step_report


def unmatched_step(uid: str = "1.2.3.4", *, completed: bool = False) -> PerformedProcedureStep:
    report = StepReport(status="IN PROGRESS", patient_id="TYPED1", scheduled=[("NOPE", "", "", "")])
    report.started_at = timezone.now()
    step = mpps_create(sop_instance_uid=uid, report=report, attributes={}, calling_ae="CT1")
    if completed:
        report = parse_step_report(final_n_set("COMPLETED"), tz=timezone.get_current_timezone())
        step = mpps_update(sop_instance_uid=uid, report=report, attributes={}, calling_ae="CT1")
    return step


@pytest.mark.django_db
def test_front_desk_sees_the_unmatched_step_and_attaches_it_to_its_exam(client_for):
    step = unmatched_step(completed=True)
    exam = make_booked_exam()
    desk = client_for(Role.FRONT_DESK)
    assert "TYPED1" in desk.get(reverse("worklist:reconcile_list")).content.decode()
    desk.post(reverse("worklist:reconcile", args=[step.pk]), {"accession_number": exam.accession_number})
    step.refresh_from_db()
    exam.refresh_from_db()
    assert (step.exam, step.reconciled, exam.status) == (exam, True, Exam.Status.COMPLETED)
    assert "TYPED1" not in desk.get(reverse("worklist:reconcile_list")).content.decode()


@pytest.mark.django_db
def test_an_unknown_accession_number_is_refused_and_the_step_stays(client_for):
    step = unmatched_step()
    response = client_for(Role.FRONT_DESK).post(
        reverse("worklist:reconcile", args=[step.pk]), {"accession_number": "A-NONE"}, follow=True
    )
    assert "names no exam" in response.content.decode()
    step.refresh_from_db()
    assert (step.exam, step.reconciled) == (None, False)


@pytest.mark.django_db
def test_a_step_can_be_closed_without_an_exam(client_for):
    step = unmatched_step()
    client_for(Role.TECHNOLOGIST).post(reverse("worklist:reconcile", args=[step.pk]), {"action": "close"})
    step.refresh_from_db()
    assert (step.exam, step.reconciled) == (None, True)


@pytest.mark.django_db
def test_billing_cannot_open_the_reconciliation_list(client_for):
    assert client_for(Role.BILLING).get(reverse("worklist:reconcile_list")).status_code == 403
