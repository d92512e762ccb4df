"""Staff entry of clinical data: allergies corrected and ended, the allergy question answered, alerts, weight and
height with the date measured, pregnancy status; each change kept in history with who made it."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from clinical import services
from clinical.models import Allergy, ClinicalStatus, MedicalAlert, Observation, Source
from clinical.selectors import clinical_history, safety_summary
from ris.exceptions import ApplicationError
from ris.models import ContrastClass, Role
from tests.clinical.factories import contrast_allergy
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db
Allergies = ClinicalStatus.Allergies
Kind = Observation.Kind


def nurse():
    """The technologist entering the data (one per test)."""
    found = get_user_model().objects.filter(username="tech.jones").first()
    return found or UserFactory(role=Role.TECHNOLOGIST, username="tech.jones")


def test_allergy_update_corrects_a_staff_allergy_and_names_the_user():
    allergy = contrast_allergy(PatientFactory(), contrast_class=ContrastClass.NONE, allergen_text="Iohexl")
    user = nurse()
    services.allergy_update(
        allergy=allergy,
        acting_user=user,
        allergen_text="Iohexol",
        allergy_type=Allergy.Type.DRUG,
        contrast_class=ContrastClass.IODINATED,
        severity=Allergy.Severity.SEVERE,
        reaction="laryngeal oedema",
    )
    allergy.refresh_from_db()
    assert (allergy.allergen_text, allergy.contrast_class, allergy.severity) == ("Iohexol", "IODINATED", "SV")
    latest = allergy.history.first()
    assert (latest.history_actor, latest.history_change_reason) == ("tech.jones", "allergy corrected")


def test_allergy_update_refuses_a_cis_allergy():
    allergy = contrast_allergy(PatientFactory(), source=Source.CIS)
    with pytest.raises(ApplicationError, match="clinical information system"):
        services.allergy_update(
            allergy=allergy,
            acting_user=nurse(),
            allergen_text="Penicillin",
            allergy_type=Allergy.Type.DRUG,
            contrast_class="",
            severity="U",
        )


def test_allergy_deactivate_keeps_the_row_inactive_with_the_reason_in_history():
    patient = PatientFactory()
    allergy = contrast_allergy(patient)
    services.allergy_deactivate(
        allergy=allergy, reason=services.EndReason.ENTERED_IN_ERROR, note="wrong patient", acting_user=nurse()
    )
    allergy.refresh_from_db()
    assert not allergy.active
    assert allergy.history.first().history_change_reason == "entered in error: wrong patient"
    assert safety_summary(patient).allergies == []


def test_ending_the_last_allergy_sets_the_question_back_to_not_asked():
    patient = PatientFactory()
    first, second = contrast_allergy(patient), contrast_allergy(patient, allergen_text="Gadobutrol")
    services.allergy_deactivate(allergy=first, reason="RESOLVED", acting_user=nurse())
    assert safety_summary(patient).allergy_status == Allergies.LISTED
    services.allergy_deactivate(allergy=second, reason="RESOLVED", acting_user=nurse())
    assert safety_summary(patient).allergy_status == Allergies.NOT_ASKED


def test_allergy_deactivate_needs_a_known_reason():
    allergy = contrast_allergy(PatientFactory())
    with pytest.raises(ApplicationError, match="entered in error or has resolved"):
        services.allergy_deactivate(allergy=allergy, reason="BORED", acting_user=nurse())


def test_no_known_allergies_is_recorded_and_differs_from_not_asked():
    patient = PatientFactory()
    assert safety_summary(patient).allergy_status == Allergies.NOT_ASKED
    services.allergies_answer(patient=patient, status=Allergies.NONE_KNOWN, acting_user=nurse())
    status = ClinicalStatus.objects.get(patient=patient)
    assert status.allergies == Allergies.NONE_KNOWN
    assert status.history.first().history_actor == "tech.jones"


def test_no_known_allergies_is_refused_while_allergies_are_listed():
    patient = PatientFactory()
    contrast_allergy(patient)
    with pytest.raises(ApplicationError, match="Allergies are listed"):
        services.allergies_answer(patient=patient, status=Allergies.NONE_KNOWN, acting_user=nurse())
    assert safety_summary(patient).allergy_status == Allergies.LISTED


def test_adding_an_allergy_after_no_known_allergies_lists_it():
    patient = PatientFactory()
    services.allergies_answer(patient=patient, status=Allergies.NONE_KNOWN, acting_user=nurse())
    contrast_allergy(patient)
    assert safety_summary(patient).allergy_status == Allergies.LISTED


def test_alert_other_needs_text():
    with pytest.raises(ApplicationError, match="required for Other"):
        services.alert_add(patient=PatientFactory(), code=MedicalAlert.Code.OTHER, text=" ", acting_user=nurse())


def test_alert_add_and_deactivate_leave_history_naming_the_user():
    patient = PatientFactory()
    alert = services.alert_add(patient=patient, code=MedicalAlert.Code.INTERPRETER, text="Polish", acting_user=nurse())
    assert [a.pk for a in safety_summary(patient).alerts] == [alert.pk]
    services.alert_deactivate(alert=alert, reason="RESOLVED", acting_user=nurse())
    alert.refresh_from_db()
    assert not alert.active
    assert [(row.history_actor, row.history_change_reason) for row in alert.history.order_by("history_id")] == [
        ("tech.jones", "alert recorded"),
        ("tech.jones", "resolved"),
    ]
    assert safety_summary(patient).alerts == []


def test_weight_is_recorded_in_kg_with_the_date_measured():
    patient = PatientFactory()
    measured = timezone.now() - timedelta(days=3)
    row = services.measurement_record(
        patient=patient, kind=Kind.WEIGHT, value=Decimal("72.5"), measured_at=measured, acting_user=nurse()
    )
    assert (row.value, row.unit, row.observed_at, row.source) == (Decimal("72.5"), "kg", measured, Source.STAFF)
    assert row.history.first().history_actor == "tech.jones"
    assert safety_summary(patient).weight == row


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        (Kind.WEIGHT, "0", "above zero"),
        (Kind.WEIGHT, "-3", "above zero"),
        (Kind.WEIGHT, "650.1", "not a possible weight"),
        (Kind.HEIGHT, "280.5", "not a possible height"),
        (Kind.HEIGHT, "19", "not a possible height"),
        (Kind.EGFR, "60", "Only a weight or a height"),
    ],
)
def test_impossible_measurements_are_refused(kind, value, message):
    with pytest.raises(ApplicationError, match=message):
        services.measurement_record(
            patient=PatientFactory(), kind=kind, value=Decimal(value), measured_at=timezone.now(), acting_user=nurse()
        )
    assert not Observation.objects.exists()


def test_limits_themselves_are_accepted():
    patient = PatientFactory()
    now = timezone.now()
    services.measurement_record(
        patient=patient, kind=Kind.WEIGHT, value=Decimal(650), measured_at=now, acting_user=nurse()
    )
    services.measurement_record(
        patient=patient, kind=Kind.HEIGHT, value=Decimal(280), measured_at=now, acting_user=nurse()
    )
    assert Observation.objects.count() == 2


def test_a_measurement_in_the_future_is_refused():
    with pytest.raises(ApplicationError, match="cannot be in the future"):
        services.measurement_record(
            patient=PatientFactory(),
            kind=Kind.HEIGHT,
            value=Decimal(170),
            measured_at=timezone.now() + timedelta(hours=2),
            acting_user=nurse(),
        )


def test_pregnancy_record_names_who_recorded_it_and_refuses_a_future_lmp():
    patient = PatientFactory(sex="F", birth_date=date(1995, 5, 1))
    row = services.pregnancy_record(
        patient=patient, status=1, last_menstrual_period=timezone.localdate() - timedelta(days=10), acting_user=nurse()
    )
    assert row.recorded_by == "tech.jones"
    with pytest.raises(ApplicationError, match="cannot be in the future"):
        services.pregnancy_record(
            patient=patient,
            status=1,
            last_menstrual_period=timezone.localdate() + timedelta(days=1),
            acting_user=nurse(),
        )


def test_clinical_history_lists_who_changed_what_newest_first():
    patient = PatientFactory()
    allergy = contrast_allergy(patient, acting_user=nurse())
    services.allergy_deactivate(
        allergy=allergy, reason="ENTERED_IN_ERROR", acting_user=allergy.history.first().history_user
    )
    services.measurement_record(
        patient=patient, kind=Kind.WEIGHT, value=Decimal(70), measured_at=timezone.now(), acting_user=nurse()
    )
    rows = clinical_history(patient)
    assert rows[0].item.startswith("Body weight 70 kg, ")
    assert " as of " not in rows[0].item
    allergy_rows = [row for row in rows if row.record == "Allergy"]
    assert [(row.actor, row.change, row.reason) for row in allergy_rows] == [
        ("tech.jones", "changed", "entered in error"),
        ("tech.jones", "added", "allergy recorded"),
    ]
