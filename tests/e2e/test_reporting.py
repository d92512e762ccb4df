"""A radiologist's report in Chromium: claim, template, macro, autosave surviving a closed browser, sign, PDF,
addendum."""

import re

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from reporting.models import Macro, Report, ReportTemplate
from scheduling.models import Exam
from tests.factories import TEST_PASSWORD, PatientFactory, make_completed_exam, make_radiologist

SAVED = re.compile(r"^Saved \d\d:\d\d:\d\d$")


def sign_in(page, live_server, username: str) -> None:
    page.goto(live_server.url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Reading worklist")).to_be_visible()


def new_page(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_radiologist_drafts_closes_the_browser_finds_the_draft_signs_and_amends(live_server, chromium, artifacts):
    make_radiologist(attending=True, username="drlee", first_name="Ana", last_name="Lee")
    exam = make_completed_exam(patient=PatientFactory(family_name="Øster", given_name="Åse"))
    ReportTemplate.objects.create(
        name="CT head", procedure_type=exam.procedure_type, technique="Axial CT of the head without contrast."
    )
    ReportTemplate.objects.create(name="CT generic", modality=exam.procedure_type.modality, technique="CT.")
    Macro.objects.create(name="nad", text="No acute intracranial abnormality.")

    # Open the worklist, claim the exam: the template fills the technique.
    page = new_page(chromium)
    sign_in(page, live_server, "drlee")
    page.get_by_role("link", name="ØSTER, Åse").click()
    expect(page.get_by_label("Technique", exact=True)).to_have_value("Axial CT of the head without contrast.")
    page.wait_for_load_state("load")  # the editor's script (end of the page) has run: its listeners are attached
    # Switching the template over written text asks first; declining (Playwright dismisses dialogs) keeps the text.
    page.get_by_label("Template").select_option(label="CT generic")
    expect(page.get_by_label("Template")).to_have_value(str(ReportTemplate.objects.get(name="CT head").pk))
    expect(page.get_by_label("Technique", exact=True)).to_have_value("Axial CT of the head without contrast.")
    page.get_by_label("Findings", exact=True).press_sequentially("Brain parenchyma normal. Ventricles normal size.")
    page.get_by_label("Impression", exact=True).press_sequentially(".nad ")
    expect(page.get_by_label("Impression", exact=True)).to_have_value("No acute intracranial abnormality. ")
    expect(page.locator("#save-status")).to_have_text(SAVED)

    # Close the browser window mid-draft; the draft lives on the server.
    page.context.close()
    assert Report.objects.get(exam=exam).impression == "No acute intracranial abnormality. "

    page = new_page(chromium)
    sign_in(page, live_server, "drlee")
    row = page.locator("table.reading-worklist tr", has_text="ØSTER, Åse")
    expect(row).to_contain_text("You")
    row.get_by_role("link", name="ØSTER, Åse").click()
    expect(page.get_by_label("Findings", exact=True)).to_have_value("Brain parenchyma normal. Ventricles normal size.")
    expect(page.get_by_label("Impression", exact=True)).to_have_value("No acute intracranial abnormality. ")
    page.wait_for_load_state("load")
    page.screenshot(path=str(artifacts / "report_editor.png"), full_page=True)

    # Sign final with the password.
    page.get_by_label("Your password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign final").click()
    expect(page.locator("#report-status")).to_have_text("Final")
    expect(page.get_by_text("Signed final by Ana Lee")).to_be_visible()
    assert Report.objects.get(exam=exam).status == Report.Status.FINAL

    # Download the PDF: it carries the impression.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    text = "".join(part.extract_text() for part in PdfReader(download.value.path()).pages)
    assert "No acute intracranial abnormality." in text

    # Add an addendum and sign it: it shows below the report.
    page.get_by_label("Addendum").fill("Comparison with the outside CT of last week: unchanged.")
    page.get_by_role("button", name="Save addendum").click()
    page.get_by_label("Your password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign addendum").click()
    expect(page.locator("article.addendum")).to_contain_text("Comparison with the outside CT of last week: unchanged.")
    assert Exam.objects.get(pk=exam.pk).status == Exam.Status.AMENDED
    page.context.close()
