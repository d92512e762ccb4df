"""Machine clients use API tokens (scoped, revocable, shown once, hashed at rest); HTTP Basic is for accounts without
a second factor; writes with token or Basic credentials must be JSON (no cross-site form can send them)."""

import base64
import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ris.models import ApiToken, Patient, Role
from ris.security import api_token_issue, api_token_revoke
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

PATIENTS = "/api/patients/"
NEW_PATIENT = {"family_name": "Rivera", "given_name": "Ana", "birth_date": "1984-06-02", "sex": "F"}


def bearer(presented: str) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Bearer {presented}")


def basic(user, password: str = TEST_PASSWORD) -> APIClient:
    pair = base64.b64encode(f"{user.username}:{password}".encode()).decode()
    return APIClient(HTTP_AUTHORIZATION=f"Basic {pair}")


@pytest.fixture
def desk():
    return UserFactory(role=Role.FRONT_DESK)


def test_a_token_is_stored_as_a_hash_of_its_secret_and_reads(desk):
    token, presented = api_token_issue(user=desk, name="PACS sync")
    secret = presented.split("_", 2)[2]  # ris_<prefix>_<secret>; the secret may hold "_" itself
    stored = ApiToken.objects.get(pk=token.pk)
    assert presented.startswith(f"ris_{stored.prefix}_")
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiToken.objects.filter(pk=token.pk).values().get())
    assert bearer(presented).get(PATIENTS).status_code == 200
    stored.refresh_from_db()
    assert stored.last_used_at is not None


def test_a_read_token_cannot_write_and_a_write_token_can(desk):
    _, reader = api_token_issue(user=desk, name="reader")
    refused = bearer(reader).post(PATIENTS, NEW_PATIENT, format="json")
    assert refused.status_code == 403
    assert refused.json()["detail"] == "This API token is read-only."
    _, writer = api_token_issue(user=desk, name="writer", scope=ApiToken.Scope.WRITE)
    assert bearer(writer).post(PATIENTS, NEW_PATIENT, format="json").status_code == 201
    assert Patient.objects.count() == 1


def test_the_token_acts_within_its_users_roles():
    _, presented = api_token_issue(user=UserFactory(role=Role.BILLING), name="billing", scope="write")
    assert bearer(presented).get("/api/reports/").status_code == 403


@pytest.mark.parametrize("state", ["revoked", "expired", "wrong secret", "inactive user", "unknown"])
def test_a_revoked_expired_or_wrong_token_is_refused(desk, state):
    token, presented = api_token_issue(user=desk, name="client")
    if state == "revoked":
        api_token_revoke(token=token)
    elif state == "expired":
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif state == "wrong secret":
        presented = presented[:-4] + ("aaaa" if not presented.endswith("aaaa") else "bbbb")
    elif state == "inactive user":
        desk.is_active = False
        desk.save()
    else:
        presented = "ris_000000000000_" + "x" * 43
    assert bearer(presented).get(PATIENTS).status_code == 401


def test_drf_plain_tokens_are_no_longer_accepted(desk):
    legacy = Token.objects.create(user=desk)
    assert APIClient(HTTP_AUTHORIZATION=f"Token {legacy.key}").get(PATIENTS).status_code == 401


def test_basic_is_refused_for_an_account_with_a_second_factor():
    user = UserFactory(role=Role.RADIOLOGIST)
    assert basic(user).get(PATIENTS).status_code == 200
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    refused = basic(user).get(PATIENTS)
    assert refused.status_code == 401
    assert "second factor" in refused.json()["detail"]


def test_basic_is_refused_for_an_account_that_must_set_up_a_second_factor(settings):
    settings.RIS_OTP_REQUIRED = True
    assert basic(UserFactory(role=Role.RADIOLOGIST)).get(PATIENTS).status_code == 401
    assert basic(UserFactory(role=Role.FRONT_DESK)).get(PATIENTS).status_code == 200


@pytest.mark.parametrize("credentials", ["basic", "token"])
def test_writes_with_basic_or_a_token_must_be_json(desk, credentials):
    if credentials == "basic":
        client = basic(desk)
    else:
        client = bearer(api_token_issue(user=desk, name="writer", scope="write")[1])
    as_form = client.post(PATIENTS, NEW_PATIENT)  # what a cross-site HTML form sends
    assert as_form.status_code == 415
    assert client.post(PATIENTS, NEW_PATIENT, format="multipart").status_code == 415
    assert client.generic("POST", PATIENTS, "family_name=X", content_type="text/plain").status_code == 415
    assert not Patient.objects.exists()
    assert client.post(PATIENTS, NEW_PATIENT, format="json").status_code == 201


def test_the_command_shows_a_token_once_lists_and_revokes_it(desk):
    out = StringIO()
    call_command("api_token", "issue", "--user", desk.username, "--name", "PACS sync", "--scope", "read", stdout=out)
    presented = out.getvalue().strip()
    assert bearer(presented).get(PATIENTS).status_code == 200
    token = ApiToken.objects.get()
    listing = StringIO()
    call_command("api_token", "list", stdout=listing)
    assert token.prefix in listing.getvalue()
    assert presented not in listing.getvalue()
    call_command("api_token", "revoke", token.prefix, stdout=StringIO())
    assert bearer(presented).get(PATIENTS).status_code == 401
