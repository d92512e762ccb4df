from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from ris.exceptions import ApplicationError
from ris.models import Patient
from ris.services import patient_register
from ris.validators import (
    normalize_icd10cm,
    validate_accession_number,
    validate_ae_title,
    validate_dicom_identifier,
    validate_icd10cm,
    validate_npi,
    validate_person_name_part,
)
from tests.factories import TEST_ACTOR, make_order


@pytest.mark.parametrize("npi", ["1234567893", "1245319599", "1003000126"])
def test_valid_npis_pass_their_check_digit(npi):
    validate_npi(npi)


@pytest.mark.parametrize(
    ("npi", "why"),
    [
        ("1234567890", "check digit"),
        ("123456789", "10 digits"),
        ("3234567893", "starting with 1 or 2"),
        ("12345678a3", "10 digits"),
    ],
)
def test_invalid_npis_are_refused_with_the_reason(npi, why):
    with pytest.raises(ValidationError, match=why):
        validate_npi(npi)


@pytest.mark.parametrize("code", ["R51.9", "S72.001A", "C34.90", "Z12.31", "M54.50", "J45"])
def test_icd10cm_codes_in_the_right_format_pass(code):
    validate_icd10cm(code)


@pytest.mark.parametrize("code", ["51.9", "U07.1", "R5", "R51.99999", "r51.9", "R51-9"])
def test_malformed_icd10cm_codes_are_refused(code):
    with pytest.raises(ValidationError):
        validate_icd10cm(code)


def test_icd10cm_codes_are_normalised_before_checking():
    assert normalize_icd10cm(" s72001a ") == "S72.001A"


@pytest.mark.django_db
def test_order_refuses_a_malformed_diagnosis_code():
    with pytest.raises(ApplicationError, match="ICD-10-CM"):
        make_order(diagnosis_codes=["R51.9", "headache"])


@pytest.mark.parametrize("title", ["CT1", "RIS_MWL", "A" * 16])
def test_ae_titles_of_up_to_16_characters_pass(title):
    validate_ae_title(title)


@pytest.mark.parametrize("title", ["", "A" * 17, "BAD\\AE", " CT1"])
def test_bad_ae_titles_are_refused(title):
    with pytest.raises(ValidationError):
        validate_ae_title(title)


@pytest.mark.django_db
def test_birth_date_in_the_future_is_refused():
    tomorrow = timezone.localdate() + timedelta(days=1)
    with pytest.raises(ApplicationError, match="future"):
        patient_register(family_name="Future", birth_date=tomorrow, acting_user=TEST_ACTOR)
    assert not Patient.objects.exists()


def test_names_map_to_dicom_person_name_components():
    patient = Patient(family_name="Müller", given_name="Jürgen", middle_name="K", name_prefix="Dr", name_suffix="Jr")
    assert patient.dicom_pn == "Müller^Jürgen^K^Dr^Jr"
    assert Patient(family_name="Øster", given_name="Åse").dicom_pn == "Øster^Åse"


@pytest.mark.parametrize("value", ["ACC000123", "2026-0001.A", "ÅSE 1", "A" * 16])
def test_accession_numbers_of_printable_characters_pass(value):
    validate_accession_number(value)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("A^1", "cannot contain \\^"),
        ("A\\1", "cannot contain \\\\"),
        ("A|1", "cannot contain \\|"),
        ("A~1", "cannot contain ~"),
        ("A&1", "cannot contain &"),
        ("A\n1", "line breaks"),
        ("A\t1", "control characters"),
        ("A" * 17, "at most 16 characters"),
    ],
)
def test_accession_numbers_with_a_delimiter_control_character_or_17_characters_are_refused(value, why):
    with pytest.raises(ValidationError, match=why):
        validate_accession_number(value)


def test_an_identifier_has_no_length_limit_of_its_own_but_no_delimiter():
    validate_dicom_identifier("H" * 64)
    with pytest.raises(ValidationError, match="HL7 and DICOM delimiters"):
        validate_dicom_identifier("HOSP^MR")


@pytest.mark.parametrize("value", ["Müller", "O'Brien-Smith", "山田", "O&Brien|X", "St. John", ""])
def test_name_parts_in_any_script_pass(value):
    validate_person_name_part(value)


@pytest.mark.parametrize("value", ["Smith^John", "Smith\\Jones", "Yamada=山田", "Smith\nJones", "Smith\u2028"])
def test_name_parts_with_a_pn_delimiter_or_a_line_break_are_refused(value):
    with pytest.raises(ValidationError, match="Names cannot contain"):
        validate_person_name_part(value)
