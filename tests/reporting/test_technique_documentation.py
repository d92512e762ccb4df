"""The technologist's record reaches the radiologist: the Technique of the report (editor, ORU^R01) and, for a
contrast reaction, the reading worklist and the editor."""

import html
import json
import re

import pytest
from django.urls import reverse

from clinical.documentation import exam_complete_documented, exam_document
from interfaces.models import OutboundMessage
from interfaces.outbox import outbox_drain
from reporting import services
from reporting.models import ReportTemplate
from ris.models import ContrastClass
from scheduling.services import exam_check_in, exam_start
from tests.factories import (
    TEST_ACTOR,
    TEST_PASSWORD,
    DestinationFactory,
    ModalityFactory,
    ProcedureTypeFactory,
    make_exam_booked_today,
)

pytestmark = pytest.mark.django_db

CONTRAST_LINE = "Contrast: iohexol 350 mgI/mL, IV, 80 mL, lot L2291A."


def documented_ct(**documentation):
    procedure = ProcedureTypeFactory(
        name="CT abdomen with contrast", modality=ModalityFactory(code="CT"), contrast=ContrastClass.IODINATED
    )
    exam = make_exam_booked_today(procedure_types=[procedure])
    exam = exam_start(exam=exam_check_in(exam=exam, acting_user=TEST_ACTOR), acting_user=TEST_ACTOR)
    exam_complete_documented(
        exam=exam,
        acting_user=TEST_ACTOR,
        contrast_given=True,
        contrast_agent="iohexol 350 mgI/mL",
        contrast_route="IV",
        contrast_volume_ml="80",
        contrast_lot="L2291A",
        ctdivol_mgy="11.87",
        dlp_mgycm="456.7",
        **documentation,
    )
    return exam


def technique_textarea(page: str) -> str:
    found = re.search(r'<textarea[^>]*name="technique"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, "no Technique field on the editor"
    return html.unescape(found.group(1))


def test_80_ml_recorded_at_completion_is_in_the_editors_technique(client, attending):
    exam = documented_ct()
    client.force_login(attending)
    page = client.get(reverse("reporting:editor", args=[exam.pk])).content.decode()
    technique = technique_textarea(page)
    assert CONTRAST_LINE in technique
    assert "Radiation dose: CTDIvol 11.87 mGy, DLP 456.7 mGy·cm." in technique
    templates = json.loads(re.search(r'id="report-templates"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert all(CONTRAST_LINE in texts["technique"] for texts in templates.values())  # a template keeps it


def test_the_template_technique_comes_first_then_the_record():
    exam = documented_ct()
    template = ReportTemplate.objects.create(name="CT abdomen", technique="Axial CT of the abdomen, portal phase.")
    assert services.technique_for(exam, template).splitlines()[:2] == [
        "Axial CT of the abdomen, portal phase.",
        CONTRAST_LINE,
    ]


def test_the_signed_reports_oru_carries_the_contrast_and_dose_in_its_technique(attending):
    DestinationFactory(name="CIS", message_types=["ORU"])
    exam = documented_ct()
    report = services.report_save_draft(exam=exam, user=attending, sections={"impression": "No acute findings."})
    services.report_sign_final(report=report, user=attending, password=TEST_PASSWORD)
    outbox_drain()
    oru = OutboundMessage.objects.get(message_type="ORU").raw
    obx_texts = [
        segment.split("|")[5] for segment in oru.split("\r") if segment.startswith("OBX|") and "|TX|" in segment
    ]
    assert obx_texts[:3] == ["TECHNIQUE:", CONTRAST_LINE, "Radiation dose: CTDIvol 11.87 mGy, DLP 456.7 mGy·cm."]


def test_a_contrast_reaction_stands_out_on_the_reading_worklist_and_in_the_editor(client, attending):
    exam = documented_ct(reaction="MODERATE", reaction_notes="Urticaria and wheeze; diphenhydramine 50 mg IV.")
    quiet = documented_ct()
    client.force_login(attending)
    worklist = client.get(reverse("reporting:home")).content.decode()
    row = re.search(rf'<tr id="exam-{exam.pk}".*?</tr>', worklist, re.S).group(0)
    other = re.search(rf'<tr id="exam-{quiet.pk}".*?</tr>', worklist, re.S).group(0)
    assert "Contrast reaction: moderate" in row
    assert "Contrast reaction" not in other
    editor = client.get(reverse("reporting:editor", args=[exam.pk])).content.decode()
    record = re.search(r'<section class="technologist-record".*?</section>', editor, re.S).group(0)
    assert "Contrast reaction: moderate" in record
    assert "Urticaria and wheeze" in html.unescape(record)


def test_a_correction_shows_in_the_editors_record(client, attending):
    exam = documented_ct()
    exam_document(
        exam=exam,
        acting_user=TEST_ACTOR,
        contrast_given=True,
        contrast_agent="iohexol 350 mgI/mL",
        contrast_route="IV",
        contrast_volume_ml="95",
    )
    client.force_login(attending)
    page = client.get(reverse("reporting:editor", args=[exam.pk])).content.decode()
    assert "Contrast: iohexol 350 mgI/mL, IV, 95 mL." in technique_textarea(page)
