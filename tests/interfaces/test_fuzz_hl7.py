"""Fuzzing the inbound HL7 path: the MLLP framer, the HL7 text layer and the handler of one received frame.

Random and mutated input (valid ADT^A04/A08 and ORM^O01 with flipped, inserted and deleted bytes, swapped
separators, truncation, huge fields, bytes that are not UTF-8, broken MSH-2, escapes that decode to NUL or CR):
only the documented errors escape the pure layers, every frame gets an ACK, and an ACK other than AA writes no
clinical data. bench/fuzz/hl7.py runs the pure layers for longer under atheris.
"""

import contextlib
from datetime import UTC, datetime

import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interfaces.hl7v2 import (
    Header,
    MessageError,
    Reader,
    Rejected,
    acknowledgement,
    decode,
    header,
    header_from_bytes,
    parse,
)
from interfaces.mllp import END, START, FrameError, FrameReader, frame
from interfaces.models import InboundMessage, OutboundMessage
from interfaces.services import message_receive
from ris.models import OutboxEvent, Patient
from scheduling.models import Exam, Order
from tests.interfaces.conftest import adt, msh, orm, pid, tomorrow_at

SEEDS = [
    adt("FZ1", "A04"),
    adt("FZ2", "A08", name="O\\T\\Brien^Se\\XC3A1\\n"),
    orm("FZ3"),
    orm("FZ4", status="SC", start=tomorrow_at(9), placer="PL9"),
    orm("FZ5", control="CA"),
    orm("FZ6", code="NOPE"),
    orm("FZ7", extra="||AL|NE"),
    "\r".join([msh("FZ8", "OMI^O23^OMI_O23"), pid(), "ORC|NW|PL8^CIS", "OBR|1|PL8^CIS||CTHEAD", "IPC|ACC8"]),
]
SEED_BYTES = [seed.encode() for seed in SEEDS]
# Bytes with a meaning somewhere on the path: HL7 delimiters, segment ends, MLLP framing, NUL, a lone UTF-8 lead.
SPECIAL = [b"|", b"^", b"~", b"\\", b"&", b"\r", b"\n", b"\r\n", START, b"\x1c", END, b"\x00", b"\xc3", b"\xff"]
# Escapes that unescape to delimiters, line breaks, NUL, CR or broken UTF-8 (HL7 v2.5.1 2.7).
ESCAPES = [b"\\F\\", b"\\S\\", b"\\R\\", b"\\T\\", b"\\E\\", b"\\.br\\", b"\\X00\\", b"\\X0D\\", b"\\X0A\\"]
ESCAPES += [b"\\XC3\\", b"\\XFFFE\\", b"\\X\\", b"\\H\\", b"\\Z1\\", b"\\"]
CHARSETS = [b"", b"ASCII", b"8859/1", b"8859/5", b"UNICODE UTF-8", b"ISO_IR 192", b"\xff\xfe", b"8859/1\x00"]
ACK_CODES = {"AA", "AE", "AR", "CA"}


# A field's worth of trouble: escapes, delimiters, bytes that are not UTF-8, column-busting lengths.
FIELD_VALUES = st.one_of(
    st.lists(st.sampled_from(ESCAPES + SPECIAL), min_size=1, max_size=4).map(b"".join),
    st.binary(max_size=16),
    st.text(max_size=16).map(str.encode),
    st.tuples(st.sampled_from([b"A", b"9", b"\xc3\xa9", b"^", b"~", b"\\X41\\"]), st.integers(65, 20_000)).map(
        lambda repeat: repeat[0] * repeat[1]  # over every column: MRN 64, control ID 199, accession number 16
    ),
)
KINDS = ["flip", "insert", "delete", "separator", "truncate", "field", "segment", "msh2", "charset"]


@st.composite
def mutation(draw, data: bytes) -> bytes:
    """One change to `data`: the kinds a broken sender, a bad line or an attacker produce."""
    at = draw(st.integers(0, len(data)))
    kind = draw(st.sampled_from(KINDS))
    if kind == "flip" and at < len(data):
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    if kind == "insert":
        return data[:at] + draw(FIELD_VALUES) + data[at:]
    if kind == "delete":
        return data[:at] + data[at + draw(st.integers(1, 40)) :]
    if kind == "separator":
        old, new = draw(st.sampled_from(SPECIAL[:7])), draw(st.sampled_from(SPECIAL))
        return data.replace(old, new, draw(st.sampled_from([1, -1])))
    if kind == "truncate":
        return data[:at]
    segments = data.split(b"\r")
    n = draw(st.integers(0, len(segments) - 1))
    if kind == "field":  # one field (MSH-9, MSH-10, PID-3, ORC-2, ...) replaced, or one added
        fields = segments[n].split(b"|")
        index = draw(st.integers(min(1, len(fields) - 1), len(fields)))
        fields[index : index + 1] = [draw(FIELD_VALUES)]
        segments[n] = b"|".join(fields)
    elif kind == "segment":  # dropped, doubled, or a blank line before or after it
        change = draw(st.sampled_from(["drop", "double", "blank before", "blank after"]))
        if change == "drop":
            del segments[n]
        elif change == "double":
            segments.insert(n, segments[n])
        else:
            segments.insert(n + (change == "blank after"), b"")
    elif kind == "msh2":  # the encoding characters (MSH-2) wrong, missing or repeated
        return data[:4] + draw(st.binary(max_size=6)) + data[8:]
    elif kind == "charset":  # MSH-18
        segments[0] = b"|".join([*segments[0].split(b"|")[:17], draw(st.sampled_from(CHARSETS))])
    return b"\r".join(segments)


@st.composite
def mutated_message(draw) -> bytes:
    data = draw(st.sampled_from(SEED_BYTES))
    for _ in range(draw(st.integers(1, 4))):
        data = draw(mutation(data))
    return data


MESSAGES = st.one_of(
    mutated_message(),
    st.binary(max_size=400),
    st.text(max_size=300).map(lambda t: ("MSH|^~\\&|" + t).encode()),
    st.binary(max_size=200).map(lambda b: b"MSH" + b),
)


# --- the MLLP framer ------------------------------------------------------------------------------------------


STREAM_PIECES = st.one_of(st.sampled_from(SEED_BYTES[:2]).map(frame), st.sampled_from([START, END, b"\x1c", b"\r"]))
STREAMS = st.lists(st.one_of(STREAM_PIECES, st.binary(max_size=30)), max_size=12).map(b"".join)


@settings(max_examples=150, deadline=None)
@given(stream=STREAMS, sizes=st.lists(st.integers(1, 64), min_size=1, max_size=20), limit=st.integers(1, 400))
def test_the_deframer_raises_only_frame_error_and_never_returns_more_than_it_was_fed(stream, sizes, limit):
    """Frames, framing bytes and junk, read in pieces of any size against any limit."""
    reader, fed, out, position = FrameReader(max_bytes=limit), 0, 0, 0
    while position < len(stream):
        piece = stream[position : position + sizes[position % len(sizes)]]
        position += len(piece)
        fed += len(piece)
        try:
            messages = reader.feed(piece)
        except FrameError:
            assert reader.pending == 0  # the connection is closed; nothing of the broken frame is kept
            continue
        assert all(len(message) <= limit and END not in message for message in messages)
        out += sum(len(message) + len(START + END) for message in messages)
        assert out + reader.pending <= fed
        assert reader.pending <= limit + 1  # a whole frame with its <FS>, awaiting the <CR>


@settings(max_examples=100, deadline=None)
@given(messages=st.lists(mutated_message(), min_size=1, max_size=4), sizes=st.lists(st.integers(1, 300), min_size=1))
def test_frames_of_mutated_messages_come_out_whole_whatever_the_pieces(messages, sizes):
    """Messages free of <FS><CR> survive framing split anywhere (<VT> inside a message is only data).

    The limit is the longest message: a frame of exactly `max_bytes` is read however the pieces fall, a read
    ending between its <FS> and <CR> included.
    """
    messages = [message for message in messages if END not in message and not message.endswith(b"\x1c")]
    stream = b"".join(frame(message) for message in messages)
    limit = max((len(message) for message in messages), default=1)
    reader, out, position = FrameReader(max_bytes=limit), [], 0
    for size in sizes * (len(stream) // len(sizes) + 1):
        out += reader.feed(stream[position : position + size])
        position += size
    assert out == messages
    assert reader.pending == 0


# --- the HL7 text layer (pure) --------------------------------------------------------------------------------


def _ack_segments(ack: str) -> list[list[str]]:
    assert ack.endswith("\r")
    return [segment.split("|") for segment in ack[:-1].split("\r")]


def _assert_well_formed_ack(ack: str, code: str, *, error: bool) -> None:
    """MSH, MSA and (for an error) ERR, each with its own fields: nothing from the message added a segment or a
    field, and no NUL reaches the wire or a PostgreSQL text column."""
    assert "\x00" not in ack
    segments = _ack_segments(ack)
    assert [segment[0] for segment in segments] == ["MSH", "MSA", *(["ERR"] if error else [])]
    version = segments[0][11]
    if version in ("2.3", "2.3.1", "2.4"):  # MSH-18 only when a value echoed back is not ASCII; ERR-1 alone
        assert len(segments[0]) in (12, 18)
        assert [len(segment) for segment in segments[1:]] == [4, *([2] if error else [])]
    else:  # v2.5 and later, and what is answered as 2.5.1
        assert [len(segment) for segment in segments] == [18, 4, *([9] if error else [])]
    assert segments[1][1] == code
    assert segments[0][8].split("^")[0] == "ACK"
    reread = header(Reader(parse(decode(ack.encode()))))
    assert reread.message_type == "ACK"


@settings(max_examples=300, deadline=None)
@given(data=MESSAGES)
def test_the_text_layer_raises_only_rejected_and_never_fails_to_read_a_field(data):
    try:
        message = parse(decode(data))
    except Rejected as error:
        codes = {error.code}
    else:
        codes = set()
    assert codes <= {100, 102, 103}  # segment sequence, data type, table value (MSH-18)
    if codes:
        return
    reader = Reader(message)
    head = header(reader)
    assert isinstance(head, Header)
    for segment in reader.message:
        for field in range(len(segment) + 1):
            for component, repetition in ((1, 1), (2, 1), (1, 2), (4, 1)):
                assert isinstance(reader.get(segment, field, component, repetition), str)
            assert reader.repetitions(segment, field) >= 0


@settings(max_examples=300, deadline=None)
@given(data=MESSAGES, code=st.sampled_from(sorted(ACK_CODES)))
def test_an_ack_is_well_formed_whatever_the_header_it_answers(data, code):
    """header_from_bytes (any bytes) and the parsed header both give an ACK of exactly MSH, MSA (and ERR)."""
    heads = [header_from_bytes(data)]
    with contextlib.suppress(Rejected):
        heads.append(header(Reader(parse(decode(data)))))
    for head in heads:
        error = MessageError(data[:120].decode("utf-8", "replace"), code=102, location=("PID", 1, 3))
        for failure in (None, error):
            ack = acknowledgement(
                head,
                code,
                control_id="ACKFUZZ",
                timestamp=datetime(2026, 1, 5, 10, 0, tzinfo=UTC),
                application="RIS",
                facility="RAD",
                error=failure,
            )
            _assert_well_formed_ack(ack, code, error=failure is not None)


# --- the handler of one received frame ------------------------------------------------------------------------


def clinical_counts() -> dict[str, int]:
    """The clinical tables and their history, and the outbox (what the PACS would be told)."""
    models = [Patient, Order, Exam, OutboxEvent, OutboundMessage]
    counts = {model.__name__: model.objects.count() for model in models}
    counts |= {f"{model.__name__} history": model.history.count() for model in (Patient, Order, Exam)}
    return counts


@pytest.mark.django_db
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=MESSAGES)
def test_every_received_frame_gets_an_ack_and_only_aa_writes_clinical_data(catalog, data):
    """What the listener does with a frame: deframe, message_receive, send the ACK. An AE or AR writes no
    clinical row nor history nor outbox event; storing the message itself (InboundMessage, the message log) is
    expected for every one."""
    before, stored = clinical_counts(), InboundMessage.objects.count()
    reader = FrameReader(django_settings.RIS_HL7_MAX_FRAME_BYTES)
    if END in data:  # <FS><CR> inside the message ends its frame early: what follows is outside a frame
        try:
            messages = reader.feed(frame(data))
        except FrameError:
            return  # the listener closes the connection
    else:
        messages = reader.feed(frame(data))
        assert messages == [data]
    for message in messages:
        ack = message_receive(message, peer="127.0.0.1:9")
        code = _ack_segments(ack)[1][1]
        assert code in ACK_CODES
        _assert_well_formed_ack(ack, code, error=code in ("AE", "AR"))
        if code in ("AE", "AR"):  # (CA: accepted, applied by a task, or at once when it is a resend)
            assert clinical_counts() == before
    assert InboundMessage.objects.count() - stored <= len(messages)


@pytest.mark.django_db
def test_an_escape_that_decodes_to_nul_is_answered_and_stored(catalog):
    """NUL, raw or as \\X00\\, in the MRN, the placer number, MSH-9.2 and MSH-11: every message is answered, and
    neither the ACK nor the message log holds a NUL (PostgreSQL refuses it in a text column)."""
    messages = [
        adt("NUL1", name="A\\X00\\B^C").replace("P100^^^", "P\\X00\\1^^^"),
        orm("NUL2", control="CA", placer="P\\X00\\L"),
        adt("NUL3").replace("ADT^A04^ADT_A01", "ADT^A\\X00\\4"),
        adt("NUL4").replace("|NUL4|P|", "|NUL4|P\\X00\\\\X0D\\ZZZ|"),
        adt("NUL5").replace("ADT^A04^ADT_A01|NUL5|P", "ADT^A\x004|NUL5|P\x00"),  # raw NUL: refused, still answered
    ]
    for text in messages:
        ack = message_receive(text.encode())
        assert "\x00" not in ack
        assert [segment[0] for segment in _ack_segments(ack)][:2] == ["MSH", "MSA"]
    assert InboundMessage.objects.count() == len(messages)
    assert not any("\x00" in row.raw + row.ack + row.outcome + row.mrn for row in InboundMessage.objects.all())


@pytest.mark.django_db
@pytest.mark.parametrize("line_end", ["\r\r", "\r\n\r\n", "\n\n"])
def test_a_blank_line_between_segments_is_no_segment(catalog, line_end):
    """python-hl7 fails (IndexError) on an empty segment; such a message was left without an ACK."""
    ack = message_receive(adt("BL1").replace("\r", line_end).encode())
    assert _ack_segments(ack)[1][1] == "AA"
