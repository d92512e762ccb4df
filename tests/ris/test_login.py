"""Sign-in hardening: lockout after failed attempts, strong passwords, inactivity expiry, the TOTP second factor,
CSRF on forms, secure cookies and headers in production."""

import base64
import secrets
from datetime import timedelta

import pytest
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from ris.models import Role
from tests.factories import TEST_PASSWORD, UserFactory
from tests.ris.test_settings import run

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def sign_in(client, user, password=TEST_PASSWORD, address="10.0.0.5", **extra):
    return client.post(LOGIN, {"username": user.username, "password": password, **extra}, REMOTE_ADDR=address)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def code_of(device: TOTPDevice, *, drift: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = timezone.now().timestamp() + drift * device.step
    return f"{totp.token():0{device.digits}d}"


# --- lockout ----------------------------------------------------------------------------------------------------


def test_five_failed_sign_ins_lock_the_account_from_that_address(client, settings):
    user = UserFactory(role=Role.FRONT_DESK)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, user, password="wrong-password").status_code == 200
    assert sign_in(client, user, password="wrong-password").status_code == 429  # the fifth failure locks
    locked = sign_in(client, user)  # the right password, too late
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert not signed_in(client)
    other = Client()
    assert sign_in(other, user, address="10.0.0.6").status_code == 302  # a colleague's workstation still works
    assert signed_in(other)


def test_a_success_resets_the_count(client, settings):
    user = UserFactory(role=Role.FRONT_DESK)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, user, password="wrong-password")
    assert sign_in(client, user).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, user, password="wrong-password")
    assert sign_in(client, user).status_code == 302


def test_the_lockout_ends_after_the_cool_off(client, settings):
    user = UserFactory(role=Role.FRONT_DESK)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, user, password="wrong-password")
    assert sign_in(client, user).status_code == 429
    from axes.models import AccessAttempt

    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert sign_in(client, user).status_code == 302


def test_http_basic_failures_count_as_well(settings):
    user = UserFactory(role=Role.FRONT_DESK)

    def basic(password: str) -> int:
        token = base64.b64encode(f"{user.username}:{password}".encode()).decode()
        return APIClient(HTTP_AUTHORIZATION=f"Basic {token}", REMOTE_ADDR="10.0.0.7").get("/api/patients/").status_code

    assert basic(TEST_PASSWORD) == 200
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert basic("wrong-password") == 401
    assert basic(TEST_PASSWORD) in (401, 403, 429)


# --- passwords and sessions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password", ["short-pw1", "123456789012345", "password1234", "qwertyuiop123", "testuser-2026x"]
)
def test_weak_passwords_are_refused(password):
    user = UserFactory.build(username="testuser-2026", first_name="Test")
    with pytest.raises(ValidationError):
        validate_password(password, user)


def test_a_long_uncommon_password_is_accepted():
    validate_password("violet-harbour-71-quince", UserFactory.build(username="someone"))


def test_the_session_ends_after_inactivity(client, settings):
    assert settings.SESSION_COOKIE_AGE == 15 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST  # each request pushes the end out again
    user = UserFactory(role=Role.FRONT_DESK)
    assert sign_in(client, user).status_code == 302
    assert client.get(reverse("scheduling:home")).status_code == 200
    session = Session.objects.get(session_key=client.session.session_key)
    assert timedelta(minutes=14) < session.expire_date - timezone.now() <= timedelta(minutes=15)
    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get(reverse("scheduling:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


def test_pages_carry_the_session_warning_and_keep_alive_renews(client, settings):
    settings.SESSION_COOKIE_AGE = 600
    settings.RIS_SESSION_WARNING_SECONDS = 120
    client.force_login(UserFactory(role=Role.FRONT_DESK))
    page = client.get(reverse("scheduling:home")).content.decode()
    assert 'data-session-seconds="600"' in page
    assert 'data-session-warning-seconds="120"' in page
    assert 'id="session-warning"' in page
    session = Session.objects.get(session_key=client.session.session_key)
    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now() + timedelta(seconds=30))
    assert client.get(reverse("keep_alive")).status_code == 204
    assert Session.objects.get(pk=session.pk).expire_date - timezone.now() > timedelta(seconds=590)


# --- second factor ----------------------------------------------------------------------------------------------


@pytest.fixture
def enrolled():
    user = UserFactory(role=Role.RADIOLOGIST)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user, device


def test_a_user_with_an_authenticator_must_give_its_code(client, enrolled, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp also slows retries after a wrong code: not under test here
    user, device = enrolled
    missing = sign_in(client, user)
    assert missing.status_code == 200
    assert "Enter the code from your authenticator app." in missing.content.decode()
    assert not signed_in(client)
    wrong = sign_in(client, user, otp_token=f"{(int(code_of(device)) + 1) % 1_000_000:06d}")
    assert "That code is not valid." in wrong.content.decode()
    assert not signed_in(client)
    assert sign_in(client, user, otp_token=code_of(device)).status_code == 302
    assert signed_in(client)
    assert client.session.get("otp_device_id") == device.persistent_id


def test_wrong_codes_count_towards_the_lockout(client, enrolled, settings):
    user, device = enrolled
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, user, otp_token="000000" if code_of(device) != "000000" else "111111")
    assert sign_in(client, user, otp_token=code_of(device)).status_code == 429
    assert not signed_in(client)


def test_a_radiologist_sets_up_an_authenticator(client, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    user = UserFactory(role=Role.RADIOLOGIST)
    client.force_login(user)
    page = client.get(reverse("two_factor"))
    assert page.status_code == 200
    assert "<svg" in page.content.decode()
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert page.context["secret"] == base64.b32encode(device.bin_key).decode()
    refused = client.post(reverse("two_factor"), {"otp_token": "12345"})
    assert "That code is not valid" in refused.content.decode()
    assert client.post(reverse("two_factor"), {"otp_token": code_of(device)}).status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    client.logout()
    assert sign_in(client, user).status_code == 200  # the next sign-in asks for the code
    assert not signed_in(client)


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.TECHNOLOGIST, Role.BILLING])
def test_other_roles_have_no_authenticator_page(client, role):
    client.force_login(UserFactory(role=role))
    assert client.get(reverse("two_factor")).status_code == 403


def test_when_required_radiologists_must_enrol_first(client, settings):
    settings.RIS_OTP_REQUIRED = True
    radiologist = UserFactory(role=Role.RADIOLOGIST)
    client.force_login(radiologist)
    response = client.get(reverse("reporting:home"))
    assert (response.status_code, response["Location"]) == (302, reverse("two_factor"))
    assert client.get(reverse("two_factor")).status_code == 200
    device = TOTPDevice.objects.get(user=radiologist)
    client.post(reverse("two_factor"), {"otp_token": code_of(device)})
    assert client.get(reverse("reporting:home")).status_code == 200
    client.force_login(UserFactory(role=Role.FRONT_DESK))  # the front desk is not asked
    assert client.get(reverse("scheduling:home")).status_code == 200


# --- CSRF and production headers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "data"),
    [
        (LOGIN, {"username": "x", "password": "y"}),
        ("/scheduling/patients/new/", {"family_name": "Doe"}),
        ("/accounts/two-factor/", {"otp_token": "123456"}),
        ("/accounts/logout/", {}),
    ],
)
def test_forms_refuse_a_post_without_the_csrf_token(url, data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(role=Role.ADMIN))
    response = client.post(url, data)
    assert response.status_code == 403
    assert b"CSRF" in response.content


PRODUCTION_PROBE = """
import django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
plain = Client().get("/accounts/login/", HTTP_HOST="ris.example.org")
print("redirect", plain.status_code, plain["Location"])
page = Client().get("/accounts/login/", secure=True, HTTP_HOST="ris.example.org")
print("status", page.status_code)
for name in ("Strict-Transport-Security", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options",
             "Cross-Origin-Opener-Policy"):
    print("header", name, page.headers.get(name))
print("cookie", page.cookies["csrftoken"]["secure"], page.cookies["csrftoken"]["samesite"])
from django.conf import settings
print("session", settings.SESSION_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY, settings.CSRF_COOKIE_SECURE)
"""


@pytest.mark.slow
def test_production_settings_send_secure_cookies_and_security_headers(tmp_path):
    result = run(
        ["-c", PRODUCTION_PROBE],
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="ris.example.org",
        RIS_VAR_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "redirect 301 https://ris.example.org/accounts/login/" in lines
    assert "status 200" in lines
    assert "header Strict-Transport-Security max-age=31536000; includeSubDomains; preload" in lines
    assert "header X-Content-Type-Options nosniff" in lines
    assert "header Referrer-Policy same-origin" in lines
    assert "header X-Frame-Options DENY" in lines
    assert "header Cross-Origin-Opener-Policy same-origin" in lines
    assert "cookie True Lax" in lines
    assert "session True True True" in lines
