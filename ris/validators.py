"""Format checks for identifiers and codes the RIS exchanges with other systems."""

import re
from datetime import date

from django.core.exceptions import ValidationError
from django.utils import timezone

_ICD10CM = re.compile(r"^[A-TV-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?$")
_CPT = re.compile(r"^[0-9]{4}[0-9FT]$")
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # PS3.5 6.2: default repertoire, no backslash
_PHONE = re.compile(r"^\+?[0-9 ()./-]{5,30}$")
# PS3.5 9.1: components of digits separated by dots, no leading zero in a component of more than one digit.
_UID = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*")
UID_MAX_LENGTH = 64


def local_today() -> date:
    return timezone.localdate()


def validate_not_future(value: date) -> None:
    if value > local_today():
        raise ValidationError("Birth date cannot be in the future.", code="future_date")


def npi_check_digit(first_nine: str) -> int:
    """Luhn check digit of an NPI: computed over the prefix 80840 and the first nine digits (CMS NPI standard)."""
    total = 0
    for position, char in enumerate(reversed("80840" + first_nine)):
        digit = int(char)
        if position % 2 == 0:  # every second digit from the right, starting with the rightmost
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def validate_npi(value: str) -> None:
    if not (len(value) == 10 and value.isdigit() and value[0] in "12"):
        raise ValidationError("An NPI is 10 digits starting with 1 or 2.", code="npi_format")
    if npi_check_digit(value[:9]) != int(value[9]):
        raise ValidationError("This NPI's check digit is wrong; check for a typing error.", code="npi_check")


def normalize_icd10cm(value: str) -> str:
    """Upper-case an ICD-10-CM code and put the dot after the category (R519 -> R51.9)."""
    code = value.strip().upper().replace(" ", "")
    if "." not in code and len(code) > 3:
        code = f"{code[:3]}.{code[3:]}"
    return code


def validate_icd10cm(value: str) -> None:
    if not _ICD10CM.match(value):
        raise ValidationError(
            f"{value!r} is not an ICD-10-CM code (a letter, two characters, optionally a dot and up to four more).",
            code="icd10cm",
        )


def parse_icd10cm_codes(text: str) -> list[str]:
    """Split codes typed with commas or spaces, normalise each, and name every one that is malformed as typed."""
    typed = text.replace(",", " ").split()
    bad = [raw for raw in typed if not _ICD10CM.match(normalize_icd10cm(raw))]
    if bad:
        raise ValidationError(
            f"Not ICD-10-CM: {', '.join(bad)} (a letter, two characters, optionally a dot and up to four more).",
            code="icd10cm",
        )
    return [normalize_icd10cm(raw) for raw in typed]


def validate_icd10cm_list(values: list) -> None:
    if not isinstance(values, list):
        raise ValidationError("Diagnosis codes must be a list.", code="icd10cm_list")
    for value in values:
        validate_icd10cm(value)


def validate_cpt(value: str) -> None:
    if not _CPT.match(value):
        raise ValidationError(f"{value!r} is not a CPT code (five characters: four digits and a digit, F or T).")


def validate_ae_title(value: str) -> None:
    if not _AE_TITLE.match(value) or value != value.strip():
        raise ValidationError(
            "An AE title is 1 to 16 printable ASCII characters, no backslash, no leading or trailing spaces."
        )


def validate_uid(value: str) -> None:
    """A DICOM UID (PS3.5 9.1): digits and dots, no empty component, no leading zero, at most 64 characters."""
    if len(value) > UID_MAX_LENGTH:
        raise ValidationError(
            f"A DICOM UID has at most {UID_MAX_LENGTH} characters; this one has {len(value)}.", code="uid_length"
        )
    if not _UID.fullmatch(value):
        raise ValidationError(
            "A DICOM UID is numbers separated by dots (digits only, no empty part, no part with a leading zero).",
            code="uid_format",
        )


def validate_phone(value: str) -> None:
    if value and not _PHONE.match(value):
        raise ValidationError("Enter a phone number of digits, spaces and + ( ) . / - only.", code="phone")


# HL7 v2 encoding characters (field, component, repetition, escape, subcomponent: HL7 v2.5.1 2.5.4) and the DICOM
# value and component delimiters (PS3.5 6.2: backslash separates values, caret PN components).
_IDENTIFIER_DELIMITERS = "\\^|~&"
# PS3.5 6.2.1.1: "^" separates a PN's components, "=" its component groups (alphabetic, ideographic, phonetic).
_NAME_DELIMITERS = "^\\="
ACCESSION_MAX_LENGTH = 16  # DICOM (0008,0050) Accession Number is SH: 16 characters
SHORT_STRING_MAX_LENGTH = 16  # DICOM SH (PS3.5 6.2)


def _shown(characters: str) -> str:
    return " ".join(characters)


def validate_dicom_identifier(value: str) -> None:
    """An identifier sent in DICOM and HL7 (accession number, MRN, issuer): printable, no delimiter of either."""
    if not value.isprintable():
        raise ValidationError(
            "Identifiers cannot contain line breaks, tabs or other control characters.", code="identifier_control"
        )
    found = "".join(sorted({char for char in value if char in _IDENTIFIER_DELIMITERS}))
    if found:
        raise ValidationError(
            f"Identifiers cannot contain {_shown(found)} (HL7 and DICOM delimiters; not allowed: "
            f"{_shown(_IDENTIFIER_DELIMITERS)}).",
            code="identifier_delimiter",
        )


def validate_short_string(value: str) -> None:
    """A value sent as a DICOM Short String (SH): at most 16 printable characters, no backslash (PS3.5 6.2: the
    value delimiter) and no control character."""
    if len(value) > SHORT_STRING_MAX_LENGTH:
        raise ValidationError(
            f"At most {SHORT_STRING_MAX_LENGTH} characters (DICOM SH); this value has {len(value)}.", code="sh_length"
        )
    if not value.isprintable() or "\\" in value:
        raise ValidationError(
            "Line breaks, tabs, other control characters and the backslash cannot be sent in DICOM.", code="sh_chars"
        )


def validate_accession_number(value: str) -> None:
    """DICOM SH: at most 16 printable characters, no HL7 or DICOM delimiter."""
    if len(value) > ACCESSION_MAX_LENGTH:
        raise ValidationError(
            f"An accession number has at most {ACCESSION_MAX_LENGTH} characters (DICOM SH); this one has {len(value)}.",
            code="accession_length",
        )
    validate_dicom_identifier(value)


def validate_person_name_part(value: str) -> None:
    """One component of a person's name: no DICOM PN delimiter (^ \\ =) and no control character."""
    if not value.isprintable():
        raise ValidationError(
            "Names cannot contain line breaks, tabs or other control characters.", code="name_control"
        )
    found = "".join(sorted({char for char in value if char in _NAME_DELIMITERS}))
    if found:
        raise ValidationError(
            f"Names cannot contain {_shown(found)} (these separate the parts of a name in DICOM).",
            code="name_delimiter",
        )
