"""Fixtures and helpers for the whole suite, and the rules that keep it safe on parallel workers.

`make test` runs the suite on several pytest-xdist workers (`-n`, `--dist loadgroup`; `make test PYTEST_WORKERS=0`
runs it in one process). Each worker is a process of its own with its own test database (pytest-django names them
test_<name>_gw0, test_<name>_gw1, ...), so a test may run beside any other test. A test therefore:

- listens only on `free_port()` (never a fixed port) and connects only to the servers it started;
- writes files only under `tmp_path` (or `tmp_path_factory`), never in var/ or the source tree (except the named
  screenshots of tests/e2e/artifacts/, one file name per test);
- names any extra database it creates uniquely (e.g. a uuid suffix, as the backup test does) and drops it;
- changes settings through pytest-django's `settings` fixture and the environment through `monkeypatch`, which
  undo the change after the test (a worker runs many tests in one process);
- has parameter ids that are the same in every process (no repr of a set or of an object's address: each worker
  collects the suite itself, and xdist stops when the ids differ);
- marks tests that run a real Celery worker `celery_worker`: they share the broker, so this file puts them all in
  one xdist group (`xdist_group("celery_worker")`), which `--dist loadgroup` runs on a single worker, one at a time;
- waits for an event (a reply, a row, a thread's Event, a socket closing) with a deadline rather than sleeping a
  fixed time, and does not assert on wall-clock time tighter than a loaded machine keeps (the workers share cores).
"""

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest
from django.db import connection

from ris.celery import app as celery_app
from ris.models import Role
from tests.factories import UserFactory

REQUIRE_PEERS = os.environ.get("RIS_REQUIRE_PEERS") == "1"


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the groups (--dist loadgroup)
def pytest_collection_modifyitems(items):
    """Tests on a real Celery worker share the configured broker (a worker started by one would take another's
    tasks, and the health check's ping would see another's worker): one xdist group runs them on one worker.
    Slow tests first (see below)."""
    for item in items:
        if item.get_closest_marker("celery_worker"):
            item.add_marker(pytest.mark.xdist_group("celery_worker"))
    # The tests marked slow (seed_demo, backups, browsers, real servers: up to ~100 s each) go first, the rest keep
    # their order: xdist hands tests out in this order, so no long test starts when the other worker is nearly done.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


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


@pytest.fixture(autouse=True, scope="session")
def _media_root_per_worker(tmp_path_factory):
    """Uploaded and exported files (catalog imports, claim batches) go to a folder of this process, not to var/files
    of the source tree that every worker would share; a test that reads them back sets its own under tmp_path."""
    from django.conf import settings

    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True, scope="session")
def _flush_by_delete_on_postgresql():
    """After each transactional test Django empties every table; on PostgreSQL it does so with one TRUNCATE of all
    ~100 tables, which makes and syncs new files for each table and index: 1.5-3 s a test. DELETE of the same tables
    in one transaction leaves them just as empty in ~0.05 s. Row triggers that refuse a DELETE (the append-only
    access log, signed reports) and the foreign keys are not fired while `session_replication_role` is `replica`
    (superuser only, as the CI's postgres user is; otherwise, and for a partial or sequence-resetting flush, Django's
    TRUNCATE stays). The next test restores the migrated rows as before (serialized rollback)."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if not tables or reset_sequences or allow_cascade or not _superuser(self.connection):
            return truncate(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        return [
            "SET LOCAL session_replication_role = replica",
            *(f"{style.SQL_KEYWORD('DELETE FROM')} {style.SQL_FIELD(self.quote_name(table))}" for table in tables),
        ]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", sql_flush)
        yield


@pytest.fixture(autouse=True, scope="session")
def _static_files_listed_once():
    """Every test client builds the middleware chain anew, and WhiteNoise's middleware then lists and stats every
    static file the finders know and builds its headers (~50 ms a client; the role matrix makes seven clients a
    test). The listing is the same for the same configuration: this process makes it once per configuration and
    hands each new middleware the same entries."""
    from django.conf import settings
    from whitenoise.middleware import WhiteNoiseMiddleware

    listed = WhiteNoiseMiddleware.add_files_from_finders
    made: dict[tuple, dict] = {}

    def add_files_from_finders(self):
        key = (
            self.static_prefix,
            self.max_age,
            self.allow_all_origins,
            self.charset,
            self.add_headers_function,
            self.index_file,
            repr(getattr(settings, "WHITENOISE_IMMUTABLE_FILE_TEST", None)),
            repr(getattr(settings, "WHITENOISE_MIMETYPES", None)),
            repr(settings.STATICFILES_DIRS),
            tuple(settings.STATICFILES_FINDERS),
            tuple(settings.INSTALLED_APPS),
        )
        if key not in made:
            before = dict(self.files)
            listed(self)
            made[key] = {url: entry for url, entry in self.files.items() if before.get(url) is not entry}
        self.files.update(made[key])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(WhiteNoiseMiddleware, "add_files_from_finders", add_files_from_finders)
        yield


@pytest.fixture(autouse=True, scope="session")
def _serialized_rollback_by_copy_on_postgresql():
    """Before each serialized-rollback test Django reloads the rows the migrations made (~480: permissions, groups,
    content types, modalities) one object at a time, an UPDATE and an INSERT each (~0.5 s a test). The first reload
    in this process is Django's own; when afterwards the tables of those models hold exactly the serialized rows (a
    count per table, every serialized row having just been saved), their contents are kept as PostgreSQL COPY data,
    and later reloads copy them back in one transaction (the same rows; INSERT triggers fire as before)."""
    from django.db import transaction
    from django.db.backends.postgresql.creation import DatabaseCreation

    deserialize = DatabaseCreation.deserialize_db_from_string
    copies: dict[tuple[str, str], list[tuple[str, bytes]] | None] = {}

    def deserialize_db_from_string(self, data):
        key = (self.connection.settings_dict["NAME"], data)
        if key not in copies:
            deserialize(self, data)
            copies[key] = _copied_tables(self.connection, data)
            return
        tables = copies[key]
        if tables is None:
            deserialize(self, data)
            return
        with transaction.atomic(using=self.connection.alias), self.connection.cursor() as cursor:
            for table, rows in tables:
                with cursor.copy(f"COPY {self.connection.ops.quote_name(table)} FROM STDIN") as copy:
                    copy.write(rows)
            self.connection.check_constraints(table_names=[table for table, _rows in tables])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseCreation, "deserialize_db_from_string", deserialize_db_from_string)
        yield


def _copied_tables(connection, data: str) -> list[tuple[str, bytes]] | None:
    """COPY data of the tables behind the serialized rows (the models' and their many-to-many tables'), or None when
    a table holds other rows than the serialized ones."""
    import json
    from collections import Counter

    from django.apps import apps

    expected: Counter = Counter()
    for row in json.loads(data):
        model = apps.get_model(row["model"])
        expected[model._meta.db_table] += 1
        for field in model._meta.many_to_many:
            if field.remote_field.through._meta.auto_created:
                expected[field.remote_field.through._meta.db_table] += len(row["fields"].get(field.name, ()))
    tables = []
    with connection.cursor() as cursor:
        if not hasattr(cursor, "copy"):  # psycopg 3
            return None
        for table, count in expected.items():
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT count(*) FROM {quoted}")  # noqa: S608 (a model's table name)
            if cursor.fetchone()[0] != count:
                return None
            with cursor.copy(f"COPY {quoted} TO STDOUT") as copy:
                tables.append((table, b"".join(bytes(block) for block in copy)))
    return tables


def _superuser(connection) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('is_superuser')")
        return cursor.fetchone()[0] == "on"


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
def certificates(_certificates_of_this_process, tmp_path):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl, in `tmp_path`."""
    for made in _certificates_of_this_process.iterdir():
        shutil.copy2(made, tmp_path / made.name)
    return tmp_path


@pytest.fixture(scope="session")
def _certificates_of_this_process(tmp_path_factory):
    """Three RSA keys and certificates cost openssl 1-3 s: made once a process, each test gets its own copy."""
    folder = tmp_path_factory.mktemp("certificates")
    _make_certificates(folder)
    return folder


def _make_certificates(tmp_path) -> None:
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


def connect_from(port: int, source: str, timeout: float = 5) -> socket.socket | None:
    """A TCP connection to 127.0.0.1:`port` from the loopback address `source` (127.0.0.x), or None if refused."""
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
    except OSError:
        return None


class Tricklers:
    """Connections (from the given loopback addresses) that send `start`, then one `byte` every `every` seconds from
    a thread, until stopped or `rounds` rounds are done: the slow client that holds a server's slots."""

    def __init__(self, port: int, sources: list[str], *, start: bytes, byte: bytes, every=0.5, rounds=60):
        self.sockets = [sock for sock in (connect_from(port, source) for source in sources) if sock is not None]
        for sock in self.sockets:
            if start:
                with contextlib.suppress(OSError):
                    sock.sendall(start)
        self._byte = byte
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every, rounds), daemon=True)
        self._thread.start()

    def _run(self, every: float, rounds: int) -> None:
        for _ in range(rounds):
            if self._stop.wait(every):
                return
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.send(self._byte)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


def closed_by_peer(sock: socket.socket, within: float) -> bool:
    """Did the server close this connection within `within` seconds (reading and discarding what it sends)?"""
    sock.settimeout(0.1)
    until = time.monotonic() + within
    while time.monotonic() < until:
        try:
            if sock.recv(4096) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False


def assert_cut_off_at_the_deadline(attack: Tricklers) -> None:
    """The trickling connection is closed at the server's one-second deadline, not kept alive by its bytes."""
    try:
        started = time.monotonic()
        assert closed_by_peer(attack.sockets[0], within=4)
        assert time.monotonic() - started < 2.5
    finally:
        attack.stop()
