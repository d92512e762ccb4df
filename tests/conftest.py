import os
import shutil
import socket
import subprocess

import pytest
from django.db import connection

from ris.celery import app as celery_app
from ris.models import Role
from tests.factories import UserFactory

REQUIRE_PEERS = os.environ.get("RIS_REQUIRE_PEERS") == "1"


def need(condition: bool, reason: str) -> None:
    """Skip unless `condition` holds; with RIS_REQUIRE_PEERS=1 (CI) a missing peer fails the test instead."""
    if not condition:
        if REQUIRE_PEERS:
            pytest.fail(f"RIS_REQUIRE_PEERS=1 but {reason}")
        pytest.skip(reason)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a server a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def need_tool(name: str) -> str:
    path = shutil.which(name)
    need(path is not None, f"{name} is not installed")
    return path


@pytest.fixture(autouse=True)
def _tasks_in_process(request):
    """Celery tasks run in the test's own process and transaction, as on a laptop without a broker, even when CI
    configures Redis; a test marked `celery_worker` gets the real broker and starts a worker itself."""
    if request.node.get_closest_marker("celery_worker"):
        yield
        return
    conf = celery_app.conf
    previous = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager = conf.task_eager_propagates = True
    yield
    conf.task_always_eager, conf.task_eager_propagates = previous


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 at production strength costs ~0.3 s a user; tests do not need it."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def postgresql(db):
    need(connection.vendor == "postgresql", "this test needs PostgreSQL (set DATABASE_URL=postgres://...)")


@pytest.fixture
def user_with_role(db):
    def make(role: Role, **kwargs):
        return UserFactory(role=role, **kwargs)

    return make


@pytest.fixture
def client_for(client, user_with_role):
    """A test client signed in as a new user of the given role."""

    def make(role: Role):
        client.force_login(user_with_role(role))
        return client

    return make


def _openssl(*args: str, cwd) -> None:
    subprocess.run([need_tool("openssl"), *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture
def certificates(tmp_path):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl."""
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=Test CA",
        cwd=tmp_path,
    )
    for name in ("server", "client"):
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/CN={name}",
            cwd=tmp_path,
        )
        (tmp_path / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1\n")
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.pem",
            "-days",
            "1",
            "-extfile",
            f"{name}.ext",
            cwd=tmp_path,
        )
    return tmp_path
