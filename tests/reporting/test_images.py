"""The reading worklist and the PACS's images: only exams with images (a filter whose default is a setting), and a
mark on each row saying whether the images have arrived."""

import pytest
from django.urls import reverse

from ris.audit import Interface
from scheduling.services import exam_images_available
from tests.factories import make_completed_exam
from tests.reporting.test_pages import signed_in

pytestmark = pytest.mark.django_db
PACS = Interface("DICOM", "PACS")


@pytest.fixture
def exams():
    """Two performed exams: the PACS announced the images of one (2 series, 7 instances)."""
    with_images, without = make_completed_exam(), make_completed_exam()
    exam_images_available(
        exam=with_images,
        availability="ONLINE",
        series_count=2,
        instance_count=7,
        retrieve_ae_title="PACS1",
        acting_user=PACS,
    )
    return {"with": with_images, "without": without}


def rows(client, **query) -> dict[int, str]:
    """The reading worklist's rows by exam ID, as HTML."""
    html = client.get(reverse("reporting:home"), query).content.decode()
    found = {}
    for part in html.split('<tr id="exam-')[1:]:
        pk, _, rest = part.partition('"')
        found[int(pk)] = rest.split("</tr>")[0]
    return found


def test_every_row_says_whether_its_images_are_available(exams, attending):
    shown = rows(signed_in(attending))
    assert set(shown) == {exams["with"].pk, exams["without"].pk}
    assert "Images available" in shown[exams["with"].pk]
    assert "2 series, 7 instances" in shown[exams["with"].pk]
    assert "Images not yet available" in shown[exams["without"].pk]
    assert "Images available" not in shown[exams["without"].pk]


def test_the_filter_shows_only_exams_with_images(exams, attending):
    assert set(rows(signed_in(attending), images="available")) == {exams["with"].pk}


def test_the_setting_makes_only_exams_with_images_the_default_and_all_can_still_be_asked_for(
    exams, attending, settings
):
    settings.RIS_READING_REQUIRE_IMAGES = True
    client = signed_in(attending)
    assert set(rows(client)) == {exams["with"].pk}
    html = client.get(reverse("reporting:home")).content.decode()
    assert '<option value="available" selected>' in html
    assert set(rows(client, images="all")) == {exams["with"].pk, exams["without"].pk}


def test_images_made_unavailable_take_the_exam_out_of_the_filtered_list(exams, attending):
    exam_images_available(
        exam=exams["with"],
        availability="UNAVAILABLE",
        series_count=0,
        instance_count=0,
        retrieve_ae_title="",
        acting_user=PACS,
    )
    assert rows(signed_in(attending), images="available") == {}
    exams["with"].refresh_from_db()
    assert exams["with"].history.first().history_actor == "DICOM:PACS"
