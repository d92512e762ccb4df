"""exam_images_available: what the PACS holds of an exam's images, recorded on the exam with its actor."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ris.audit import Interface
from ris.exceptions import ApplicationError
from ris.models import Role
from scheduling.models import Exam
from scheduling.services import exam_images_available
from tests.api.test_api import api_for
from tests.factories import make_completed_exam

pytestmark = pytest.mark.django_db
PACS = Interface("DICOM", "PACS")


def announce(exam: Exam, availability: str = "ONLINE", *, series: int = 1, instances: int = 3, **more) -> Exam:
    fields = {"retrieve_ae_title": "PACS1", "acting_user": PACS, **more}
    return exam_images_available(
        exam=exam, availability=availability, series_count=series, instance_count=instances, **fields
    )


def test_the_first_arrival_is_kept_and_the_counts_follow_the_pacs():
    exam = make_completed_exam()
    first = timezone.now() - timedelta(minutes=5)
    exam = announce(exam, at=first)
    exam = announce(exam, "NEARLINE", series=2, instances=5, at=timezone.now())
    assert exam.images_available_at == first
    assert (exam.image_availability, exam.image_series_count, exam.image_instance_count) == ("NEARLINE", 2, 5)
    assert exam.history.first().history_change_reason == "images nearline: 2 series, 5 instances"
    assert exam.history.first().history_actor == "DICOM:PACS"
    assert exam.status == Exam.Status.COMPLETED  # images move no status


def test_the_same_news_again_leaves_no_history_row():
    exam = announce(make_completed_exam())
    rows = exam.history.count()
    announce(exam)
    assert exam.history.count() == rows


def test_nothing_available_clears_the_arrival_and_the_retrieve_ae_title():
    exam = announce(announce(make_completed_exam()), "UNAVAILABLE", series=1, instances=3)
    assert (exam.images_available_at, exam.image_instance_count, exam.image_retrieve_ae_title) == (None, 0, "")
    assert not exam.has_images


def test_an_unknown_availability_is_refused():
    with pytest.raises(ApplicationError, match="not an instance availability"):
        announce(make_completed_exam(), "SOMEWHERE")


def test_the_api_gives_the_exam_s_images():
    exam = announce(make_completed_exam(), series=2, instances=9)
    row = api_for(Role.TECHNOLOGIST).get(f"/api/exams/{exam.pk}/").json()
    assert (row["image_availability"], row["image_series_count"], row["image_instance_count"]) == ("ONLINE", 2, 9)
    assert row["image_retrieve_ae_title"] == "PACS1"
    assert row["images_available_at"]
