"""In a browser: the technologist records a contrast allergy and a weight on the clinical page, and the banner of
the exam page shows them (contrast allergy highlighted in words), under the Content-Security-Policy."""

import pytest
from playwright.sync_api import expect

from ris.models import Role
from tests.factories import TEST_PASSWORD, UserFactory, make_exam_booked_today


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_technologist_records_an_allergy_and_a_weight_and_the_banner_shows_them(live_server, page, artifacts):
    exam = make_exam_booked_today()
    UserFactory(role=Role.TECHNOLOGIST, username="tech")
    page.goto(f"{live_server.url}/scheduling/exams/{exam.pk}/")
    page.get_by_label("Username").fill("tech")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    banner = page.locator(f'section.patient-banner[data-patient="{exam.order.patient_id}"]')
    expect(banner).to_contain_text("Not asked")

    banner.get_by_role("link", name="Clinical data").click()
    form = page.locator("form", has=page.get_by_role("button", name="Add allergy"))
    form.get_by_label("Allergen").fill("Iopamidol")
    form.get_by_label("Contrast class").select_option("IODINATED")
    form.get_by_label("Severity").select_option("SV")
    form.get_by_label("Reaction").fill("bronchospasm")
    form.get_by_role("button", name="Add allergy").click()
    expect(page.locator("#allergy-table")).to_contain_text("Iopamidol")

    weight = page.locator("form", has=page.get_by_role("button", name="Record"))
    weight.first.get_by_label("Value").fill("71.4")
    weight.first.get_by_role("button", name="Record").click()
    expect(page.locator("#measurement-table")).to_contain_text("71.4 kg")
    page.screenshot(path=str(artifacts / "clinical-page.png"), full_page=True)

    page.goto(f"{live_server.url}/scheduling/exams/{exam.pk}/")
    expect(banner.locator(".contrast-allergy")).to_have_text("⚠ Iodinated contrast: Iopamidol (bronchospasm), severe")
    expect(banner).to_contain_text("Weight: 71.4 kg")
