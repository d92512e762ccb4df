"""Outbound builders (pure): ORM^O01 v2.3.1, OMI^O23, ORU^R01, ADT^A08 and ADT^A40 read back with the `hl7`
package and validated with hl7apy STRICT in their own version."""

from datetime import date, datetime, timedelta, timezone

import hl7
import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.exceptions import HL7apyException
from hl7apy.parser import parse_message, parse_segment

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
    accession_issuer="RIS",
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
    ordering_provider=outbound.npi_physician("1234567893", "Referrer", "Pat"),
    reason="Headache",
    visit_number="V123",
    station_ae_title="CT1",
)
RADIOLOGIST = outbound.npi_physician("1992753880", "Øster", "Åse")
REPORT = outbound.ReportData(
    accession_number="A000000123",
    filler_order_number="F000000123",
    filler_application="RIS",
    procedure_code="CTHEAD",
    procedure_name="CT head",
    coding_scheme="99RIS",
    lines=["FINDINGS:", "No bleed | no mass ^ no shift.", "", "IMPRESSION: normal."],
    result_status="F",
    radiologist=RADIOLOGIST,
    observed_at=datetime(2026, 11, 29, 9, 5, tzinfo=CET),
    signed_at=datetime(2026, 11, 29, 11, 0, tzinfo=CET),
    placer_order_number="PL1",
    placer_application="CIS",
    study_instance_uid="2.25.1234567890",
    modality="CT",
    visit_number="V123",
)
ADDENDUM = outbound.AddendumData(
    lines=["", "ADDENDUM:", "Compared with the prior: unchanged."],
    signed_at=datetime(2026, 12, 1, 8, 30, tzinfo=CET),
    author=outbound.npi_physician("1588667638", "Second", "Reader"),
)
NPI_XCN_9 = ["NPI", "2.16.840.1.113883.4.6", "ISO"]

# Required fields (HL7, and IHE RAD-4/RAD-13 R) by segment, checked on top of hl7apy's validation.
REQUIRED_ORM = {
    "MSH": [7, 9, 10, 11, 12],
    "PID": [3, 5],
    "PV1": [2],
    "ORC": [1, 2, 3, 5, 7],
    "OBR": [2, 3, 4, 18, 19, 20, 24, 27],
    "ZDS": [1],
}
REQUIRED_OMI = {
    "MSH": [7, 9, 10, 11, 12],
    "PID": [3, 5],
    "PV1": [2],
    "ORC": [1, 2, 3, 5],
    "TQ1": [7, 9],
    "OBR": [2, 3, 4],
    "IPC": [1, 2, 3, 4, 5],
}
REQUIRED_ORU = {
    "MSH": [7, 9, 10, 11, 12],
    "PID": [3, 5],
    "PV1": [2],
    "OBR": [3, 4, 7, 22, 24, 25],
    "OBX": [2, 3, 5, 11],
}


def read(raw: str) -> Reader:
    """Read as the RIS reads a received message: bytes in MSH-18's character set, unescaped by field."""
    return Reader(parse(decode(raw.encode("utf-8"))))


def validate_strict(raw: str) -> None:
    """hl7apy STRICT in the message's own version (MSH-12); raises when invalid.

    ORM^O01 is validated segment by segment: hl7apy wants every member of its OBR/RQD/RQ1/RXO/ODS/ODT choice
    group (crs4/hl7apy#151). ZDS, a Z-segment hl7apy has no definition of, is checked by the tests' assertions.
    """
    segments = [text for text in raw.split("\r") if text]  # a message as a peer read it ends with a CR
    head = segments[0].split("|")
    version, message_type = head[11], head[8]
    if message_type.startswith("ORM^"):
        for text in segments:
            if not text.startswith("Z"):
                parse_segment(text, version=version, validation_level=VALIDATION_LEVEL.STRICT).validate()
        return
    message = parse_message("\r".join(segments), find_groups=True, validation_level=VALIDATION_LEVEL.STRICT)
    assert message.version == version
    assert message.validate()


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


def names(raw: str) -> list[str]:
    return [s.split("|")[0] for s in raw.split("\r")]


def orm(**changes) -> str:
    order = outbound.ExamOrder(**{**ORDER.__dict__, **changes})
    return outbound.orm_o01(HEADER, PATIENT, order)


def omi(**changes) -> str:
    order = outbound.ExamOrder(**{**ORDER.__dict__, **changes})
    return outbound.omi_o23(HEADER, PATIENT, order)


def oru(**changes) -> str:
    return outbound.oru_r01(HEADER, PATIENT, outbound.ReportData(**{**REPORT.__dict__, **changes}))


# --- ORM^O01 v2.3.1 (IHE RAD-4/RAD-13, Scheduled Workflow) ------------------------------------------------------


def test_orm_is_the_v231_rad4_form_and_says_so_in_msh12():
    raw = orm()
    r = read(raw)
    msh, pid, orc, obr, zds = (r.segment(n) for n in ("MSH", "PID", "ORC", "OBR", "ZDS"))
    assert names(raw) == ["MSH", "PID", "PV1", "ORC", "OBR", "ZDS"]
    assert (r.get(msh, 9, 1), r.get(msh, 9, 2), r.get(msh, 9, 3)) == ("ORM", "O01", "ORM_O01")
    assert (r.get(msh, 10), r.get(msh, 12), r.get(msh, 18)) == ("C0001", "2.3.1", "UNICODE UTF-8")  # Müller
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
    assert [r.get(zds, 1, c) for c in range(1, 5)] == ["2.25.1234567890", "RIS", "Application", "DICOM"]
    assert r.get(r.segment("PV1"), 19) == "V123"
    assert [r.segment("TQ1"), r.segment("IPC")] == [None, None]  # v2.5 segments have no place in v2.3.1
    validate_strict(raw)


@pytest.mark.parametrize(("control", "status"), [("NW", "SC"), ("XO", "SC"), ("CA", "CA"), ("SC", "IP")])
def test_every_order_control_has_the_required_fields_and_validates_strict_in_v231(control, status):
    raw = orm(order_control=control, order_status=status)
    assert missing_required(raw, REQUIRED_ORM) == []
    validate_strict(raw)


def test_an_ascii_v231_orm_leaves_msh18_empty_as_v231_table_0211_has_no_utf8():
    patient = outbound.PatientData(mrn="M1", mrn_issuer="HOSP", family_name="Smith", given_name="Ann")
    raw = outbound.orm_o01(HEADER, patient, ORDER)
    assert raw.isascii()
    assert read(raw).get(read(raw).segment("MSH"), 18) == ""
    # The other messages are v2.5.1, whose table has UTF-8: always named.
    raw = outbound.omi_o23(HEADER, patient, ORDER)
    assert read(raw).get(read(raw).segment("MSH"), 18) == "UNICODE UTF-8"


def test_strict_validation_of_an_orm_is_not_vacuous():
    """The segment-level check fails a broken ORM (PID-3 gone), so a passing one means something."""
    broken = "\r".join(s if not s.startswith("PID|") else "PID|1||||Müller^Jürgen" for s in orm().split("\r"))
    with pytest.raises(HL7apyException, match="PID_3"):
        validate_strict(broken)


def test_physicians_carry_their_assigning_authority_and_identifier_type():
    for raw in (orm(), omi()):
        r = read(raw)
        for segment, field in (("ORC", 12), ("OBR", 16)):
            found = r.segment(segment)
            assert [r.get(found, field, c) for c in (1, 2, 3)] == ["1234567893", "Referrer", "Pat"]
            assert [r.get(found, field, 9, 1, n) for n in (1, 2, 3)] == NPI_XCN_9
            assert r.get(found, field, 13) == "NPI"


def test_a_local_physician_identifier_keeps_its_own_authority_and_type():
    local = outbound.Physician(id="7101", family_name="Estrada", given_name="Jaime", id_type="PRN", authority="HOSP")
    r = read(orm(ordering_provider=local))
    orc = r.segment("ORC")
    assert [r.get(orc, 12, c) for c in (1, 2, 9, 13)] == ["7101", "Estrada", "HOSP", "PRN"]


def test_hl7apy_reads_the_orm_back_in_v231():
    message = parse_message(orm(), find_groups=True)
    assert message.name == "ORM_O01"
    assert message.version == "2.3.1"
    order = message.ORM_O01_ORDER
    assert order.ORC.orc_1.to_er7() == "NW"
    obr = order.ORM_O01_ORDER_DETAIL.ORM_O01_CHOICE.OBR
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


@pytest.mark.parametrize("build", [orm, omi])
def test_an_order_without_its_accession_number_is_refused(build):
    with pytest.raises(ValueError, match="accession_number"):
        build(accession_number="")


def test_no_placer_number_leaves_orc2_and_obr2_empty():
    r = read(orm(placer_order_number=""))
    assert r.raw(r.segment("ORC"), 2) == ""
    assert r.raw(r.segment("OBR"), 2) == ""


# --- OMI^O23 v2.5.1 (IHE RAD-4/RAD-13, Scheduled Workflow.b) ------------------------------------------------------


def test_omi_carries_tq1_and_ipc_in_v251():
    raw = omi()
    r = read(raw)
    msh, orc, tq1, obr, ipc = (r.segment(n) for n in ("MSH", "ORC", "TQ1", "OBR", "IPC"))
    assert names(raw) == ["MSH", "PID", "PV1", "ORC", "TQ1", "OBR", "IPC"]
    assert (r.get(msh, 9, 1), r.get(msh, 9, 2), r.get(msh, 9, 3), r.get(msh, 12)) == ("OMI", "O23", "OMI_O23", "2.5.1")
    assert (r.get(orc, 1), r.get(orc, 3, 1), r.get(orc, 5)) == ("NW", "F000000123", "SC")
    assert r.raw(orc, 7) == ""  # TQ1 replaces ORC-7 (deprecated in v2.5)
    assert (r.get(tq1, 7), r.get(tq1, 8), r.get(tq1, 9)) == ("20261129090000+0100", "20261129092000+0100", "S")
    assert [r.get(obr, 4, c) for c in (1, 2, 3)] == ["CTHEAD", "CT head", "99RIS"]
    assert r.raw(obr, 27) == ""
    assert (r.get(ipc, 1, 1), r.get(ipc, 1, 2)) == ("A000000123", "RIS")
    assert [r.get(ipc, n) for n in (2, 3, 4)] == ["RP00000007", "2.25.1234567890", "SPS00000007"]
    assert (r.get(ipc, 5, 1), r.get(ipc, 5, 3), r.get(ipc, 9)) == ("CT", "DCM", "CT1")
    assert r.segment("ZDS") is None
    assert missing_required(raw, REQUIRED_OMI) == []
    validate_strict(raw)


@pytest.mark.parametrize(("control", "status"), [("NW", "SC"), ("XO", "SC"), ("CA", "CA"), ("SC", "CM")])
def test_every_omi_order_control_validates_strict(control, status):
    raw = omi(order_control=control, order_status=status, start=None, end=None)
    assert read(raw).get(read(raw).segment("ORC"), 1) == control
    validate_strict(raw)


def test_each_destination_form_names_its_type_and_builder():
    assert outbound.ORDER_FORMS["ORM_O01"][:2] == ("ORM", "O01")
    assert outbound.ORDER_FORMS["OMI_O23"][:2] == ("OMI", "O23")
    for _type, _trigger, build in outbound.ORDER_FORMS.values():
        validate_strict(build(HEADER, PATIENT, ORDER))


# --- ORU^R01 ------------------------------------------------------------------------------------------------------


def test_oru_has_one_tx_obx_per_report_line_each_with_its_own_sub_id():
    raw = oru()
    r = read(raw)
    assert missing_required(raw, REQUIRED_ORU) == []
    msh, obr = r.segment("MSH"), r.segment("OBR")
    assert (r.get(msh, 9, 1), r.get(msh, 9, 2), r.get(msh, 9, 3), r.get(msh, 12)) == ("ORU", "R01", "ORU_R01", "2.5.1")
    assert [r.get(obr, n) for n in (18, 25)] == ["A000000123", "F"]
    assert (r.get(obr, 3, 1), r.get(obr, 2, 1)) == ("F000000123", "PL1")
    text = [s for s in r.segments("OBX") if r.get(s, 2) == "TX"]
    assert [r.get(s, 1) for s in text] == ["1", "2", "3", "4"]
    assert [r.get(s, 4) for s in text] == ["1", "2", "3", "4"]
    assert [r.get(s, 5) for s in text] == list(REPORT.lines)
    assert {r.get(s, 11) for s in text} == {"F"}
    assert {r.get(s, 14) for s in text} == {"20261129110000+0100"}  # the signing
    assert r.get(r.segment("ZDS"), 1, 1) == "2.25.1234567890"
    validate_strict(raw)


def test_oru_obr7_is_when_the_exam_was_done_and_obr22_when_the_report_was_signed():
    r = read(oru())
    obr = r.segment("OBR")
    assert r.get(obr, 7) == "20261129090500+0100"
    assert r.get(obr, 22) == "20261129110000+0100"


def test_oru_addendum_lines_carry_their_own_signing_time_and_author():
    raw = oru(result_status="C", addenda=[ADDENDUM])
    r = read(raw)
    text = [s for s in r.segments("OBX") if r.get(s, 2) == "TX"]
    assert [r.get(s, 5) for s in text[4:]] == ADDENDUM.lines
    assert [r.get(s, 14) for s in text] == ["20261129110000+0100"] * 4 + ["20261201083000+0100"] * 3
    assert {r.get(s, 16, 1) for s in text[4:]} == {"1588667638"}
    assert {r.get(s, 16, 1) for s in text[:4]} == {"1992753880"}
    assert len({r.get(s, 4) for s in text}) == len(text)  # sub-IDs distinct across report and addendum
    assert r.get(r.segment("OBR"), 22) == "20261201083000+0100"  # the status changed with the addendum
    assert {r.get(s, 11) for s in text} == {"C"}
    validate_strict(raw)


def test_oru_names_the_study_in_an_obx_dcm4chee_reads_and_still_in_zds():
    r = read(oru())
    study = [s for s in r.segments("OBX") if r.get(s, 3, 1) == "113014"]
    assert len(study) == 1
    assert [r.get(study[0], 3, c) for c in (1, 2, 3)] == ["113014", "DICOM Study", "DCM"]
    assert (r.get(study[0], 2), r.get(study[0], 5), r.get(study[0], 11)) == ("ST", "2.25.1234567890", "F")
    # dcm4chee-arc reads a message with any OBX of type HD as the older RAD-28 form and then ignores this one.
    assert all(r.get(s, 2) != "HD" for s in r.segments("OBX"))
    assert r.get(r.segment("ZDS"), 1, 1) == "2.25.1234567890"


def test_oru_has_pv1_with_the_visit_and_obr24_the_section_of_the_modality():
    r = read(oru())
    pv1 = r.segment("PV1")
    assert (r.get(pv1, 2), r.get(pv1, 19)) == ("U", "V123")
    assert r.get(r.segment("OBR"), 24) == "CT"


@pytest.mark.parametrize(
    ("modality", "section"),
    [
        ("CT", "CT"),
        ("MR", "NMR"),
        ("US", "RUS"),
        ("NM", "NMS"),
        ("PT", "NMS"),
        ("DX", "RX"),
        ("XA", "XRC"),
        ("OT", "RAD"),
    ],
)
def test_obr24_is_an_hl7_table_0074_code(modality, section):
    raw = oru(modality=modality)
    assert read(raw).get(read(raw).segment("OBR"), 24) == section
    validate_strict(raw)


def test_oru_interpreter_and_observers_carry_the_npi_authority_and_type():
    r = read(oru())
    obr = r.segment("OBR")
    # OBR-32 NDL: a CNN in its first component (id & family & given & ... & authority namespace & UID & type).
    assert [r.get(obr, 32, 1, 1, n) for n in (1, 2, 3)] == ["1992753880", "Øster", "Åse"]
    assert [r.get(obr, 32, 1, 1, n) for n in (9, 10, 11)] == NPI_XCN_9
    obx = r.segment("OBX")
    assert [r.get(obx, 16, 9, 1, n) for n in (1, 2, 3)] == NPI_XCN_9
    assert r.get(obx, 16, 13) == "NPI"


@pytest.mark.parametrize("status", ["P", "F", "C"])
def test_oru_result_status_is_preliminary_final_or_corrected(status):
    r = read(oru(result_status=status))
    assert r.get(r.segment("OBR"), 25) == status
    assert {r.get(s, 11) for s in r.segments("OBX")} == {status}


def test_oru_refuses_an_unknown_result_status():
    with pytest.raises(ValueError, match="Result status"):
        oru(result_status="X")


def test_report_lines_split_on_every_line_break_and_drop_trailing_blank_lines():
    assert outbound.report_lines("A\r\nB\rC\n\nD\n\n") == ["A", "B", "C", "", "D"]


# --- ADT^A08 / ADT^A40 (IHE RAD-12) -------------------------------------------------------------------------------


def test_adt_a08_carries_the_patient_as_the_ris_holds_them():
    raw = outbound.adt_a08(HEADER, PATIENT, recorded_at=datetime(2026, 11, 28, 10, 15, tzinfo=CET))
    r = read(raw)
    msh, evn, pid = r.segment("MSH"), r.segment("EVN"), r.segment("PID")
    assert names(raw) == ["MSH", "EVN", "PID", "PV1"]
    assert (r.get(msh, 9, 1), r.get(msh, 9, 2), r.get(msh, 9, 3), r.get(msh, 12)) == ("ADT", "A08", "ADT_A01", "2.5.1")
    assert (r.get(evn, 1), r.get(evn, 2)) == ("A08", "20261128101500+0100")
    assert [r.get(pid, 3, c) for c in (1, 4, 5)] == ["M00000042", "HOSP", "MR"]
    assert [r.get(pid, 5, c) for c in range(1, 6)] == ["Müller", "Jürgen", "K", "Jr", "Dr"]
    validate_strict(raw)


def test_adt_a40_names_the_survivor_in_pid_and_the_merged_record_in_mrg():
    raw = outbound.adt_a40(
        HEADER, PATIENT, prior_mrn="OLD7", prior_mrn_issuer="HOSP", recorded_at=datetime(2026, 11, 28, tzinfo=CET)
    )
    r = read(raw)
    assert names(raw) == ["MSH", "EVN", "PID", "MRG"]
    msh, pid, mrg = r.segment("MSH"), r.segment("PID"), r.segment("MRG")
    assert (r.get(msh, 9, 1), r.get(msh, 9, 2), r.get(msh, 9, 3), r.get(msh, 12)) == ("ADT", "A40", "ADT_A39", "2.5.1")
    assert r.get(pid, 3, 1) == "M00000042"
    assert [r.get(mrg, 1, c) for c in (1, 4, 5)] == ["OLD7", "HOSP", "MR"]
    validate_strict(raw)


def test_adt_a40_without_the_prior_mrn_is_refused():
    with pytest.raises(ValueError, match="prior_mrn"):
        outbound.adt_a40(HEADER, PATIENT, prior_mrn="", prior_mrn_issuer="", recorded_at=datetime.now(tz=CET))
