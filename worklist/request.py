"""A worklist C-FIND request's identifier read from its bytes, as pydicom reads it, without pydicom's dataset layer.

pynetdicom hands the handler a pydicom Dataset whose elements are converted when first read; `parse_query` converts
them all (a value that cannot be converted makes the identifier invalid) and `ResponsePlan` walks them again: about
a millisecond for the ~50 keys a modality sends, most of it per-element bookkeeping (raw element, hooks,
DataElement, tag look-ups). A request is as regular as a response: tags in ascending order, the keys of PS3.4
Table K.6-1 with their dictionary VRs, mostly zero length. `read_identifier` walks those bytes once and converts
each value with pydicom's own converter (`pydicom.values.convert_value`, in the character set pydicom would use),
so the values are the ones pydicom's Dataset holds. `Identifier` offers what the translation reads of a Dataset.

Anything unusual is left to pydicom (`read_identifier` returns None): another transfer syntax, an element out of
order or repeated, a private or unknown tag, an explicit VR other than the dictionary's (or an ambiguous one), a
Specific Character Set inside an item, a length that does not fit, a delimiter where none belongs, a value pydicom
could not convert, or implicit VR bytes that pydicom would take for explicit VR. pydicom then reads it, refusals
included. tests/worklist/test_request.py holds the reader to pydicom's reading.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, NamedTuple

from pydicom.charset import convert_encodings, default_encoding
from pydicom.datadict import DicomDictionary
from pydicom.dataelem import RawDataElement
from pydicom.tag import BaseTag
from pydicom.values import convert_value

# Explicit VR: these have 2 reserved bytes and a 32-bit length (PS3.5 7.1.2).
LONG_LENGTH_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})
# The VRs read here: text and the other strings, and the binary numbers a worklist key may have; SQ walked here.
READ_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
    | {"US", "UL", "SS", "SL", "SQ"}
)
SPECIFIC_CHARACTER_SET = 0x00080005
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF

_TAG_UL = struct.Struct("<HHI")  # a tag and a 32-bit length: implicit VR, items, explicit VR long lengths' tag part
_EXPLICIT = struct.Struct("<HH2sH")  # a tag, an explicit VR and a 16-bit length
_UL = struct.Struct("<I")


class Element(NamedTuple):
    """One element as the translation reads it of a pydicom DataElement."""

    tag: BaseTag
    VR: str
    keyword: str
    value: Any


class Identifier:
    """A read identifier (or item): what `parse_query` and `ResponsePlan` read of a Dataset. Elements in tag order,
    looked up by keyword; a sequence's value is a list of Identifier."""

    __slots__ = ("_by_keyword", "_elements")

    def __init__(self, elements: list[Element]):
        self._elements = elements
        self._by_keyword = {element.keyword: element for element in elements}

    def __iter__(self) -> Iterator[Element]:
        return iter(self._elements)

    def __len__(self) -> int:
        return len(self._elements)

    def __contains__(self, keyword: object) -> bool:
        return keyword in self._by_keyword

    def __getitem__(self, keyword: str) -> Element:
        return self._by_keyword[keyword]


class _Unusual(Exception):
    """Something pydicom is left to read."""


@lru_cache(maxsize=1024)
def _entry(tag: int) -> tuple[BaseTag, str, str]:
    """A public dictionary tag's BaseTag, VR and keyword; _Unusual for any other tag or an ambiguous VR."""
    entry = DicomDictionary.get(tag)
    if entry is None or not entry[4] or entry[0] not in READ_VRS:
        raise _Unusual
    return BaseTag(tag), entry[0], entry[4]


def read_identifier(data: bytes, *, implicit_vr: bool) -> Identifier | None:
    """The identifier of a request in Implicit or Explicit VR Little Endian, read as pydicom would read it; None
    where pydicom is to read it (see the module's docstring)."""
    try:
        if implicit_vr and len(data) >= 6 and 0x40 < data[4] < 0x5B and 0x40 < data[5] < 0x5B:
            raise _Unusual  # pydicom would take the dataset for explicit VR (filereader._is_implicit_vr)
        identifier, end = _dataset(data, 0, len(data), implicit_vr, default_encoding, root=True)
    except Exception:  # _Unusual, a short read, a value pydicom's converter refused
        return None
    return identifier if end == len(data) else None


def _dataset(
    data: bytes, position: int, end: int | None, implicit: bool, encodings: str | list[str], *, root: bool
) -> tuple[Identifier, int]:
    """The elements from `position` to `end`, or (end None) to an item delimiter; and where reading stopped."""
    elements = []
    last = -1
    while end is None or position < end:
        group, number, length = _TAG_UL.unpack_from(data, position)
        tag = group << 16 | number
        if tag == ITEM_END and end is None:
            if length != 0:
                raise _Unusual
            return Identifier(elements), position + 8
        if tag <= last:  # out of order or repeated: pydicom keeps the last one, in tag order
            raise _Unusual
        last = tag
        base, vr, keyword = _entry(tag)
        if implicit:
            start = position + 8
        else:
            explicit = data[position + 4 : position + 6]
            if explicit != vr.encode():
                raise _Unusual
            if vr in LONG_LENGTH_VRS:
                (length,) = _UL.unpack_from(data, position + 8)
                start = position + 12
            else:
                length = _EXPLICIT.unpack_from(data, position)[3]
                start = position + 8
        if vr == "SQ":
            value, position = _sequence(data, start, length, implicit, encodings)
        else:
            position = start + length
            if length == UNDEFINED or position > len(data):
                raise _Unusual
            raw = RawDataElement(base, vr, length, data[start:position], start, implicit, True)
            if tag == SPECIFIC_CHARACTER_SET:
                if not root:
                    raise _Unusual  # an item's own character set: pydicom's reading of it is left to pydicom
                value = convert_value(vr, raw, default_encoding)
                encodings = convert_encodings(value)  # as filereader.read_dataset works out the dataset's
                if not encodings:
                    raise _Unusual
            else:
                value = convert_value(vr, raw, encodings)
        elements.append(Element(base, vr, keyword, value))
    if end is None or position != end:
        raise _Unusual
    return Identifier(elements), position


def _sequence(
    data: bytes, position: int, length: int, implicit: bool, encodings: str | list[str]
) -> tuple[list[Identifier], int]:
    """A sequence's items (defined or undefined length, each item too), and the position after it."""
    items = []
    end = None if length == UNDEFINED else position + length
    while end is None or position < end:
        group, number, item_length = _TAG_UL.unpack_from(data, position)
        tag = group << 16 | number
        position += 8
        if tag == SEQUENCE_END and end is None:
            if item_length != 0:
                raise _Unusual
            return items, position
        if tag != ITEM:
            raise _Unusual
        item_end = None if item_length == UNDEFINED else position + item_length
        item, position = _dataset(data, position, item_end, implicit, encodings, root=False)
        items.append(item)
    if end is None or position != end:
        raise _Unusual
    return items, position
