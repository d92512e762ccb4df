"""In Chromium: the MR safety officer screens a patient with a pacemaker, records the device and clears it; the
technologist can then start the exam."""

import re

import pytest
from playwright.sync_api import expect

from ris.models import Role
from scheduling.models import Exam
from scheduling.services import exam_start
from tests.clinical.mr_factories import mr_exam
from tests.e2e.test_worklist_refresh import sign_in
from tests.factories import TEST_ACTOR, PatientFactory, UserFactory


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_the_mr_safety_officer_screens_records_the_pacemaker_and_clears_the_exam(live_server, page):
    UserFactory(username="mrso", role=Role.MR_SAFETY_OFFICER)
    exam = mr_exam(patient=PatientFactory(family_name="Pacer"))

    sign_in(page, live_server, "mrso")
    row = page.locator(f"#exam-{exam.pk}")
    expect(row).to_have_attribute("data-mr-status", "missing")
    row.get_by_role("link", name=re.compile("PACER")).click()
    expect(page.locator(".patient-banner")).to_contain_text("PACER")

    questionnaire = page.locator("form.mr-questionnaire")
    for question in ("metal_fragments", "prior_surgery", "pregnancy", "claustrophobia"):
        questionnaire.locator(f"#question-{question}").get_by_label("No", exact=True).check()
    questionnaire.locator("#question-implants_or_devices").get_by_label("Yes", exact=True).check()
    questionnaire.get_by_label("Weight (kg)").fill("88")
    questionnaire.get_by_role("button", name="Save the screening").click()
    expect(page.locator(".field-error")).to_contain_text("Give the details")  # a yes needs its details
    page.locator("form.mr-questionnaire").get_by_label("Details").fill("Pacemaker implanted 2021, card shown")
    page.get_by_role("button", name="Save the screening").click()
    expect(page.locator("#mr-status")).to_have_text("Needs clearance")  # the yes asks for a clearance

    adding = page.locator("form.implant-add")
    adding.get_by_label("Device type").fill("Cardiac pacemaker")
    adding.get_by_label("Make and model").fill("Medtronic Azure XT DR MRI SureScan")
    adding.get_by_label("MR safety").select_option("MR_CONDITIONAL")
    adding.get_by_role("button", name="Add").click()
    expect(page.locator(".safety-flag[data-kind=MR_CLEARANCE]")).to_contain_text("Cardiac pacemaker")

    decision = page.locator(".safety-flag[data-kind=MR_CLEARANCE] form")
    decision.get_by_label("Decision").select_option("PROCEED_ADJUSTED")
    decision.get_by_label("Reason").fill("SureScan mode on, 1.5 T, cardiology present")
    decision.get_by_role("button", name="Record decision").click()
    expect(page.locator("#mr-status")).to_have_text("Cleared")

    assert exam_start(exam=exam, acting_user=TEST_ACTOR).status == Exam.Status.IN_PROGRESS
