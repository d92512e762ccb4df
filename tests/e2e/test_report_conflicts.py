"""One report open on two workstations in Chromium: a stale autosave is refused and both texts are shown until the
user keeps one; and macros left pending in the text when signing."""

import re

import pytest
from playwright.sync_api import expect

from reporting import services
from reporting.models import Macro, Report
from tests.e2e.conftest import CSP_REPORT
from tests.factories import TEST_PASSWORD, PatientFactory, make_completed_exam, make_radiologist

SAVED = re.compile(r"^Saved \d\d:\d\d:\d\d$")


def workstation(chromium, live_server, username: str):
    """A browser context of its own (a second tab or workstation), signed in; CSP violations are collected."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.csp_blocked = []
    page.on("console", lambda message: page.csp_blocked.append(message.text) if CSP_REPORT in message.text else None)
    page.goto(live_server.url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Reading worklist")).to_be_visible()
    return page


def open_editor(page, live_server, exam) -> None:
    page.goto(f"{live_server.url}/reporting/exams/{exam.pk}/")
    page.wait_for_load_state("load")  # the editor's script (end of the page) has run: its listeners are attached


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_two_workstations_a_stale_save_shows_both_texts_and_each_choice_keeps_one(live_server, chromium):
    doctor = make_radiologist(attending=True, username="drkim")
    exam = make_completed_exam(patient=PatientFactory(family_name="Nakamura", given_name="Emi"))
    services.report_save_draft(exam=exam, user=doctor, sections={"findings": "Started.", "impression": "Pending."})

    a = workstation(chromium, live_server, "drkim")
    b = workstation(chromium, live_server, "drkim")
    open_editor(a, live_server, exam)
    open_editor(b, live_server, exam)

    # A writes the findings and its autosave goes through.
    a.get_by_label("Findings", exact=True).fill("")
    a.get_by_label("Findings", exact=True).press_sequentially("Workstation A: small effusion.")
    expect(a.locator("#save-status")).to_have_text(SAVED)
    assert Report.objects.get().findings == "Workstation A: small effusion."

    # B, still on the text it loaded, writes too: its save is refused, A's text is kept, both are shown.
    b.get_by_label("Findings", exact=True).fill("")
    b.get_by_label("Findings", exact=True).press_sequentially("Workstation B: no effusion.")
    conflict = b.locator("#report-conflict")
    expect(conflict).to_be_visible()
    section = conflict.locator("article.conflict-section[data-section=findings]")
    expect(section.locator("pre.theirs")).to_have_text("Workstation A: small effusion.")
    expect(section.locator("pre.mine")).to_have_text("Workstation B: no effusion.")
    expect(b.get_by_label("Findings", exact=True)).to_have_value("Workstation B: no effusion.")
    expect(b.locator("#save-status")).to_contain_text("changed elsewhere")
    assert Report.objects.get().findings == "Workstation A: small effusion."

    # B keeps its own text: saved on top of A's revision.
    b.get_by_role("button", name="Keep mine").click()
    expect(conflict).to_be_hidden()
    expect(b.locator("#save-status")).to_have_text(SAVED)
    report = Report.objects.get()
    assert (report.findings, report.revision) == ("Workstation B: no effusion.", 3)

    # A, now behind, types again: refused and shown; A keeps the saved text (B's), which loads into the editor.
    a.get_by_label("Impression", exact=True).press_sequentially(" Follow up.")
    expect(a.locator("#report-conflict")).to_be_visible()
    expect(a.locator("#report-conflict pre.mine").first).to_have_text("Workstation A: small effusion.")
    a.get_by_role("link", name="Keep the saved text").click()
    expect(a.locator("#report-conflict")).to_be_hidden()
    expect(a.get_by_label("Findings", exact=True)).to_have_value("Workstation B: no effusion.")
    expect(a.get_by_label("Impression", exact=True)).to_have_value("Pending.")

    # From the loaded text A saves normally again.
    a.get_by_label("Impression", exact=True).press_sequentially(" Resolved.")
    expect(a.locator("#save-status")).to_have_text(SAVED)
    report = Report.objects.get()
    assert (report.findings, report.impression) == ("Workstation B: no effusion.", "Pending. Resolved.")
    assert (a.csp_blocked, b.csp_blocked) == ([], [])
    a.context.close()
    b.context.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_a_pending_macro_is_expanded_before_signing_and_an_unknown_one_refuses_the_signature(live_server, chromium):
    make_radiologist(attending=True, username="drlee")
    exam = make_completed_exam(patient=PatientFactory(family_name="Berg", given_name="Ola"))
    Macro.objects.create(name="normal", text="No acute abnormality.")
    page = workstation(chromium, live_server, "drlee")
    open_editor(page, live_server, exam)

    # An unknown token as the last word: signing is refused and says which.
    impression = page.get_by_label("Impression", exact=True)
    impression.press_sequentially("IMPRESSION .normall")
    page.get_by_label("Your password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign final").click()
    expect(page.get_by_text("macros that are not expanded (Impression .normall)")).to_be_visible()
    assert Report.objects.get().status == Report.Status.DRAFT

    # A known macro typed as the last word (no space after it), then straight to "Sign final": expanded first.
    page.get_by_label("Your password").fill(TEST_PASSWORD)
    impression = page.get_by_label("Impression", exact=True)
    impression.fill("")
    impression.press_sequentially("IMPRESSION .normal")
    page.get_by_role("button", name="Sign final").click()
    expect(page.locator("#report-status")).to_have_text("Final")
    report = Report.objects.get()
    assert (report.status, report.impression) == (Report.Status.FINAL, "IMPRESSION No acute abnormality.")
    assert page.csp_blocked == []
    page.context.close()
