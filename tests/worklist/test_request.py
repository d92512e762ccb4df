"""A C-FIND request's identifier read from its bytes (worklist.request) reads to the same query and the same response
plan as pydicom's Dataset, or is left to pydicom (issue 22)."""

import struct
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydicom import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.dsutils import decode, encode

from ris.text import fold
from tests.worklist.test_fuzz_cfind import identifiers
from worklist import scp
from worklist.request import Identifier, read_identifier
from worklist.translate import InvalidQuery, ResponsePlan, full_key_query, parse_query

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydicom")

BERLIN = ZoneInfo("Europe/Berlin")


def outcome(identifier):
    """What the translation reads of an identifier: its query (or that it is invalid), its plan's keys and set."""
    try:
        query = parse_query(identifier, tz=BERLIN, fold=fold)
    except InvalidQuery:
        return "invalid"
    plan = ResponsePlan(identifier)
    return query, plan.keys, plan.single_byte, plan.codec


def both(stream: bytes, implicit_vr: bool):
    """The reader's outcome (None when it leaves the identifier to pydicom) and pydicom's ("undecodable" when
    pynetdicom's decoding raises: the handler answers C310)."""
    read = read_identifier(stream, implicit_vr=implicit_vr)
    try:
        reference = outcome(decode(BytesIO(stream), implicit_vr, True))
    except Exception:
        reference = "undecodable"
    return (outcome(read) if read is not None else None), reference


def with_keys(charset: str | None, *, whole_item: bool = False, sps: dict | None = None, **keys) -> Dataset:
    """The full key set as a modality sends it, with matching values."""
    ds = full_key_query(charset, whole_item=whole_item)
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    for keyword, value in (sps or {}).items():
        setattr(ds.ScheduledProcedureStepSequence[0], keyword, value)
    return ds


def undefined_lengths(ds: Dataset) -> Dataset:
    """The same identifier with its sequences and items of undefined length, as DCMTK writes them."""
    for element in ds:
        if element.VR == "SQ":
            element.value.is_undefined_length = True
            for item in element.value:
                item.is_undefined_length_sequence_item = True
                undefined_lengths(item)
    return ds


def shapes() -> dict[str, Dataset]:
    sequence_only = Dataset()
    sequence_only.ScheduledProcedureStepSequence = Sequence()
    two_items = with_keys("ISO_IR 100")
    two_items.ScheduledProcedureStepSequence.append(Dataset())
    return {
        "no character set": with_keys(None, PatientID="P1"),
        "ISO_IR 100": with_keys("ISO_IR 100", PatientName="Müller^J*", PatientID="P1"),
        "ISO_IR 192": with_keys("ISO_IR 192", PatientName="Øster^Åse", AccessionNumber="A1"),
        "Japanese": with_keys("ISO 2022 IR 6\\ISO 2022 IR 87", PatientName="山田^太郎", PatientID="P3"),
        "ISO_IR 6": with_keys("ISO_IR 6", ReferringPhysicianName="Okafor^C*"),
        "multi-valued": with_keys(
            "ISO_IR 192", StudyInstanceUID=["1.2.3", "1.2.4"], sps={"ScheduledProcedureStepStatus": ["SCHEDULED", "X"]}
        ),
        "day and modality": with_keys(
            "ISO_IR 192",
            sps={"ScheduledProcedureStepStartDate": "20261208", "Modality": "CT", "ScheduledStationAETitle": "CT1"},
        ),
        "date and time range, offset": with_keys(
            "ISO_IR 100",
            TimezoneOffsetFromUTC="-0500",
            sps={"ScheduledProcedureStepStartDate": "20261208-20261209", "ScheduledProcedureStepStartTime": "08-1030"},
        ),
        "birth dates and a pregnancy status": with_keys(None, PatientBirthDate="19800101-", PregnancyStatus=4),
        "whole item": with_keys("ISO_IR 192", whole_item=True, AccessionNumber="A1"),
        "empty sequence": sequence_only,
        "two items": two_items,
        "bad date": with_keys(None, sps={"ScheduledProcedureStepStartDate": "2026-12-08"}),
        "a query/retrieve level": with_keys(None, QueryRetrieveLevel="STUDY"),
        "nothing": Dataset(),
    }


@pytest.mark.parametrize("undefined", [False, True], ids=["defined lengths", "undefined lengths"])
@pytest.mark.parametrize("implicit_vr", [True, False], ids=["implicit VR", "explicit VR"])
@pytest.mark.parametrize("shape", sorted(shapes()))
def test_a_request_reads_to_what_pydicom_reads(shape, implicit_vr, undefined):
    ds = shapes()[shape]
    stream = encode(undefined_lengths(ds) if undefined else ds, implicit_vr, True)

    read, reference = both(stream, implicit_vr)

    assert read == reference


def element(tag: int, vr: bytes, value: bytes, *, implicit_vr: bool) -> bytes:
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
    if implicit_vr:
        return head + struct.pack("<I", len(value)) + value
    return head + vr + struct.pack("<H", len(value)) + value


PATIENT_ID, PATIENT_NAME, ACCESSION = 0x00100020, 0x00100010, 0x00080050


@pytest.mark.parametrize(
    ("implicit_vr", "stream"),
    [
        (True, element(PATIENT_ID, b"", b"P1", implicit_vr=True) + element(ACCESSION, b"", b"A1", implicit_vr=True)),
        (True, element(PATIENT_ID, b"", b"P1", implicit_vr=True) * 2),  # repeated
        (True, element(0x00091010, b"", b"XX", implicit_vr=True)),  # private
        (False, element(PATIENT_NAME, b"LO", b"DOE^J ", implicit_vr=False)),  # not the dictionary's VR
        (False, element(PATIENT_ID, b"LO", b"P1", implicit_vr=False) + b"\x00\x00"),  # trailing bytes
        (True, element(PATIENT_ID, b"", b"P1", implicit_vr=True)[:-1]),  # short
        (True, element(ACCESSION, b"", b"SH" + b"A1", implicit_vr=False)),  # looks explicit: pydicom would think so
        (True, element(0x00400100, b"", struct.pack("<HHI", 0xFFFE, 0xE000, 0), implicit_vr=True)[:-8]),  # cut item
    ],
    ids=["out of order", "repeated", "private", "other VR", "trailing", "short", "explicit-looking", "cut item"],
)
def test_anything_unusual_is_left_to_pydicom(implicit_vr, stream):
    assert read_identifier(stream, implicit_vr=implicit_vr) is None


def test_a_character_set_inside_an_item_is_left_to_pydicom():
    ds = with_keys("ISO_IR 100")
    ds.ScheduledProcedureStepSequence[0].SpecificCharacterSet = "ISO_IR 192"

    assert read_identifier(encode(ds, True, True), implicit_vr=True) is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=st.one_of(identifiers(), identifiers(mutate=True)))
def test_every_fuzzed_identifier_reads_to_what_pydicom_reads_or_is_left_to_it(stream):
    read, reference = both(stream, True)

    assert read is None or read == reference


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(stream=identifiers())
def test_every_fuzzed_identifier_in_explicit_vr_reads_to_what_pydicom_reads_or_is_left_to_it(stream):
    try:  # the same identifier as an SCU sending Explicit VR Little Endian would write it
        explicit = encode(decode(BytesIO(stream), True, True), False, True)
    except Exception:
        explicit = None
    assume(explicit is not None)

    read, reference = both(explicit, False)

    assert read is None or read == reference


class Request:
    AffectedSOPClassUID = "1.2.840.10008.5.1.4.31"

    def __init__(self, stream: bytes):
        self.Identifier = BytesIO(stream)


class Context:
    def __init__(self, transfer_syntax):
        self.transfer_syntax = transfer_syntax


class Event:
    def __init__(self, stream: bytes, transfer_syntax):
        self.request, self.context = Request(stream), Context(transfer_syntax)

    @property
    def identifier(self) -> Dataset:
        return decode(self.request.Identifier, self.context.transfer_syntax.is_implicit_VR, True)


@pytest.mark.parametrize("transfer_syntax", [ImplicitVRLittleEndian, ExplicitVRLittleEndian])
def test_the_handler_reads_a_usual_request_from_its_bytes(transfer_syntax):
    stream = encode(with_keys("ISO_IR 192", PatientID="P1"), transfer_syntax.is_implicit_VR, True)

    assert isinstance(scp._identifier(Event(stream, transfer_syntax)), Identifier)


def test_the_handler_leaves_an_unusual_request_to_pydicom():
    stream = element(0x00091010, b"", b"XX", implicit_vr=True)

    assert isinstance(scp._identifier(Event(stream, ImplicitVRLittleEndian)), Dataset)
