"""The inactivity warning in a real browser: it appears before the session lapses, 'Stay signed in' renews the
session, and without activity the page goes to the sign-in page."""

import re

import pytest
from playwright.sync_api import expect

from ris.models import Role
from tests.factories import TEST_PASSWORD, UserFactory


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_the_session_warning_renews_or_signs_out(live_server, page, settings, artifacts):
    settings.SESSION_COOKIE_AGE = 8
    settings.RIS_SESSION_WARNING_SECONDS = 4
    UserFactory(username="desk", role=Role.FRONT_DESK)
    page.goto(live_server.url)
    page.get_by_label("Username").fill("desk")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")
    warning = page.locator("#session-warning")
    expect(warning).to_be_hidden()
    expect(warning).to_be_visible(timeout=8_000)
    expect(page.locator("#session-remaining")).to_have_text(re.compile(r"^[1-4] s$"))
    page.screenshot(path=str(artifacts / "session-warning.png"))
    page.get_by_role("button", name="Stay signed in").click()
    expect(warning).to_be_hidden()
    home = page.url
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=.*&expired=1$"), timeout=15_000)
    expect(page.locator("#session-expired")).to_be_visible()
    page.goto(home)  # the server agrees: the session is over
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
