"""The PDF of a final report: what it says, who may download it, and that only a final report has one."""

import io

import pytest
from django.urls import reverse
from pypdf import PdfReader

from reporting import pdf, services
from reporting.models import Report
from ris.models import Role
from tests.factories import TEST_PASSWORD, PatientFactory, make_completed_exam, make_radiologist

pytestmark = pytest.mark.django_db

IMPRESSION = "Acute appendicitis without perforation."


def final_report(exam=None, *, addendum: str = "") -> Report:
    exam = exam or make_completed_exam()
    attending = make_radiologist(first_name="Greta", last_name="Lindqvist", title="MD")
    report = services.report_save_draft(
        exam=exam, user=attending, sections={"findings": "Dilated appendix, 11 mm.", "impression": IMPRESSION}
    )
    report = services.report_sign_final(report=report, user=attending, password=TEST_PASSWORD)
    if addendum:
        added = services.addendum_save(report=report, user=attending, text=addendum)
        services.addendum_sign(addendum=added, user=attending, password=TEST_PASSWORD)
    return Report.objects.get(pk=report.pk)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_the_pdf_says_what_the_report_says_with_accession_signer_and_addendum(settings):
    settings.RIS_REPORT_LETTERHEAD = "St. Elsewhere Radiology\n1 Main Street"
    report = final_report(addendum="Surgeon informed; see also CT of 3 May.")
    text = pdf_text(pdf.report_pdf(report))
    assert "St. Elsewhere Radiology" in text
    assert IMPRESSION in text
    assert report.exam.accession_number in text
    assert "Greta Lindqvist, MD" in text
    assert "Surgeon informed; see also CT of 3 May." in text


@pytest.mark.parametrize(("family", "given"), [("Müller", "Jürgen"), ("Øster", "Åse"), ("山田", "太郎")])
def test_names_in_any_script_print(family, given):
    report = final_report(make_completed_exam(patient=PatientFactory(family_name=family, given_name=given)))
    text = pdf_text(pdf.report_pdf(report))
    assert family.upper() in text
    assert given in text


def test_a_long_report_wraps_and_breaks_pages():
    exam = make_completed_exam()
    attending = make_radiologist()
    long_line = "The liver is normal in size and attenuation without focal lesion. " * 30
    findings = "\n".join([long_line, "x" * 400, *[f"Line {n}." for n in range(150)]])
    report = services.report_save_draft(exam=exam, user=attending, sections={"findings": findings, "impression": "OK"})
    report = services.report_sign_final(report=report, user=attending, password=TEST_PASSWORD)
    reader = PdfReader(io.BytesIO(pdf.report_pdf(report)))
    assert len(reader.pages) >= 3
    assert "Line 149." in reader.pages[-1].extract_text()


def test_without_dejavu_the_pdf_falls_back_to_helvetica(monkeypatch, caplog):
    monkeypatch.setattr(pdf, "FONT_DIR", "/nonexistent")
    pdf.fonts.cache_clear()
    try:
        report = final_report(make_completed_exam(patient=PatientFactory(family_name="Øster")))
        text = pdf_text(pdf.report_pdf(report))
    finally:
        pdf.fonts.cache_clear()
    assert "ØSTER" in text
    assert "Helvetica" in caplog.text


def test_the_download_is_an_attachment_named_by_accession(client_for):
    report = final_report()
    response = client_for(Role.FRONT_DESK).get(reverse("reports:pdf", args=[report.exam_id]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    accession = report.exam.accession_number
    assert response["Content-Disposition"] == f'attachment; filename="report-{accession}.pdf"'
    assert IMPRESSION in pdf_text(b"".join(response.streaming_content))


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_clinical_roles_download_and_billing_and_the_mr_safety_officer_are_refused(client_for, role):
    report = final_report()
    response = client_for(role).get(reverse("reports:pdf", args=[report.exam_id]))
    assert response.status_code == (403 if role in (Role.BILLING, Role.MR_SAFETY_OFFICER) else 200)


def test_a_report_not_yet_final_has_no_pdf(client_for):
    exam = make_completed_exam()
    resident = make_radiologist(attending=False)
    report = services.report_save_draft(exam=exam, user=resident, sections={"impression": IMPRESSION})
    services.report_sign_preliminary(report=report, user=resident)
    response = client_for(Role.RADIOLOGIST).get(reverse("reports:pdf", args=[exam.pk]))
    assert response.status_code == 404
    html = response.content.decode()
    assert "preliminary" in html
    assert "signs it final" in html
    assert IMPRESSION not in html


def test_an_exam_without_a_report_has_no_pdf(client_for):
    exam = make_completed_exam()
    response = client_for(Role.TECHNOLOGIST).get(reverse("reports:pdf", args=[exam.pk]))
    assert response.status_code == 404
    assert "no report yet" in response.content.decode()
