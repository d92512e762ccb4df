"""Schemathesis against /api/schema/: requests generated from the schema (valid and not) never get a server error,
and every documented response matches its schema. A bounded number of examples per operation keeps it quick."""

import base64

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from ris.models import Role
from tests.factories import TEST_PASSWORD, UserFactory, make_completed_exam

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


# Loaded when the module is collected: the schema view is public and reads no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture
def _connection_kept():
    """As Django's test client does: requests must not close the test's database connection (PostgreSQL would lose
    the test's transaction when each request ends)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def headers(db, _connection_kept):
    """An administrator (reads every endpoint, writes patients and the catalog), over a database with an exam."""
    make_completed_exam()
    user = UserFactory(role=Role.ADMIN)
    token = base64.b64encode(f"{user.username}:{TEST_PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.slow
@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_never_fails_and_answers_as_documented(case, headers):
    case.call_and_validate(headers=headers, checks=CHECKS)
