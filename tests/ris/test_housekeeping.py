"""Periodic work run by celery beat: lapsed reading claims released, MPPS records past their retention purged,
stored HL7 messages a dead worker left applied; every scheduled task exists."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from reporting.models import ReadingClaim
from reporting.services import reading_claim
from reporting.tasks import release_lapsed_claims
from ris.celery import app
from tests.factories import make_booked_exam, make_completed_exam, make_radiologist
from worklist.models import PerformedProcedureStep
from worklist.tasks import purge_performed_steps

pytestmark = pytest.mark.django_db


def test_every_scheduled_task_is_registered():
    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks, entry


def test_lapsed_reading_claims_are_released_and_live_ones_kept():
    radiologist = make_radiologist()
    old, fresh = make_completed_exam(), make_completed_exam()
    lapse = timedelta(minutes=settings.RIS_READING_CLAIM_MINUTES)
    reading_claim(exam=old, user=radiologist, now=timezone.now() - lapse - timedelta(seconds=5))
    reading_claim(exam=fresh, user=radiologist)
    assert release_lapsed_claims.delay().get() == 1
    assert list(ReadingClaim.objects.values_list("exam_id", flat=True)) == [fresh.pk]


def step_for(exam, uid: str, *, ended_days_ago: int) -> PerformedProcedureStep:
    ended = timezone.now() - timedelta(days=ended_days_ago)
    return PerformedProcedureStep.objects.create(
        sop_instance_uid=uid, exam=exam, status="COMPLETED", started_at=ended, ended_at=ended, reconciled=True
    )


def test_performed_steps_of_long_finished_exams_are_purged(settings):
    settings.RIS_MPPS_RETENTION_DAYS = 30
    finished = make_completed_exam()
    old = step_for(finished, "1.2.3.1", ended_days_ago=31)
    recent = step_for(make_completed_exam(), "1.2.3.2", ended_days_ago=29)
    running = step_for(make_booked_exam(), "1.2.3.3", ended_days_ago=40)  # its exam is not finished
    unmatched = PerformedProcedureStep.objects.create(
        sop_instance_uid="1.2.3.4", status="COMPLETED", ended_at=timezone.now() - timedelta(days=90)
    )
    assert purge_performed_steps.delay().get() == 1
    left = set(PerformedProcedureStep.objects.values_list("pk", flat=True))
    assert left == {recent.pk, running.pk, unmatched.pk}
    removal = PerformedProcedureStep.history.filter(id=old.pk, history_type="-").get()
    assert removal.history_actor == "RIS:retention"


def test_a_retention_of_zero_keeps_everything(settings):
    settings.RIS_MPPS_RETENTION_DAYS = 0
    step_for(make_completed_exam(), "1.2.3.5", ended_days_ago=400)
    assert purge_performed_steps.delay().get() == 0
    assert PerformedProcedureStep.objects.count() == 1
