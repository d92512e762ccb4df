"""Inbound HL7 messages as plain data (pure: no ORM). ADT carries a patient; ORM^O01 / OMI^O23 carry orders.

Field positions follow HL7 v2.5.1 (ch. 3 ADT, ch. 4 ORM/OMI) and IHE RAD-1/RAD-2/RAD-12. Each reading names the
segment and field it came from, so that an error can point there (ERR-2).
"""

from dataclasses import dataclass, field
from datetime import date, datetime

from interfaces.hl7v2 import MessageError, Reader, parse_date, parse_datetime

# HL7 table 0001 (and ISO 5218 digits, seen in the field) -> the RIS's sex codes.
SEX = {"M": "M", "F": "F", "O": "O", "U": "U", "A": "O", "N": "U", "X": "O", "1": "M", "2": "F", "0": "U", "9": "U"}
# Priority: TQ1-9 / ORC-7.6 / OBR-27.6 (HL7 table 0485) -> order priority.
PRIORITY = {"S": "STAT", "A": "URGENT", "T": "URGENT", "P": "ROUTINE", "R": "ROUTINE", "C": "ROUTINE"}
ORDER_CONTROLS = ("NW", "CA", "XO", "DC", "SC")


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

    code: str
    sequence: int  # the OBR's position, for error locations
    modality: str = ""
    accession_number: str = ""
    start: datetime | None = None


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
    ordering_provider_npi: str = ""
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
    return PatientData(
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
        birth_date=parse_date(reader.get(pid, 7), location=("PID", 1, 7)),
        sex=SEX.get(sex_code, "U"),
        # XAD: street ^ other designation ^ city ^ state ^ zip ^ country
        address={
            "street": " ".join(p for p in (reader.get(pid, 11, 1), reader.get(pid, 11, 2)) if p),
            "city": reader.get(pid, 11, 3),
            "state": reader.get(pid, 11, 4),
            "postal_code": reader.get(pid, 11, 5),
            "country": reader.get(pid, 11, 6),
        },
        # XTN: the old form in component 1, or the number in component 12 (v2.5)
        phone=reader.get(pid, 13, 12) or reader.get(pid, 13, 1),
    )


def prior_patient(reader: Reader) -> tuple[str, str]:
    """MRG-1: the identifier (and its issuer) of the record merged away (ADT^A40)."""
    mrg = reader.segment("MRG")
    if mrg is None:
        raise MessageError("ADT^A40 needs an MRG segment.", code=100, location=("MRG", 1, 0))
    mrn = reader.get(mrg, 1, 1)
    if not mrn:
        raise MessageError("MRG-1 (prior patient identifier) is empty.", code=101, location=("MRG", 1, 1))
    return mrn, reader.get(mrg, 1, 4)


def _start(reader: Reader, orc, obr, tq1, *, tz) -> datetime | None:
    """The requested start: TQ1-7, else ORC-7.4 / OBR-27.4 (TQ start date/time)."""
    for segment, fld, component, name in ((tq1, 7, 1, "TQ1"), (orc, 7, 4, "ORC"), (obr, 27, 4, "OBR")):
        value = reader.get(segment, fld, component)
        if value:
            return parse_datetime(value, tz=tz, location=(name, 1, fld))
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
    if not obrs:
        raise MessageError("The order message has no OBR segment.", code=100, location=("OBR", 1, 0))
    tq1 = reader.segment("TQ1")
    ipcs = reader.segments("IPC")
    priority_code = (
        reader.get(tq1, 9, 1) or reader.get(orc, 7, 6) or reader.get(obrs[0], 27, 6) or reader.get(obrs[0], 5)
    ).upper()
    data = OrderData(
        control=control,
        placer_order_number=reader.get(orc, 2, 1) or reader.get(obrs[0], 2, 1),
        placer_application=reader.get(orc, 2, 2) or sending_application,
        filler_order_number=reader.get(orc, 3, 1) or reader.get(obrs[0], 3, 1),
        order_status=reader.get(orc, 5).upper(),
        priority=PRIORITY.get(priority_code[:1], "ROUTINE"),
        # OBR-31 reason for study (CWE: text in component 2, else the code), else OBR-13 relevant clinical info
        reason=reader.get(obrs[0], 31, 2) or reader.get(obrs[0], 31, 1) or reader.get(obrs[0], 13),
        diagnosis_codes=[reader.get(dg1, 3, 1) for dg1 in reader.segments("DG1") if reader.get(dg1, 3, 1)],
        admission_id=reader.get(reader.segment("PV1"), 19, 1),
        ordering_provider_npi=reader.get(orc, 12, 1) or reader.get(obrs[0], 16, 1),
    )
    for number, obr in enumerate(obrs, start=1):
        code = reader.get(obr, 4, 1)
        if not code:
            raise MessageError("OBR-4 (universal service identifier) is empty.", code=101, location=("OBR", number, 4))
        ipc = ipcs[number - 1] if number <= len(ipcs) else None
        data.procedures.append(
            ProcedureRequest(
                code=code,
                sequence=number,
                modality=reader.get(obr, 24).upper(),
                # IPC-1 (OMI), else OBR-18 (placer field 1, where some ordering systems put it)
                accession_number=reader.get(ipc, 1, 1) or reader.get(obr, 18, 1),
                start=_start(reader, orc, obr, tq1, tz=tz),
            )
        )
    return data
