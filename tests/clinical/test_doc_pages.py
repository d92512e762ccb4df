"""The technologist's completion page: who may use it, what it starts with, what it keeps when refused."""

import html
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from clinical.documentation import exam_dose_from_modality
from clinical.models import ExamDocumentation, ExamProtocol
from ris.audit import Interface
from ris.models import ContrastClass, Role
from scheduling.models import Exam
from scheduling.services import exam_check_in, exam_start
from tests.factories import (
    TEST_ACTOR,
    ModalityFactory,
    ProcedureTypeFactory,
    make_completed_exam,
    make_exam_booked_today,
    make_radiologist,
)

pytestmark = pytest.mark.django_db


def ct_in_progress(*, protocoled: bool = False) -> Exam:
    procedure = ProcedureTypeFactory(modality=ModalityFactory(code="CT"), contrast=ContrastClass.IODINATED)
    exam = make_exam_booked_today(procedure_types=[procedure])
    if protocoled:
        ExamProtocol.objects.create(
            exam=exam,
            contrast=ContrastClass.IODINATED,
            contrast_agent="iopamidol 370 mgI/mL",
            contrast_route="IV",
            protocoled_by=make_radiologist(),
            protocoled_at=timezone.now(),
        )
    return exam_start(exam=exam_check_in(exam=exam, acting_user=TEST_ACTOR), acting_user=TEST_ACTOR)


def page_url(exam: Exam) -> str:
    return reverse("clinical:exam_documentation", args=[exam.pk])


def test_the_page_shows_the_banner_and_starts_with_the_protocols_agent_and_the_modalitys_dose(client_for):
    exam = ct_in_progress(protocoled=True)
    exam_dose_from_modality(exam=exam, acting_user=Interface("DICOM", "CT1"), ctdivol_mgy=Decimal("11.87"))
    page = client_for(Role.TECHNOLOGIST).get(page_url(exam)).content.decode()
    assert 'class="patient-banner"' in page
    assert 'name="contrast_agent" value="iopamidol 370 mgI/mL"' in page
    assert 'name="contrast_route" value="IV"' in page
    assert 'name="ctdivol_mgy" value="11.87"' in page
    assert 'name="dap_gycm2"' not in page  # not a CT's dose
    assert "Reported by the modality" in page


def test_completing_with_80_ml_completes_the_exam_and_goes_back(client_for):
    exam = ct_in_progress(protocoled=True)
    response = client_for(Role.TECHNOLOGIST).post(
        page_url(exam),
        {
            "contrast_given": "yes",
            "contrast_agent": "iopamidol 370 mgI/mL",
            "contrast_route": "IV",
            "contrast_volume_ml": "80",
            "contrast_lot": "L2291A",
            "reaction": "NONE",
            "ctdivol_mgy": "11.87",
            "next": reverse("worklist:home"),
        },
    )
    assert (response.status_code, response.url) == (302, reverse("worklist:home"))
    assert Exam.objects.get(pk=exam.pk).status == Exam.Status.COMPLETED
    assert ExamDocumentation.objects.get(exam=exam).contrast_volume_ml == Decimal("80.0")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"contrast_volume_ml": "0"}, "The contrast volume must be more than 0 mL."),
        ({"reaction": "MILD"}, "Describe the reaction and its treatment"),
        ({"contrast_given": ""}, "say whether contrast was given"),
    ],
)
def test_a_refused_record_says_why_and_keeps_what_was_typed(client_for, changes, message):
    exam = ct_in_progress()
    typed = {
        "contrast_given": "yes",
        "contrast_agent": "iohexol 350 mgI/mL",
        "contrast_route": "IV",
        "contrast_volume_ml": "80",
        "contrast_lot": "LOT-77",
        "reaction": "NONE",
        "ctdivol_mgy": "9.1",
        "dlp_mgycm": "380",
        **changes,
    }
    response = client_for(Role.TECHNOLOGIST).post(page_url(exam), typed)
    page = html.unescape(response.content.decode())
    assert response.status_code == 400
    assert message in page
    for kept in ('value="LOT-77"', 'value="380"', 'value="iohexol 350 mgI/mL"'):
        assert kept in page
    assert Exam.objects.get(pk=exam.pk).status == Exam.Status.IN_PROGRESS


@pytest.mark.parametrize(("role", "status"), [(Role.RADIOLOGIST, 403), (Role.FRONT_DESK, 403), (Role.ADMIN, 200)])
def test_only_technologists_and_admins_document(client_for, role, status):
    exam = ct_in_progress()
    assert client_for(role).get(page_url(exam)).status_code == status


def test_the_technologists_complete_action_opens_the_page_and_a_completed_exam_can_be_corrected(client_for):
    exam = ct_in_progress()
    done = make_completed_exam()
    tech = client_for(Role.TECHNOLOGIST)
    worklist = tech.get(reverse("worklist:home")).content.decode()
    assert f'href="{page_url(exam)}?next=' in worklist
    assert f'href="{page_url(done)}?next=' in worklist
    detail = tech.get(reverse("scheduling:exam", args=[done.pk])).content.decode()
    assert f'href="{page_url(done)}"' in detail
    assert "Save the documentation" in tech.get(page_url(done)).content.decode()


def test_an_exam_not_started_cannot_be_documented(client_for):
    exam = make_exam_booked_today()
    response = client_for(Role.TECHNOLOGIST).get(page_url(exam), follow=True)
    assert "it is documented once started" in response.content.decode()
