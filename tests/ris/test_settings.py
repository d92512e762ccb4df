"""Settings come from the environment only; with none, the RIS runs on SQLite with in-process tasks."""

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, django
from django.conf import settings
django.setup()
from ris.celery import app
from ris.tasks import ping
print(json.dumps({
    "ping": ping.delay().get(timeout=5) if app.conf.task_always_eager else None,
    "engine": settings.DATABASES["default"]["ENGINE"],
    "name": str(settings.DATABASES["default"]["NAME"]),
    "host": settings.DATABASES["default"].get("HOST", ""),
    "eager": app.conf.task_always_eager,
    "propagates": app.conf.task_eager_propagates,
    "broker": app.conf.broker_url,
    "debug": settings.DEBUG,
    "time_zone": settings.TIME_ZONE,
    "use_tz": settings.USE_TZ,
}))
"""


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    """Run Python in a clean environment holding only `env` (no DATABASE_URL, no broker from the caller)."""
    base = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "ris.settings", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60
    )


def probe(**env: str) -> dict:
    result = run(["-c", PROBE], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_without_environment_the_ris_uses_sqlite_and_runs_tasks_eagerly():
    found = probe()
    assert found["engine"] == "django.db.backends.sqlite3"
    assert found["name"].endswith("var/ris.sqlite3")
    assert (found["eager"], found["propagates"], found["ping"]) == (True, True, "pong")
    assert (found["debug"], found["time_zone"], found["use_tz"]) == (True, "UTC", True)


@pytest.mark.slow
def test_database_url_broker_and_time_zone_come_from_the_environment():
    found = probe(
        DATABASE_URL="postgres://ris:pw@db.example.org:5432/ris",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        RIS_TIME_ZONE="Europe/Berlin",
    )
    assert (found["engine"], found["host"]) == ("django.db.backends.postgresql", "db.example.org")
    assert (found["eager"], found["broker"]) == (False, "redis://127.0.0.1:6379/0")
    assert found["time_zone"] == "Europe/Berlin"


@pytest.mark.slow
def test_debug_off_without_secret_key_refuses_to_start():
    result = run(["manage.py", "check"], DEBUG="0", ALLOWED_HOSTS="ris.example.org")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


@pytest.mark.slow
def test_deploy_check_is_clean_with_production_settings():
    result = run(
        ["manage.py", "check", "--deploy"],
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="ris.example.org",
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNINGS" not in result.stderr


@pytest.mark.slow
def test_invalid_boolean_is_reported_by_name():
    result = run(["manage.py", "check"], DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be one of" in result.stderr


QUIET_PROBE = """
import logging, django
django.setup()
from ris.celery import app
from ris.tasks import ping

@app.task(name="probe.fail")
def fail():
    raise RuntimeError("probe failure")

print(ping.delay().get(timeout=5))
try:
    fail.delay()
except RuntimeError as error:
    print("raised", error)
print("errors logged", logging.getLogger("celery.app.trace").isEnabledFor(logging.ERROR))
"""


@pytest.mark.slow
def test_in_process_tasks_log_no_line_per_success_but_their_errors_still_surface():
    """`make run` seeds the demo without a broker: a thousand "Task ... succeeded" lines were noise."""
    result = run(["-c", QUIET_PROBE])
    assert result.stdout.splitlines() == ["pong", "raised probe failure", "errors logged True"]
    assert result.stderr == ""
