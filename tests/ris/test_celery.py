"""With a broker configured, tasks run on a real worker (in-process execution without one: test_settings)."""

import pytest
from django.conf import settings

from ris.celery import app
from ris.tasks import ping
from tests.conftest import need


@pytest.mark.slow
@pytest.mark.celery_worker
def test_a_real_worker_consumes_tasks_from_the_configured_broker():
    need(settings.CELERY_BROKER_URL.startswith("redis://"), "no Redis broker configured (CELERY_BROKER_URL)")
    from celery.contrib.testing.worker import start_worker

    assert app.conf.task_always_eager is False
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        assert ping.delay().get(timeout=20) == "pong"
