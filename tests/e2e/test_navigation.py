"""The top bar in Chromium: an administrator's menu (every entry and the Django admin) fits one line on a 1440 px
wide screen (the demo administrator, Ada Admin), and every page shows the RIS's icon in the browser tab."""

import pytest

from ris.models import Role
from tests.factories import TEST_PASSWORD, UserFactory


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_an_administrators_menu_fits_one_line_at_1440_px_and_the_tab_shows_the_icon(live_server, page):
    UserFactory(role=Role.ADMIN, username="ada", first_name="Ada", last_name="Admin", is_staff=True)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(live_server.url)
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(live_server.url + "/administration/")

    entries = page.locator("header.topbar nav li")
    assert entries.count() == 13  # twelve pages and the Django admin
    boxes = [entries.nth(i).bounding_box() for i in range(entries.count())]
    line = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('header.topbar nav a')).lineHeight)")
    assert max(box["height"] for box in boxes) <= line + 1, "an entry wraps onto a second line"
    assert len({round(box["y"]) for box in boxes}) == 1, f"the entries are not on one line: {boxes}"
    signout = page.locator("header.topbar .signout").bounding_box()
    assert signout["x"] + signout["width"] <= 1440
    assert signout["y"] < boxes[0]["y"] + boxes[0]["height"], "sign-out is pushed below the menu"

    icon = page.evaluate("() => document.querySelector('link[rel=icon]').href")
    response = page.request.get(icon)
    assert response.status == 200
    assert response.headers["content-type"].startswith("image/")
