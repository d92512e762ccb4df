"""The RIS's icon: every page links it and the static files serve it."""

import re

from django.urls import reverse


def test_every_page_links_the_icon_and_the_icon_is_served(client, db):
    page = client.get(reverse("login")).content.decode()
    icons = re.findall(r'<link rel="icon" href="([^"]+)"[^>]* type="(image/[^"]+)"', page)
    assert {kind for _href, kind in icons} == {"image/png", "image/svg+xml"}
    for href, kind in icons:
        response = client.get(href)
        assert (response.status_code, response["Content-Type"]) == (200, kind), href
