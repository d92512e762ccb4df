"""/healthz/ready and `manage.py ris_status` report each service as it is: the real worklist SCP, MLLP listener and
Celery worker are started on free ports and stopped again, and the answer follows. (Liveness, the cache and the rate
limit: test_health_split.py.)"""

import json
import time
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from interfaces import listener
from ris import health, views_health
from ris.celery import app
from tests.conftest import free_port, need
from tests.factories import RoomFactory
from tests.interfaces.conftest import issue_certificates
from worklist import scp

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

SERVICES = {"database", "broker", "worklist_scp", "hl7_listener", "worker"}


class Services:
    """The worklist SCP and the MLLP listener on free ports named in settings, as `manage.py worklist_scp` and
    `manage.py hl7_listener` start them."""

    def __init__(self, settings):
        self.settings = settings
        settings.RIS_MWL_HOST = settings.RIS_HL7_HOST = "127.0.0.1"
        settings.RIS_MWL_PORT, settings.RIS_HL7_PORT = free_port(), free_port()
        self.scp = self.mllp = None

    def start(self) -> "Services":
        self.scp = scp.start("127.0.0.1", self.settings.RIS_MWL_PORT, self.settings.RIS_MWL_AE_TITLE, block=False)
        self.mllp = listener.start("127.0.0.1", self.settings.RIS_HL7_PORT, block=False)
        return self

    def stop(self) -> None:
        if self.scp is not None:
            self.scp.shutdown()
            self.scp = None
        if self.mllp is not None:
            self.mllp.shutdown()
            self.mllp.server_close()
            self.mllp = None


@pytest.fixture(autouse=True)
def _uncached(settings):
    """Each request runs the checks afresh (no cached report, no rate limit carried over from another test)."""
    settings.RIS_HEALTH_CACHE_SECONDS = 0
    health.forget_readiness()
    views_health.forget_callers()


@pytest.fixture
def services(settings):
    running = Services(settings)
    yield running
    running.stop()


def healthz(client) -> tuple[int, dict]:
    response = client.get("/healthz/ready")
    assert response["Cache-Control"] == "no-store"
    return response.status_code, response.json()


def without_times(body: dict) -> dict:
    return {name: (check["ok"], check["detail"]) for name, check in body["checks"].items()}


def failing(body: dict) -> set[str]:
    return {name for name, check in body["checks"].items() if not check["ok"]}


# --- /healthz/ready ---------------------------------------------------------------------------------------------


def test_healthz_answers_200_to_an_anonymous_caller_when_every_service_answers(client, services):
    services.start()
    status, body = healthz(client)
    assert (status, body["status"], failing(body)) == (200, "ok", set())
    assert set(body["checks"]) == SERVICES
    assert "C-ECHO answered Success" in body["checks"]["worklist_scp"]["detail"]
    assert "accepting connections" in body["checks"]["hl7_listener"]["detail"]


def test_healthz_answers_503_naming_the_scp_and_listener_once_they_stop(client, services):
    services.start()
    assert healthz(client)[0] == 200
    services.stop()

    status, body = healthz(client)
    assert (status, body["status"], failing(body)) == (503, "fail", {"worklist_scp", "hl7_listener"})
    assert "nothing is listening" in body["checks"]["worklist_scp"]["detail"]
    assert "nothing is listening" in body["checks"]["hl7_listener"]["detail"]
    assert "all migrations applied" in body["checks"]["database"]["detail"]


def test_without_a_broker_the_broker_and_worker_are_in_process_and_healthy(services):
    assert app.conf.task_always_eager  # as on a laptop (tests/conftest.py runs tasks in-process)
    checks = {check.name: (check.ok, check.detail) for check in health.run_checks().checks}
    assert checks["broker"] == checks["worker"] == (True, health.IN_PROCESS)


def test_healthz_answers_get_and_head_only(client, services):
    services.start()
    assert client.head("/healthz/ready").status_code == 200
    assert client.post("/healthz/ready").status_code == 405


def test_with_https_enforced_healthz_is_answered_over_plain_http_while_pages_redirect(client, services, settings):
    # A load balancer or monitor probes the web port itself, over plain HTTP (production: SECURE_SSL_REDIRECT).
    settings.SECURE_SSL_REDIRECT = True
    services.start()
    assert client.get("/healthz/ready").status_code == 200
    assert client.get("/healthz").status_code == 200
    page = client.get("/")
    assert page.status_code == 301
    assert page.headers["Location"].startswith("https://")


# --- the checks one by one -----------------------------------------------------------------------------------------


@pytest.fixture
def celery_conf():
    """Change the Celery app's settings for one test (monkeypatch cannot: they cannot be deleted)."""
    conf = app.conf
    saved: dict[str, object] = {}

    def change(**values) -> None:
        for name, value in values.items():
            saved.setdefault(name, getattr(conf, name))
            setattr(conf, name, value)

    yield change
    for name, value in saved.items():
        setattr(conf, name, value)


def test_an_unreachable_broker_fails_broker_and_worker_quickly_without_showing_its_password(celery_conf, monkeypatch):
    url = f"redis://ris:s3cret@127.0.0.1:{free_port()}/0"
    monkeypatch.setenv("CELERY_BROKER_URL", url)  # Celery prefers it to its settings
    celery_conf(task_always_eager=False, broker_url=url)
    started = time.monotonic()
    report = health.run_checks({"broker": health.broker, "worker": health.worker})
    assert time.monotonic() - started < health.DEADLINE
    assert not report.ok
    assert [check.ok for check in report.checks] == [False, False]
    assert "s3cret" not in json.dumps(report.as_dict())
    assert "redis://ris:**@127.0.0.1" in report.checks[0].detail


def test_a_check_that_does_not_answer_in_time_has_failed(monkeypatch):
    monkeypatch.setattr(health, "DEADLINE", 0.2)
    started = time.monotonic()
    report = health.run_checks({"stuck": lambda: time.sleep(2) or (True, "late"), "quick": lambda: (True, "fine")})
    assert time.monotonic() - started < 1
    checks = report.as_dict()["checks"]
    assert (checks["stuck"]["ok"], checks["stuck"]["detail"]) == (False, "no answer within 0.2 s")
    assert checks["quick"]["ok"]


def test_a_check_that_raises_has_failed_with_the_error_named():
    [check] = health.run_checks({"broken": lambda: 1 / 0}).checks
    assert (check.ok, check.detail) == (False, "ZeroDivisionError: division by zero")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the SCP's threads read the rooms
def test_an_scp_that_admits_only_its_stations_still_answers_the_check(services, settings):
    settings.RIS_MWL_RESTRICT_CALLERS = True
    RoomFactory(station_ae_title="CT1")
    services.start()
    ok, detail = health.worklist_scp()
    assert ok
    assert "rejects the calling AE title RIS_HEALTH" in detail

    settings.RIS_MWL_EXTRA_AE_TITLES = ["RIS_HEALTH"]  # admitted: a real C-ECHO
    assert health.worklist_scp() == (True, f"RIS_MWL at 127.0.0.1:{settings.RIS_MWL_PORT}: C-ECHO answered Success")


def test_an_scp_under_another_called_ae_title_fails(services, settings):
    services.start()
    settings.RIS_MWL_AE_TITLE = "NOT_THE_MWL"
    ok, detail = health.worklist_scp()
    assert not ok
    assert "association rejected" in detail


def test_over_tls_with_client_certificates_the_checks_reach_both_servers(services, settings, certificates):
    for prefix in ("RIS_MWL", "RIS_HL7"):
        setattr(settings, f"{prefix}_TLS_CERT", str(certificates / "server.pem"))
        setattr(settings, f"{prefix}_TLS_KEY", str(certificates / "server.key"))
        setattr(settings, f"{prefix}_TLS_CA", str(certificates / "ca.pem"))
    services.start()
    scp_ok, scp_detail = health.worklist_scp()
    mllp_ok, mllp_detail = health.hl7_listener()
    assert (scp_ok, mllp_ok) == (True, True), (scp_detail, mllp_detail)
    assert scp_detail.endswith("(TLS): C-ECHO answered Success")
    assert mllp_detail.endswith("(TLS): accepting connections")


def test_over_tls_a_server_that_refuses_the_checks_certificate_fails(services, settings, certificates, tmp_path):
    other = issue_certificates(tmp_path / "other")  # the servers trust only clients of another CA
    for prefix in ("RIS_MWL", "RIS_HL7"):
        setattr(settings, f"{prefix}_TLS_CERT", str(certificates / "server.pem"))
        setattr(settings, f"{prefix}_TLS_KEY", str(certificates / "server.key"))
        setattr(settings, f"{prefix}_TLS_CA", str(other / "ca.pem"))
    services.start()
    scp_ok, scp_detail = health.worklist_scp()
    mllp_ok, mllp_detail = health.hl7_listener()
    assert not scp_ok
    assert "aborted" in scp_detail
    assert not mllp_ok
    assert "closed" in mllp_detail or "TLS handshake failed" in mllp_detail


def test_masked_hides_passwords_in_urls():
    assert health.masked("redis://:pw@h:6379/0 and amqp://u:p@x//") == "redis://:**@h:6379/0 and amqp://u:**@x//"


# --- the worker ---------------------------------------------------------------------------------------------------


@pytest.mark.celery_worker
def test_healthz_sees_the_worker_and_answers_503_once_it_stops(client, services):
    need(django_settings.CELERY_BROKER_URL.startswith("redis://"), "no Redis broker configured (CELERY_BROKER_URL)")
    from celery.contrib.testing.worker import start_worker

    assert app.conf.task_always_eager is False
    services.start()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        status, body = healthz(client)
        assert (status, failing(body)) == (200, set()), body
        assert "1 worker(s) answered" in body["checks"]["worker"]["detail"]
        assert "accepts connections" in body["checks"]["broker"]["detail"]

    status, body = healthz(client)
    assert (status, body["status"], failing(body)) == (503, "fail", {"worker"})
    assert body["checks"]["worker"]["detail"] == f"no worker answered a ping within {health.PING_TIMEOUT:g} s"


# --- manage.py ris_status ------------------------------------------------------------------------------------------


def test_ris_status_prints_each_check_and_exits_0_when_all_pass(services):
    services.start()
    out = StringIO()
    call_command("ris_status", stdout=out, no_color=True)
    lines = out.getvalue().splitlines()
    assert [line.split()[:2] for line in lines] == [[name, "OK"] for name in health.CHECKS]


def test_ris_status_exits_1_naming_the_failed_checks(services):
    out = StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("ris_status", stdout=out, no_color=True)
    assert refused.value.returncode == 1
    assert str(refused.value) == "2 of 5 checks failed: worklist_scp, hl7_listener"
    assert "worklist_scp  FAIL" in out.getvalue()


def test_ris_status_json_is_what_healthz_answers(client, services):
    services.start()
    out = StringIO()
    call_command("ris_status", "--json", stdout=out)
    printed = json.loads(out.getvalue())
    _status, answered = healthz(client)
    assert (printed["status"], without_times(printed)) == (answered["status"], without_times(answered))
