"""The RIS splits HL7 messages itself, lazily (interfaces.hl7v2.parse): every value it reads must be the value
python-hl7's parse tree holds, for valid, mutated and random messages alike."""

import hl7
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interfaces.hl7v2 import Reader, Rejected, decode, parse
from tests.interfaces.test_fuzz_hl7 import MESSAGES, SEEDS
from tests.interfaces.test_hl7_speed import cis_order

POSITIONS = [(c, r, s) for c in (1, 2, 3, 5) for r in (1, 2, 3) for s in (1, 2, 3)]


def reference_raw(segment, field: int, component: int = 1, repetition: int = 1, subcomponent: int = 1) -> str:
    """Reader.raw as it read python-hl7's tree before the RIS split messages itself: the reference."""
    if segment is None or field >= len(segment):
        return ""
    if str(segment[0]) == "MSH" and field <= 2:
        return str(segment[field])
    value = segment[field]
    items = list(value) if not isinstance(value, str) else [value]
    if not items:
        return ""
    if isinstance(items[0], str):
        return str(items[0]) if (component, repetition, subcomponent) == (1, 1, 1) else ""
    if repetition > len(items):
        return ""
    components = list(items[repetition - 1])
    if component > len(components):
        return ""
    sub = components[component - 1]
    subs = [sub] if isinstance(sub, str) else list(sub)
    return str(subs[subcomponent - 1]) if subcomponent <= len(subs) else ""


def reference_repetitions(segment, field: int) -> int:
    if segment is None or field >= len(segment):
        return 0
    value = segment[field]
    items = list(value) if not isinstance(value, str) else [value]
    return 0 if not items or items == [""] else (1 if isinstance(items[0], str) else len(items))


def assert_same_reading(text: str) -> None:
    """Either the lazy split reads every field, component, repetition and subcomponent as python-hl7 does, or it
    rejects a message python-hl7 cannot split (or splits with delimiters that are not distinct)."""
    try:
        lazy = parse(text)
    except Rejected:
        normal = text.replace("\r\n", "\r").replace("\n", "\r")
        try:
            tree = hl7.parse("\r".join(s for s in normal.split("\r") if s))
        except Exception:  # python-hl7 raises several kinds: rejected by both
            return
        declared = str(tree.segment("MSH")[1]) + str(tree.segment("MSH")[2])
        field, component, repetition = declared[0], declared[1:2] or "^", declared[2:3] or "~"
        assert len({field, component, repetition, declared[4:5] or "&"}) < 4, declared  # python-hl7's defaults
        return
    tree = hl7.parse("\r".join(_lines(text)))
    assert len(lazy) == len(tree)
    reader = Reader(lazy)
    for mine, theirs in zip(lazy, tree, strict=True):
        assert mine[0] == str(theirs[0])
        assert len(mine) == len(theirs)
        for field in range(len(theirs) + 1):
            assert reader.repetitions(mine, field) == reference_repetitions(theirs, field), (field, str(theirs))
            for component, repetition, subcomponent in POSITIONS:
                expected = reference_raw(theirs, field, component, repetition, subcomponent)
                assert reader.raw(mine, field, component, repetition, subcomponent) == expected, (
                    field,
                    component,
                    repetition,
                    subcomponent,
                    str(theirs),
                )


def _lines(text: str) -> list[str]:
    """The segments as interfaces.hl7v2.parse cuts them (CR, LF and CRLF; no blank lines), for python-hl7."""
    normal = text.replace("\r\n", "\r").replace("\n", "\r")
    return [line for line in normal.strip().split("\r") if line]


@pytest.mark.parametrize("text", [*SEEDS, cis_order("C1", provider="1234567893^House^Gregory^^^^^^NPI~X^Y")])
def test_the_lazy_split_reads_the_messages_senders_send_as_python_hl7_does(text):
    assert_same_reading(text)


@settings(max_examples=400, deadline=None)
@given(data=MESSAGES)
def test_the_lazy_split_reads_mutated_and_random_messages_as_python_hl7_does(data):
    try:
        text = decode(data)
    except Rejected:
        return
    assert_same_reading(text)


@given(
    fields=st.lists(st.text(alphabet="AB^~&|\\ é", max_size=12), max_size=8),
    delimiters=st.sampled_from(["^~\\&", "^~\\", "^~", "^", "", "#*!$", "^~\\&%"]),
)
def test_the_lazy_split_follows_the_delimiters_msh_2_declares(fields, delimiters):
    assert_same_reading("\r".join([f"MSH|{delimiters}|CIS|HOSP", "PID|" + "|".join(fields), "ZXX|" + "^".join(fields)]))


def test_delimiters_that_are_not_distinct_are_rejected():
    with pytest.raises(Rejected):
        parse("MSH|^^\\&|CIS|HOSP|RIS|RAD|20260101||ADT^A01|C1|P|2.5.1")
