"""Inbound HL7 messages as plain data (pure: no ORM). ADT carries a patient; ORM^O01 / OMI^O23 carry orders; AL1
and OBX in them, and ORU^R01 lab results, carry clinical data.

Field positions follow HL7 v2.5.1 (ch. 3 ADT, ch. 4 ORM/OMI) and IHE RAD-1/RAD-2/RAD-12. Each reading names the
segment and field it came from, so that an error can point there (ERR-2).
"""

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from clinical.cis import CisAllergy, CisObservation, is_no_known_allergies
from clinical.models import Allergy  # its HL7 table 0127 / 0128 codes only: no query
from interfaces.hl7v2 import MessageError, Reader, parse_date, parse_datetime
from ris.countries import country_code
from ris.models import Patient, ReferringPhysician  # their _meta only (column sizes and formats): no query
from ris.validators import local_today, validate_npi, validate_uid
from scheduling.models import Order  # its _meta only (column sizes): no query

# HL7 table 0001 (and ISO 5218 digits, seen in the field) -> the RIS's sex codes.
SEX = {"M": "M", "F": "F", "O": "O", "U": "U", "A": "O", "N": "U", "X": "O", "1": "M", "2": "F", "0": "U", "9": "U"}
# Priority: TQ1-9 / ORC-7.6 / OBR-27.6 (HL7 table 0485) -> order priority.
PRIORITY = {"S": "STAT", "A": "URGENT", "T": "URGENT", "P": "ROUTINE", "R": "ROUTINE", "C": "ROUTINE"}
# PV1-2 patient class (HL7 table 0004) -> the order's: inpatient, outpatient, emergency. Preadmit (P) and recurring
# (R) patients are not in a bed: outpatients. Any other (B obstetrics, C commercial, N not applicable, U unknown):
# not given, which the safety rules treat as outpatient too.
PATIENT_CLASSES = {"I": "I", "O": "O", "E": "E", "P": "O", "R": "O"}
ORDER_CONTROLS = ("NW", "CA", "XO", "DC", "SC")
# XCN-9 assigning authorities that mean "this is an NPI": the CMS namespace and its OID (HL7 v2.5.1 table 0363).
NPI_AUTHORITIES = frozenset({"NPI", "2.16.840.1.113883.4.6"})
# Where each patient column comes from in PID (field, component), and what HL7 calls it, for an error naming it.
PID_SOURCES = {
    "mrn": (3, "PID-3.1", "ID number"),
    "mrn_issuer": (3, "PID-3.4", "assigning authority"),
    "family_name": (5, "PID-5.1", "family name"),
    "given_name": (5, "PID-5.2", "given name"),
    "middle_name": (5, "PID-5.3", "second and further given names"),
    "name_suffix": (5, "PID-5.4", "suffix"),
    "name_prefix": (5, "PID-5.5", "prefix"),
    "street": (11, "PID-11.1 and .2", "street address and other designation"),
    "city": (11, "PID-11.3", "city"),
    "state": (11, "PID-11.4", "state or province"),
    "postal_code": (11, "PID-11.5", "zip or postal code"),
    "country": (11, "PID-11.6", "country"),
    "phone": (13, "PID-13", "phone number"),
}


@dataclass
class PatientData:
    mrn: str
    mrn_issuer: str  # "" when the sender gave none
    names: dict[str, str]
    birth_date: date | None
    sex: str
    address: dict[str, str]
    phone: str

    def fields(self) -> dict:
        """Demographics as patient service fields (what the message carried; empty values included)."""
        return {**self.names, "birth_date": self.birth_date, "sex": self.sex, **self.address, "phone": self.phone}


@dataclass
class ProcedureRequest:
    """One OBR: a requested procedure."""

    code: str  # OBR-4.1
    sequence: int  # the OBR's position, for error locations
    alternate_code: str = ""  # OBR-4.4 (a CE's alternate identifier: often the CPT code)
    service_section: str = ""  # OBR-24, HL7 table 0074 (or a DICOM modality, as some senders put there)
    accession_number: str = ""  # IPC-1, else OBR-18: taken only from a sender configured to assign accessions
    start: datetime | None = None
    start_field: tuple[str, int, int] | None = None  # where the start came from, for a warning about it
    study_instance_uid: str = ""  # the placer's (IPC-3, else ZDS-1.1), "" when it gave none: the RIS mints one
    study_instance_uid_field: tuple[str, int, int] | None = None  # where it came from, for an error about it


@dataclass
class Provider:
    """The ordering provider, an XCN (HL7 v2.5.1 2.A.89; the same positions in v2.3): ID, name, authority, type."""

    id: str  # XCN-1
    family_name: str = ""  # XCN-2 (FN-1)
    given_name: str = ""  # XCN-3
    middle_name: str = ""  # XCN-4 second and further given names
    name_suffix: str = ""  # XCN-5
    name_prefix: str = ""  # XCN-6
    authority: str = ""  # XCN-9 HD-1 namespace ID, else HD-2 universal ID
    authority_universal_id: str = ""  # XCN-9 HD-2 (an OID), for telling an NPI
    identifier_type: str = ""  # XCN-13, HL7 table 0203 (NPI, DN, PRN, ...)

    @property
    def npi(self) -> str:
        """The ID when it is an NPI: typed NPI or issued by the NPI authority, or (neither said) a valid NPI.

        An ID declared an NPI that fails the NPI check digit is not one: it stays a local ID under its authority.
        """
        if not (self.id and self.id.isascii()):  # str.isdigit() takes "²", which validate_npi cannot add up
            return ""
        authorities = {self.authority.upper(), self.authority_universal_id}
        declared = self.identifier_type.upper() == "NPI" or bool(authorities & NPI_AUTHORITIES)
        if not declared and (self.identifier_type or self.authority):
            return ""
        try:
            validate_npi(self.id)
        except ValidationError:
            return ""
        return self.id

    def physician_fields(self) -> dict[str, str]:
        """The keyword arguments of ris.services.physician_match_or_create (without the actor)."""
        npi = self.npi
        return {
            "npi": npi,
            "identifier": "" if npi else self.id,
            "authority": "" if npi else self.authority,
            "identifier_type": "" if npi else self.identifier_type,
            "family_name": self.family_name,
            "given_name": self.given_name,
            "middle_name": self.middle_name,
            "name_prefix": self.name_prefix,
            "name_suffix": self.name_suffix,
        }


@dataclass
class OrderData:
    control: str  # ORC-1
    placer_order_number: str  # ORC-2.1
    placer_application: str  # ORC-2.2, else MSH-3
    filler_order_number: str  # ORC-3.1
    order_status: str  # ORC-5
    priority: str
    reason: str
    diagnosis_codes: list[str] = field(default_factory=list)
    admission_id: str = ""
    patient_class: str = ""  # PV1-2 as the order's patient class: I, O, E or ""
    ordering_provider: Provider | None = None  # ORC-12, else OBR-16
    procedures: list[ProcedureRequest] = field(default_factory=list)


def patient(reader: Reader, *, required: bool = True) -> PatientData | None:
    """PID: identifier (PID-3, the MR one when several), name (PID-5 XPN), birth date, sex, address, phone."""
    pid = reader.segment("PID")
    if pid is None:
        if required:
            raise MessageError("The message has no PID segment.", code=100, location=("PID", 1, 0))
        return None
    chosen = 1
    for repetition in range(1, reader.repetitions(pid, 3) + 1):
        if reader.get(pid, 3, 5, repetition).upper() == "MR":
            chosen = repetition
            break
    mrn = reader.get(pid, 3, 1, chosen)
    if not mrn:
        raise MessageError("PID-3 (patient identifier) is empty.", code=101, location=("PID", 1, 3))
    family = reader.get(pid, 5, 1)
    if not family:
        raise MessageError("PID-5 (patient name) has no family name.", code=101, location=("PID", 1, 5))
    sex_code = reader.get(pid, 8).upper()
    if sex_code and sex_code not in SEX:
        raise MessageError(f"PID-8 sex {sex_code!r} is not in HL7 table 0001.", code=103, location=("PID", 1, 8))
    try:  # HL7 table 0399 is ISO 3166 alpha-3; alpha-2 and English names are seen too: stored as alpha-2
        country = country_code(reader.get(pid, 11, 6))
    except ValueError as error:
        raise MessageError(f"PID-11.6 (country): {error}", code=102, location=("PID", 1, 11)) from None
    data = PatientData(
        mrn=mrn,
        mrn_issuer=reader.get(pid, 3, 4, chosen),
        # XPN: family ^ given ^ second and further given names ^ suffix ^ prefix (HL7 v2.5.1 2.A.88)
        names={
            "family_name": family,
            "given_name": reader.get(pid, 5, 2),
            "middle_name": reader.get(pid, 5, 3),
            "name_suffix": reader.get(pid, 5, 4),
            "name_prefix": reader.get(pid, 5, 5),
        },
        birth_date=_birth_date(reader.get(pid, 7)),
        sex=SEX.get(sex_code, "U"),
        # XAD: street ^ other designation ^ city ^ state ^ zip ^ country
        address={
            "street": " ".join(p for p in (reader.get(pid, 11, 1), reader.get(pid, 11, 2)) if p),
            "city": reader.get(pid, 11, 3),
            "state": reader.get(pid, 11, 4),
            "postal_code": reader.get(pid, 11, 5),
            "country": country,
        },
        # XTN: the old form in component 1, or the number in component 12 (v2.5)
        phone=reader.get(pid, 13, 12) or reader.get(pid, 13, 1),
    )
    stored = {"mrn": data.mrn, "mrn_issuer": data.mrn_issuer, **data.names, **data.address, "phone": data.phone}
    for column, value in stored.items():
        fld, where, name = PID_SOURCES[column]
        _fit(Patient, column, value, location=("PID", 1, fld), name=f"{where} ({name})")
    return data


# The earliest birth date taken as real: older ones are typing errors or placeholders (1800-01-01).
EARLIEST_BIRTH_DATE = date(1880, 1, 1)


def _birth_date(value: str) -> date | None:
    """PID-7, refused (102) before 1880 or after today (the department's)."""
    born = parse_date(value, location=("PID", 1, 7))
    if born is None:
        return None
    if born < EARLIEST_BIRTH_DATE:
        raise MessageError(
            f"PID-7 birth date {born:%Y-%m-%d} is before {EARLIEST_BIRTH_DATE:%Y}: not plausible.",
            code=102,
            location=("PID", 1, 7),
        )
    if born > local_today():
        raise MessageError(f"PID-7 birth date {born:%Y-%m-%d} is in the future.", code=102, location=("PID", 1, 7))
    return born


def _fit(model, column: str, value: str, *, location: tuple[str, int, int], name: str) -> None:
    """Refuse a value its column cannot hold (too long, or not in its format) as a data type error (102) at its
    field, before any service sees it: the sender learns which field to fix, not a database message."""
    limit = model._meta.get_field(column).max_length
    if limit is not None and len(value) > limit:
        raise MessageError(
            f"{name} is {len(value)} characters long; the RIS keeps at most {limit}.", code=102, location=location
        )
    try:
        model._meta.get_field(column).run_validators(value)
    except ValidationError as error:
        raise MessageError(f"{name}: {' '.join(error.messages)}", code=102, location=location) from None


def prior_patient(reader: Reader) -> tuple[str, str]:
    """MRG-1: the identifier (and its issuer) of the record merged away (ADT^A40)."""
    mrg = reader.segment("MRG")
    if mrg is None:
        raise MessageError("ADT^A40 needs an MRG segment.", code=100, location=("MRG", 1, 0))
    mrn = reader.get(mrg, 1, 1)
    if not mrn:
        raise MessageError("MRG-1 (prior patient identifier) is empty.", code=101, location=("MRG", 1, 1))
    return mrn, reader.get(mrg, 1, 4)


def _start(reader: Reader, orc, obr, tq1, *, tz, number: int) -> tuple[datetime | None, tuple | None]:
    """The requested start and where it was: TQ1-7, else ORC-7.4 / OBR-27.4 (TQ start date/time)."""
    for segment, fld, component, name in ((tq1, 7, 1, "TQ1"), (orc, 7, 4, "ORC"), (obr, 27, 4, "OBR")):
        value = reader.get(segment, fld, component)
        if value:
            location = (name, number if name == "OBR" else 1, fld)
            return parse_datetime(value, tz=tz, location=location), location
    return None, None


# Where each XCN component goes, for the size check: (component, what HL7 calls it, Provider attribute, column).
XCN_COLUMNS = (
    (1, "ID number", "id", "identifier"),
    (2, "family name", "family_name", "family_name"),
    (3, "given name", "given_name", "given_name"),
    (4, "second and further given names", "middle_name", "middle_name"),
    (5, "suffix", "name_suffix", "name_suffix"),
    (6, "prefix", "name_prefix", "name_prefix"),
    (9, "assigning authority", "authority", "identifier_authority"),
    (13, "identifier type code", "identifier_type", "identifier_type"),
)


def _provider(reader: Reader, orc, obr) -> Provider | None:
    """ORC-12 ordering provider (its first repetition), else OBR-16; None when neither names anyone."""
    for segment, fld in ((orc, 12), (obr, 16)):
        if not (reader.get(segment, fld, 1) or reader.get(segment, fld, 2)):
            continue
        name = str(segment[0])
        provider = Provider(
            id=reader.get(segment, fld, 1),
            family_name=reader.get(segment, fld, 2),
            given_name=reader.get(segment, fld, 3),
            middle_name=reader.get(segment, fld, 4),
            name_suffix=reader.get(segment, fld, 5),
            name_prefix=reader.get(segment, fld, 6),
            # XCN-9 is an HD in subcomponents: namespace ID & universal ID & universal ID type
            authority=reader.get(segment, fld, 9, 1, 1) or reader.get(segment, fld, 9, 1, 2),
            authority_universal_id=reader.get(segment, fld, 9, 1, 2),
            identifier_type=reader.get(segment, fld, 13).upper(),
        )
        for component, what, attribute, column in XCN_COLUMNS:
            value = getattr(provider, attribute)
            _fit(ReferringPhysician, column, value, location=(name, 1, fld), name=f"{name}-{fld}.{component} ({what})")
        return provider
    return None


def order(reader: Reader, *, sending_application: str, tz) -> OrderData:
    """ORC with its OBRs (ORM^O01), or ORC / TQ1 / OBR / IPC groups (OMI^O23)."""
    orc = reader.segment("ORC")
    if orc is None:
        raise MessageError("The order message has no ORC segment.", code=100, location=("ORC", 1, 0))
    control = reader.get(orc, 1).upper()
    if control not in ORDER_CONTROLS:
        raise MessageError(
            f"Order control {control!r} (ORC-1) is not supported; NW, CA, XO, DC and SC are.",
            code=103,
            location=("ORC", 1, 1),
        )
    obrs = reader.segments("OBR")
    if not obrs and control == "NW":  # a cancel or change may name the order by ORC-2/ORC-3 alone
        raise MessageError("The new order has no OBR segment.", code=100, location=("OBR", 1, 0))
    first = obrs[0] if obrs else None
    tq1 = reader.segment("TQ1")
    ipcs = reader.segments("IPC")
    zdss = reader.segments("ZDS")
    priority_code = (
        reader.get(tq1, 9, 1) or reader.get(orc, 7, 6) or reader.get(first, 27, 6) or reader.get(first, 5)
    ).upper()
    data = OrderData(
        control=control,
        placer_order_number=reader.get(orc, 2, 1) or reader.get(first, 2, 1),
        placer_application=reader.get(orc, 2, 2) or sending_application,
        filler_order_number=reader.get(orc, 3, 1) or reader.get(first, 3, 1),
        order_status=reader.get(orc, 5).upper(),
        priority=PRIORITY.get(priority_code[:1], "ROUTINE"),
        # OBR-31 reason for study (CWE: text in component 2, else the code), else OBR-13 relevant clinical info
        reason=reader.get(first, 31, 2) or reader.get(first, 31, 1) or reader.get(first, 13),
        diagnosis_codes=[reader.get(dg1, 3, 1) for dg1 in reader.segments("DG1") if reader.get(dg1, 3, 1)],
        admission_id=reader.get(reader.segment("PV1"), 19, 1),
        patient_class=patient_class(reader),
        ordering_provider=_provider(reader, orc, first),
    )
    # Kept as DICOM LO (64 characters) on the worklist: a longer one is refused at its field, not cut.
    _fit(
        Order,
        "placer_order_number",
        data.placer_order_number,
        location=("ORC", 1, 2),
        name="ORC-2.1 (placer order number)",
    )
    _fit(Order, "admission_id", data.admission_id, location=("PV1", 1, 19), name="PV1-19 (visit number)")
    for number, obr in enumerate(obrs, start=1):
        code = reader.get(obr, 4, 1)
        if not code:
            raise MessageError("OBR-4 (universal service identifier) is empty.", code=101, location=("OBR", number, 4))
        ipc = ipcs[number - 1] if number <= len(ipcs) else None
        start, start_field = _start(reader, orc, obr, tq1, tz=tz, number=number)
        zds = zdss[number - 1] if number <= len(zdss) else None
        study_uid, study_uid_field = _study_instance_uid(reader, ipc, zds, number) if control == "NW" else ("", None)
        data.procedures.append(
            ProcedureRequest(
                code=code,
                sequence=number,
                alternate_code=reader.get(obr, 4, 4),
                service_section=reader.get(obr, 24).upper(),
                # IPC-1 (OMI^O23), else OBR-18: in an ORM from a placer (IHE RAD-2) OBR-18 is "placer field 1",
                # an accession number only where the sender is configured to assign them.
                accession_number=reader.get(ipc, 1, 1) or reader.get(obr, 18, 1),
                start=start,
                start_field=start_field,
                study_instance_uid=study_uid,
                study_instance_uid_field=study_uid_field,
            )
        )
    return data


def _study_instance_uid(reader: Reader, ipc, zds, number: int) -> tuple[str, tuple[str, int, int] | None]:
    """The placer's Study Instance UID for the n-th procedure and where it was: IPC-3 (OMI^O23, EI-1), else ZDS-1
    component 1 (ORM^O01 as IHE RAD-4 gives it: <UID>^<application>^Application^DICOM); ("", None) when neither
    holds one. Not a UID (PS3.5 9.1): a data type error (102) at its field."""
    for segment, fld, name in ((ipc, 3, "IPC"), (zds, 1, "ZDS")):
        value = reader.get(segment, fld, 1).strip()
        if not value:
            continue
        location = (name, number, fld)
        try:
            validate_uid(value)
        except ValidationError as error:
            raise MessageError(
                f"{name}-{fld} Study Instance UID {value[:80]!r}: {' '.join(error.messages)}",
                code=102,
                location=location,
            ) from None
        return value, location
    return "", None


def patient_class(reader: Reader) -> str:
    """PV1-2 as the RIS's patient class (PATIENT_CLASSES), "" when not sent or not one of them."""
    return PATIENT_CLASSES.get(reader.get(reader.segment("PV1"), 2).upper(), "")


def message_time(reader: Reader, *, tz) -> datetime:
    """MSH-7, the time the message was created; now when it is missing or unreadable."""
    try:
        return parse_datetime(reader.get(reader.segment("MSH"), 7), tz=tz, location=("MSH", 1, 7)) or timezone.now()
    except MessageError:
        return timezone.now()


# --- AL1: allergies ----------------------------------------------------------------------------------------------

# AL1-2 allergen type: HL7 table 0127 codes, and the words v2.3 senders write instead.
ALLERGY_TYPES = {code.value for code in Allergy.Type}
ALLERGY_TYPE_WORDS = (
    ("CONTRAINDICATION", Allergy.Type.CONTRAINDICATION),
    ("DRUG", Allergy.Type.DRUG),
    ("MEDICATION", Allergy.Type.DRUG),
    ("FOOD", Allergy.Type.FOOD),
    ("ENVIRONMENT", Allergy.Type.ENVIRONMENTAL),
    ("ANIMAL", Allergy.Type.ANIMAL),
    ("POLLEN", Allergy.Type.POLLEN),
    ("PLANT", Allergy.Type.PLANT),
)
# AL1-4 allergy severity: HL7 table 0128 codes, and the words senders write.
SEVERITIES = {
    "SV": Allergy.Severity.SEVERE,
    "SEVERE": Allergy.Severity.SEVERE,
    "MO": Allergy.Severity.MODERATE,
    "MODERATE": Allergy.Severity.MODERATE,
    "MI": Allergy.Severity.MILD,
    "MILD": Allergy.Severity.MILD,
    "U": Allergy.Severity.UNKNOWN,
    "UNKNOWN": Allergy.Severity.UNKNOWN,
}


@dataclass
class AllergyList:
    """What a message's AL1 segments say: `sent` is False when it has none, or none that names an allergen (the list
    is then left as it is)."""

    sent: bool = False
    allergies: list[CisAllergy] = field(default_factory=list)
    no_known_allergies: bool = False
    warnings: list[MessageError] = field(default_factory=list)


def _allergy_type(reader: Reader, al1) -> str:
    """AL1-2 (CE in v2.4+, free text in v2.3); empty: a drug allergy; a word not understood: miscellaneous."""
    code = reader.get(al1, 2, 1).upper()
    if not code:
        return Allergy.Type.DRUG
    if code in ALLERGY_TYPES:
        return code
    words = f"{code} {reader.get(al1, 2, 2).upper()}"
    return next((kind for word, kind in ALLERGY_TYPE_WORDS if word in words), Allergy.Type.MISC)


def _severity(reader: Reader, al1) -> str:
    """AL1-4: a table 0128 code or a word, in the code or the text component; otherwise unknown."""
    for component in (1, 2):
        found = SEVERITIES.get(reader.get(al1, 4, component).upper())
        if found:
            return found
    return Allergy.Severity.UNKNOWN


def allergies(reader: Reader) -> AllergyList:
    """AL1 segments (ADT, ORM): allergen (AL1-3 code^text^system), type, severity, reactions, identification date.

    An AL1 naming no allergen is skipped with a warning; a "no known allergies" entry says so for the whole list.
    """
    result = AllergyList()
    for number, al1 in enumerate(reader.segments("AL1"), start=1):
        first, text, system = reader.get(al1, 3, 1), reader.get(al1, 3, 2), reader.get(al1, 3, 3)
        code = first if (text or system) else ""  # a lone first component is the allergen's text (v2.3 feeds)
        text = text or first
        if not text:
            result.warnings.append(
                MessageError(
                    "AL1-3 names no allergen: entry skipped.", code=101, location=("AL1", number, 3), severity="W"
                )
            )
            continue
        result.sent = True
        if is_no_known_allergies(code, text):
            result.no_known_allergies = True
            continue
        reactions = [
            reader.get(al1, 5, 2, repetition) or reader.get(al1, 5, 1, repetition)
            for repetition in range(1, reader.repetitions(al1, 5) + 1)
        ]
        try:
            identified = parse_date(reader.get(al1, 6), location=("AL1", number, 6))
        except MessageError as error:
            identified = None
            result.warnings.append(
                MessageError(
                    f"{error.text} Identification date not kept.", code=102, location=error.location, severity="W"
                )
            )
        result.allergies.append(
            CisAllergy(
                allergen_text=text,
                allergen_code=code,
                allergen_coding_system=system,
                allergy_type=_allergy_type(reader, al1),
                severity=_severity(reader, al1),
                reaction=", ".join(r for r in reactions if r),
                identified_on=identified,
            )
        )
    return result


# --- OBX: observations and lab results ---------------------------------------------------------------------------

# An SN (structured numeric) comparator, and a number with an optional comparator in an NM or ST value.
COMPARATORS = (">=", "<=", "<>", ">", "<", "=")
NUMBER = re.compile(r"\s*(>=|<=|<>|>|<|=)?\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*")
NO_RESULT = frozenset({"X", "D"})  # OBX-11: results cannot be obtained; deleted


def _components(reader: Reader, segment, fld: int, repetition: int = 1) -> list[str]:
    values = [reader.get(segment, fld, component, repetition) for component in range(1, 11)]
    while values and not values[-1]:
        values.pop()
    return values


def _value(reader: Reader, obx) -> tuple[str, str]:
    """OBX-5 as received (components joined by ^, repetitions by ~) and the number it holds ("" when none)."""
    value_type = reader.get(obx, 2).upper()
    repetitions = [_components(reader, obx, 5, r) for r in range(1, max(reader.repetitions(obx, 5), 1) + 1)]
    if value_type == "SN":  # comparator ^ number ^ separator ^ number; "^>^60" (comparator shifted) is seen too
        parts = [p for p in (repetitions[0] if repetitions else []) if p]
        text = "".join(parts)
        comparator = parts[0] if parts and parts[0] in COMPARATORS else ""
        rest = parts[1:] if comparator else parts
        number = rest[0] if len(rest) == 1 and NUMBER.fullmatch(rest[0]) else ""
        if number:
            text = f"{comparator}{number}"
        return text, NUMBER.fullmatch(number).group(2) if number else ""
    text = "~".join("^".join(parts) for parts in repetitions if parts)
    match = NUMBER.fullmatch(text) if value_type in ("NM", "ST", "") else None
    return text, match.group(2) if match else ""


def observations(reader: Reader, *, tz, default_time: datetime) -> tuple[list[CisObservation], list[MessageError]]:
    """Each OBX, in order, with the OBR it follows (its group, OBR-7 its default time): code (OBX-3), value as
    received and the number in it, unit (OBX-6), flags (OBX-8), status (OBX-11), time (OBX-14, else OBR-7, else
    `default_time`). A result with status X or D holds no number. An unreadable time is replaced with a warning."""
    found: list[CisObservation] = []
    warnings: list[MessageError] = []
    group, group_time, number = 0, default_time, 0
    for segment in reader.message:
        name = str(segment[0])
        if name == "OBR":
            group += 1
            group_time = _time(reader, segment, 7, ("OBR", group, 7), tz, default_time, warnings)
        if name != "OBX":
            continue
        number += 1
        value_text, value = _value(reader, segment)
        status = reader.get(segment, 11).upper()[:1]
        code = reader.get(segment, 3, 1)
        found.append(
            CisObservation(
                code=code,
                coding_system=reader.get(segment, 3, 3),
                name=reader.get(segment, 3, 2) or code,
                value_text=value_text,
                number="" if status in NO_RESULT else value,
                unit=reader.get(segment, 6, 1) or reader.get(segment, 6, 2),
                observed_at=_time(reader, segment, 14, ("OBX", number, 14), tz, group_time, warnings),
                abnormal_flags="~".join(
                    reader.get(segment, 8, 1, r) for r in range(1, reader.repetitions(segment, 8) + 1)
                ),
                result_status=status,
                group=group,
            )
        )
    return found, warnings


def _time(reader: Reader, segment, fld: int, location, tz, default: datetime, warnings: list) -> datetime:
    try:
        return parse_datetime(reader.get(segment, fld), tz=tz, location=location) or default
    except MessageError as error:
        warnings.append(
            MessageError(f"{error.text} The time before it was used.", code=102, location=location, severity="W")
        )
        return default
