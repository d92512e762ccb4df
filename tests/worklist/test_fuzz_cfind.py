"""Fuzzing the Modality Worklist C-FIND: random identifiers, as the SCP decodes them off the wire, through the
translation, the selector and the handler.

An identifier is built as Implicit VR Little Endian bytes (the default transfer syntax) from VR-appropriate values,
wildcards, date and time ranges, garbage and bytes that are not UTF-8, and an SPS sequence absent, empty or with one
or two items; pynetdicom's decoder turns it into the dataset a handler gets. bench/fuzz/cfind.py runs the
translation for longer under atheris.
"""

import struct
from datetime import UTC
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import Dataset
from pydicom.tag import Tag
from pynetdicom.dsutils import decode, encode

from ris.models import OutboxEvent, Patient
from ris.text import fold
from scheduling.models import Exam, Order
from worklist import scp
from worklist.models import PerformedProcedureStep
from worklist.translate import InvalidQuery, ResponsePlan, WorklistQuery, parse_query

# pydicom warns of values that break their VR, as it should; they are the point here.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydicom")

TEXT_CHARS = "ABCMRSTÜÖøü山田abc0123456789 .-_^=*?\\"
# Values near what the department fixture holds, so that some queries match and responses are built.
KNOWN = ["CT1", "CT2", "MR1", "CT", "MR", "P1", "P*", "M*", "Müller^J*", "mül*", "山田*", "SCHEDULED", "ARRIVED"]


def _text(encoding: str) -> st.SearchStrategy[bytes]:
    return st.text(st.sampled_from(TEXT_CHARS), max_size=20).map(lambda t: t.encode(encoding, "replace"))


def _ranges(single: st.SearchStrategy[str], broken: list[str]) -> st.SearchStrategy[bytes]:
    """A value, a range "a-b", "a-" or "-b" (PS3.4 C.2.2.2.5), or something that only looks like one."""
    return st.one_of(
        single,
        st.tuples(single, single).map("-".join),
        single.map(lambda value: value + "-"),
        single.map(lambda value: "-" + value),
        st.sampled_from(broken),
        st.lists(st.one_of(single, st.sampled_from(broken)), max_size=3).map("-".join),
    ).map(str.encode)


def _date_bytes() -> st.SearchStrategy[bytes]:
    day = st.one_of(
        st.dates().map(lambda d: f"{d.year:04d}{d.month:02d}{d.day:02d}"),
        st.sampled_from(["00010101", "99991231"]),  # the ends of the calendar: off UTC, past a datetime's range
        st.sampled_from(["20261128", "2026.11.28"]),
    )
    return _ranges(day, ["20261345", "2026112", "2026-11-28", "tomorrow", "", "-", "--", "2026112820261129"])


def _time_bytes() -> st.SearchStrategy[bytes]:
    clock = st.one_of(
        st.tuples(st.times(), st.sampled_from([2, 4, 6, 8, 13])).map(  # HH, HHMM, HHMMSS, HHMMSS.F, HHMMSS.FFFFFF
            lambda clock: clock[0].strftime("%H%M%S.%f")[: clock[1]]
        ),
        st.sampled_from(["00", "2359", "235959.999999", "08:15:00"]),
    )
    return _ranges(clock, ["24", "9", "1260", "10.", "", "-", "::", "1O00"])


def _value(kind: str) -> st.SearchStrategy[bytes]:
    typed = {"DA": _date_bytes(), "TM": _time_bytes()}.get(kind, st.nothing())
    return st.one_of(
        typed,
        typed,
        _text("utf-8"),
        _text("latin-1"),
        st.sampled_from(KNOWN).map(str.encode),
        st.binary(max_size=24),
        st.sampled_from([b"", b"*", b"?", b"**", b"\\", b"\x00", b"A" * 70]),
    )


ROOT_KEYS = {
    "PatientName": "PN",
    "PatientID": "LO",
    "AccessionNumber": "SH",
    "RequestedProcedureID": "SH",
    "PatientSex": "CS",
    "AdmissionID": "LO",
    "ReferringPhysicianName": "PN",
    "StudyInstanceUID": "UI",
    "PatientBirthDate": "DA",
    "IssuerOfPatientID": "LO",
    "RequestedProcedureDescription": "LO",
    "StudyDate": "DA",  # not a worklist return key: asked for, answered empty with FF01
}
SPS_KEYS = {
    "Modality": "CS",
    "ScheduledStationAETitle": "AE",
    "ScheduledProcedureStepID": "SH",
    "ScheduledStationName": "SH",
    "ScheduledProcedureStepLocation": "SH",
    "ScheduledPerformingPhysicianName": "PN",
    "ScheduledProcedureStepStatus": "CS",
    "ScheduledProcedureStepStartDate": "DA",
    "ScheduledProcedureStepStartTime": "TM",
}
CHARSETS = [b"", b"ISO_IR 100", b"ISO_IR 192", b"ISO_IR 6", b"ISO 2022 IR 87", b"GB18030", b"KLINGON", b"\xff\xfe"]


def _element(tag: int, value: bytes) -> bytes:
    """An Implicit VR Little Endian element (PS3.5 7.1.3), padded to an even length as the standard wants."""
    if len(value) % 2:
        value += b" "
    return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value


def _dataset(values: dict[str, bytes]) -> bytes:
    return b"".join(_element(tag, value) for tag, value in sorted((Tag(k), v) for k, v in values.items()))


def _sequence(items: list[bytes]) -> bytes:
    return b"".join(struct.pack("<HHI", 0xFFFE, 0xE000, len(item)) + item for item in items)


@st.composite
def identifiers(draw, *, mutate: bool = False) -> bytes:
    """The identifier of a C-FIND-RQ as its bytes; mutated, when asked, as a broken SCU or line would."""
    keys = draw(st.lists(st.sampled_from(sorted(ROOT_KEYS)), unique=True, max_size=8))
    values = {key: draw(_value(ROOT_KEYS[key])) for key in keys}
    if draw(st.booleans()):
        values["SpecificCharacterSet"] = draw(st.sampled_from(CHARSETS))
    if draw(st.integers(0, 9)) == 0:  # a Query/Retrieve Level: a worklist query has none (A900 unless empty)
        values["QueryRetrieveLevel"] = draw(st.sampled_from([b"", b"PATIENT", b"STUDY", b" "]))
    shape = draw(st.sampled_from(["absent", "empty", "empty item", "two items", *["item"] * 4]))
    if shape != "absent":
        items = []
        for _ in range({"empty": 0, "empty item": 1, "item": 1, "two items": 2}[shape]):
            sps_keys = [] if shape == "empty item" else draw(st.lists(st.sampled_from(sorted(SPS_KEYS)), unique=True))
            items.append(_dataset({key: draw(_value(SPS_KEYS[key])) for key in sps_keys}))
        values["ScheduledProcedureStepSequence"] = _sequence(items)
    stream = _dataset(values)
    for _ in range(draw(st.integers(1, 3)) if mutate else 0):
        at = draw(st.integers(0, len(stream)))
        junk = draw(st.one_of(st.binary(min_size=1, max_size=8), st.sampled_from([b"SQ", b"UN", b"OB", b"\xff" * 4])))
        stream = draw(st.sampled_from([stream[:at] + junk + stream[at:], stream[:at] + junk + stream[at + 2 :]]))
    return stream


def wire(stream: bytes) -> Dataset:
    """What pynetdicom hands the handler: the decoded identifier (its values converted when first read)."""
    return decode(BytesIO(stream), True, True)


# --- translation (pure) ---------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(stream=identifiers(), zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Pacific/Kiritimati"]))
def test_an_identifier_translates_to_a_query_or_is_invalid_and_nothing_else(stream, zone):
    identifier = wire(stream)
    try:
        query = parse_query(identifier, tz=ZoneInfo(zone), fold=fold)
    except InvalidQuery:
        return
    assert isinstance(query, WorklistQuery)
    assert all(value and value != "*" and "\x00" not in value for value in query.strings.values())
    assert "\x00" not in (query.patient_name or "")  # (no NUL reaches PostgreSQL)
    for bound in (query.start.start, query.start.end) if query.start else ():
        assert bound is None or bound.astimezone(UTC)  # the database compares it in UTC
    ResponsePlan(identifier)  # the response's keys and character set, worked out once per query


# --- the selector and the handler ------------------------------------------------------------------------------


class _Event:
    """The parts of a pynetdicom C-FIND event the handler reads; the identifier decoded lazily, as pynetdicom does."""

    assoc = type("Assoc", (), {"requestor": type("Requestor", (), {"ae_title": "CT1"})()})()
    is_cancelled = False

    def __init__(self, stream: bytes):
        self.stream = stream

    @property
    def identifier(self) -> Dataset:
        return wire(self.stream)


def written() -> dict[str, int]:
    models = (Patient, Order, Exam, PerformedProcedureStep, OutboxEvent)
    counts = {model.__name__: model.objects.count() for model in models}
    return counts | {f"{model.__name__} history": model.history.count() for model in (Patient, Order, Exam)}


MATCH = {scp.PENDING, scp.PENDING_WARNING}


@pytest.fixture
def ward(department, monkeypatch):
    """The department, and the handler's database housekeeping left to the test: close_old_connections() inside
    the test's transaction would close its connection on PostgreSQL (the SCP calls it with none open)."""
    monkeypatch.setattr(scp, "close_old_connections", lambda: None)
    return department


@pytest.mark.django_db
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), mutate=st.booleans(), zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]))
def test_the_handler_answers_matches_or_a900_and_writes_nothing(ward, data, mutate, zone):
    """A900 when the identifier does not fit the SOP class (C310 when its bytes cannot be decoded); otherwise the
    selector runs (no C001) and every match is an encodable response. The handler reads only: no row and no
    history row is written. No exception leaves the handler."""
    stream = data.draw(identifiers(mutate=mutate), label="identifier")
    before = written()
    with override_settings(TIME_ZONE=zone), timezone.override(zone):
        answers = list(scp.handle_find(_Event(stream)))
    statuses = [status for status, _response in answers]
    refusals = [[scp.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS], [scp.UNABLE_TO_DECODE]]
    assert statuses in refusals or set(statuses) <= MATCH, [hex(status) for status in statuses]
    for status, response in answers:
        if status in MATCH:
            assert encode(response, True, True) is not None
    assert written() == before


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York"])
@pytest.mark.parametrize("dates", [b"00010101-", b"-99991231", b"00010101-99991231"])
def test_open_date_ranges_at_the_ends_of_the_calendar_are_answered(ward, zone, dates):
    """A range from 0001-01-01 or to 9999-12-31 in a zone off UTC reaches past what a datetime holds in UTC, where
    SQLite compares it: the selector raised OverflowError (C001). (PostgreSQL takes the offset as it is.)"""
    sps = _sequence([_dataset({"ScheduledProcedureStepStartDate": dates})])
    stream = _dataset({"PatientID": b"P1", "ScheduledProcedureStepSequence": sps})
    with override_settings(TIME_ZONE=zone), timezone.override(zone):
        statuses = [status for status, _response in scp.handle_find(_Event(stream))]
    assert statuses == [scp.PENDING]  # P1's exam today


@pytest.mark.django_db
def test_a_value_pydicom_cannot_decode_is_a900_not_an_exception(ward):
    """pydicom 3.0 raises IndexError reading a PN whose first group is empty under ISO 2022 IR 87 ("=Yamada")."""
    stream = _dataset({"SpecificCharacterSet": b"ISO 2022 IR 87", "PatientName": b"=Yamada"})
    statuses = [status for status, _response in scp.handle_find(_Event(stream))]
    assert statuses == [scp.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS]


@pytest.mark.django_db
def test_a_return_key_whose_bytes_do_not_fit_its_vr_is_a900_before_any_match(ward):
    """Found by the fuzz tests: a return key the query does not match on (SimpleFrameList, UL, given 6 bytes) was
    first read while the answer was built, after the selector ran, and the handler answered C001."""
    stream = _dataset({"PatientID": b"P1", "SimpleFrameList": b"\x01\x02\x03\x04\x05\x06"})
    statuses = [status for status, _response in scp.handle_find(_Event(stream))]
    assert statuses == [scp.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS]


@pytest.mark.django_db
def test_a_text_key_sent_as_a_sequence_is_a900_not_an_exception(ward):
    """Explicit VR bytes (which pydicom detects) giving PatientID the VR SQ: reading it as text converted the
    item's elements, whose unknown VR raised NotImplementedError out of the handler."""
    item = struct.pack("<HH2sH", 0x0008, 0x0050, b"VE", 2) + b"A1"  # (0008,0050) with a VR that does not exist
    value = struct.pack("<HHI", 0xFFFE, 0xE000, len(item)) + item
    stream = struct.pack("<HH2sHI", 0x0010, 0x0020, b"SQ", 0, len(value)) + value
    statuses = [status for status, _response in scp.handle_find(_Event(stream))]
    assert statuses == [scp.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("station", "statuses"),
    [(b"CT1\x00", [scp.PENDING]), (b"C\x00T1", [scp.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS])],
)
def test_nul_padding_is_padding_and_a_nul_inside_a_value_is_a900(ward, station, statuses):
    """A NUL inside a value reached the selector, which PostgreSQL refused (C001)."""
    sps = _sequence([_dataset({"ScheduledStationAETitle": station})])
    stream = _dataset({"PatientID": b"P1", "ScheduledProcedureStepSequence": sps})
    assert [status for status, _response in scp.handle_find(_Event(stream))] == statuses
