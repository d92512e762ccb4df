"""Liveness and readiness apart: /healthz answers at once without touching any peer, /healthz/ready runs the deep
checks at most once per RIS_HEALTH_CACHE_SECONDS and one run at a time however many ask, and refuses an address that
asks too often. The nginx example keeps /healthz/ready to the load balancer and the monitoring."""

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.test import Client

from ris import health, views_health

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh(settings):
    health.forget_readiness()
    views_health.forget_callers()
    yield
    health.forget_readiness()
    views_health.forget_callers()


@pytest.fixture
def counted(monkeypatch):
    """The deep checks replaced by one that counts its runs (and how many ran at once) and takes 0.3 s."""
    runs = {"started": 0, "running": 0, "most_at_once": 0}
    lock = threading.Lock()

    def probe() -> tuple[bool, str]:
        with lock:
            runs["started"] += 1
            runs["running"] += 1
            runs["most_at_once"] = max(runs["most_at_once"], runs["running"])
        time.sleep(0.3)
        with lock:
            runs["running"] -= 1
        return True, "probed"

    monkeypatch.setattr(health, "CHECKS", {"probe": probe})
    return runs


def test_liveness_answers_at_once_and_runs_no_check(client, counted):
    started = time.monotonic()
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert response["Cache-Control"] == "no-store"
    assert time.monotonic() - started < 0.25
    assert counted["started"] == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_25_callers_at_once_cause_one_run_of_the_checks(counted, settings):
    settings.RIS_HEALTH_CACHE_SECONDS = 5

    def ask(number: int) -> int:
        return Client(REMOTE_ADDR=f"10.0.0.{number}").get("/healthz/ready").status_code

    with ThreadPoolExecutor(max_workers=25) as pool:
        statuses = list(pool.map(ask, range(1, 26)))
    assert statuses == [200] * 25
    assert (counted["started"], counted["most_at_once"]) == (1, 1)


def test_the_checks_run_again_once_the_report_is_older_than_the_cache_time(client, counted, settings):
    settings.RIS_HEALTH_CACHE_SECONDS = 1
    assert client.get("/healthz/ready").json()["checks"]["probe"]["detail"] == "probed"
    client.get("/healthz/ready")
    assert counted["started"] == 1
    time.sleep(1.1)
    client.get("/healthz/ready")
    assert counted["started"] == 2


def test_one_address_asking_too_often_gets_429(client, counted, settings):
    settings.RIS_HEALTH_READY_PER_MINUTE = 3
    statuses = [client.get("/healthz/ready").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    refused = client.get("/healthz/ready")
    assert int(refused["Retry-After"]) in range(1, 61)
    assert Client(REMOTE_ADDR="10.9.9.9").get("/healthz/ready").status_code == 200  # another address is not held
    assert client.get("/healthz").status_code == 200  # liveness is not limited


def test_the_nginx_example_restricts_readiness_and_leaves_liveness_open():
    conf = (ROOT / "deploy" / "nginx-ris.conf").read_text()
    locations = dict(re.findall(r"location = (\S+) \{(.*?)\}", conf, flags=re.S))
    assert set(locations) == {"/healthz", "/healthz/ready"}
    ready = locations["/healthz/ready"]
    assert "deny all;" in ready
    assert "allow " in ready
    assert "limit_req zone=ris_health" in ready
    assert "deny" not in locations["/healthz"]
