"""MLLP framing: whole messages out of any split of the stream, junk and oversized frames refused."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interfaces.mllp import START, FrameError, FrameReader, frame

MESSAGES = [b"MSH|^~\\&|CIS|H|RIS|R|20261128||ADT^A04|1|P|2.5.1\rPID|1||P1", b"MSH|x\rEVN|A08", "Müller".encode()]


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=60))
def test_messages_come_out_whole_whatever_the_pieces(sizes):
    stream = b"".join(frame(m) for m in MESSAGES)
    reader, out, position = FrameReader(max_bytes=1000), [], 0
    for size in sizes * 10:
        out += reader.feed(stream[position : position + size])
        position += size
    out += reader.feed(stream[position:])
    assert out == MESSAGES
    assert reader.pending == 0


def test_white_space_between_frames_is_tolerated():
    assert FrameReader(100).feed(b"\r\n" + frame(b"A") + b"\n" + frame(b"B")) == [b"A", b"B"]


def test_data_outside_a_frame_is_refused():
    with pytest.raises(FrameError, match="outside"):
        FrameReader(100).feed(b"GET / HTTP/1.1\r\n")


def test_a_frame_over_the_limit_is_refused_before_it_ends():
    reader = FrameReader(max_bytes=10)
    reader.feed(b"\x0b12345")
    with pytest.raises(FrameError, match="larger than 10"):
        reader.feed(b"678901234")


def test_a_whole_frame_over_the_limit_is_refused():
    with pytest.raises(FrameError, match="larger"):
        FrameReader(max_bytes=3).feed(frame(b"12345"))


def test_a_frame_of_exactly_the_limit_is_read_when_its_cr_comes_in_the_next_read():
    reader = FrameReader(max_bytes=5)
    assert reader.feed(START + b"12345\x1c") == []
    assert reader.feed(b"\r") == [b"12345"]
    assert reader.pending == 0


def test_a_frame_one_over_the_limit_is_refused_when_its_cr_comes_in_the_next_read():
    reader = FrameReader(max_bytes=5)
    with pytest.raises(FrameError, match="larger than 5"):
        reader.feed(START + b"123456\x1c")


def test_after_a_refusal_the_next_frame_is_read():
    reader = FrameReader(max_bytes=3)
    with pytest.raises(FrameError):
        reader.feed(frame(b"12345"))
    assert reader.feed(frame(b"ok")) == [b"ok"]
