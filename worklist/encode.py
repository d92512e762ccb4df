"""Worklist C-FIND responses written straight to bytes, and the adapter that hands them to pynetdicom.

`ResponsePlan.build` makes a pydicom Dataset per match and pynetdicom encodes it with pydicom: about 0.9 ms per
match, most of it per-element bookkeeping. The worklist answers a fixed set of keys with plain values (strings,
tuples of strings, small integers, lists of items), so `ResponseEncoder` works out each key's tag and header once
per query and writes each match's identifier itself: the same bytes pydicom writes (tags in ascending order,
defined-length sequences and items, values padded to even length: UI with NUL, the rest with a space; text in the
response's Specific Character Set, every other string VR in Latin-1 as pydicom does), for Implicit and Explicit
VR Little Endian. Anything else (another transfer syntax, a VR or a value it does not know) raises `NotEncodable`
and the caller answers with pydicom's Dataset instead. tests/worklist/test_encode.py holds it to pydicom's bytes.

pynetdicom's C-FIND SCP accepts only a Dataset and always encodes it (`pynetdicom.service_class.encode`, the
single call for a pending response's identifier). `EncodedIdentifier` is a Dataset carrying bytes already
written; `install()` puts `encode_identifier` in that one place: it returns those bytes when the transfer
syntax is the one they were written for, and gives any other dataset to pynetdicom's own `encode` unchanged
(docs/performance.md; the upstream proposal is there too).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache
from io import BytesIO

from pydicom import Dataset
from pydicom.charset import convert_encodings
from pydicom.filereader import read_dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import dimse_messages, dsutils, evt, service_class
from pynetdicom._handlers import LOGGER as DIMSE_LOG
from pynetdicom._handlers import standard_dimse_sent_handler
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.pdu_primitives import P_DATA

from worklist.translate import TIMEZONE_OFFSET, ResponsePlan, _Key, _tag_and_vr, encoded_text

# Transfer syntaxes written here: implicit VR?, by UID. Big endian and deflate go through pydicom.
TRANSFER_SYNTAXES = {str(ImplicitVRLittleEndian): True, str(ExplicitVRLittleEndian): False}

# Text VRs, in the response's character set (pydicom's CUSTOMIZABLE_CHARSET_VR).
TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "UC", "UT", "PN"})
# Other string VRs, written in Latin-1 whatever the character set (pydicom's default encoding); UI pads with NUL.
STRING_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "TM", "UI"})
NUMBER_STRING_VRS = frozenset({"DS", "IS"})
BINARY_VRS = {"US": "H", "SS": "h", "UL": "I", "SL": "i"}
# Explicit VR: these have a reserved 2 bytes and a 32-bit length (PS3.5 7.1.2).
LONG_LENGTH_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})

ITEM = struct.pack("<HH", 0xFFFE, 0xE000)
_UL = struct.Struct("<I")
_US = struct.Struct("<H")
_NUMBER_STRING = frozenset("0123456789+-.eE")


class NotEncodable(Exception):
    """A key, value or transfer syntax the byte encoder leaves to pydicom."""


class _Field:
    """One element of a response: its header bytes worked out once, its value written per match."""

    __slots__ = ("empty", "explicit", "item", "keyword", "long", "optional", "prefix", "tag", "vr")

    def __init__(self, keyword: str, tag: int, vr: str, *, explicit: bool, item=None, optional: bool = False):
        if explicit and len(vr) != 2:  # "US or SS" and the like: pydicom would work out the VR from other elements
            raise NotEncodable(f"{keyword} has no single VR")
        self.keyword, self.tag, self.vr, self.explicit, self.optional = keyword, tag, vr, explicit, optional
        self.item = item  # for SQ: the item's fields; () for the whole item
        self.long = not explicit or vr in LONG_LENGTH_VRS
        prefix = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
        if explicit:
            prefix += vr.encode("ascii") + (b"\x00\x00" if self.long else b"")
        self.prefix = prefix
        self.empty = self.header(0)  # a zero-length element (Type 2 without a value)

    def header(self, length: int) -> bytes:
        if self.long:
            return self.prefix + _UL.pack(length)
        if length > 0xFFFF:  # pydicom would rewrite the VR as UN
            raise NotEncodable(f"{self.keyword} is too long for its explicit VR length")
        return self.prefix + _US.pack(length)


def _fields(keys: Iterable[_Key], *, explicit: bool) -> tuple[_Field, ...]:
    fields = []
    for key in sorted(keys, key=lambda key: key.tag):
        item = None
        if key.vr == "SQ":
            item = _fields(key.item, explicit=explicit) if key.item else ()
        fields.append(_Field(key.keyword, int(key.tag), key.vr, explicit=explicit, item=item))
    return tuple(fields)


@lru_cache(maxsize=256)  # modalities ask the same keys query after query: compiled once per key set
def _root_fields(keys: tuple[_Key, ...], explicit: bool) -> tuple[_Field, ...]:
    """A response's fields for the query's keys, with its character set and time zone offset, in tag order."""
    charset = _Field("SpecificCharacterSet", *_charset_tag_vr(), explicit=explicit)
    root = [*_fields(keys, explicit=explicit), charset]
    if not any(key.tag == TIMEZONE_OFFSET for key in keys):  # every response names its offset
        root.append(_Field("TimezoneOffsetFromUTC", int(TIMEZONE_OFFSET), "SH", explicit=explicit, optional=True))
    return tuple(sorted(root, key=lambda field: field.tag))  # written in ascending tag order


@cache
def _whole_item_fields(keywords: tuple[str, ...], explicit: bool) -> tuple[_Field, ...]:
    """The fields of a whole item with these keywords (a query that asked for the item without keys)."""
    return _fields((_Key(*_tag_and_vr(keyword), keyword, ()) for keyword in keywords), explicit=explicit)


@cache
def _codec(charset: str) -> str:
    return convert_encodings([charset])[0]


def _strings(value) -> str:
    """One string of a single value or of several ("\\"-separated), as pydicom joins them."""
    if isinstance(value, str):
        return value
    if isinstance(value, tuple | list) and all(isinstance(v, str) for v in value):
        return "\\".join(value)
    raise NotEncodable(f"{type(value).__name__} is not a string value")


def _value(field: _Field, value, codec: str) -> bytes:
    """The value bytes of an element, padded to even length."""
    vr = field.vr
    if vr in TEXT_VRS:
        text = _strings(value)
        if vr == "PN" and "=" in text:  # pydicom drops empty trailing component groups: leave those to it
            raise NotEncodable("a PN with component groups")
        data = encoded_text(value if isinstance(value, tuple) else text, vr, codec)
        return data + b" " if len(data) % 2 else data
    if vr in STRING_VRS or vr in NUMBER_STRING_VRS:
        text = _strings(value)
        if vr in NUMBER_STRING_VRS and not _NUMBER_STRING.issuperset(text.replace("\\", "")):
            raise NotEncodable(f"{field.keyword}: pydicom would read this number string")  # spaces, words
        if len(text) % 2:
            text += "\x00" if vr == "UI" else " "
        return text.encode("latin_1")
    if vr in BINARY_VRS and isinstance(value, int) and not isinstance(value, bool):
        try:
            return struct.pack("<" + BINARY_VRS[vr], value)
        except struct.error:  # out of the VR's range: pydicom fails the response (C312), let it
            raise NotEncodable(f"{field.keyword}: {value} out of range for VR {vr}") from None
    raise NotEncodable(f"{field.keyword}: no byte writer for VR {vr}")


_MISSING = object()


class ResponseEncoder:
    """A query's responses as bytes for one transfer syntax: the plan's keys compiled once, each match written
    by `encode`. Raises NotEncodable when built for a transfer syntax or a key it does not write."""

    def __init__(self, plan: ResponsePlan, transfer_syntax: str):
        if transfer_syntax not in TRANSFER_SYNTAXES:
            raise NotEncodable(f"transfer syntax {transfer_syntax}")
        self.plan = plan
        self.implicit_vr = TRANSFER_SYNTAXES[transfer_syntax]
        explicit = not self.implicit_vr
        self.explicit = explicit
        self.fields = _root_fields(plan.keys, explicit)

    def encode(self, values: Mapping, charset: str) -> tuple[bytes, bool]:
        """The identifier bytes of one match (as `ResponsePlan.build` would have pydicom write them), and whether
        a requested key was not one the SCP knows (status FF01)."""
        codec = _codec(charset)
        return self._dataset(self.fields, values, codec, {"SpecificCharacterSet": charset})

    def _dataset(self, fields, values: Mapping, codec: str, extra: Mapping | None = None) -> tuple[bytes, bool]:
        out = []
        append = out.append
        unsupported = False
        for field in fields:
            keyword = field.keyword
            if extra is not None and keyword in extra:
                value = extra[keyword]
            else:
                value = values.get(keyword, _MISSING)
                if value is _MISSING:
                    if not field.optional:
                        unsupported = True
                        append(field.empty)
                    continue
            if not value and (value is None or not isinstance(value, int)):  # None, "", (), []: zero length
                if not field.optional:
                    append(field.empty)
                continue
            if field.item is not None:
                body, item_unsupported = self._sequence(field, value, codec)
                unsupported |= item_unsupported
            else:
                body = _value(field, value, codec)
            append(field.header(len(body)))
            append(body)
        return b"".join(out), unsupported

    def _sequence(self, field: _Field, items, codec: str) -> tuple[bytes, bool]:
        if not isinstance(items, list | tuple):
            raise NotEncodable(f"{field.keyword} is not a list of items")
        out = []
        unsupported = False
        for item in items:
            if not isinstance(item, Mapping):
                raise NotEncodable(f"an item of {field.keyword} is not a mapping")
            fields = field.item or _whole_item_fields(tuple(item), self.explicit)
            body, item_unsupported = self._dataset(fields, item, codec)
            unsupported |= item_unsupported
            out.append(ITEM + _UL.pack(len(body)))
            out.append(body)
        return b"".join(out), unsupported


@cache
def _charset_tag_vr() -> tuple[int, str]:
    tag, vr = _tag_and_vr("SpecificCharacterSet")
    return int(tag), vr


# --- the adapter ---------------------------------------------------------------------------------------------


class EncodedIdentifier(Dataset):
    """A response identifier already written as bytes for one transfer syntax: pynetdicom sends them as they are
    (through `encode_identifier`). As a Dataset it is empty; `decoded()` reads the bytes back."""

    def __init__(self, encoded: bytes, *, implicit_vr: bool):
        super().__init__()
        self.__dict__["encoded"] = encoded
        self.__dict__["implicit_vr"] = implicit_vr

    def decoded(self) -> Dataset:
        """The identifier as pydicom reads it back (for a transfer syntax it was not written for, and tests)."""
        return read_dataset(BytesIO(self.encoded), self.implicit_vr, True)


_pydicom_encode = dsutils.encode

# Command Set VRs (PS3.7 E.1) written here; AT (Attribute Identifier List, Offending Element) goes to pydicom.
COMMAND_VRS = {"UL": "I", "US": "H"}
COMMAND_STRING_VRS = frozenset({"UI", "AE", "LO", "SH", "CS"})


def command_bytes(command_set: Dataset) -> bytes:
    """A DIMSE command set in Implicit VR Little Endian (PS3.7 6.3.1), as pydicom writes it: each element in tag
    order, strings in Latin-1 padded to even length (UI with NUL). Raises NotEncodable for another VR or value."""
    out = []
    for element in command_set:
        vr, value = element.VR, element.value
        if value is None or value == "":
            body = b""
        elif vr in COMMAND_VRS and isinstance(value, int):
            try:
                body = struct.pack("<" + COMMAND_VRS[vr], value)
            except struct.error:
                raise NotEncodable(f"{element.keyword} out of range") from None
        elif vr in COMMAND_STRING_VRS and isinstance(value, str):
            body = value.encode("latin_1")
            if len(body) % 2:
                body += b"\x00" if vr == "UI" else b" "
        else:
            raise NotEncodable(f"{element.keyword}: VR {vr}")
        out.append(struct.pack("<HHI", element.tag.group, element.tag.elem, len(body)))
        out.append(body)
    return b"".join(out)


def encode_command(dataset: Dataset, is_implicit_vr: bool, is_little_endian: bool, deflated: bool = False):
    """pynetdicom's `encode` for its DIMSE messages' command sets (encoded twice per message: once for the group
    length, once to send): written here, pydicom for anything else."""
    if is_implicit_vr and is_little_endian and not deflated:
        try:
            return command_bytes(dataset)
        except (NotEncodable, UnicodeError):
            pass
    return _pydicom_encode(dataset, is_implicit_vr, is_little_endian, deflated)


def encode_identifier(dataset: Dataset, is_implicit_vr: bool, is_little_endian: bool, deflated: bool = False):
    """pynetdicom's `encode`, except for an EncodedIdentifier written for this transfer syntax: its bytes."""
    if isinstance(dataset, EncodedIdentifier):
        if dataset.implicit_vr == is_implicit_vr and is_little_endian and not deflated:
            return dataset.encoded
        dataset = dataset.decoded()
    return _pydicom_encode(dataset, is_implicit_vr, is_little_endian, deflated)


# --- C-FIND responses straight to P-DATA ----------------------------------------------------------------------

_pynetdicom_send_msg = DIMSEServiceProvider.send_msg
FAST_FIND_STATUSES = frozenset({0x0000, 0xFF00, 0xFF01})  # success, pending, pending with a warning: no extra fields
PDV_ITEM_OVERHEAD = 5  # a PDV item's length (4 bytes) and presentation context ID (1) before its data
COMMANDS_KEPT = 32  # command sets a DIMSE provider keeps (one per SOP class, status and identifier or not)


def send_msg(self: DIMSEServiceProvider, primitive, context_id: int) -> None:
    """pynetdicom's DIMSEServiceProvider.send_msg, except for a C-FIND response without error fields whose command
    set and identifier fit one P-DATA-TF PDU of the peer's maximum length: that one is sent as a single P-DATA with
    two PDVs (command, identifier; PS3.8 9.3.5 allows several PDVs in a PDU), its command set written once per
    SOP class and status (pynetdicom's own bytes, from its message class) and reused for every response with its
    Message ID Being Responded To put in. pynetdicom
    would build a command Dataset, encode it twice and send two P-DATAs for each match.

    pynetdicom's own path remains for everything else, and whenever something watches the messages sent: a handler
    bound to EVT_DIMSE_SENT (other than pynetdicom's standard logging one) or pynetdicom's logger at DEBUG."""
    identifier = _fast_find_identifier(self, primitive)
    if identifier is None:
        return _pynetdicom_send_msg(self, primitive, context_id)
    values = [[context_id, b"\x03" + _find_command(self, primitive, bool(identifier))]]  # command, last fragment
    if identifier:
        values.append([context_id, b"\x02" + identifier])  # data set, last fragment
    limit = self.maximum_pdu_size
    if limit and sum(PDV_ITEM_OVERHEAD + len(data) for _context, data in values) > limit:
        return _pynetdicom_send_msg(self, primitive, context_id)  # fragments: pynetdicom's way
    pdata = P_DATA()
    pdata.presentation_data_value_list = values
    self.dul.send_pdu(pdata)
    return None


def _fast_find_identifier(provider: DIMSEServiceProvider, primitive) -> bytes | None:
    """The identifier bytes (b"" for none) of a C-FIND response the fast path sends; None for pynetdicom's path."""
    if type(primitive) is not C_FIND or primitive.MessageIDBeingRespondedTo is None:
        return None
    if primitive.Status not in FAST_FIND_STATUSES or primitive.ErrorComment or primitive.OffendingElement:
        return None
    if DIMSE_LOG.isEnabledFor(logging.DEBUG) or any(
        handler is not standard_dimse_sent_handler for handler, _args in provider.assoc.get_handlers(evt.EVT_DIMSE_SENT)
    ):
        return None
    if primitive.Identifier is None:
        return b""
    identifier = primitive.Identifier.getvalue() if isinstance(primitive.Identifier, BytesIO) else None
    return identifier or None  # an empty identifier: pynetdicom decides


# (0000,0120) Message ID Being Responded To, US, in Implicit VR Little Endian: tag, length 2, then the value.
RESPONDED_TO = struct.pack("<HHI", 0x0000, 0x0120, 2)


def _find_command(provider: DIMSEServiceProvider, primitive, has_identifier: bool) -> bytes:
    """The command set of a C-FIND response: pynetdicom's C_FIND_RSP builds it once per SOP class and status (per
    provider), and each response's Message ID Being Responded To (a US of fixed length: the group length stays) is
    written into a copy."""
    key = (primitive.AffectedSOPClassUID, primitive.Status, has_identifier)
    commands = provider.__dict__.setdefault("ris_find_commands", {})
    made = commands.get(key)
    if made is None:
        message = dimse_messages.C_FIND_RSP()
        message.primitive_to_message(primitive)
        command = encode_command(message.command_set, True, True)
        at = command.find(RESPONDED_TO) + len(RESPONDED_TO)
        if len(commands) >= COMMANDS_KEPT:
            commands.clear()
        commands[key] = made = (command, at)
    command, at = made
    return command[:at] + struct.pack("<H", primitive.MessageIDBeingRespondedTo) + command[at + 2 :]


def install() -> None:
    """Have pynetdicom's C-FIND SCP send EncodedIdentifier bytes without encoding them again, its DIMSE layer
    write command sets here, and C-FIND responses go out as one P-DATA each (idempotent)."""
    service_class.encode = encode_identifier
    dimse_messages.encode = encode_command
    DIMSEServiceProvider.send_msg = send_msg


def installed() -> bool:
    return service_class.encode is encode_identifier
