"""ris.redirects.back: `next` is a path on this site, else the default page."""

import pytest
from django.test import RequestFactory

from ris.redirects import back


@pytest.mark.parametrize(
    ("next_value", "expected"),
    [
        ("/scheduling/exams/12/", "/scheduling/exams/12/"),
        ("/worklist/?day=2026-12-07", "/worklist/?day=2026-12-07"),
        ("0", "/fallback/"),  # a URL name to Django's redirect(): NoReverseMatch, a 500, before the fix
        ("home", "/fallback/"),
        ("https://evil.example/", "/fallback/"),
        ("//evil.example/", "/fallback/"),
        ("", "/fallback/"),
    ],
)
def test_next_is_a_path_on_this_site_or_the_default(next_value, expected):
    request = RequestFactory().post("/x/", {"next": next_value})
    assert back(request, "/fallback/")["Location"] == expected
