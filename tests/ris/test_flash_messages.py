"""Flash messages look like what they say: one style and ARIA role per Django message level (base.html)."""

import re

import pytest
from django.contrib import messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from ris.models import Role
from tests.worklist.test_reconcile import unmatched_step

pytestmark = pytest.mark.django_db


def message_items(html: str) -> list[tuple[str, str, str]]:
    """(class, role, text) of each item of the page's message list."""
    found = re.search(r'<ul class="messages">(.*?)</ul>', html, re.S)
    assert found, "the page shows no message list"
    return [
        (cls, role, text.strip())
        for cls, role, text in re.findall(r'<li class="([^"]*)" role="([^"]*)">(.*?)</li>', found.group(1), re.S)
    ]


@pytest.mark.parametrize(
    ("level", "css", "role"),
    [
        (messages.SUCCESS, "message-success", "status"),
        (messages.INFO, "message-info", "status"),
        (messages.WARNING, "message-warning", "alert"),
        (messages.ERROR, "message-error", "alert"),
    ],
    ids=["success", "info", "warning", "error"],
)
def test_each_message_level_has_its_own_class_and_role(level, css, role):
    request = RequestFactory().get("/")
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    messages.add_message(request, level, "Something happened.")
    html = render_to_string("base.html", request=request)
    assert message_items(html) == [(f"message {css}", role, "Something happened.")]


def test_a_success_is_not_styled_as_an_error(client_for):
    response = client_for(Role.FRONT_DESK).post(
        reverse("scheduling:patient_register"),
        {"family_name": "Lindqvist", "given_name": "Maja", "birth_date": "1980-03-04", "sex": "F"},
        follow=True,
    )
    [(css, role, text)] = message_items(response.content.decode())
    assert (css, role) == ("message message-success", "status")
    assert text.startswith("Registered LINDQVIST, Maja")


def test_an_error_is_announced_as_an_alert(client_for):
    step = unmatched_step()
    response = client_for(Role.FRONT_DESK).post(
        reverse("worklist:reconcile", args=[step.pk]), {"accession_number": "A-NONE"}, follow=True
    )
    [(css, role, text)] = message_items(response.content.decode())
    assert (css, role) == ("message message-error", "alert")
    assert "names no exam" in text


def test_no_message_is_styled_inline():
    """The Content-Security-Policy forbids style attributes: the levels are told apart by CSS classes only."""
    request = RequestFactory().get("/")
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    messages.error(request, "Refused.")
    html = render_to_string("base.html", request=request)
    assert "style=" not in re.search(r'<ul class="messages">.*?</ul>', html, re.S).group(0)
