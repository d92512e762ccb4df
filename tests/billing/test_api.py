"""Charges and claims over the REST API: billing's rules through billing's services."""

import pytest
from rest_framework.test import APIClient

from billing.models import Claim
from ris.models import AccessRecord, Role
from tests.billing.conftest import billable_exam, insured_patient
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db


def clerk() -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(role=Role.BILLING))
    return client


def test_a_clerk_builds_claims_reads_their_errors_and_cannot_mark_a_ready_claim_paid(department, payer, attending):
    billable_exam(insured_patient(payer), attending)
    billable_exam(PatientFactory(), attending)  # no coverage: held
    client = clerk()
    assert len(client.get("/api/charges/", {"status": "OPEN"}).json()["results"]) == 2
    built = client.post("/api/claims/build/")
    assert built.status_code == 201
    by_status = {row["status"]: row for row in built.json()}
    assert set(by_status) == {"READY", "DRAFT"}
    assert any("No coverage" in error for error in by_status["DRAFT"]["errors"])
    ready = by_status["READY"]["id"]
    refused = client.post(f"/api/claims/{ready}/outcome/", {"status": "PAID"})
    assert refused.status_code == 400
    assert "cannot become paid" in str(refused.json())
    assert Claim.objects.get(pk=ready).status == Claim.Status.READY
    assert client.post(f"/api/claims/{ready}/outcome/", {"status": "LOST"}).status_code == 400
    assert client.get("/api/charges/", {"date_from": "not-a-date"}).status_code == 400


def test_charges_and_claims_read_over_the_api_record_their_patient(department, payer, attending):
    patient = billable_exam(insured_patient(payer), attending).order.patient
    client = clerk()
    charge = client.get("/api/charges/").json()["results"][0]["id"]
    claim = client.post("/api/claims/build/").json()[0]["id"]
    for url in ("/api/charges/", f"/api/charges/{charge}/", "/api/claims/", f"/api/claims/{claim}/"):
        assert client.get(url).status_code == 200
    rows = AccessRecord.objects.filter(channel="api", kind="patient").values_list("path", "patient_id")
    paths = ["/api/charges/", "/api/charges/", f"/api/charges/{charge}/", "/api/claims/", f"/api/claims/{claim}/"]
    assert sorted(rows) == sorted((path, patient.pk) for path in paths)
