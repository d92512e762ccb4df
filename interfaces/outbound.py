"""Outbound HL7 v2.5.1 messages as pure functions over plain values: ORM^O01 to the PACS (IHE RAD-4 Procedure
Scheduled, RAD-13 Procedure Update) and ORU^R01 with a report's text. Built with hl7apy; no ORM access.

Every value is escaped here (HL7 v2.5.1 2.7: \\F\\ \\S\\ \\T\\ \\R\\ \\E\\) before hl7apy sees it: hl7apy escapes the
delimiters of a component but not the escape character where the text happens to look like an escape sequence
(a literal "\\F\\"), and it parses a value given to a whole field as ER7. An escaped value has no delimiters and
only complete escape sequences, which hl7apy passes through as they are.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from hl7apy.core import Message

from interfaces import hl7v2

VERSION = "2.5.1"
CHARSET = "UNICODE UTF-8"  # MSH-18, HL7 table 0211

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
# Order priority -> TQ-6 / OBR-27.6 priority (HL7 table 0027).
PRIORITY = {"STAT": "S", "URGENT": "A", "ROUTINE": "R"}
# OBX-3 of report text: LOINC "Radiology Study observation (narrative)".
REPORT_OBSERVATION = ("18782-3", "Radiology Study observation", "LN")
RESULT_STATUSES = ("P", "F", "C")  # HL7 table 0085: preliminary, final, corrected (an addendum)


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
    """An XCN: identifier (the NPI) ^ family ^ given."""

    id: str = ""
    family_name: str = ""
    given_name: str = ""


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
    priority: str = "R"  # TQ-6
    placer_order_number: str = ""
    placer_application: str = ""
    transaction_at: datetime | None = None  # ORC-9: when the change happened
    ordering_provider: Physician | None = None
    reason: str = ""
    visit_number: str = ""


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
    observed_at: datetime
    placer_order_number: str = ""
    placer_application: str = ""
    study_instance_uid: str = ""


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


def _message(structure: str, message_type: str, trigger: str, header: Header) -> Message:
    _require(control_id=header.control_id, sending_application=header.sending_application)
    message = Message(structure, version=VERSION)
    msh = message.msh
    _put(msh, "msh_3.hd_1", header.sending_application)
    _put(msh, "msh_4.hd_1", header.sending_facility)
    _put(msh, "msh_5.hd_1", header.receiving_application)
    _put(msh, "msh_6.hd_1", header.receiving_facility)
    _put(msh, "msh_7.ts_1", timestamp(header.timestamp))
    _put(msh, "msh_9.msg_1", message_type)
    _put(msh, "msh_9.msg_2", trigger)
    _put(msh, "msh_9.msg_3", structure)
    _put(msh, "msh_10", header.control_id)
    _put(msh, "msh_11.pt_1", header.processing_id)
    _put(msh, "msh_12.vid_1", VERSION)
    _put(msh, "msh_18", CHARSET)
    return message


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


def _xcn(field, physician: Physician | None) -> None:
    if physician is None:
        return
    _put(field, "xcn_1", physician.id)
    _put(field, "xcn_2.fn_1", physician.family_name)
    _put(field, "xcn_3", physician.given_name)


def _zds(group, study_instance_uid: str, application: str) -> None:
    """ZDS-1 as IHE RAD-4/RAD-13 give it: <Study Instance UID>^<application>^Application^DICOM."""
    zds = group.add_segment("ZDS")
    zds.zds_1 = "^".join((escape(study_instance_uid), escape(application), "Application", "DICOM"))


def orm_o01(header: Header, patient: PatientData, order: ExamOrder) -> str:
    """ORM^O01 for one exam (HL7 v2.5.1 ch. 4.4.1; IHE RAD-4 NW, RAD-13 XO/CA/SC), segments separated by CR."""
    _require(
        order_control=order.order_control,
        accession_number=order.accession_number,
        requested_procedure_id=order.requested_procedure_id,
        scheduled_procedure_step_id=order.scheduled_procedure_step_id,
        study_instance_uid=order.study_instance_uid,
        filler_order_number=order.filler_order_number,
        procedure_code=order.procedure_code,
    )
    message = _message("ORM_O01", "ORM", "O01", header)
    patient_group = message.add_group("ORM_O01_PATIENT")
    _pid(patient_group, patient)
    pv1 = patient_group.add_group("ORM_O01_PATIENT_VISIT").add_segment("PV1")
    _put(pv1, "pv1_1", "1")
    _put(pv1, "pv1_2", "U")  # patient class unknown to the RIS (HL7 table 0004)
    _put(pv1, "pv1_19.cx_1", order.visit_number)

    group = message.add_group("ORM_O01_ORDER")
    orc = group.add_segment("ORC")
    _put(orc, "orc_1", order.order_control)
    _put(orc, "orc_2.ei_1", order.placer_order_number)
    _put(orc, "orc_2.ei_2", order.placer_application if order.placer_order_number else "")
    _put(orc, "orc_3.ei_1", order.filler_order_number)
    _put(orc, "orc_3.ei_2", order.filler_application)
    _put(orc, "orc_5", order.order_status)
    _timing(orc.orc_7, order)
    _put(orc, "orc_9.ts_1", timestamp(order.transaction_at) if order.transaction_at else "")
    if order.ordering_provider is not None:
        _xcn(orc.orc_12, order.ordering_provider)

    choice = group.add_group("ORM_O01_ORDER_DETAIL").add_group("ORM_O01_OBRRQDRQ1RXOODSODT_SUPPGRP")
    obr = choice.add_segment("OBR")
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
    _timing(obr.obr_27, order)
    _put(obr, "obr_31.ce_2", order.reason)
    _zds(group, order.study_instance_uid, header.sending_application)
    return message.to_er7()


def _timing(field, order: ExamOrder) -> None:
    """TQ (ORC-7, OBR-27): start (TQ-4), end (TQ-5) and priority (TQ-6)."""
    _put(field, "tq_4.ts_1", timestamp(order.start) if order.start else "")
    _put(field, "tq_5.ts_1", timestamp(order.end) if order.end else "")
    _put(field, "tq_6", order.priority)


def oru_r01(header: Header, patient: PatientData, report: ReportData) -> str:
    """ORU^R01 with a report (HL7 v2.5.1 ch. 7.3.1): one OBX of type TX per line, OBX-11 the result status."""
    _require(
        accession_number=report.accession_number,
        filler_order_number=report.filler_order_number,
        procedure_code=report.procedure_code,
    )
    if report.result_status not in RESULT_STATUSES:
        raise ValueError(f"Result status {report.result_status!r} is not one of {', '.join(RESULT_STATUSES)}")
    message = _message("ORU_R01", "ORU", "R01", header)
    result = message.add_group("ORU_R01_PATIENT_RESULT")
    _pid(result.add_group("ORU_R01_PATIENT"), patient)

    group = result.add_group("ORU_R01_ORDER_OBSERVATION")
    orc = group.add_segment("ORC")
    _put(orc, "orc_1", "RE")  # observations to follow
    _put(orc, "orc_2.ei_1", report.placer_order_number)
    _put(orc, "orc_2.ei_2", report.placer_application if report.placer_order_number else "")
    _put(orc, "orc_3.ei_1", report.filler_order_number)
    _put(orc, "orc_3.ei_2", report.filler_application)
    _put(orc, "orc_5", "CM")

    observed = timestamp(report.observed_at)
    obr = group.add_segment("OBR")
    _put(obr, "obr_1", "1")
    _put(obr, "obr_2.ei_1", report.placer_order_number)
    _put(obr, "obr_2.ei_2", report.placer_application if report.placer_order_number else "")
    _put(obr, "obr_3.ei_1", report.filler_order_number)
    _put(obr, "obr_3.ei_2", report.filler_application)
    _put(obr, "obr_4.ce_1", report.procedure_code)
    _put(obr, "obr_4.ce_2", report.procedure_name)
    _put(obr, "obr_4.ce_3", report.coding_scheme)
    _put(obr, "obr_7.ts_1", observed)
    _put(obr, "obr_18", report.accession_number)
    _put(obr, "obr_22.ts_1", observed)
    _put(obr, "obr_25", report.result_status)
    # OBR-32 principal result interpreter: NDL whose first component is a CNN (id & family & given).
    radiologist = report.radiologist
    _put(obr, "obr_32.ndl_1.cnn_1", radiologist.id)
    _put(obr, "obr_32.ndl_1.cnn_2", radiologist.family_name)
    _put(obr, "obr_32.ndl_1.cnn_3", radiologist.given_name)

    code, text, system = REPORT_OBSERVATION
    for number, line in enumerate(report.lines or [""], start=1):
        obx = group.add_group("ORU_R01_OBSERVATION").add_segment("OBX")
        _put(obx, "obx_1", str(number))
        _put(obx, "obx_2", "TX")
        _put(obx, "obx_3.ce_1", code)
        _put(obx, "obx_3.ce_2", text)
        _put(obx, "obx_3.ce_3", system)
        _put(obx, "obx_4", "1")
        _put(obx, "obx_5", line.rstrip("\r\n") or " ")  # a blank line keeps its place; OBX-5 is not left empty
        _put(obx, "obx_11", report.result_status)
        _put(obx, "obx_14.ts_1", observed)
        _xcn(obx.obx_16, radiologist)
    if report.study_instance_uid:
        _zds(group, report.study_instance_uid, header.sending_application)
    return message.to_er7()


def report_lines(text: str) -> list[str]:
    """A report's text as OBX lines: one per line break, trailing empty lines dropped."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return lines
