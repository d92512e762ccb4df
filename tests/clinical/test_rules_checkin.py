"""Pregnancy status at check-in: the check-in buttons of an exam whose pregnancy rule applies lead to the clinical
check-in page, which records the status and checks in in one transaction (or records it for a patient already in)."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from clinical import services
from clinical.models import PregnancyRecord, PregnancyStatus, SafetyFlag
from clinical.safety import open_findings
from ris.exceptions import ApplicationError
from ris.models import Role
from scheduling.models import Exam
from scheduling.services import exam_check_in
from tests.factories import (
    TEST_ACTOR,
    ModalityFactory,
    PatientFactory,
    ProcedureTypeFactory,
    local_at,
    make_booked_exam,
    make_exam_booked_today,
)

pytestmark = pytest.mark.django_db
S = Exam.Status


def young_woman(**kwargs):
    return PatientFactory(sex="F", birth_date=date(timezone.localdate().year - 30, 3, 1), **kwargs)


def ct_today(patient=None, **kwargs) -> Exam:
    return make_exam_booked_today(patient=patient or young_woman(), **kwargs)


def check_in_url(exam) -> str:
    return reverse("clinical:check_in", args=[exam.pk])


def test_arrivals_list_leads_to_the_question_instead_of_checking_in(client_for):
    asked, not_asked = ct_today(), ct_today(patient=PatientFactory(sex="M"), hour=10)
    home = client_for(Role.FRONT_DESK).get(reverse("scheduling:home")).content.decode()
    assert check_in_url(asked) in home
    assert reverse("scheduling:exam_check_in", args=[asked.pk]) not in home
    assert reverse("scheduling:exam_check_in", args=[not_asked.pk]) in home
    assert check_in_url(not_asked) not in home


def test_exam_page_leads_to_the_question(client_for):
    exam = ct_today()
    page = client_for(Role.FRONT_DESK).get(reverse("scheduling:exam", args=[exam.pk])).content.decode()
    assert check_in_url(exam) in page
    assert reverse("scheduling:exam_check_in", args=[exam.pk]) not in page


def test_the_page_shows_the_banner_and_the_question(client_for):
    exam = ct_today()
    page = client_for(Role.FRONT_DESK).get(check_in_url(exam)).content.decode()
    assert 'class="patient-banner"' in page
    assert exam.order.patient.mrn in page
    assert "Possibly pregnant" in page
    assert 'name="last_menstrual_period"' in page
    assert 'name="early_reason"' not in page  # booked today: no reason needed


def test_not_pregnant_is_recorded_and_the_patient_checked_in_then_the_start_is_allowed(client_for):
    exam = ct_today()
    client = client_for(Role.FRONT_DESK)
    response = client.post(
        check_in_url(exam), {"status": "1", "last_menstrual_period": "2026-11-20", "next": reverse("scheduling:home")}
    )
    assert response.status_code == 302
    assert response.url == reverse("scheduling:home")
    exam.refresh_from_db()
    assert exam.status == S.ARRIVED
    record = PregnancyRecord.objects.get(patient=exam.order.patient)
    assert (record.status, record.exam_id, record.last_menstrual_period) == (1, exam.pk, date(2026, 11, 20))
    assert record.recorded_by == response.wsgi_request.user.username
    assert open_findings(exam) == []


def test_possibly_pregnant_checks_in_and_needs_a_radiologists_decision(client_for):
    exam = ct_today()
    client_for(Role.FRONT_DESK).post(check_in_url(exam), {"status": str(PregnancyStatus.POSSIBLY)})
    exam.refresh_from_db()
    assert exam.status == S.ARRIVED
    assert [finding.kind for finding in open_findings(exam)] == [SafetyFlag.Kind.PREGNANCY]


def test_no_answer_records_nothing_and_does_not_check_in(client_for):
    exam = ct_today()
    response = client_for(Role.FRONT_DESK).post(check_in_url(exam), {"last_menstrual_period": "2026-11-20"})
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    assert PregnancyRecord.objects.count() == 0
    assert Exam.objects.get(pk=exam.pk).status == S.SCHEDULED


def test_a_refused_check_in_records_no_status():
    exam = make_booked_exam(patient=young_woman())  # tomorrow: an early check-in needs its reason
    with pytest.raises(ApplicationError, match="arrived early"):
        services.pregnancy_status_at_check_in(exam=exam, status=PregnancyStatus.NOT_PREGNANT, acting_user=TEST_ACTOR)
    assert PregnancyRecord.objects.count() == 0
    assert Exam.objects.get(pk=exam.pk).status == S.SCHEDULED


def test_an_early_arrival_gives_its_reason_on_the_same_page(client_for):
    exam = make_booked_exam(patient=young_woman())
    client = client_for(Role.FRONT_DESK)
    assert 'name="early_reason"' in client.get(check_in_url(exam)).content.decode()
    refused = client.post(check_in_url(exam), {"status": "1"})
    assert refused.status_code == 400
    assert Exam.objects.get(pk=exam.pk).status == S.SCHEDULED
    client.post(check_in_url(exam), {"status": "1", "early_reason": "came with her sister's appointment"})
    exam.refresh_from_db()
    assert exam.status == S.ARRIVED
    assert exam.history.latest().history_change_reason == "arrived early: came with her sister's appointment"


def test_a_future_menstrual_period_is_refused_next_to_its_field(client_for):
    exam = ct_today()
    tomorrow = timezone.localdate() + timedelta(days=1)
    response = client_for(Role.FRONT_DESK).post(
        check_in_url(exam), {"status": "1", "last_menstrual_period": tomorrow.isoformat()}
    )
    assert response.status_code == 400
    assert "cannot be in the future" in response.content.decode()
    assert PregnancyRecord.objects.count() == 0


def test_a_patient_checked_in_without_the_question_has_it_recorded_before_the_start(client_for):
    exam = exam_check_in(exam=ct_today(), acting_user=TEST_ACTOR)  # e.g. by the API
    assert [f.kind for f in open_findings(exam)] == [SafetyFlag.Kind.PREGNANCY_STATUS_MISSING]
    client = client_for(Role.TECHNOLOGIST)
    assert check_in_url(exam) in client.get(reverse("scheduling:exam", args=[exam.pk])).content.decode()
    assert check_in_url(exam) in client.get(reverse("worklist:home")).content.decode()
    assert "Record pregnancy status" in client.get(check_in_url(exam)).content.decode()
    client.post(check_in_url(exam), {"status": "1"})
    exam.refresh_from_db()
    assert exam.status == S.ARRIVED
    assert open_findings(exam) == []
    client.post(reverse("scheduling:exam_start", args=[exam.pk]))
    assert Exam.objects.get(pk=exam.pk).status == S.IN_PROGRESS


def test_a_status_older_than_24_hours_is_asked_again():
    exam = exam_check_in(exam=ct_today(), acting_user=TEST_ACTOR)
    services.pregnancy_record(
        patient=exam.order.patient,
        status=PregnancyStatus.NOT_PREGNANT,
        acting_user=TEST_ACTOR,
        at=timezone.now() - timedelta(hours=25),
    )
    assert [f.kind for f in open_findings(exam)] == [SafetyFlag.Kind.PREGNANCY_STATUS_MISSING]


@pytest.mark.parametrize(
    "patient_kwargs", [{"sex": "M"}, {"sex": "F", "birth_date": date(1950, 1, 1)}], ids=["male", "aged 70"]
)
def test_an_exam_that_does_not_ask_sends_the_user_back(client_for, patient_kwargs):
    exam = ct_today(patient=PatientFactory(**patient_kwargs))
    response = client_for(Role.FRONT_DESK).get(check_in_url(exam))
    assert response.status_code == 302
    assert response.url == reverse("scheduling:exam", args=[exam.pk])


def test_ultrasound_does_not_ask():
    from clinical.rules import asks_pregnancy_status

    us = ProcedureTypeFactory(modality=ModalityFactory(code="US", name="Ultrasound"))
    assert not asks_pregnancy_status(ct_today(procedure_types=[us]))
    assert asks_pregnancy_status(ct_today(hour=11))


def test_the_question_is_asked_on_the_exam_day_for_a_patient_turning_56_before_it():
    day = timezone.localdate() + timedelta(days=1)
    patient = PatientFactory(sex="F", birth_date=day.replace(year=day.year - 56))
    exam = make_booked_exam(patient=patient, start=local_at(day, 9))
    from clinical.rules import asks_pregnancy_status

    assert not asks_pregnancy_status(exam)  # 56 on the booked day


def test_a_radiologist_may_not_open_the_check_in_page(client_for):
    exam = ct_today()
    assert client_for(Role.RADIOLOGIST).get(check_in_url(exam)).status_code == 403


@pytest.mark.parametrize("recorded", [PregnancyStatus.POSSIBLY, None], ids=["possibly pregnant", "not asked"])
def test_a_radiologists_decision_lets_the_start_through(recorded):
    from scheduling.services import exam_start
    from tests.factories import make_radiologist

    exam = exam_check_in(exam=ct_today(), acting_user=TEST_ACTOR)
    if recorded is not None:
        services.pregnancy_record(patient=exam.order.patient, status=recorded, acting_user=TEST_ACTOR, exam=exam)
    (finding,) = open_findings(exam)
    with pytest.raises(ApplicationError):
        exam_start(exam=exam, acting_user=TEST_ACTOR)
    services.safety_flag_decide(
        exam=exam,
        kind=finding.kind,
        key=finding.key,
        decision=SafetyFlag.Decision.PROCEED,
        reason="trauma: the CT cannot wait; lead apron over the abdomen",
        acting_user=make_radiologist(),
    )
    assert exam_start(exam=exam, acting_user=TEST_ACTOR).status == S.IN_PROGRESS
