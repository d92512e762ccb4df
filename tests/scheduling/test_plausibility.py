"""Sex and age plausibility of an order: a procedure outside its catalog limits for the patient is refused unless an
override reason is given, and the override is kept in the order's history; the page and the API say so."""

import importlib
from datetime import date

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from ris.exceptions import ApplicationError
from ris.models import Patient, ProcedureType, Role
from ris.models.catalog import age_in_years
from ris.validators import local_today
from scheduling.models import Order
from tests.factories import PatientFactory, ProcedureTypeFactory, UserFactory, make_order

pytestmark = pytest.mark.django_db

F, M = ProcedureType.AllowedSex.FEMALE, ProcedureType.AllowedSex.MALE


def born_years_ago(years: int) -> date:
    """A birth date making the patient `years` old today (born on 1 January)."""
    return date(local_today().year - years, 1, 1)


@pytest.fixture
def obstetric_us():
    return ProcedureTypeFactory(
        code="USOB1", name="US obstetric first trimester", allowed_sex=F, min_age_years=12, max_age_years=55
    )


@pytest.fixture
def old_man():
    return PatientFactory(sex=Patient.Sex.MALE, birth_date=born_years_ago(87))


def test_an_obstetric_ultrasound_for_an_87_year_old_man_is_refused_without_an_override(obstetric_us, old_man):
    with pytest.raises(ApplicationError) as refusal:
        make_order(patient=old_man, procedure_types=[obstetric_us])
    assert refusal.value.field == "override_reason"
    assert "female patients; the patient is male" in refusal.value.message
    assert "aged 12-55; the patient is 87" in refusal.value.message
    assert not Order.objects.exists()


def test_an_override_reason_lets_the_order_through_and_its_history_keeps_it(obstetric_us, old_man):
    order = make_order(patient=old_man, procedure_types=[obstetric_us], override_reason="Transgender man, pregnant")
    assert order.exams.get().procedure_type == obstetric_us
    created = order.history.earliest()
    assert created.history_type == "+"
    assert "USOB1 US obstetric first trimester: meant for female patients" in created.plausibility_override
    assert created.plausibility_override.endswith("Override reason: Transgender man, pregnant")
    assert created.history_change_reason == "entered outside the catalog's sex or age limits"


@pytest.mark.parametrize(
    ("limits", "sex", "age", "refused"),
    [
        ({"allowed_sex": F}, Patient.Sex.FEMALE, 30, False),
        ({"allowed_sex": F}, Patient.Sex.MALE, 30, True),
        ({"allowed_sex": M}, Patient.Sex.FEMALE, 30, True),
        ({"allowed_sex": M}, Patient.Sex.MALE, 30, False),
        ({"allowed_sex": F}, Patient.Sex.UNKNOWN, 30, False),  # not held against an unknown or other sex
        ({"allowed_sex": M}, Patient.Sex.OTHER, 30, False),
        ({"min_age_years": 50, "max_age_years": 80}, Patient.Sex.MALE, 49, True),
        ({"min_age_years": 50, "max_age_years": 80}, Patient.Sex.MALE, 50, False),
        ({"min_age_years": 50, "max_age_years": 80}, Patient.Sex.MALE, 80, False),
        ({"min_age_years": 50, "max_age_years": 80}, Patient.Sex.MALE, 81, True),
        ({"max_age_years": 17}, Patient.Sex.FEMALE, 18, True),
    ],
)
def test_limits_refuse_only_what_falls_outside_them(limits, sex, age, refused):
    procedure = ProcedureTypeFactory(**limits)
    patient = PatientFactory(sex=sex, birth_date=born_years_ago(age))
    assert age_in_years(patient.birth_date, local_today()) == age
    if refused:
        with pytest.raises(ApplicationError, match="give the reason for the override"):
            make_order(patient=patient, procedure_types=[procedure])
    else:
        assert make_order(patient=patient, procedure_types=[procedure]).plausibility_override == ""


def test_a_patient_without_a_birth_date_is_not_held_against_an_age_limit():
    procedure = ProcedureTypeFactory(min_age_years=50)
    assert make_order(patient=PatientFactory(birth_date=None), procedure_types=[procedure])


def test_an_override_reason_is_not_recorded_when_every_procedure_fits(obstetric_us):
    patient = PatientFactory(sex=Patient.Sex.FEMALE, birth_date=born_years_ago(30))
    order = make_order(patient=patient, procedure_types=[obstetric_us], override_reason="just in case")
    assert order.plausibility_override == ""


def test_a_catalog_entry_refuses_a_minimum_age_above_its_maximum():
    from ris.services import procedure_type_save

    with pytest.raises(ApplicationError, match="minimum age is above the maximum age"):
        procedure_type_save(
            acting_user=UserFactory(),
            procedure=ProcedureTypeFactory(),
            min_age_years=60,
            max_age_years=50,
        )


# --- the order page ----------------------------------------------------------------------------------------------


def test_the_order_page_shows_the_refusal_with_an_override_field_and_then_takes_the_override(
    client_for, obstetric_us, old_man
):
    desk = client_for(Role.FRONT_DESK)
    url = reverse("scheduling:order_create", args=[old_man.pk])
    fields = {"procedure_types": [obstetric_us.pk], "priority": "ROUTINE", "reason": "Pelvic pain"}
    assert 'name="override_reason"' not in desk.get(url).content.decode()

    refused = desk.post(url, fields)
    assert refused.status_code == 200
    page = refused.content.decode()
    assert 'name="override_reason"' in page
    assert "Not plausible for this patient: USOB1 US obstetric first trimester" in page
    assert not Order.objects.exists()

    accepted = desk.post(url, {**fields, "override_reason": "Confirmed with Dr Okafor: registered sex is wrong"})
    order = Order.objects.get()
    assert accepted["Location"] == reverse("scheduling:order", args=[order.pk])
    assert order.plausibility_override.endswith("Override reason: Confirmed with Dr Okafor: registered sex is wrong")
    detail = desk.get(accepted["Location"]).content.decode()
    assert "Outside catalog limits" in detail


# --- the REST API ------------------------------------------------------------------------------------------------


def test_the_api_refuses_without_an_override_reason_and_accepts_with_one(obstetric_us, old_man):
    client = APIClient()
    client.force_authenticate(UserFactory(role=Role.FRONT_DESK))
    body = {"patient": old_man.pk, "procedure_types": [obstetric_us.pk]}
    refused = client.post("/api/orders/", body, format="json")
    assert refused.status_code == 400
    assert "override_reason" in refused.json()
    accepted = client.post("/api/orders/", {**body, "override_reason": "Ordered by the gynaecologist"}, format="json")
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["plausibility_override"].endswith("Override reason: Ordered by the gynaecologist")
    assert Order.objects.get().history.earliest().history_actor.startswith("user")


def test_the_migration_limits_only_demo_codes_still_as_seeded_and_without_limits():
    from django.apps import apps

    migration = importlib.import_module("ris.migrations.0015_procedure_sex_and_age_limits")
    seeded = ProcedureTypeFactory(code="USOB1", name="US obstetric first trimester", cpt_code="76801")
    reused = ProcedureTypeFactory(code="USTV", name="US thyroid volume", cpt_code="76536")  # the code, not the exam
    own = ProcedureTypeFactory(code="CTLUNGSCR", name="CT low-dose lung cancer screening", cpt_code="71271")
    own.min_age_years = 55
    own.save()
    migration.limit_seeded_demo_procedures(apps, None)
    limits = {
        p.code: (p.allowed_sex, p.min_age_years, p.max_age_years)
        for p in ProcedureType.objects.filter(pk__in=[seeded.pk, reused.pk, own.pk])
    }
    assert limits == {"USOB1": ("F", 12, 55), "USTV": ("A", None, None), "CTLUNGSCR": ("A", 55, None)}
