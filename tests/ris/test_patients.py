"""Patient and coverage services: merges, coverage replacement, and the admin site going through them."""

import pytest
from django.contrib import admin
from django.urls import reverse

from ris.exceptions import ApplicationError
from ris.models import Coverage, Patient, Role
from ris.services import coverage_add, patient_merge, patient_update
from tests.factories import TEST_ACTOR, PatientFactory, PayerFactory, make_order


@pytest.mark.django_db
def test_merge_moves_orders_to_the_survivor_and_closes_the_source():
    source, target = PatientFactory(), PatientFactory()
    order = make_order(patient=source)
    patient_merge(source=source, target=target, acting_user=TEST_ACTOR)
    source.refresh_from_db()
    order.refresh_from_db()
    assert (source.merged_into, order.patient) == (target, target)
    with pytest.raises(ApplicationError, match="merged"):
        patient_update(patient=source, phone="+1 555 0199", acting_user=TEST_ACTOR)
    with pytest.raises(ApplicationError, match="surviving record"):
        make_order(patient=source)


@pytest.mark.django_db
def test_merge_refuses_a_patient_into_itself():
    patient = PatientFactory()
    with pytest.raises(ApplicationError, match="itself"):
        patient_merge(source=patient, target=patient, acting_user=TEST_ACTOR)


@pytest.mark.django_db
def test_a_new_primary_coverage_ends_the_previous_one():
    patient = PatientFactory()
    old = coverage_add(patient=patient, payer=PayerFactory(), member_id="A1", acting_user=TEST_ACTOR)
    new = coverage_add(patient=patient, payer=PayerFactory(), member_id="B2", acting_user=TEST_ACTOR)
    old.refresh_from_db()
    assert (old.active, new.active) == (False, True)
    assert Coverage.objects.filter(patient=patient, active=True).get() == new


@pytest.mark.django_db
def test_patient_update_refuses_unknown_fields():
    with pytest.raises(ApplicationError, match="mrn"):
        patient_update(patient=PatientFactory(), mrn="changed", acting_user=TEST_ACTOR)


@pytest.mark.django_db
def test_every_model_has_an_admin_page_with_search_and_filters(client, user_with_role):
    client.force_login(user_with_role(Role.ADMIN, is_staff=True))
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in {"ris", "scheduling"}:
            continue
        assert model_admin.search_fields, model
        assert model_admin.list_filter, model
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert client.get(url, {"q": "x"}).status_code == 200, url


@pytest.mark.django_db
def test_registering_a_patient_in_the_admin_goes_through_the_service(client, user_with_role):
    admin_user = user_with_role(Role.ADMIN, is_staff=True)
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:ris_patient_add"),
        {
            "mrn": "A-1",
            "mrn_issuer": "RIS",
            "family_name": "Øster",
            "given_name": "Åse",
            "sex": "F",
            "birth_date": "1980-02-29",
            **{"coverages-TOTAL_FORMS": "0", "coverages-INITIAL_FORMS": "0"},
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    patient = Patient.objects.get(mrn="A-1")
    assert patient.history.get().history_actor == admin_user.username


@pytest.mark.django_db
def test_the_admin_refuses_a_second_patient_with_the_same_mrn(client, user_with_role):
    PatientFactory(mrn="DUP", mrn_issuer="RIS")
    client.force_login(user_with_role(Role.ADMIN, is_staff=True))
    response = client.post(
        reverse("admin:ris_patient_add"),
        {
            "mrn": "DUP",
            "mrn_issuer": "RIS",
            "family_name": "Twin",
            "sex": "U",
            "coverages-TOTAL_FORMS": "0",
            "coverages-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert Patient.objects.filter(mrn="DUP").count() == 1
