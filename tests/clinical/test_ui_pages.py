"""The patient's clinical page (entry forms, history, who may do what) and what the safety banner says."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from clinical import services
from clinical.models import Allergy, ClinicalStatus, Implant, MedicalAlert, MRSafety, Observation
from ris.models import AccessRecord, ContrastClass, Role
from tests.clinical.factories import contrast_allergy, egfr, observation
from tests.factories import TEST_ACTOR, PatientFactory, UserFactory

pytestmark = pytest.mark.django_db


def client_as(role: Role) -> tuple[Client, object]:
    user = UserFactory(role=role)
    client = Client()
    client.force_login(user)
    return client, user


def page(patient) -> str:
    return reverse("clinical:patient", args=[patient.pk])


def test_the_page_lists_allergies_alerts_measurements_and_is_logged():
    patient = PatientFactory(sex="M", birth_date=date(1950, 3, 2))
    contrast_allergy(patient, reaction="hives")
    services.alert_add(patient=patient, code=MedicalAlert.Code.FALL_RISK, acting_user=TEST_ACTOR)
    observation(patient, Observation.Kind.WEIGHT, "81.5", at=timezone.now() - timedelta(days=2))
    client, user = client_as(Role.FRONT_DESK)
    response = client.get(page(patient))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Iodinated contrast media" in html
    assert "hives" in html
    assert "Iodinated" in html
    assert "Fall risk" in html
    assert "81.5 kg" in html
    assert 'id="pregnancy"' not in html  # a man of 76: not asked
    assert AccessRecord.objects.filter(user=user, patient_id=patient.pk).exists()


def test_pregnancy_is_shown_for_a_woman_in_the_age_range():
    patient = PatientFactory(sex="F", birth_date=date(timezone.localdate().year - 30, 1, 1))
    services.pregnancy_record(patient=patient, status=1, acting_user=TEST_ACTOR)
    html = html_of(Role.TECHNOLOGIST, page(patient))
    assert 'id="pregnancy"' in html
    assert "Not pregnant" in html
    assert 'name="pregnancy-status"' in html


def test_pregnancy_records_stay_visible_outside_the_age_range():
    patient = PatientFactory(sex="F", birth_date=date(1940, 1, 1))
    services.pregnancy_record(patient=patient, status=4, acting_user=TEST_ACTOR)
    html = html_of(Role.RADIOLOGIST, page(patient))
    assert 'id="pregnancy"' in html
    assert "Unknown" in html
    assert 'name="pregnancy-status"' not in html  # no new entry for a woman of 86


def test_implants_are_shown_read_only():
    patient = PatientFactory()
    Implant.objects.create(patient=patient, device_type="Cardiac pacemaker", mr_safety=MRSafety.CONDITIONAL)
    html = html_of(Role.TECHNOLOGIST, page(patient))
    assert "Cardiac pacemaker" in html
    assert "MR Conditional" in html


def html_of(role: Role, url: str) -> str:
    client, _user = client_as(role)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_billing_may_not_open_the_clinical_page():
    client, _user = client_as(Role.BILLING)
    assert client.get(page(PatientFactory())).status_code == 403


def test_the_patient_page_links_to_the_clinical_page():
    patient = PatientFactory()
    html = html_of(Role.FRONT_DESK, reverse("scheduling:patient", args=[patient.pk]))
    assert page(patient) in html


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.TECHNOLOGIST, Role.RADIOLOGIST, Role.ADMIN])
def test_clinical_roles_add_an_allergy(role):
    patient = PatientFactory()
    client, user = client_as(role)
    response = client.post(
        reverse("clinical:allergy_add", args=[patient.pk]),
        {
            "allergy-allergen_text": "Gadoterate",
            "allergy-allergy_type": "DA",
            "allergy-contrast_class": "GADOLINIUM",
            "allergy-severity": "MO",
            "allergy-reaction": "nausea, urticaria",
        },
    )
    assert response.status_code == 302
    allergy = Allergy.objects.get(patient=patient)
    assert (allergy.contrast_class, allergy.source, allergy.history.first().history_actor) == (
        "GADOLINIUM",
        "STAFF",
        user.username,
    )


def test_an_impossible_weight_is_refused_on_the_page_and_the_input_kept():
    patient = PatientFactory()
    client, _user = client_as(Role.TECHNOLOGIST)
    response = client.post(
        reverse("clinical:measurement_add", args=[patient.pk]),
        {"measure-kind": "WEIGHT", "measure-value": "700", "measure-measured_at": "2026-01-05T10:00"},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "700 kg is not a possible weight" in html
    assert 'value="700"' in html
    assert not Observation.objects.exists()


def test_a_height_with_its_date_is_recorded_from_the_page():
    patient = PatientFactory()
    client, _user = client_as(Role.FRONT_DESK)
    response = client.post(
        reverse("clinical:measurement_add", args=[patient.pk]),
        {"measure-kind": "HEIGHT", "measure-value": "172", "measure-measured_at": "2026-01-05T10:00"},
    )
    assert response.status_code == 302
    row = Observation.objects.get(patient=patient)
    assert (row.kind, row.value, timezone.localtime(row.observed_at).date()) == (
        "HEIGHT",
        Decimal(172),
        date(2026, 1, 5),
    )


def test_no_known_allergies_from_the_page_and_its_refusal_while_listed():
    patient = PatientFactory()
    client, _user = client_as(Role.FRONT_DESK)
    answer = reverse("clinical:allergies_answer", args=[patient.pk])
    assert client.post(answer, {"status": "NKA"}).status_code == 302
    assert ClinicalStatus.objects.get(patient=patient).allergies == "NKA"
    contrast_allergy(patient)
    response = client.post(answer, {"status": "NKA"})
    assert response.status_code == 400
    assert "Allergies are listed" in response.content.decode()


def test_an_allergy_marked_entered_in_error_stays_listed_as_inactive():
    patient = PatientFactory()
    allergy = contrast_allergy(patient)
    client, _user = client_as(Role.TECHNOLOGIST)
    response = client.post(
        reverse("clinical:allergy_end", args=[allergy.pk]), {"reason": "ENTERED_IN_ERROR", "note": "other patient"}
    )
    assert response.status_code == 302
    allergy.refresh_from_db()
    assert not allergy.active
    html = html_of(Role.TECHNOLOGIST, page(patient))
    assert f'id="allergy-{allergy.pk}" class="inactive"' in html
    assert "entered in error: other patient" in html  # the history table


def test_the_allergy_correction_page_saves():
    allergy = contrast_allergy(PatientFactory(), contrast_class=ContrastClass.NONE, allergen_text="Penicilin")
    client, _user = client_as(Role.RADIOLOGIST)
    url = reverse("clinical:allergy_edit", args=[allergy.pk])
    assert 'class="patient-banner' in client.get(url).content.decode()
    response = client.post(
        url, {"allergen_text": "Penicillin", "allergy_type": "DA", "contrast_class": "", "severity": "SV"}
    )
    assert response.status_code == 302
    allergy.refresh_from_db()
    assert (allergy.allergen_text, allergy.severity) == ("Penicillin", "SV")


def test_an_alert_other_without_text_is_refused_on_the_page():
    patient = PatientFactory()
    client, _user = client_as(Role.FRONT_DESK)
    response = client.post(reverse("clinical:alert_add", args=[patient.pk]), {"alert-code": "OTHER", "alert-text": ""})
    assert response.status_code == 400
    assert "required for Other" in response.content.decode()


def test_a_future_lmp_is_refused_on_the_page():
    patient = PatientFactory(sex="F", birth_date=date(timezone.localdate().year - 25, 6, 1))
    client, _user = client_as(Role.TECHNOLOGIST)
    tomorrow = timezone.localdate() + timedelta(days=1)
    response = client.post(
        reverse("clinical:pregnancy_add", args=[patient.pk]),
        {"pregnancy-status": "2", "pregnancy-last_menstrual_period": tomorrow.isoformat()},
    )
    assert response.status_code == 400
    assert "cannot be in the future" in response.content.decode()


# --- the banner ------------------------------------------------------------------------------------------------


def banner(patient) -> str:
    html = html_of(Role.FRONT_DESK, reverse("scheduling:patient", args=[patient.pk]))
    return html.split('<section class="patient-banner', 1)[1].split("</section>", 1)[0]


def test_the_banner_highlights_a_contrast_allergy_in_words():
    patient = PatientFactory()
    contrast_allergy(patient, reaction="bronchospasm", severity=Allergy.Severity.SEVERE)
    shown = banner(patient)
    assert "contrast-allergy" in shown
    assert "Iodinated contrast: Iodinated contrast media (bronchospasm), severe" in shown


@pytest.mark.parametrize(("value", "words"), [("29.9", "below 30"), ("30", "near 30"), ("45", "")])
def test_the_banner_says_the_egfr_level_in_words(value, words):
    patient = PatientFactory()
    egfr(patient, value, at=timezone.now() - timedelta(days=1))
    shown = banner(patient).split('class="banner-egfr"', 1)[1].split("</li>", 1)[0]
    assert value.rstrip("0").rstrip(".") in shown
    assert (f"({words})" in shown) if words else ("below" not in shown and "near" not in shown)
    assert (timezone.localdate() - timedelta(days=1)).strftime("%Y") in shown  # with its date


def test_the_banner_shows_pregnancy_weight_and_alerts():
    patient = PatientFactory(sex="F", birth_date=date(timezone.localdate().year - 28, 1, 1))
    services.pregnancy_record(
        patient=patient,
        status=2,
        last_menstrual_period=timezone.localdate() - timedelta(days=40),
        acting_user=TEST_ACTOR,
    )
    observation(patient, Observation.Kind.WEIGHT, "64")
    services.alert_add(patient=patient, code=MedicalAlert.Code.DIABETES_METFORMIN, acting_user=TEST_ACTOR)
    shown = banner(patient)
    assert "Possibly pregnant" in shown
    assert "LMP" in shown
    assert "Weight: 64 kg" in shown
    assert "Diabetes on metformin" in shown
