"""Country codes: one function turns every form a sender or the front desk uses into what the RIS stores."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from ris.countries import country_code
from ris.models import Patient, Role
from tests.factories import PatientFactory, UserFactory


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("FRA", "FR"),  # HL7 table 0399: ISO 3166 alpha-3
        ("USA", "US"),
        ("deu", "DE"),
        ("FR", "FR"),  # alpha-2, kept
        ("us", "US"),
        (" GB ", "GB"),
        ("250", "FR"),  # ISO 3166-1 numeric
        ("France", "FR"),  # English names: short, official, common, any case
        ("united states of america", "US"),
        ("South Korea", "KR"),
        ("Côte d'Ivoire", "CI"),
        ("YUG", "YUG"),  # withdrawn: no alpha-2 in ISO 3166-1 now, kept as sent
        ("xkx", "XKX"),  # user-assigned (Kosovo), kept
        ("", ""),
        ("   ", ""),
    ],
)
def test_country_codes_and_names_become_iso_alpha_2(sent, stored):
    assert country_code(sent) == stored


@pytest.mark.parametrize("sent", ["Freedonia", "U.S.A.", "F", "F1", "999", "1"])
def test_a_value_that_is_no_country_is_refused(sent):
    with pytest.raises(ValueError, match="not an ISO 3166 country code"):
        country_code(sent)


PATIENT = {"family_name": "Durand", "given_name": "Claire", "birth_date": "1975-03-14", "sex": "F"}


@pytest.mark.django_db
def test_the_front_desk_form_takes_alpha_3_and_names_and_stores_alpha_2(client_for):
    desk = client_for(Role.FRONT_DESK)
    response = desk.post(reverse("scheduling:patient_register"), {**PATIENT, "country": "FRA"})
    assert response.status_code == 302
    patient = Patient.objects.get()
    assert patient.country == "FR"

    edited = desk.post(reverse("scheduling:patient_edit", args=[patient.pk]), {**PATIENT, "country": "Germany"})
    assert edited.status_code == 302
    patient.refresh_from_db()
    assert patient.country == "DE"


@pytest.mark.django_db
def test_the_front_desk_form_shows_an_unknown_country_next_to_its_field(client_for):
    response = client_for(Role.FRONT_DESK).post(
        reverse("scheduling:patient_register"), {**PATIENT, "country": "Freedonia"}
    )
    assert response.status_code == 200
    assert "not an ISO 3166 country code" in response.context["form"].errors["country"][0]
    assert not Patient.objects.exists()


@pytest.mark.django_db
def test_the_api_takes_alpha_3_and_names_and_stores_alpha_2():
    client = APIClient()
    client.force_authenticate(UserFactory(role=Role.FRONT_DESK))
    created = client.post("/api/patients/", {**PATIENT, "country": "USA"})
    assert created.status_code == 201, created.json()
    assert created.json()["country"] == "US"

    patient = PatientFactory(country="")
    changed = client.patch(f"/api/patients/{patient.pk}/", {"country": "Viet Nam"})
    assert changed.json()["country"] == "VN"
    patient.refresh_from_db()
    assert patient.country == "VN"

    refused = client.patch(f"/api/patients/{patient.pk}/", {"country": "Freedonia"})
    assert refused.status_code == 400
    assert "country" in refused.json()
