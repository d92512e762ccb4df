"""Content-Security-Policy, Permissions-Policy and `Cache-Control: no-store` on the RIS's responses."""

import re
from pathlib import Path

import pytest

from ris.models import Role
from tests.factories import UserFactory

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.fixture
def front_desk(client, db):
    client.force_login(UserFactory(role=Role.FRONT_DESK), backend="django.contrib.auth.backends.ModelBackend")
    return client


def _directives(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in policy.split(";") if part.strip()}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/scheduling/", "/api/patients/", "/fhir/r4/Patient"])
def test_signed_in_pages_api_and_fhir_are_never_stored(front_desk, path):
    response = front_desk.get(path)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_pages_forbid_inline_script_framing_and_foreign_origins(front_desk):
    response = front_desk.get("/scheduling/")
    directives = _directives(response)
    assert directives["script-src"] == "script-src 'self'"
    assert directives["style-src"] == "style-src 'self'"
    assert directives["frame-ancestors"] == "frame-ancestors 'none'"
    assert directives["object-src"] == "object-src 'none'"
    assert directives["form-action"] == "form-action 'self'"
    assert directives["base-uri"] == "base-uri 'self'"


@pytest.mark.django_db
def test_the_sign_in_page_has_the_policy_and_switches_off_camera_microphone_and_location(client):
    response = client.get("/accounts/login/")
    assert "script-src 'self'" in response["Content-Security-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()"):
        assert feature in response["Permissions-Policy"]
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_a_view_that_already_says_private_no_store_keeps_it(client):
    response = client.get("/healthz")
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_swagger_ui_still_renders_under_its_own_policy(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b'id="swagger-ui"' in response.content
    # it starts with an inline script, which the relaxed policy of this one page (no PHI) admits
    assert "script-src 'self' 'unsafe-inline'" in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_no_template_has_an_inline_script_or_event_handler():
    offenders = []
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag and 'type="application/json"' not in tag:
                offenders.append(f"{template.relative_to(TEMPLATES)}: {tag}")
        offenders += [
            f"{template.relative_to(TEMPLATES)}: {handler}"
            for handler in re.findall(r"\son[a-z]+\s*=", text, flags=re.IGNORECASE)
        ]
    assert offenders == []
