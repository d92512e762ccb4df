"""Insurance at the front desk: coverages added, corrected and ended through ris.services, on the patient page and
over the API, with the same role checks as patient registration."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from ris import services
from ris.audit import Interface
from ris.exceptions import ApplicationError
from ris.models import Coverage, OutboxEvent, Role
from ris.validators import local_today
from tests.factories import PatientFactory, PayerFactory, UserFactory

pytestmark = pytest.mark.django_db
DESK = Interface("TEST", "front desk")
SPOUSE = {
    "relationship": Coverage.Relationship.SPOUSE,
    "subscriber_family_name": "Doe",
    "subscriber_given_name": "John",
    "subscriber_birth_date": date(1960, 5, 1),
    "subscriber_sex": "M",
}


def test_coverage_add_records_the_insured_person_and_tells_the_outbox():
    patient, payer = PatientFactory(), PayerFactory()
    coverage = services.coverage_add(patient=patient, payer=payer, member_id=" M1 ", acting_user=DESK, **SPOUSE)
    coverage.refresh_from_db()
    assert (coverage.member_id, coverage.subscriber_family_name, coverage.subscriber_birth_date) == (
        "M1",
        "Doe",
        date(1960, 5, 1),
    )
    event = OutboxEvent.objects.get(kind="coverage.changed")
    assert event.payload["patient_id"] == patient.pk
    assert event.payload["change"] == "added"


@pytest.mark.parametrize("missing", ["subscriber_family_name", "subscriber_given_name", "subscriber_birth_date"])
def test_an_insured_who_is_not_the_patient_must_be_named_and_born(missing):
    details = {**SPOUSE, missing: None if missing == "subscriber_birth_date" else ""}
    with pytest.raises(ApplicationError, match="The insured is not the patient") as refused:
        services.coverage_add(
            patient=PatientFactory(), payer=PayerFactory(), member_id="M1", acting_user=DESK, **details
        )
    assert refused.value.field == missing
    assert not Coverage.objects.exists()


def test_an_insured_name_with_a_dicom_delimiter_is_refused():
    with pytest.raises(ApplicationError, match="subscriber family name"):
        services.coverage_add(
            patient=PatientFactory(),
            payer=PayerFactory(),
            member_id="M1",
            acting_user=DESK,
            **{**SPOUSE, "subscriber_family_name": "Doe^John"},
        )


def test_a_self_insured_coverage_keeps_no_other_subscriber():
    coverage = services.coverage_add(
        patient=PatientFactory(),
        payer=PayerFactory(),
        member_id="M1",
        acting_user=DESK,
        **{**SPOUSE, "relationship": Coverage.Relationship.SELF},
    )
    assert (coverage.subscriber_family_name, coverage.subscriber_birth_date) == ("", None)


def test_a_refused_coverage_leaves_the_previous_one_active():
    patient = PatientFactory()
    old = services.coverage_add(patient=patient, payer=PayerFactory(), member_id="OLD", acting_user=DESK)
    with pytest.raises(ApplicationError):
        services.coverage_add(
            patient=patient,
            payer=PayerFactory(),
            member_id="NEW",
            acting_user=DESK,
            relationship=Coverage.Relationship.CHILD,
        )
    old.refresh_from_db()
    assert old.active


def test_coverage_update_checks_the_insured_too_and_keeps_history():
    coverage = services.coverage_add(patient=PatientFactory(), payer=PayerFactory(), member_id="M1", acting_user=DESK)
    with pytest.raises(ApplicationError, match="give the insured's family name, given name, birth date, sex"):
        services.coverage_update(coverage=coverage, acting_user=DESK, relationship=Coverage.Relationship.CHILD)
    services.coverage_update(coverage=coverage, acting_user=DESK, member_id="M2", **SPOUSE)
    coverage.refresh_from_db()
    assert (coverage.member_id, coverage.relationship) == ("M2", Coverage.Relationship.SPOUSE)
    assert list(coverage.history.values_list("member_id", flat=True)) == ["M2", "M1"]


def test_coverage_end_sets_the_last_day_and_refuses_one_before_the_start():
    start = local_today() - timedelta(days=30)
    coverage = services.coverage_add(
        patient=PatientFactory(), payer=PayerFactory(), member_id="M1", acting_user=DESK, effective_from=start
    )
    with pytest.raises(ApplicationError, match="cannot end before"):
        services.coverage_end(coverage=coverage, acting_user=DESK, ended_on=start - timedelta(days=1))
    services.coverage_end(coverage=coverage, acting_user=DESK)
    coverage.refresh_from_db()
    assert (coverage.effective_to, coverage.active) == (local_today(), True)
    assert OutboxEvent.objects.filter(kind="coverage.changed", payload__change="ended").exists()


def test_no_coverage_is_added_to_a_merged_record():
    survivor, merged = PatientFactory(), PatientFactory()
    services.patient_merge(source=merged, target=survivor, acting_user=DESK)
    with pytest.raises(ApplicationError, match="merged"):
        services.coverage_add(patient=merged, payer=PayerFactory(), member_id="M1", acting_user=DESK)


# --- the patient page ---------------------------------------------------------------------------------------------


def form_data(payer, **changes) -> dict:
    data = {
        "payer": payer.pk,
        "member_id": "MEM42",
        "group_number": "G7",
        "priority": "primary",
        "relationship": Coverage.Relationship.CHILD,
        "subscriber_family_name": "Parent",
        "subscriber_given_name": "Pat",
        "subscriber_birth_date": "1975-03-04",
        "subscriber_sex": "F",
        "effective_from": "2026-01-01",
        "effective_to": "",
    }
    return {**data, **changes}


def test_the_front_desk_adds_edits_and_ends_insurance_on_the_patient_page(client_for):
    client = client_for(Role.FRONT_DESK)
    patient, payer = PatientFactory(), PayerFactory(name="Acme Health")
    page = client.get(reverse("scheduling:patient", args=[patient.pk])).content.decode()
    assert "No insurance on file" in page
    assert reverse("scheduling:coverage_add", args=[patient.pk]) in page

    response = client.post(reverse("scheduling:coverage_add", args=[patient.pk]), form_data(payer))
    assert response.status_code == 302
    coverage = Coverage.objects.get(patient=patient)
    assert (coverage.member_id, coverage.subscriber_family_name, coverage.relationship) == ("MEM42", "Parent", "19")
    page = client.get(reverse("scheduling:patient", args=[patient.pk])).content.decode()
    assert "Acme Health" in page
    assert "MEM42" in page
    assert "PARENT, Pat (child)" in page

    edit = reverse("scheduling:coverage_edit", args=[coverage.pk])
    assert 'value="MEM42"' in client.get(edit).content.decode()
    assert client.post(edit, form_data(payer, member_id="MEM43")).status_code == 302
    coverage.refresh_from_db()
    assert coverage.member_id == "MEM43"

    end = reverse("scheduling:coverage_end", args=[coverage.pk])
    assert client.post(end, {"ended_on": "2026-06-30"}).status_code == 302
    coverage.refresh_from_db()
    assert coverage.effective_to == date(2026, 6, 30)
    assert "2026-01-01 to 2026-06-30" in client.get(reverse("scheduling:patient", args=[patient.pk])).content.decode()


def test_the_page_shows_the_services_refusal_next_to_the_field(client_for):
    client = client_for(Role.FRONT_DESK)
    patient, payer = PatientFactory(), PayerFactory()
    response = client.post(
        reverse("scheduling:coverage_add", args=[patient.pk]), form_data(payer, subscriber_family_name="")
    )
    assert response.status_code == 200
    assert "The insured is not the patient: give the insured&#x27;s family name." in response.content.decode()
    assert not Coverage.objects.exists()


@pytest.mark.parametrize("role", [Role.RADIOLOGIST, Role.TECHNOLOGIST, Role.BILLING])
def test_other_roles_cannot_enter_insurance_on_the_page(client_for, role):
    patient, payer = PatientFactory(), PayerFactory()
    response = client_for(role).post(reverse("scheduling:coverage_add", args=[patient.pk]), form_data(payer))
    assert response.status_code == 403
    assert not Coverage.objects.exists()


# --- the API ------------------------------------------------------------------------------------------------------


def api(role: Role) -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(role=role))
    return client


def test_the_front_desk_adds_edits_and_ends_insurance_over_the_api():
    client, patient, payer = api(Role.FRONT_DESK), PatientFactory(), PayerFactory(payer_id="ACME1")
    body = {"patient": patient.pk, "payer": "ACME1", "member_id": "M9", "relationship": "01"}
    refused = client.post("/api/coverages/", body, format="json")
    assert refused.status_code == 400
    assert "subscriber_family_name" in refused.json()
    body.update(subscriber_family_name="Doe", subscriber_given_name="Jo", subscriber_birth_date="1961-02-03")
    body["subscriber_sex"] = "F"
    created = client.post("/api/coverages/", body, format="json")
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    assert created.json()["payer_name"] == payer.name

    changed = client.patch(f"/api/coverages/{pk}/", {"member_id": "M10"}, format="json")
    assert changed.status_code == 200
    assert changed.json()["member_id"] == "M10"
    ended = client.post(f"/api/coverages/{pk}/end/", {"ended_on": "2026-07-31"}, format="json")
    assert ended.status_code == 200
    assert ended.json()["effective_to"] == "2026-07-31"
    coverage = Coverage.objects.get(pk=pk)
    assert (coverage.member_id, coverage.effective_to) == ("M10", date(2026, 7, 31))
    assert coverage.history.count() == 3
    shown = client.get(f"/api/patients/{patient.pk}/").json()["coverages"][0]
    assert (shown["subscriber_family_name"], shown["effective_to"]) == ("Doe", "2026-07-31")


@pytest.mark.parametrize(
    ("path", "role", "body"),
    [
        ("/api/coverages/", Role.FRONT_DESK, {"member_id": "M1", "payer": "ACME\x00"}),
        ("/api/procedure-types/", Role.ADMIN, {"code": "X1", "name": "X", "modality": "CT\x00"}),
    ],
)
def test_a_code_with_a_nul_byte_names_no_record_and_is_refused_not_a_server_error(path, role, body):
    """PostgreSQL refuses NUL in text: a lookup by such a code once answered 500 there (schemathesis found it)."""
    body = {"patient": PatientFactory().pk, **body} if "coverages" in path else body
    refused = api(role).post(path, body, format="json")
    assert refused.status_code == 400
    assert "Null characters are not allowed." in str(refused.json())


def test_billing_reads_coverages_over_the_api_but_cannot_change_them():
    coverage = services.coverage_add(patient=PatientFactory(), payer=PayerFactory(), member_id="M1", acting_user=DESK)
    client = api(Role.BILLING)
    assert client.get("/api/coverages/", {"patient": coverage.patient_id}).json()["results"][0]["member_id"] == "M1"
    assert client.patch(f"/api/coverages/{coverage.pk}/", {"member_id": "X"}, format="json").status_code == 403


@pytest.mark.parametrize("role", [Role.RADIOLOGIST, Role.TECHNOLOGIST])
def test_clinical_roles_can_neither_read_nor_enter_coverages_over_the_api(role):
    patient = PatientFactory()
    PayerFactory(payer_id="ACME1")
    client = api(role)
    body = {"patient": patient.pk, "payer": "ACME1", "member_id": "M9"}
    assert client.post("/api/coverages/", body, format="json").status_code == 403
    assert client.get("/api/coverages/").status_code == 403
    assert not Coverage.objects.exists()


def test_a_coverage_entered_without_the_insureds_details_can_still_be_ended():
    legacy = Coverage.objects.create(
        patient=PatientFactory(), payer=PayerFactory(), member_id="OLD", relationship=Coverage.Relationship.CHILD
    )
    services.coverage_end(coverage=legacy, acting_user=DESK, ended_on=date(2026, 1, 31))
    legacy.refresh_from_db()
    assert legacy.effective_to == date(2026, 1, 31)
