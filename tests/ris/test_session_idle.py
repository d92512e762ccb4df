"""Inactivity sign-out: only the user's own requests keep a session alive; a page's background requests (the
editor's once-a-minute claim renewal) are answered but neither renew the session nor move its expiry."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from reporting.models import ReadingClaim
from tests.factories import make_completed_exam, make_radiologist

pytestmark = pytest.mark.django_db

BACKGROUND = {"HTTP_X_RIS_BACKGROUND": "1"}


class Clock:
    """timezone.now for the whole process, moved on by hand."""

    def __init__(self):
        self.at = timezone.now()

    def __call__(self):
        return self.at

    def advance(self, seconds: int) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(timezone, "now", clock)
    return clock


@pytest.fixture
def reading(client, clock, settings):
    """A radiologist with the editor open on an exam (a request of their own at the clock's start)."""
    settings.SESSION_COOKIE_AGE = 15 * 60
    exam = make_completed_exam()
    client.force_login(make_radiologist())
    assert client.get(reverse("reporting:editor", args=[exam.pk])).status_code == 200
    return exam


def renew_claim_every_minute(client, clock, exam, minutes: int, **headers) -> None:
    for _ in range(minutes):
        clock.advance(60)
        response = client.post(reverse("reporting:keep_claim", args=[exam.pk]), **headers)
        assert response.status_code == 200, response.content


def test_claim_renewals_do_not_keep_an_unattended_session_alive(client, clock, reading):
    renew_claim_every_minute(client, clock, reading, 14, **BACKGROUND)
    session = Session.objects.get(session_key=client.session.session_key)
    assert session.expire_date <= clock.at + timedelta(minutes=1)  # still the first request's deadline

    clock.advance(61)  # 15 minutes and a second after the last request of the user's own
    response = client.get(reverse("reporting:editor", args=[reading.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "_auth_user_id" not in client.session


def test_a_claim_renewal_after_the_deadline_finds_the_session_over_and_the_claim_may_outlive_it(client, clock, reading):
    renew_claim_every_minute(client, clock, reading, 14, **BACKGROUND)
    clock.advance(61)
    late = client.post(reverse("reporting:keep_claim", args=[reading.pk]), **BACKGROUND)
    assert late.status_code == 302  # to the sign-in page: no longer signed in
    assert ReadingClaim.objects.filter(exam=reading).exists()


def test_requests_of_the_users_own_still_renew_the_session(client, clock, reading):
    renew_claim_every_minute(client, clock, reading, 14)  # no background header: the user at work
    clock.advance(61)
    assert client.get(reverse("reporting:editor", args=[reading.pk])).status_code == 200
    session = Session.objects.get(session_key=client.session.session_key)
    assert session.expire_date - clock.at == timedelta(minutes=15)
