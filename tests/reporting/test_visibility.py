"""What other roles see of a report: its status and PDF link, or for billing only that a final one exists."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from reporting import services
from reporting.models import Report
from reporting.status import ReportStatus, report_status_for
from ris.models import Role
from scheduling.models import Exam
from tests.factories import TEST_PASSWORD, ProcedureTypeFactory, make_completed_exam, make_radiologist

pytestmark = pytest.mark.django_db

IMPRESSION = "Subsegmental pulmonary embolism, right lower lobe."


def signed_exam(**order_kwargs):
    exam = make_completed_exam(**order_kwargs)
    attending = make_radiologist()
    report = services.report_save_draft(exam=exam, user=attending, sections={"impression": IMPRESSION})
    services.report_sign_final(report=report, user=attending, password=TEST_PASSWORD)
    exam.refresh_from_db()
    return exam


def test_report_status_for_a_list_of_exams_is_one_query():
    final, drafted, unread = signed_exam(), make_completed_exam(), make_completed_exam()
    services.report_save_draft(exam=drafted, user=make_radiologist(), sections={"findings": "..."})
    with CaptureQueriesContext(connection) as queries:
        statuses = report_status_for([final, drafted, unread])
    assert len(queries) == 1
    assert statuses == {
        final.pk: ReportStatus(Report.Status.FINAL, True),
        drafted.pk: ReportStatus(Report.Status.DRAFT, False),
        unread.pk: ReportStatus("", False),
    }


def test_front_desk_sees_the_report_status_and_the_pdf_link_on_the_order(client_for):
    exam = signed_exam()
    html = client_for(Role.FRONT_DESK).get(reverse("scheduling:order", args=[exam.order_id])).content.decode()
    assert "Final" in html
    assert f'href="{reverse("reports:pdf", args=[exam.pk])}"' in html
    assert IMPRESSION not in html


def test_the_exam_page_shows_the_report_status_and_the_pdf_link_but_not_the_text(client_for):
    exam = signed_exam()
    html = client_for(Role.FRONT_DESK).get(reverse("scheduling:exam", args=[exam.pk])).content.decode()
    assert '<span class="report-status">Final</span>' in html
    assert f'href="{reverse("reports:pdf", args=[exam.pk])}"' in html
    assert IMPRESSION not in html


def test_front_desk_sees_no_pdf_link_before_the_report_is_final(client_for):
    exam = make_completed_exam()
    html = client_for(Role.FRONT_DESK).get(reverse("scheduling:order", args=[exam.order_id])).content.decode()
    assert "Not reported yet" in html
    assert reverse("reports:pdf", args=[exam.pk]) not in html


def test_technologist_home_shows_the_report_status_of_todays_exams(client_for):
    exam = make_completed_exam()  # booked for tomorrow by the factory: move it to today
    now = timezone.now()
    Exam.objects.filter(pk=exam.pk).update(scheduled_start=now, scheduled_end=now + timedelta(minutes=20))
    services.report_save_draft(exam=exam, user=make_radiologist(), sections={"findings": "..."})
    html = client_for(Role.TECHNOLOGIST).get(reverse("worklist:home")).content.decode()
    assert exam.accession_number in html
    assert '<span class="report-status">Draft</span>' in html


def test_technologist_home_offers_the_pdf_of_todays_reported_exams(client_for):
    exam = signed_exam()
    now = timezone.now()
    Exam.objects.filter(pk=exam.pk).update(scheduled_start=now, scheduled_end=now + timedelta(minutes=20))
    html = client_for(Role.TECHNOLOGIST).get(reverse("worklist:home")).content.decode()
    assert '<span class="report-status">Final</span>' in html
    assert f'href="{reverse("reports:pdf", args=[exam.pk])}"' in html
    assert IMPRESSION not in html


def test_billing_sees_the_codes_and_that_a_final_report_exists_but_not_its_text(client_for):
    exam = signed_exam(procedure_types=[ProcedureTypeFactory(cpt_code="71275")], diagnosis_codes=["R07.9", "I26.99"])
    html = client_for(Role.BILLING).get(reverse("billing:home")).content.decode()
    assert exam.accession_number in html
    assert "71275" in html
    assert "R07.9, I26.99" in html
    assert "Final report on file" in html
    assert IMPRESSION not in html
    assert reverse("reports:pdf", args=[exam.pk]) not in html
