"""The caller's address: X-Forwarded-For is believed only from configured proxies, so a caller reaching gunicorn
directly cannot pick the address its failed sign-ins count against; one address failing across many accounts
(password spraying) is locked out too."""

import pytest
from django.test import Client, RequestFactory

from ris.access import client_address
from ris.models import Role
from tests.factories import UserFactory
from tests.ris.test_login import sign_in, signed_in
from tests.ris.test_settings import run

pytestmark = pytest.mark.django_db


def address(remote: str, forwarded: str | None = None) -> str | None:
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return client_address(RequestFactory().get("/", REMOTE_ADDR=remote, **extra))


@pytest.fixture(autouse=True)
def _behind_a_tls_proxy(settings):
    settings.RIS_BEHIND_PROXY = True  # RIS_BEHIND_TLS_PROXY=1, as deployed: gunicorn may still be reached directly


def test_forwarded_for_from_a_caller_that_is_no_proxy_is_ignored(settings):
    settings.RIS_TRUSTED_PROXIES = ["127.0.0.1"]
    assert address("203.0.113.9", "10.9.9.9") == "203.0.113.9"
    settings.RIS_TRUSTED_PROXIES = []
    assert address("127.0.0.1", "10.9.9.9") == "127.0.0.1"


def test_behind_a_trusted_proxy_the_address_it_saw_counts(settings):
    settings.RIS_TRUSTED_PROXIES = ["127.0.0.1", "10.1.2.0/24"]
    assert address("127.0.0.1", "198.51.100.7") == "198.51.100.7"
    # the caller wrote the first hop itself; our proxies appended the rest
    assert address("127.0.0.1", "1.1.1.1, 198.51.100.7, 10.1.2.3") == "198.51.100.7"
    assert address("127.0.0.1", "not-an-address, 10.1.2.3") == "10.1.2.3"
    assert address("127.0.0.1") == "127.0.0.1"


def test_a_spoofed_forwarded_for_does_not_escape_the_lockout(client, settings):
    settings.RIS_TRUSTED_PROXIES = []
    user = UserFactory(role=Role.FRONT_DESK)
    for hop in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, user, password="wrong-password", HTTP_X_FORWARDED_FOR=f"192.0.2.{hop}")
    locked = sign_in(client, user, HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert locked.status_code == 429
    assert not signed_in(client)


def test_failures_across_many_accounts_lock_the_address(settings):
    settings.RIS_LOGIN_ADDRESS_FAILURE_LIMIT = 20
    sprayer = Client()
    for _ in range(20):  # one guess at each of twenty accounts: far below any account's own limit
        assert sign_in(sprayer, UserFactory(), password="Winter2026!", address="10.0.0.66").status_code == 200
    victim = UserFactory(role=Role.FRONT_DESK)
    assert sign_in(sprayer, victim, address="10.0.0.66").status_code == 429  # even the right password
    assert not signed_in(sprayer)
    colleague = Client()
    assert sign_in(colleague, victim, address="10.0.0.67").status_code == 302


def test_fewer_failures_from_an_address_do_not_lock_it(settings):
    settings.RIS_LOGIN_ADDRESS_FAILURE_LIMIT = 20
    client = Client()
    for _ in range(19):
        sign_in(client, UserFactory(), password="Winter2026!", address="10.0.0.68")
    assert sign_in(client, UserFactory(role=Role.FRONT_DESK), address="10.0.0.68").status_code == 302


@pytest.mark.slow
def test_a_trusted_proxy_that_is_no_address_stops_the_start():
    result = run(["-c", "import django; django.setup()"], RIS_TRUSTED_PROXIES="127.0.0.1,proxy.example")
    assert result.returncode != 0
    assert "RIS_TRUSTED_PROXIES" in result.stderr
