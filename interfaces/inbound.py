"""Inbound HL7 messages as plain data (pure: no ORM). ADT carries a patient; ORM^O01 / OMI^O23 carry orders.

Field positions follow HL7 v2.5.1 (ch. 3 ADT, ch. 4 ORM/OMI) and IHE RAD-1/RAD-2/RAD-12. Each reading names the
segment and field it came from, so that an error can point there (ERR-2).
"""

from dataclasses import dataclass, field
from datetime import date, datetime

from django.core.exceptions import ValidationError

from interfaces.hl7v2 import MessageError, Reader, parse_date, parse_datetime
from ris.countries import country_code
from ris.models import Patient, ReferringPhysician  # their _meta only (column sizes and formats): no query
from ris.validators import local_today, validate_npi

# HL7 table 0001 (and ISO 5218 digits, seen in the field) -> the RIS's sex codes.
SEX = {"M": "M", "F": "F", "O": "O", "U": "U", "A": "O", "N": "U", "X": "O", "1": "M", "2": "F", "0": "U", "9": "U"}
# Priority: TQ1-9 / ORC-7.6 / OBR-27.6 (HL7 table 0485) -> order priority.
PRIORITY = {"S": "STAT", "A": "URGENT", "T": "URGENT", "P": "ROUTINE", "R": "ROUTINE", "C": "ROUTINE"}
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
        ordering_provider=_provider(reader, orc, first),
    )
    for number, obr in enumerate(obrs, start=1):
        code = reader.get(obr, 4, 1)
        if not code:
            raise MessageError("OBR-4 (universal service identifier) is empty.", code=101, location=("OBR", number, 4))
        ipc = ipcs[number - 1] if number <= len(ipcs) else None
        start, start_field = _start(reader, orc, obr, tq1, tz=tz, number=number)
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
            )
        )
    return data
