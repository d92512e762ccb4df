"""Outbound HL7 v2 messages as pure functions over plain values, built with hl7apy; no ORM access.

- Orders to the PACS (IHE RAD-4 Procedure Scheduled, RAD-13 Procedure Update), in the form the destination takes:
  ORM^O01 v2.3.1 with the Study Instance UID in ZDS (Scheduled Workflow), or OMI^O23 v2.5.1 with TQ1 and IPC
  (Scheduled Workflow.b). MSH-12 is always the version of the body. Both carry the patient's active allergies as
  AL1 in the PATIENT group and the latest body weight and height as OBX in the order's OBSERVATION group.
- ORU^R01 v2.5.1 with a report's text.
- ADT^A08 (update) and ADT^A40 (merge) v2.5.1, IHE RAD-12 Patient Update, to peers that follow the RIS's patients.

Every value is escaped here (HL7 v2.5.1 2.7: \\F\\ \\S\\ \\T\\ \\R\\ \\E\\) before hl7apy sees it: hl7apy escapes the
delimiters of a component but not the escape character where the text happens to look like an escape sequence
(a literal "\\F\\"), and it parses a value given to a whole field as ER7. An escaped value has no delimiters and
only complete escape sequences, which hl7apy passes through as they are.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from hl7apy.core import Message

from interfaces import hl7v2

VERSION = "2.5.1"
# IHE RAD-4/RAD-13 in Scheduled Workflow: ORM^O01 in v2.3.1, the Study Instance UID in ZDS-1.
ORM_VERSION = "2.3.1"
# MSH-18, HL7 table 0211: the bytes are always UTF-8. Before v2.5 the table has no UTF-8 ("UNICODE" does not say
# the encoding form): a v2.3.1 message leaves MSH-18 empty (ASCII, the default) when it is ASCII, and names UTF-8
# with the v2.5 value only when it is not, as the RIS's own ACKs to v2.3.1 senders do.
CHARSET = "UNICODE UTF-8"

# Exam status -> ORC-5 order status (HL7 table 0038). A no-show waits for a rebooking or a cancel: on hold.
ORDER_STATUS = {
    "SCHEDULED": "SC",
    "ARRIVED": "IP",
    "IN_PROGRESS": "IP",
    "COMPLETED": "CM",
    "CANCELLED": "CA",
    "DISCONTINUED": "DC",
    "NO_SHOW": "HD",
}
# Order priority -> TQ-6 / TQ1-9 priority (HL7 table 0027 / 0485).
PRIORITY = {"STAT": "S", "URGENT": "A", "ROUTINE": "R"}
# OBX-3 of report text: LOINC "Radiology Study observation (narrative)".
REPORT_OBSERVATION = ("18782-3", "Radiology Study observation", "LN")
# OBX-3 of the study the report is about: DICOM code 113014 "DICOM Study" (DCM), as IHE RAD-128 and
# dcm4chee-arc's ORU import read it.
DICOM_STUDY = ("113014", "DICOM Study", "DCM")
RESULT_STATUSES = ("P", "F", "C")  # HL7 table 0085: preliminary, final, corrected (an addendum)
# DICOM modality -> OBR-24 diagnostic service section ID (HL7 table 0074: CT "CAT scan", NMR "nuclear magnetic
# resonance", RUS "radiology ultrasound", NMS "nuclear medicine scan", RX "radiograph", XRC "cineradiograph"; the
# inverse of what the inbound side accepts); RAD "radiology" for the rest.
DIAGNOSTIC_SECTION = {
    "CT": "CT",
    "MR": "NMR",
    "US": "RUS",
    "NM": "NMS",
    "PT": "NMS",
    "CR": "RX",
    "DX": "RX",
    "MG": "RX",
    "RF": "RX",
    "XA": "XRC",
}
# XCN-9 of an NPI (HD: namespace & universal ID & type): the NPI's OID in the HL7 OID registry.
NPI_AUTHORITY = ("NPI", "2.16.840.1.113883.4.6", "ISO")


@dataclass(frozen=True)
class Header:
    """MSH of one message to one peer."""

    control_id: str
    timestamp: datetime
    sending_application: str
    sending_facility: str
    receiving_application: str = ""
    receiving_facility: str = ""
    processing_id: str = "P"


@dataclass(frozen=True)
class PatientData:
    mrn: str
    mrn_issuer: str
    family_name: str
    given_name: str = ""
    middle_name: str = ""
    name_suffix: str = ""
    name_prefix: str = ""
    birth_date: date | None = None
    sex: str = "U"  # HL7 table 0001


@dataclass(frozen=True)
class Physician:
    """An XCN: identifier ^ family ^ given, with the identifier's assigning authority (XCN-9, an HD: namespace,
    universal ID, universal ID type) and identifier type (XCN-13, HL7 table 0203)."""

    id: str = ""
    family_name: str = ""
    given_name: str = ""
    id_type: str = ""
    authority: str = ""
    authority_id: str = ""
    authority_id_type: str = ""


def npi_physician(npi: str, family_name: str, given_name: str) -> Physician:
    """A physician identified by an NPI: XCN-9 the NPI's assigning authority, XCN-13 "NPI"."""
    namespace, oid, oid_type = NPI_AUTHORITY
    return Physician(
        id=npi,
        family_name=family_name,
        given_name=given_name,
        id_type="NPI",
        authority=namespace,
        authority_id=oid,
        authority_id_type=oid_type,
    )


@dataclass(frozen=True)
class ExamOrder:
    """One requested procedure with its scheduled step, as the PACS is told of it."""

    order_control: str  # ORC-1: NW, XO, CA, SC
    order_status: str  # ORC-5, HL7 table 0038
    accession_number: str
    requested_procedure_id: str
    scheduled_procedure_step_id: str
    study_instance_uid: str
    filler_order_number: str
    filler_application: str
    procedure_code: str
    procedure_name: str
    coding_scheme: str
    modality: str
    start: datetime | None = None
    end: datetime | None = None
    priority: str = "R"  # TQ-6 / TQ1-9
    placer_order_number: str = ""
    placer_application: str = ""
    transaction_at: datetime | None = None  # ORC-9: when the change happened
    ordering_provider: Physician | None = None
    reason: str = ""
    visit_number: str = ""
    accession_issuer: str = ""  # IPC-1 EI-2: who assigned the accession number
    station_ae_title: str = ""  # IPC-9: the AE title of the room's modality


@dataclass(frozen=True)
class AllergyData:
    """An active allergy as AL1 gives it: type (HL7 table 0127), allergen code^text^system, severity (table 0128),
    reaction, identification date."""

    text: str
    code: str = ""
    coding_system: str = ""
    allergy_type: str = ""
    severity: str = ""
    reaction: str = ""
    identified_on: date | None = None


# AL1-3 of a patient with "no known allergies" recorded: SNOMED CT 716186003 "No known allergy (situation)", the
# code FHIR's AllergyIntolerance also names for it. One AL1 says it; a patient never asked gets no AL1 at all.
NO_KNOWN_ALLERGY = AllergyData(text="No known allergy", code="716186003", coding_system="SCT")


@dataclass(frozen=True)
class Measurement:
    """A numeric observation of the patient sent with an order (OBX of type NM): LOINC code and name, value, unit
    (UCUM), when measured."""

    code: str
    name: str
    value: str
    unit: str
    unit_name: str
    observed_at: datetime


@dataclass(frozen=True)
class ClinicalData:
    """What an order to the PACS says of the patient's safety: AL1 allergies (an empty list with
    `no_known_allergies` sends the one NKA AL1) and OBX measurements (body weight, height)."""

    allergies: Sequence[AllergyData] = ()
    no_known_allergies: bool = False
    measurements: Sequence[Measurement] = ()


@dataclass(frozen=True)
class AddendumData:
    """A signed addendum: its lines, when it was signed (their OBX-14) and by whom (their OBX-16)."""

    lines: Sequence[str]
    signed_at: datetime
    author: Physician


@dataclass(frozen=True)
class ReportData:
    """A report's text and status, for ORU^R01 (one OBX per line)."""

    accession_number: str
    filler_order_number: str
    filler_application: str
    procedure_code: str
    procedure_name: str
    coding_scheme: str
    lines: Sequence[str]
    result_status: str  # OBR-25 / OBX-11: P, F or C
    radiologist: Physician
    observed_at: datetime  # OBR-7: when the exam was performed
    signed_at: datetime | None = None  # OBX-14 of the report's own lines (observed_at when None)
    addenda: Sequence[AddendumData] = ()
    placer_order_number: str = ""
    placer_application: str = ""
    study_instance_uid: str = ""
    modality: str = ""  # OBR-24 through DIAGNOSTIC_SECTION
    visit_number: str = ""  # PV1-19


def escape(value: str) -> str:
    """One value as HL7 text (interfaces.hl7v2.escape); a line break inside a value becomes a space (report text
    is split into one OBX per line before)."""
    return hl7v2.escape(" ".join(value.splitlines()) if ("\r" in value or "\n" in value) else value)


def timestamp(value: datetime) -> str:
    """A DTM (HL7 v2.5.1 2.A.22): YYYYMMDDHHMMSS with its UTC offset when the value carries one."""
    return f"{value:%Y%m%d%H%M%S%z}"


def _put(element, path: str, value: str) -> None:
    """Set a leaf by its dotted hl7apy path, escaped; an empty value is left out (reading a path creates it)."""
    if not value:
        return
    *parents, leaf = path.split(".")
    for name in parents:
        element = getattr(element, name)
    setattr(element, leaf, escape(value))


def _require(**values: str) -> None:
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ValueError(f"Required for the message: {', '.join(missing)}")


def _message(structure: str, message_type: str, trigger: str, header: Header, version: str = VERSION) -> Message:
    _require(control_id=header.control_id, sending_application=header.sending_application)
    message = Message(structure, version=version)
    msh = message.msh
    _put(msh, "msh_3.hd_1", header.sending_application)
    _put(msh, "msh_4.hd_1", header.sending_facility)
    _put(msh, "msh_5.hd_1", header.receiving_application)
    _put(msh, "msh_6.hd_1", header.receiving_facility)
    _put(msh, "msh_7.ts_1", timestamp(header.timestamp))
    _put(msh, "msh_9.msg_1", message_type)
    _put(msh, "msh_9.msg_2", trigger)
    _put(msh, "msh_9.msg_3", structure)  # the message structure: a component since v2.3.1
    _put(msh, "msh_10", header.control_id)
    _put(msh, "msh_11.pt_1", header.processing_id)
    _put(msh, "msh_12.vid_1", version)
    if _names_utf8(version):
        _put(msh, "msh_18", CHARSET)
    return message


def _names_utf8(version: str) -> bool:
    """Whether the version's table 0211 has UTF-8 (from v2.5)."""
    return tuple(int(n) for n in version.split(".")) >= (2, 5)


def _er7(message: Message) -> str:
    """The message as ER7 text; before v2.5, MSH-18 only when the text is not ASCII (see CHARSET)."""
    text = message.to_er7()
    if not _names_utf8(message.version) and not text.isascii():
        _put(message.msh, "msh_18", CHARSET)
        text = message.to_er7()
    return text


def _pid(group, patient: PatientData) -> None:
    """PID-3 MRN with its issuer (CX-4) and type MR; PID-5 as XPN family^given^middle^suffix^prefix; PID-7; PID-8."""
    _require(mrn=patient.mrn, family_name=patient.family_name)
    pid = group.add_segment("PID")
    _put(pid, "pid_1", "1")
    _put(pid, "pid_3.cx_1", patient.mrn)
    _put(pid, "pid_3.cx_4.hd_1", patient.mrn_issuer)
    _put(pid, "pid_3.cx_5", "MR")
    _put(pid, "pid_5.xpn_1.fn_1", patient.family_name)
    _put(pid, "pid_5.xpn_2", patient.given_name)
    _put(pid, "pid_5.xpn_3", patient.middle_name)
    _put(pid, "pid_5.xpn_4", patient.name_suffix)
    _put(pid, "pid_5.xpn_5", patient.name_prefix)
    _put(pid, "pid_7.ts_1", f"{patient.birth_date:%Y%m%d}" if patient.birth_date else "")
    _put(pid, "pid_8", patient.sex or "U")


def _pv1(group, visit_number: str, patient_class: str = "U") -> None:
    """PV1-2 patient class (HL7 table 0004; U: unknown to the RIS), PV1-19 the visit number (the admission ID)."""
    pv1 = group.add_segment("PV1")
    _put(pv1, "pv1_1", "1")
    _put(pv1, "pv1_2", patient_class)
    _put(pv1, "pv1_19.cx_1", visit_number)


def _xcn(field, physician: Physician | None) -> None:
    """XCN-1 identifier, -2 family, -3 given, -9 assigning authority, -13 identifier type."""
    if physician is None:
        return
    _put(field, "xcn_1", physician.id)
    _put(field, "xcn_2.fn_1", physician.family_name)
    _put(field, "xcn_3", physician.given_name)
    if physician.id:
        _put(field, "xcn_9.hd_1", physician.authority)
        _put(field, "xcn_9.hd_2", physician.authority_id)
        _put(field, "xcn_9.hd_3", physician.authority_id_type)
        _put(field, "xcn_13", physician.id_type)


def _zds(group, study_instance_uid: str, application: str) -> None:
    """ZDS-1 as IHE RAD-4/RAD-13 give it: <Study Instance UID>^<application>^Application^DICOM."""
    zds = group.add_segment("ZDS")
    zds.zds_1 = "^".join((escape(study_instance_uid), escape(application), "Application", "DICOM"))


def _require_order(order: ExamOrder) -> None:
    _require(
        order_control=order.order_control,
        accession_number=order.accession_number,
        requested_procedure_id=order.requested_procedure_id,
        scheduled_procedure_step_id=order.scheduled_procedure_step_id,
        study_instance_uid=order.study_instance_uid,
        filler_order_number=order.filler_order_number,
        procedure_code=order.procedure_code,
    )


def _orc(group, order: ExamOrder, *, timing: bool) -> None:
    """ORC-1 control, -2 placer, -3 filler, -5 status, -7 timing (v2.3.1 only: TQ1 replaces it), -9, -12."""
    orc = group.add_segment("ORC")
    _put(orc, "orc_1", order.order_control)
    _put(orc, "orc_2.ei_1", order.placer_order_number)
    _put(orc, "orc_2.ei_2", order.placer_application if order.placer_order_number else "")
    _put(orc, "orc_3.ei_1", order.filler_order_number)
    _put(orc, "orc_3.ei_2", order.filler_application)
    _put(orc, "orc_5", order.order_status)
    if timing:
        _timing(orc.orc_7, order)
    _put(orc, "orc_9.ts_1", timestamp(order.transaction_at) if order.transaction_at else "")
    if order.ordering_provider is not None:
        _xcn(orc.orc_12, order.ordering_provider)


def _obr(group, order: ExamOrder, *, timing: bool) -> None:
    """OBR-4 procedure, -16 ordering provider, -18/-19/-20 accession / requested procedure / SPS IDs (IHE RAD-4;
    kept in OMI too, for receivers that read only them), -24 modality, -27 timing (v2.3.1 only), -31 reason."""
    obr = group.add_segment("OBR")
    _put(obr, "obr_1", "1")
    _put(obr, "obr_2.ei_1", order.placer_order_number)
    _put(obr, "obr_2.ei_2", order.placer_application if order.placer_order_number else "")
    _put(obr, "obr_3.ei_1", order.filler_order_number)
    _put(obr, "obr_3.ei_2", order.filler_application)
    _put(obr, "obr_4.ce_1", order.procedure_code)
    _put(obr, "obr_4.ce_2", order.procedure_name)
    _put(obr, "obr_4.ce_3", order.coding_scheme)
    if order.ordering_provider is not None:
        _xcn(obr.obr_16, order.ordering_provider)
    _put(obr, "obr_18", order.accession_number)
    _put(obr, "obr_19", order.requested_procedure_id)
    _put(obr, "obr_20", order.scheduled_procedure_step_id)
    _put(obr, "obr_24", order.modality)
    if timing:
        _timing(obr.obr_27, order)
    _put(obr, "obr_31.ce_2", order.reason)


def _al1s(group, clinical: ClinicalData | None, version: str) -> None:
    """AL1 per allergy, after PV1 in the PATIENT group (HL7 v2.5.1 ch. 4.4.9 OMI^O23; v2.3.1 ch. 4.2.1 ORM^O01).

    AL1-2 type (table 0127) and AL1-4 severity (table 0128) are IS in v2.3.1 and CE from v2.5; AL1-3 is
    code^text^system (^text alone when the allergen came uncoded); AL1-5 the reaction, AL1-6 when identified.
    """
    if clinical is None:
        return
    allergies = list(clinical.allergies) or ([NO_KNOWN_ALLERGY] if clinical.no_known_allergies else [])
    coded = _names_utf8(version)  # v2.5 and later: CE
    for number, allergy in enumerate(allergies, start=1):
        al1 = group.add_segment("AL1")
        _put(al1, "al1_1", str(number))
        _put(al1, "al1_2.ce_1" if coded else "al1_2", allergy.allergy_type)
        if coded and allergy.allergy_type:
            _put(al1, "al1_2.ce_3", "HL70127")
        _put(al1, "al1_3.ce_1", allergy.code)
        _put(al1, "al1_3.ce_2", allergy.text or allergy.code)
        _put(al1, "al1_3.ce_3", allergy.coding_system if allergy.code else "")
        _put(al1, "al1_4.ce_1" if coded else "al1_4", allergy.severity)
        if coded and allergy.severity:
            _put(al1, "al1_4.ce_3", "HL70128")
        _put(al1, "al1_5", allergy.reaction)
        _put(al1, "al1_6", f"{allergy.identified_on:%Y%m%d}" if allergy.identified_on else "")


def _measurement_obxs(group, observation_group: str, clinical: ClinicalData | None) -> None:
    """OBX per measurement in the order's OBSERVATION group, after OBR: NM value, LOINC code, UCUM unit, final,
    OBX-14 when it was measured."""
    if clinical is None:
        return
    for number, measurement in enumerate(clinical.measurements, start=1):
        obx = group.add_group(observation_group).add_segment("OBX")
        _put(obx, "obx_1", str(number))
        _put(obx, "obx_2", "NM")
        _put(obx, "obx_3.ce_1", measurement.code)
        _put(obx, "obx_3.ce_2", measurement.name)
        _put(obx, "obx_3.ce_3", "LN")
        _put(obx, "obx_4", "1")  # sub-ID: one value per code (required by v2.3.1's OBX)
        _put(obx, "obx_5", measurement.value)
        _put(obx, "obx_6.ce_1", measurement.unit)
        _put(obx, "obx_6.ce_2", measurement.unit_name)
        _put(obx, "obx_6.ce_3", "UCUM")
        _put(obx, "obx_11", "F")
        _put(obx, "obx_14.ts_1", timestamp(measurement.observed_at))


def orm_o01(header: Header, patient: PatientData, order: ExamOrder, clinical: ClinicalData | None = None) -> str:
    """ORM^O01 v2.3.1 for one exam (IHE RAD-4 NW, RAD-13 XO/CA/SC): PID, PV1, AL1s, ORC, OBR, OBXs and ZDS,
    segments separated by CR."""
    _require_order(order)
    message = _message("ORM_O01", "ORM", "O01", header, ORM_VERSION)
    patient_group = message.add_group("ORM_O01_PATIENT")
    _pid(patient_group, patient)
    _pv1(patient_group.add_group("ORM_O01_PATIENT_VISIT"), order.visit_number)
    _al1s(patient_group, clinical, ORM_VERSION)
    group = message.add_group("ORM_O01_ORDER")
    _orc(group, order, timing=True)
    detail = group.add_group("ORM_O01_ORDER_DETAIL")
    _obr(detail.add_group("ORM_O01_CHOICE"), order, timing=True)
    _measurement_obxs(detail, "ORM_O01_OBSERVATION", clinical)
    _zds(group, order.study_instance_uid, header.sending_application)
    return _er7(message)


def omi_o23(header: Header, patient: PatientData, order: ExamOrder, clinical: ClinicalData | None = None) -> str:
    """OMI^O23 v2.5.1 for one exam (IHE RAD-4/RAD-13, HL7 v2.5.1 ch. 4.4.9): PID, PV1, AL1s, ORC, TQ1 (start, end,
    priority), OBR, OBXs and IPC (accession, requested procedure ID, Study Instance UID, SPS ID, modality)."""
    _require_order(order)
    message = _message("OMI_O23", "OMI", "O23", header)
    patient_group = message.add_group("OMI_O23_PATIENT")
    _pid(patient_group, patient)
    _pv1(patient_group.add_group("OMI_O23_PATIENT_VISIT"), order.visit_number)
    _al1s(patient_group, clinical, VERSION)
    group = message.add_group("OMI_O23_ORDER")
    _orc(group, order, timing=False)
    tq1 = group.add_group("OMI_O23_TIMING").add_segment("TQ1")
    _put(tq1, "tq1_1", "1")
    _put(tq1, "tq1_7.ts_1", timestamp(order.start) if order.start else "")
    _put(tq1, "tq1_8.ts_1", timestamp(order.end) if order.end else "")
    _put(tq1, "tq1_9.cwe_1", order.priority)
    _put(tq1, "tq1_9.cwe_3", "HL70485" if order.priority else "")
    _obr(group, order, timing=False)
    _measurement_obxs(group, "OMI_O23_OBSERVATION", clinical)
    ipc = group.add_segment("IPC")
    _put(ipc, "ipc_1.ei_1", order.accession_number)
    _put(ipc, "ipc_1.ei_2", order.accession_issuer)
    _put(ipc, "ipc_2.ei_1", order.requested_procedure_id)
    _put(ipc, "ipc_3.ei_1", order.study_instance_uid)
    _put(ipc, "ipc_4.ei_1", order.scheduled_procedure_step_id)
    _put(ipc, "ipc_5.ce_1", order.modality)
    _put(ipc, "ipc_5.ce_3", "DCM" if order.modality else "")  # DICOM CID 29 modality codes
    _put(ipc, "ipc_9", order.station_ae_title)
    return message.to_er7()


# Destination.order_message -> (MSH-9.1, MSH-9.2, builder).
ORDER_FORMS: dict[str, tuple[str, str, Callable[[Header, PatientData, ExamOrder, ClinicalData | None], str]]] = {
    "ORM_O01": ("ORM", "O01", orm_o01),
    "OMI_O23": ("OMI", "O23", omi_o23),
}


def _timing(field, order: ExamOrder) -> None:
    """TQ (ORC-7, OBR-27): start (TQ-4), end (TQ-5) and priority (TQ-6)."""
    _put(field, "tq_4.ts_1", timestamp(order.start) if order.start else "")
    _put(field, "tq_5.ts_1", timestamp(order.end) if order.end else "")
    _put(field, "tq_6", order.priority)


def oru_r01(header: Header, patient: PatientData, report: ReportData) -> str:
    """ORU^R01 v2.5.1 with a report (HL7 v2.5.1 ch. 7.3.1).

    OBR-7 is when the exam was performed, OBR-22 when the report last changed status (its signing, or the latest
    addendum's), OBR-24 the section of the modality (HL7 table 0074). One OBX of type TX per line, each with its
    own sub-ID (OBX-4), OBX-14 the signing time of the report or addendum the line belongs to, OBX-16 its signer.
    The study follows as an OBX `113014^DICOM Study^DCM` of type ST (what IHE RAD-128 and dcm4chee-arc's ORU
    import read; dcm4chee-arc takes a message with any OBX of type HD for the older RAD-28 form, and HD is not in
    v2.5.1's table 0125) and, as before, in ZDS-1.
    """
    _require(
        accession_number=report.accession_number,
        filler_order_number=report.filler_order_number,
        procedure_code=report.procedure_code,
    )
    if report.result_status not in RESULT_STATUSES:
        raise ValueError(f"Result status {report.result_status!r} is not one of {', '.join(RESULT_STATUSES)}")
    message = _message("ORU_R01", "ORU", "R01", header)
    result = message.add_group("ORU_R01_PATIENT_RESULT")
    patient_group = result.add_group("ORU_R01_PATIENT")
    _pid(patient_group, patient)
    _pv1(patient_group.add_group("ORU_R01_VISIT"), report.visit_number)

    group = result.add_group("ORU_R01_ORDER_OBSERVATION")
    orc = group.add_segment("ORC")
    _put(orc, "orc_1", "RE")  # observations to follow
    _put(orc, "orc_2.ei_1", report.placer_order_number)
    _put(orc, "orc_2.ei_2", report.placer_application if report.placer_order_number else "")
    _put(orc, "orc_3.ei_1", report.filler_order_number)
    _put(orc, "orc_3.ei_2", report.filler_application)
    _put(orc, "orc_5", "CM")

    signed = report.signed_at or report.observed_at
    changed = max([signed, *(addendum.signed_at for addendum in report.addenda)])
    obr = group.add_segment("OBR")
    _put(obr, "obr_1", "1")
    _put(obr, "obr_2.ei_1", report.placer_order_number)
    _put(obr, "obr_2.ei_2", report.placer_application if report.placer_order_number else "")
    _put(obr, "obr_3.ei_1", report.filler_order_number)
    _put(obr, "obr_3.ei_2", report.filler_application)
    _put(obr, "obr_4.ce_1", report.procedure_code)
    _put(obr, "obr_4.ce_2", report.procedure_name)
    _put(obr, "obr_4.ce_3", report.coding_scheme)
    _put(obr, "obr_7.ts_1", timestamp(report.observed_at))
    _put(obr, "obr_18", report.accession_number)
    _put(obr, "obr_22.ts_1", timestamp(changed))
    _put(obr, "obr_24", DIAGNOSTIC_SECTION.get(report.modality, "RAD"))
    _put(obr, "obr_25", report.result_status)
    # OBR-32 principal result interpreter: NDL whose first component is a CNN (id & family & given & ... &
    # assigning authority namespace & universal ID & universal ID type); a CNN has no identifier type.
    radiologist = report.radiologist
    _put(obr, "obr_32.ndl_1.cnn_1", radiologist.id)
    _put(obr, "obr_32.ndl_1.cnn_2", radiologist.family_name)
    _put(obr, "obr_32.ndl_1.cnn_3", radiologist.given_name)
    if radiologist.id:
        _put(obr, "obr_32.ndl_1.cnn_9", radiologist.authority)
        _put(obr, "obr_32.ndl_1.cnn_10", radiologist.authority_id)
        _put(obr, "obr_32.ndl_1.cnn_11", radiologist.authority_id_type)

    parts = [(report.lines or [""], signed, radiologist)]
    parts += [(addendum.lines, addendum.signed_at, addendum.author) for addendum in report.addenda]
    number = 0
    code, text, system = REPORT_OBSERVATION
    for lines, at, observer in parts:
        for line in lines:
            number += 1
            obx = _obx(group, number, "TX", (code, text, system), report.result_status)
            _put(obx, "obx_4", str(number))  # one sub-ID per line: each line is its own observation
            _put(obx, "obx_5", line.rstrip("\r\n") or " ")  # a blank line keeps its place; OBX-5 is not left empty
            _put(obx, "obx_14.ts_1", timestamp(at))
            _xcn(obx.obx_16, observer)
    if report.study_instance_uid:
        obx = _obx(group, number + 1, "ST", DICOM_STUDY, report.result_status)
        _put(obx, "obx_5", report.study_instance_uid)
        _zds(group, report.study_instance_uid, header.sending_application)
    return message.to_er7()


def _obx(group, number: int, value_type: str, observation: tuple[str, str, str], status: str):
    obx = group.add_group("ORU_R01_OBSERVATION").add_segment("OBX")
    _put(obx, "obx_1", str(number))
    _put(obx, "obx_2", value_type)
    _put(obx, "obx_3.ce_1", observation[0])
    _put(obx, "obx_3.ce_2", observation[1])
    _put(obx, "obx_3.ce_3", observation[2])
    _put(obx, "obx_11", status)
    return obx


def _evn(message: Message, trigger: str, recorded_at: datetime) -> None:
    evn = message.add_segment("EVN")
    _put(evn, "evn_1", trigger)
    _put(evn, "evn_2.ts_1", timestamp(recorded_at))


def adt_a08(header: Header, patient: PatientData, *, recorded_at: datetime) -> str:
    """ADT^A08 v2.5.1, update patient information (IHE RAD-12): EVN, PID as the RIS now holds it, PV1 (class N,
    not applicable: the update is of the patient, not of a visit)."""
    message = _message("ADT_A01", "ADT", "A08", header)
    _evn(message, "A08", recorded_at)
    _pid(message, patient)
    _pv1(message, "", patient_class="N")
    return message.to_er7()


def adt_a40(
    header: Header, patient: PatientData, *, prior_mrn: str, prior_mrn_issuer: str, recorded_at: datetime
) -> str:
    """ADT^A40 v2.5.1, merge patient (IHE RAD-12): PID the surviving record, MRG-1 the MRN merged into it."""
    _require(prior_mrn=prior_mrn)
    message = _message("ADT_A39", "ADT", "A40", header)
    _evn(message, "A40", recorded_at)
    group = message.add_group("ADT_A39_PATIENT")
    _pid(group, patient)
    mrg = group.add_segment("MRG")
    _put(mrg, "mrg_1.cx_1", prior_mrn)
    _put(mrg, "mrg_1.cx_4.hd_1", prior_mrn_issuer)
    _put(mrg, "mrg_1.cx_5", "MR")
    return message.to_er7()


def report_lines(text: str) -> list[str]:
    """A report's text as OBX lines: one per line break, trailing empty lines dropped."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return lines
