"""Outbound builders (pure): ORM^O01 and ORU^R01 read back with the `hl7` package and with hl7apy."""

from datetime import date, datetime, timedelta, timezone

import hl7
import pytest
from hl7apy.parser import parse_message

from interfaces import outbound
from interfaces.hl7v2 import Reader, decode, parse

CET = timezone(timedelta(hours=1))
HEADER = outbound.Header(
    control_id="C0001",
    timestamp=datetime(2026, 11, 28, 10, 15, 30, tzinfo=CET),
    sending_application="RIS",
    sending_facility="RADIOLOGY",
    receiving_application="PACS",
    receiving_facility="HOSP",
)
PATIENT = outbound.PatientData(
    mrn="M00000042",
    mrn_issuer="HOSP",
    family_name="Müller",
    given_name="Jürgen",
    middle_name="K",
    name_suffix="Jr",
    name_prefix="Dr",
    birth_date=date(1970, 1, 2),
    sex="M",
)
ORDER = outbound.ExamOrder(
    order_control="NW",
    order_status="SC",
    accession_number="A000000123",
    requested_procedure_id="RP00000007",
    scheduled_procedure_step_id="SPS00000007",
    study_instance_uid="2.25.1234567890",
    filler_order_number="F000000123",
    filler_application="RIS",
    procedure_code="CTHEAD",
    procedure_name="CT head",
    coding_scheme="99RIS",
    modality="CT",
    start=datetime(2026, 11, 29, 9, 0, tzinfo=CET),
    end=datetime(2026, 11, 29, 9, 20, tzinfo=CET),
    priority="S",
    placer_order_number="PL1",
    placer_application="CIS",
    transaction_at=datetime(2026, 11, 28, 10, 15, tzinfo=CET),
    ordering_provider=outbound.Physician(id="1234567893", family_name="Referrer", given_name="Pat"),
    reason="Headache",
    visit_number="V123",
)
REPORT = outbound.ReportData(
    accession_number="A000000123",
    filler_order_number="F000000123",
    filler_application="RIS",
    procedure_code="CTHEAD",
    procedure_name="CT head",
    coding_scheme="99RIS",
    lines=["FINDINGS:", "No bleed | no mass ^ no shift.", "", "IMPRESSION: normal."],
    result_status="F",
    radiologist=outbound.Physician(id="1992753880", family_name="Øster", given_name="Åse"),
    observed_at=datetime(2026, 11, 29, 11, 0, tzinfo=CET),
    placer_order_number="PL1",
    placer_application="CIS",
    study_instance_uid="2.25.1234567890",
)

# HL7 v2.5.1 required fields, and those IHE RAD-4/RAD-13 add (R), by segment.
REQUIRED_ORM = {
    "MSH": [7, 9, 10, 11, 12],
    "PID": [3, 5],
    "PV1": [2],
    "ORC": [1, 2, 3, 5, 7],
    "OBR": [2, 3, 4, 18, 19, 20, 24, 27],
    "ZDS": [1],
}
REQUIRED_ORU = {"MSH": [7, 9, 10, 11, 12], "PID": [3, 5], "OBR": [3, 4, 7, 25], "OBX": [2, 3, 5, 11]}


def read(raw: str) -> Reader:
    """Read as the RIS reads a received message: bytes in MSH-18's character set, unescaped by field."""
    return Reader(parse(decode(raw.encode("utf-8"))))


def missing_required(raw: str, required: dict[str, list[int]]) -> list[str]:
    reader = read(raw)
    missing = []
    for name, fields in required.items():
        segments = reader.segments(name)
        if not segments:
            missing.append(name)
        for segment in segments:
            missing += [f"{name}-{n}" for n in fields if n >= len(segment) or not str(segment[n]).strip("^&~")]
    return missing


def orm(**changes) -> str:
    order = outbound.ExamOrder(**{**ORDER.__dict__, **changes})
    return outbound.orm_o01(HEADER, PATIENT, order)


def test_orm_nw_carries_the_order_the_patient_and_the_study_instance_uid():
    raw = orm()
    r = read(raw)
    msh, pid, orc, obr, zds = (r.segment(n) for n in ("MSH", "PID", "ORC", "OBR", "ZDS"))
    assert [s.split("|")[0] for s in raw.split("\r")] == ["MSH", "PID", "PV1", "ORC", "OBR", "ZDS"]
    assert (r.get(msh, 9, 1), r.get(msh, 9, 2), r.get(msh, 9, 3)) == ("ORM", "O01", "ORM_O01")
    assert (r.get(msh, 10), r.get(msh, 12), r.get(msh, 18)) == ("C0001", "2.5.1", "UNICODE UTF-8")
    assert (r.get(msh, 3), r.get(msh, 4), r.get(msh, 5), r.get(msh, 6)) == ("RIS", "RADIOLOGY", "PACS", "HOSP")
    assert r.get(msh, 7) == "20261128101530+0100"
    assert [r.get(pid, 3, c) for c in (1, 4, 5)] == ["M00000042", "HOSP", "MR"]
    assert [r.get(pid, 5, c) for c in range(1, 6)] == ["Müller", "Jürgen", "K", "Jr", "Dr"]
    assert (r.get(pid, 7), r.get(pid, 8)) == ("19700102", "M")
    assert [r.get(orc, 1), r.get(orc, 2, 1), r.get(orc, 2, 2), r.get(orc, 3, 1), r.get(orc, 5)] == [
        "NW",
        "PL1",
        "CIS",
        "F000000123",
        "SC",
    ]
    assert (r.get(orc, 7, 4), r.get(orc, 7, 5), r.get(orc, 7, 6)) == (
        "20261129090000+0100",
        "20261129092000+0100",
        "S",
    )
    assert [r.get(obr, 4, c) for c in (1, 2, 3)] == ["CTHEAD", "CT head", "99RIS"]
    assert [r.get(obr, n) for n in (18, 19, 20, 24)] == ["A000000123", "RP00000007", "SPS00000007", "CT"]
    assert r.get(obr, 27, 4) == "20261129090000+0100"
    assert (r.get(obr, 16, 1), r.get(obr, 16, 2)) == ("1234567893", "Referrer")
    assert [r.get(zds, 1, c) for c in range(1, 5)] == ["2.25.1234567890", "RIS", "Application", "DICOM"]
    assert r.get(r.segment("PV1"), 19) == "V123"


@pytest.mark.parametrize(("control", "status"), [("NW", "SC"), ("XO", "SC"), ("CA", "CA"), ("SC", "IP")])
def test_every_order_control_has_the_required_fields(control, status):
    assert missing_required(orm(order_control=control, order_status=status), REQUIRED_ORM) == []


def test_hl7apy_reads_the_orm_back_at_its_default_validation_level():
    # Strict validation rejects any ORM^O01 (crs4/hl7apy#151): the required fields are checked above instead.
    message = parse_message(orm(), find_groups=True)
    assert message.name == "ORM_O01"
    assert message.msh.msh_12.to_er7() == "2.5.1"
    order = message.ORM_O01_ORDER
    assert order.ORC.orc_1.to_er7() == "NW"
    obr = order.ORM_O01_ORDER_DETAIL.ORM_O01_OBRRQDRQ1RXOODSODT_SUPPGRP.OBR
    assert obr.obr_18.to_er7() == "A000000123"
    assert obr.obr_4.to_er7() == "CTHEAD^CT head^99RIS"
    assert message.ORM_O01_PATIENT.PID.pid_5.to_er7() == "Müller^Jürgen^K^Jr^Dr"


@pytest.mark.parametrize(
    ("family", "given"),
    [
        ("Müller^Jürgen", "Jürgen"),
        ("Øster", "Åse"),
        ("O|Brien & Söhne", "Ann~Marie"),
        ("Back\\slash", "Lit \\F\\ eral"),
        ("Łukasiewicz", "Zoë"),
    ],
)
def test_names_with_delimiters_and_letters_beyond_ascii_survive(family, given):
    patient = outbound.PatientData(mrn="M1", mrn_issuer="HOSP", family_name=family, given_name=given)
    raw = outbound.orm_o01(HEADER, patient, ORDER)
    pid_text = next(s for s in raw.split("\r") if s.startswith("PID|"))
    assert pid_text.split("|")[5].count("^") == 1  # family^given: the delimiters inside were escaped
    # The RIS's own reader and the `hl7` package both read the original names back.
    r = read(raw)
    assert (r.get(r.segment("PID"), 5, 1), r.get(r.segment("PID"), 5, 2)) == (family, given)
    message = hl7.parse(raw)
    name = message.segment("PID")[5][0]
    assert (message.unescape(str(name[0])), message.unescape(str(name[1]))) == (family, given)


def test_escapes_are_the_five_hl7_sequences():
    assert outbound.escape("a|b^c&d~e\\f") == "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f"
    assert outbound.escape("line one\nline two") == "line one line two"


def test_the_message_is_utf8_text():
    data = orm().encode("utf-8")
    assert "Müller".encode() in data
    assert decode(data).count("Jürgen") == 1


def test_an_order_without_its_accession_number_is_refused():
    with pytest.raises(ValueError, match="accession_number"):
        orm(accession_number="")


def test_no_placer_number_leaves_orc2_and_obr2_empty():
    r = read(orm(placer_order_number=""))
    assert r.raw(r.segment("ORC"), 2) == ""
    assert r.raw(r.segment("OBR"), 2) == ""


def test_oru_has_one_tx_obx_per_report_line_with_the_result_status():
    raw = outbound.oru_r01(HEADER, PATIENT, REPORT)
    r = read(raw)
    assert missing_required(raw, REQUIRED_ORU) == []
    msh, obr = r.segment("MSH"), r.segment("OBR")
    assert (r.get(msh, 9, 1), r.get(msh, 9, 2), r.get(msh, 9, 3)) == ("ORU", "R01", "ORU_R01")
    assert [r.get(obr, n) for n in (18, 25)] == ["A000000123", "F"]
    assert (r.get(obr, 3, 1), r.get(obr, 2, 1)) == ("F000000123", "PL1")
    assert [r.get(obr, 32, 1, 1, n) for n in (1, 2, 3)] == ["1992753880", "Øster", "Åse"]  # NDL: CNN subcomponents
    obx = r.segments("OBX")
    assert [r.get(s, 1) for s in obx] == ["1", "2", "3", "4"]
    assert {r.get(s, 2) for s in obx} == {"TX"}
    assert {r.get(s, 11) for s in obx} == {"F"}
    assert [r.get(s, 5) for s in obx] == list(REPORT.lines)
    assert r.get(obx[0], 14) == "20261129110000+0100"
    assert r.get(r.segment("ZDS"), 1, 1) == "2.25.1234567890"
    assert parse_message(raw, find_groups=True).name == "ORU_R01"


@pytest.mark.parametrize("status", ["P", "F", "C"])
def test_oru_result_status_is_preliminary_final_or_corrected(status):
    report = outbound.ReportData(**{**REPORT.__dict__, "result_status": status})
    r = read(outbound.oru_r01(HEADER, PATIENT, report))
    assert r.get(r.segment("OBR"), 25) == status
    assert {r.get(s, 11) for s in r.segments("OBX")} == {status}


def test_oru_refuses_an_unknown_result_status():
    with pytest.raises(ValueError, match="Result status"):
        outbound.oru_r01(HEADER, PATIENT, outbound.ReportData(**{**REPORT.__dict__, "result_status": "X"}))


def test_report_lines_split_on_every_line_break_and_drop_trailing_blank_lines():
    assert outbound.report_lines("A\r\nB\rC\n\nD\n\n") == ["A", "B", "C", "", "D"]
