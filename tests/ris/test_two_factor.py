"""The second factor cannot be walked around: the Django admin signs in through the RIS sign-in, a session that
skipped the code is refused, and moving or removing the authenticator takes the password and a current code."""

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from ris.models import Role
from tests.factories import TEST_PASSWORD, UserFactory
from tests.ris.test_login import code_of, signed_in

pytestmark = pytest.mark.django_db

TWO_FACTOR = "/accounts/two-factor/"


@pytest.fixture(autouse=True)
def _no_throttle(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp's slowing of wrong codes: not under test here


@pytest.fixture
def admin_with_device():
    user = UserFactory(role=Role.ADMIN, is_staff=True)
    return user, TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def verified_client(user, device) -> Client:
    """A client signed in as the sign-in page leaves it: password and the authenticator's code."""
    client = Client()
    client.force_login(user)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


# --- the Django admin -------------------------------------------------------------------------------------------


def test_the_admin_login_page_sends_to_the_ris_sign_in():
    response = Client().get("/admin/login/?next=/admin/ris/patient/")
    assert (response.status_code, response["Location"]) == (302, "/accounts/login/?next=/admin/ris/patient/")


def test_the_admin_login_form_does_not_sign_in_with_the_password_alone(admin_with_device):
    user, _device = admin_with_device
    client = Client()
    response = client.post("/admin/login/", {"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert not signed_in(client)
    assert client.get("/admin/").status_code == 302


def test_a_staff_administrator_reaches_the_admin_after_the_ris_sign_in_with_code(admin_with_device):
    user, device = admin_with_device
    client = Client()
    data = {"username": user.username, "password": TEST_PASSWORD, "otp_token": code_of(device), "next": "/admin/"}
    response = client.post("/accounts/login/", data)
    assert (response.status_code, response["Location"]) == (302, "/admin/")
    assert client.get("/admin/").status_code == 200


def test_a_signed_in_user_the_admin_refuses_gets_403_not_a_redirect_loop():
    client = Client()
    client.force_login(UserFactory(role=Role.FRONT_DESK))
    assert client.get("/admin/login/?next=/admin/").status_code == 403


# --- sessions that skipped the code -------------------------------------------------------------------------------


def test_a_session_without_the_code_is_ended_for_a_user_with_an_authenticator(admin_with_device):
    user, _device = admin_with_device
    client = Client()
    client.force_login(user)  # as Django's own admin login did: password and is_staff only
    response = client.get(reverse("ris:admin_home"))
    assert (response.status_code, response["Location"]) == (302, "/accounts/login/?next=/administration/")
    assert not signed_in(client)


@pytest.mark.parametrize("url", ["/admin/", "/api/patients/", "/fhir/r4/Patient"])
def test_an_unverified_session_opens_neither_the_admin_nor_the_api(admin_with_device, url):
    user, _device = admin_with_device
    client = Client()
    client.force_login(user)
    assert client.get(url).status_code in (302, 401, 403)
    assert not signed_in(client)


def test_a_verified_session_works(admin_with_device):
    client = verified_client(*admin_with_device)
    assert client.get(reverse("ris:admin_home")).status_code == 200
    assert client.get("/admin/").status_code == 200


def test_an_unverified_session_cannot_swap_the_authenticator(admin_with_device):
    user, device = admin_with_device
    client = Client()
    client.force_login(user)
    client.post(TWO_FACTOR, {"otp_token": "123456"})
    client.force_login(user)
    client.post(TWO_FACTOR, {"action": "replace", "password": TEST_PASSWORD, "otp_token": code_of(device)})
    assert list(TOTPDevice.objects.filter(user=user).values_list("pk", "confirmed")) == [(device.pk, True)]


# --- replacing and removing the authenticator ---------------------------------------------------------------------


def test_a_session_alone_cannot_set_up_a_new_authenticator(admin_with_device):
    user, device = admin_with_device
    client = verified_client(user, device)
    page = client.get(TWO_FACTOR)
    assert "totp-secret" not in page.content.decode()  # no new key is shown
    response = client.post(TWO_FACTOR, {"otp_token": code_of(device)})
    assert response.status_code == 200
    assert list(TOTPDevice.objects.filter(user=user).values_list("pk", flat=True)) == [device.pk]


@pytest.mark.parametrize("wrong", ["password", "code"])
def test_replacing_refuses_a_wrong_password_or_code(admin_with_device, wrong):
    user, device = admin_with_device
    client = verified_client(user, device)
    data = {"action": "replace", "password": TEST_PASSWORD, "otp_token": code_of(device)}
    data["password" if wrong == "password" else "otp_token"] = (
        "not-the-password" if wrong == "password" else f"{(int(code_of(device)) + 1) % 1_000_000:06d}"
    )
    response = client.post(TWO_FACTOR, data)
    assert "The password or the code is not valid." in response.content.decode()
    assert "totp-secret" not in client.get(TWO_FACTOR).content.decode()


def test_replacing_with_password_and_current_code_moves_the_authenticator(admin_with_device):
    user, device = admin_with_device
    client = verified_client(user, device)
    data = {"action": "replace", "password": TEST_PASSWORD, "otp_token": code_of(device)}
    assert client.post(TWO_FACTOR, data).status_code == 302
    page = client.get(TWO_FACTOR)
    assert "totp-secret" in page.content.decode()
    new = TOTPDevice.objects.get(user=user, confirmed=False)
    assert client.post(TWO_FACTOR, {"otp_token": code_of(new)}).status_code == 302
    assert list(TOTPDevice.objects.filter(user=user).values_list("pk", "confirmed")) == [(new.pk, True)]


def test_removing_takes_password_and_current_code(admin_with_device):
    user, device = admin_with_device
    client = verified_client(user, device)
    refused = client.post(TWO_FACTOR, {"action": "remove", "password": TEST_PASSWORD, "otp_token": ""})
    assert refused.status_code == 200
    assert TOTPDevice.objects.filter(user=user).exists()
    data = {"action": "remove", "password": TEST_PASSWORD, "otp_token": code_of(device)}
    assert client.post(TWO_FACTOR, data).status_code == 302
    assert not TOTPDevice.objects.filter(user=user).exists()


def test_guessing_the_password_to_move_the_authenticator_locks_the_account(admin_with_device, settings):
    user, device = admin_with_device
    client = verified_client(user, device)
    wrong = {"action": "replace", "password": "not-the-password", "otp_token": code_of(device)}
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(TWO_FACTOR, wrong, REMOTE_ADDR="10.0.0.9")
    right = {"action": "replace", "password": TEST_PASSWORD, "otp_token": code_of(device, drift=1)}
    assert client.post(TWO_FACTOR, right, REMOTE_ADDR="10.0.0.9").status_code == 429
    assert "totp-secret" not in client.get(TWO_FACTOR, REMOTE_ADDR="10.0.0.9").content.decode()
