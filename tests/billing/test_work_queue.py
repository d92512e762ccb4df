"""Claims only from final reports, the held work queue, "Validate selected", paging, and coverage entered at the
front desk re-validating the claims it holds."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from billing import services
from billing.models import Charge, Claim, ExportBatch, Fee, FeeSchedule
from ris import services as core_services
from ris.audit import Interface
from ris.models import Coverage, Role
from tests.billing.conftest import CPT, GLOBAL_FEE, billable_exam, insured_patient
from tests.billing.x12_validation import x12_errors
from tests.factories import PatientFactory, PayerFactory, UserFactory

pytestmark = pytest.mark.django_db
CLERK = Interface("TEST", "billing")
DESK = Interface("TEST", "front desk")


def build() -> list[Claim]:
    return services.claims_build(acting_user=CLERK)


def test_claims_are_built_only_from_exams_whose_report_is_final(department, payer, attending):
    waiting = billable_exam(insured_patient(payer), attending, sign=False)
    final = billable_exam(insured_patient(payer), attending)
    [claim] = build()
    assert claim.charges.get().exam == final
    assert Charge.objects.get(exam=waiting).status == Charge.Status.OPEN
    assert not Claim.objects.filter(errors__icontains="rendering radiologist").exists()


def test_the_claims_page_shows_charges_waiting_for_a_final_report_apart(client_for, department, payer, attending):
    billable_exam(insured_patient(payer), attending, sign=False)
    client = client_for(Role.BILLING)
    response = client.post(reverse("billing:claims_build"), follow=True)
    page = response.content.decode()
    assert "0 claims built: no open charge has a final report. 1 charge waits for a final report." in page
    assert "1 charge waiting for final report" in page
    assert "No claims." in page
    billable_exam(insured_patient(payer), attending)  # open, its report final: not waiting
    waiting = client.get(reverse("billing:charges"), {"status": "WAITING"})
    assert [charge.exam.status for charge in waiting.context["page"]] == ["COMPLETED"]


# --- coverage entered at the front desk ----------------------------------------------------------------------------


def test_a_coverage_entered_at_the_front_desk_makes_the_held_claim_ready(department, payer, attending):
    patient = PatientFactory(street="5 Elm St", city="Springfield", state="IL", postal_code="62704")
    billable_exam(patient, attending)
    [claim] = build()
    assert claim.status == Claim.Status.DRAFT
    assert claim.payer is None
    assert any(error.startswith("No coverage") for error in claim.errors)

    core_services.coverage_add(patient=patient, payer=payer, member_id="MEM1", acting_user=DESK)
    claim.refresh_from_db()
    assert (claim.status, claim.errors, claim.payer) == (Claim.Status.READY, [], payer)
    assert claim.coverage.member_id == "MEM1"
    assert claim.history.latest().history_actor == str(DESK)


def test_a_claim_that_finds_its_payer_later_is_priced_by_that_payers_schedule(department, payer, attending):
    own = FeeSchedule.objects.create(name="Acme 2026", payer=payer)
    Fee.objects.create(schedule=own, cpt_code=CPT, amount=Decimal("380.50"))
    patient = PatientFactory()
    billable_exam(patient, attending)
    [claim] = build()
    assert claim.total == GLOBAL_FEE  # the default schedule, with no payer known
    core_services.coverage_add(patient=patient, payer=payer, member_id="MEM1", acting_user=DESK)
    claim.refresh_from_db()
    assert claim.total == Decimal("380.50") == claim.charges.get().amount
    assert claim.charges.get().history.latest().history_change_reason == f"repriced for {payer}"


def test_ending_a_coverage_before_the_service_day_holds_the_ready_claim(department, payer, attending):
    patient = insured_patient(payer)
    billable_exam(patient, attending)
    [claim] = build()
    assert claim.status == Claim.Status.READY
    yesterday = timezone.localdate() - timedelta(days=1)
    coverage = patient.coverages.get()
    core_services.coverage_update(coverage=coverage, acting_user=DESK, effective_from=yesterday - timedelta(days=9))
    core_services.coverage_end(coverage=coverage, acting_user=DESK, ended_on=yesterday)
    claim.refresh_from_db()
    assert claim.status == Claim.Status.DRAFT
    assert claim.payer is None


def test_an_exported_claim_is_left_alone_when_the_coverage_changes(department, payer, attending):
    patient = insured_patient(payer)
    billable_exam(patient, attending)
    [claim] = build()
    Claim.objects.filter(pk=claim.pk).update(status=Claim.Status.EXPORTED)
    core_services.coverage_update(coverage=patient.coverages.get(), acting_user=DESK, member_id="OTHER")
    claim.refresh_from_db()
    assert claim.status == Claim.Status.EXPORTED
    assert claim.coverage.member_id == "OTHER"
    assert claim.history.count() == 2  # built, validated: nothing since


def test_a_child_insured_through_a_parent_at_the_front_desk_exports_a_valid_837p(
    department, payer, attending, django_capture_on_commit_callbacks
):
    child = PatientFactory(given_name="Kid", street="5 Elm St", city="Springfield", state="IL", postal_code="62704")
    billable_exam(child, attending)
    [claim] = build()
    client = APIClient()
    client.force_authenticate(UserFactory(role=Role.FRONT_DESK))
    body = {
        "patient": child.pk,
        "payer": payer.payer_id,
        "member_id": "FAM123",
        "relationship": Coverage.Relationship.CHILD,
        "subscriber_family_name": "Ødegård",
        "subscriber_given_name": "Pål",
        "subscriber_birth_date": "1980-02-03",
        "subscriber_sex": "M",
    }
    assert client.post("/api/coverages/", body, format="json").status_code == 201
    claim.refresh_from_db()
    assert claim.status == Claim.Status.READY
    today = timezone.localdate()
    with django_capture_on_commit_callbacks(execute=True):
        batch = services.batch_create(date_from=today, date_to=today, payer=None, acting_user=UserFactory())
    batch = ExportBatch.objects.get(pk=batch.pk)
    assert batch.status == ExportBatch.Status.DONE
    assert x12_errors(batch.x12_file.path) == []
    text = Path(batch.x12_file.path).read_text()
    assert "NM1*IL*1*ODEGARD*PAL****MI*FAM123~" in text
    assert "PAT*19~" in text


# --- the held work queue -------------------------------------------------------------------------------------------


@pytest.fixture
def held_and_ready(department, payer, attending):
    """Four claims: ready, held for no coverage, held for no diagnosis, and a held one of another payer."""
    billable_exam(insured_patient(payer), attending)
    billable_exam(PatientFactory(family_name="Uninsured"), attending)
    billable_exam(insured_patient(payer, family_name="Nodiagnosis"), attending, diagnosis_codes=[])
    other = PayerFactory(name="Other Care", payer_id="OTH1")
    billable_exam(insured_patient(other, family_name="Otherpayer"), attending, diagnosis_codes=[])
    return {claim.patient.family_name: claim for claim in build()}


def listed(client, **filters) -> set[str]:
    response = client.get(reverse("billing:claims"), filters)
    assert response.status_code == 200
    return {claim.patient.family_name for claim in response.context["page"]}


def test_held_claims_are_a_work_queue_filtered_by_reason_payer_and_date(client_for, held_and_ready):
    client = client_for(Role.BILLING)
    assert listed(client, status="DRAFT") == {"Uninsured", "Nodiagnosis", "Otherpayer"}
    assert listed(client, status="DRAFT", reason="coverage") == {"Uninsured"}
    assert listed(client, reason="diagnosis") == {"Nodiagnosis", "Otherpayer"}
    other = held_and_ready["Otherpayer"].payer
    assert listed(client, reason="diagnosis", payer=other.pk) == {"Otherpayer"}
    today = timezone.localdate()
    assert listed(client, status="DRAFT", date_from=today, date_to=today) == {"Uninsured", "Nodiagnosis", "Otherpayer"}
    assert listed(client, status="DRAFT", date_to=today - timedelta(days=1)) == set()
    page = client.get(reverse("billing:claims"), {"reason": "nonsense"})
    assert page.context["page"] is None


def test_validate_selected_checks_each_ticked_claim_with_a_history_row(client_for, held_and_ready, payer):
    uninsured = held_and_ready["Uninsured"]
    untouched = held_and_ready["Nodiagnosis"]
    Coverage.objects.create(patient=uninsured.patient, payer=payer, member_id="LATE1")  # e.g. put right in a file
    histories = {claim.pk: claim.history.count() for claim in held_and_ready.values()}
    client = client_for(Role.BILLING)
    ready = held_and_ready[next(name for name in held_and_ready if name.startswith("Family"))]
    response = client.post(
        reverse("billing:claims_validate_selected"), {"claims": [uninsured.pk, ready.pk]}, follow=True
    )
    assert "2 claims validated: 2 ready, 0 held." in response.content.decode()
    uninsured.refresh_from_db()
    assert uninsured.status == Claim.Status.READY
    assert uninsured.history.count() == histories[uninsured.pk] + 1
    assert ready.history.count() == histories[ready.pk] + 1
    assert untouched.history.count() == histories[untouched.pk]


def test_validate_selected_without_a_tick_says_so(client_for, held_and_ready):
    response = client_for(Role.BILLING).post(reverse("billing:claims_validate_selected"), {}, follow=True)
    assert "Tick the claims to validate first." in response.content.decode()


def test_the_claims_page_offers_a_tick_box_for_each_claim_validation_can_change(client_for, held_and_ready):
    exported = held_and_ready["Otherpayer"]
    Claim.objects.filter(pk=exported.pk).update(status=Claim.Status.EXPORTED)
    page = client_for(Role.BILLING).get(reverse("billing:claims")).content.decode()
    assert page.count('form="validate-selected"') == 3
    assert f'value="{exported.pk}" form="validate-selected"' not in page


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.RADIOLOGIST])
def test_only_billing_validates_selected_claims(client_for, held_and_ready, role):
    claim = held_and_ready["Uninsured"]
    response = client_for(role).post(reverse("billing:claims_validate_selected"), {"claims": [claim.pk]})
    assert response.status_code == 403
    assert claim.history.count() == 2


def test_validate_selected_over_the_api(held_and_ready, payer):
    uninsured = held_and_ready["Uninsured"]
    Coverage.objects.create(patient=uninsured.patient, payer=payer, member_id="LATE1")
    client = APIClient()
    client.force_authenticate(UserFactory(role=Role.BILLING))
    response = client.post(
        "/api/claims/validate-selected/", {"claims": [uninsured.pk, held_and_ready["Nodiagnosis"].pk]}, format="json"
    )
    assert response.status_code == 200
    assert {row["number"]: row["status"] for row in response.json()} == {
        uninsured.number: "READY",
        held_and_ready["Nodiagnosis"].number: "DRAFT",
    }
    assert client.post("/api/claims/validate-selected/", {"claims": []}, format="json").status_code == 400
    radiologist = APIClient()
    radiologist.force_authenticate(UserFactory(role=Role.RADIOLOGIST))
    assert (
        radiologist.post("/api/claims/validate-selected/", {"claims": [uninsured.pk]}, format="json").status_code == 403
    )


def test_the_held_queue_filters_by_reason_over_the_api(held_and_ready):
    client = APIClient()
    client.force_authenticate(UserFactory(role=Role.BILLING))
    rows = client.get("/api/claims/", {"status": "DRAFT", "reason": "coverage"}).json()["results"]
    assert [row["number"] for row in rows] == [held_and_ready["Uninsured"].number]
    assert client.get("/api/claims/", {"reason": "nonsense"}).status_code == 400


# --- paging --------------------------------------------------------------------------------------------------------


def test_the_claim_and_charge_lists_are_paged(client_for, held_and_ready, settings):
    settings.RIS_PAGE_SIZE = 3
    client = client_for(Role.BILLING)
    first = client.get(reverse("billing:claims"))
    assert len(first.context["page"]) == 3
    assert "4 claims." in first.content.decode()
    assert "Rows 1\u20133 of 4" in first.content.decode()
    second = client.get(reverse("billing:claims"), {"page": 2})
    assert len(second.context["page"]) == 1
    seen = {c.pk for c in first.context["page"]} | {c.pk for c in second.context["page"]}
    assert seen == {claim.pk for claim in held_and_ready.values()}
    charges = client.get(reverse("billing:charges"), {"page": 2})
    assert len(charges.context["page"]) == 1
    assert "Rows 4\u20134 of 4" in charges.content.decode()
