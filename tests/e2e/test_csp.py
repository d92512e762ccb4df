"""The main pages under the Content-Security-Policy in Chromium: each works and the policy blocks nothing on them
(the `page` fixture fails a test on any "Content Security Policy" console error)."""

import io

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from ris.demo import DEMO_PASSWORD
from scheduling import demo as scheduling_demo
from scheduling.models import Exam

PAGES = ["/", "/scheduling/", "/scheduling/board/", "/reporting/", "/dashboard/", "/billing/", "/administration/"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_main_pages_run_their_scripts_without_a_policy_violation(live_server, page, monkeypatch):
    # Every page needs some data, not three weeks of it: the demo from yesterday to tomorrow.
    monkeypatch.setattr(scheduling_demo, "DAYS_BACK", 1)
    monkeypatch.setattr(scheduling_demo, "DAYS_AHEAD", 1)
    call_command("seed_demo", force=True, stdout=io.StringIO())
    exam = Exam.objects.filter(status=Exam.Status.SCHEDULED).first()  # an appointment to print

    page.goto(live_server.url)
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    for path in PAGES:
        response = page.goto(live_server.url + path)
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
    # The dashboard's charts are drawn by static/js/dashboard.js with Chart.js: scripts from 'self' run.
    page.goto(live_server.url + "/dashboard/")
    expect(page.locator("#chart-per-day")).to_be_visible()
    assert page.evaluate("() => Boolean(Chart.getChart(document.getElementById('chart-per-day')))")
    # The appointment letter's Print button is wired by static/js/print.js, not an inline onclick.
    page.goto(f"{live_server.url}/scheduling/exams/{exam.pk}/letter/")
    page.evaluate("() => { window.printed = false; window.print = () => { window.printed = true; }; }")
    page.get_by_role("button", name="Print").click()
    assert page.evaluate("() => window.printed")
    assert page.csp_blocked == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_swagger_ui_renders_under_its_own_policy(live_server, page):
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("RIS API")
