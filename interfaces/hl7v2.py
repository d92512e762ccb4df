"""HL7 v2 text, as pure functions: character sets, escapes, safe field access over a message split as the `hl7`
package (python-hl7) splits it, and acknowledgements. No ORM access.

The message is split here, lazily, as python-hl7 splits it (the tests hold the two to the same values): its parse
tree cost more CPU than anything else on the listener's path but the ORM. Values are read raw and unescaped here,
because python-hl7 turns a hex escape (\\XC3BC\\) into one character per byte and hl7apy leaves escapes as they are.
"""

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

# MSH-18 (HL7 table 0211) -> Python codec. Empty means the default: UTF-8 here. `UTF-8` and `UTF8` are no table 0211
# codes, but what many senders write for UNICODE UTF-8. A site adds its CIS's own names with RIS_HL7_CHARSET_ALIASES.
CHARSETS = {
    "": "utf-8",
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "8859/2": "iso8859-2",
    "8859/5": "iso8859-5",
    "8859/7": "iso8859-7",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "UTF8": "utf-8",
}
SUPPORTED_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6")
ACK_FALLBACK_VERSION = "2.5.1"  # the version of an ACK to a message whose own version the RIS does not take


class MessageError(ValueError):
    """The message cannot be read or applied. `location` is (segment, sequence, field); `code` from table 0357."""

    def __init__(
        self, text: str, *, code: int = 207, location: tuple[str, int, int] | None = None, severity: str = "E"
    ):
        super().__init__(text)
        self.text = text
        self.code = code
        self.location = location
        self.severity = severity  # HL7 table 0516: E error, W warning (applied, but the sender should know)


class Rejected(MessageError):
    """Not a message this RIS takes at all (AR): unparseable, unsupported type, event or version."""


# HL7 table 0357 message error condition codes.
ERROR_CODES = {
    0: "Message accepted",  # with severity W: applied, and the sender should know something
    100: "Segment sequence error",
    101: "Required field missing",
    102: "Data type error",
    103: "Table value not found",
    200: "Unsupported message type",
    201: "Unsupported event code",
    203: "Unsupported version id",
    204: "Unknown key identifier",
    205: "Duplicate key identifier",
    206: "Application record locked",
    207: "Application internal error",
}


def _msh_fields(data: bytes) -> list[bytes]:
    """The MSH segment's fields, split on its own field separator; index n-1 holds MSH-n (MSH-1 is the separator)."""
    if not data.startswith(b"MSH") or len(data) < 8:
        raise Rejected("The message does not start with an MSH segment.", code=100, location=("MSH", 1, 0))
    separator = data[3:4]
    segment = re.split(rb"[\r\n]", data, maxsplit=1)[0]
    return [b"MSH", *segment[4:].split(separator)] if separator else [b"MSH"]


def charset_codec(declared: str, aliases: Mapping[str, str] | None = None) -> str | None:
    """The Python codec for an MSH-18 value (case and blanks around it ignored): the site's aliases
    (RIS_HL7_CHARSET_ALIASES) first, then table 0211; None when neither names it."""
    key = declared.strip().upper()
    for name, codec in (aliases or {}).items():
        if name.strip().upper() == key:
            return codec
    return CHARSETS.get(key)


def decode(data: bytes, aliases: Mapping[str, str] | None = None) -> str:
    """The message as text, in the character set MSH-18 names (UTF-8 when empty), or a site alias of it.

    A sender that declares a single-byte set but sends valid UTF-8 with non-ASCII characters (seen in the field)
    is read as UTF-8: such byte pairs almost never occur in real Latin text.
    """
    fields = _msh_fields(data)
    if b"\x00" in data:
        raise Rejected("The message contains NUL bytes.", code=102)
    declared = fields[17].decode("ascii", "replace").strip().upper() if len(fields) > 17 else ""
    codec = charset_codec(declared, aliases)
    if codec is None:
        known = ", ".join(sorted({name for name in CHARSETS if name} | {name.upper() for name in aliases or {}}))
        raise Rejected(
            f"Character set {declared!r} (MSH-18) is not one the RIS reads: send one of {known}"
            " (or have the RIS administrator add an alias for it).",
            code=103,
            location=("MSH", 1, 18),
        )
    if codec != "utf-8" and not data.isascii():
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        raise Rejected(f"The message is not valid {declared or 'UTF-8'} text.", code=102) from None


HEADER_SEGMENTS = ("MSH", "BHS", "FHS")  # their fields 1 and 2 are the delimiters themselves, taken literally


class Segment(list):
    """One segment's fields as sent (text; split further only when a value is read). `literal`: how many of its
    first fields are never split (a header segment's name, MSH-1 and MSH-2)."""

    literal = 0


class Message(list):
    """The segments of a message, in order, with its delimiters (MSH-1, MSH-2)."""

    def __init__(self, segments, *, repetition: str, component: str, subcomponent: str):
        super().__init__(segments)
        self.repetition, self.component, self.subcomponent = repetition, component, subcomponent

    def segment(self, name: str) -> Segment:
        """The first segment with this name (KeyError without one, as python-hl7's Message.segment)."""
        for segment in self:
            if segment[0] == name:
                return segment
        raise KeyError(name)


def parse(text: str) -> Message:
    """Split the message (segments on CR; a stray LF is taken as CR; blank lines are no segments) into segments of
    fields; raise Rejected when it is not HL7.

    The split is python-hl7's (hl7.parse: the delimiters MSH-1 and MSH-2 declare, its defaults for those left out,
    MSH/BHS/FHS-1 and -2 taken literally), done lazily: a field is split into repetitions, components and
    subcomponents only when read (Reader.raw), which reads the same values as python-hl7's tree (tested against
    it). Delimiters that are not distinct have no such reading: Rejected.
    """
    text = re.sub("\r+", "\r", text.replace("\r\n", "\r").replace("\n", "\r")).strip("\r")
    if not text.startswith("MSH"):
        raise Rejected("The message does not start with an MSH segment.", code=100, location=("MSH", 1, 0))
    text = text.strip()  # as python-hl7
    if len(text) < 4:
        raise Rejected("The message cannot be parsed (IndexError).", code=102)
    field = text[3]
    declared = text[3 : text.find(field, 4)]  # python-hl7's reading, MSH-1 included (a missing end: to the last)
    component = declared[1] if len(declared) > 1 else "^"
    repetition = declared[2] if len(declared) > 2 else "~"
    subcomponent = declared[4] if len(declared) > 4 else "&"
    delimiters = (field, repetition, component, subcomponent)
    if len({"\r", *delimiters}) < 5:
        raise Rejected("The message cannot be parsed: its delimiters (MSH-1, MSH-2) are not distinct.", code=102)
    segments = []
    for line in text.split("\r"):
        if not any(delimiter in line for delimiter in delimiters):
            segment = Segment([line])
        elif line[:3] in HEADER_SEGMENTS:
            if len(line) < 4:
                raise Rejected("The message cannot be parsed (IndexError).", code=102)
            end = line.find(line[3], 4)
            rest = line[end + 1 :]
            segment = Segment([line[:3], line[3], line[4:end], *(rest.split(field) if rest else ())])
            segment.literal = 3
        else:
            segment = Segment(line.split(field))
        segments.append(segment)
    return Message(segments, repetition=repetition, component=component, subcomponent=subcomponent)


@dataclass(frozen=True)
class Encoding:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    @classmethod
    def of(cls, message: Message) -> "Encoding":
        msh = message.segment("MSH")
        chars = str(msh[2]) if len(msh) > 2 else "^~\\&"
        chars = (chars + "^~\\&"[len(chars) :])[:4]
        return cls(str(msh[1]) or "|", chars[0], chars[1], chars[2], chars[3])


def unescape(value: str, encoding: Encoding, codec: str = "utf-8") -> str:
    """HL7 v2.5.1 2.7: \\F\\ \\S\\ \\T\\ \\R\\ \\E\\, \\Xhh..\\ (bytes in the message's character set), \\.br\\."""
    esc = encoding.escape
    if esc not in value:
        return value
    pattern = re.compile(re.escape(esc) + r"(.*?)" + re.escape(esc))
    named = {
        "F": encoding.field,
        "S": encoding.component,
        "T": encoding.subcomponent,
        "R": encoding.repetition,
        "E": esc,
        ".br": "\n",
    }

    def replace(match: re.Match) -> str:
        body = match.group(1)
        if body in named:
            return named[body]
        if body[:1] == "X" and len(body) > 1 and len(body) % 2 == 1:
            try:  # NUL is never data (decode refuses it raw), and no PostgreSQL text column takes it
                return bytes.fromhex(body[1:]).decode(codec).replace("\x00", "")
            except (ValueError, UnicodeDecodeError):
                return match.group(0)
        return match.group(0)  # \H\, \N\, \Z..\ and the like: kept as sent

    return pattern.sub(replace, value)


def escape(value: str, encoding: Encoding = Encoding()) -> str:
    """The reverse of unescape for the five delimiters (and line breaks as \\.br\\)."""
    esc = encoding.escape
    value = value.replace("\x00", "").replace(esc, f"{esc}E{esc}")  # (NUL: only ever garbage echoed back)
    for char, name in (
        (encoding.field, "F"),
        (encoding.component, "S"),
        (encoding.subcomponent, "T"),
        (encoding.repetition, "R"),
    ):
        value = value.replace(char, f"{esc}{name}{esc}")
    return value.replace("\r\n", "\n").replace("\n", f"{esc}.br{esc}").replace("\r", f"{esc}.br{esc}")


class Reader:
    """Field access that never raises: a missing segment, field, repetition or component reads as ""."""

    def __init__(self, message: Message, codec: str = "utf-8"):
        self.message = message
        self.encoding = Encoding.of(message)
        self.codec = codec
        self._by_name: dict[str, list[Segment]] = {}
        for segment in message:
            self._by_name.setdefault(segment[0], []).append(segment)

    def segments(self, name: str) -> list:
        return list(self._by_name.get(name, ()))

    def segment(self, name: str):
        found = self._by_name.get(name)
        return found[0] if found else None

    def _split(self, segment: Segment, field: int) -> list[str] | None:
        """The field's repetitions, or None for a plain field (no repetition, component or subcomponent in it)."""
        value = segment[field]
        message = self.message
        if field < segment.literal or not (
            message.repetition in value or message.component in value or message.subcomponent in value
        ):
            return None
        return value.split(message.repetition)

    def raw(self, segment, field: int, component: int = 1, repetition: int = 1, subcomponent: int = 1) -> str:
        if segment is None or field >= len(segment):
            return ""
        if field <= 2 and segment[0] == "MSH":
            return segment[field]
        repetitions = self._split(segment, field)
        if repetitions is None:  # a plain field: no repetitions or components
            return segment[field] if (component, repetition, subcomponent) == (1, 1, 1) else ""
        if repetition > len(repetitions):
            return ""
        components = repetitions[repetition - 1].split(self.message.component)
        if component > len(components):
            return ""
        subs = components[component - 1].split(self.message.subcomponent)
        return subs[subcomponent - 1] if subcomponent <= len(subs) else ""

    def get(self, segment, field: int, component: int = 1, repetition: int = 1, subcomponent: int = 1) -> str:
        """The unescaped value, stripped; HL7's explicit null ("") reads as empty."""
        value = self.raw(segment, field, component, repetition, subcomponent).strip()
        return "" if value == '""' else unescape(value, self.encoding, self.codec)

    def repetitions(self, segment, field: int) -> int:
        if segment is None or field >= len(segment):
            return 0
        repetitions = self._split(segment, field)
        if repetitions is None:
            return 0 if segment[field] == "" else 1
        return len(repetitions)


def parse_date(value: str, *, location: tuple[str, int, int]) -> date | None:
    """An HL7 DT/DTM's date part: YYYY[MM[DD]] (a year or month alone is refused: a birth date needs the day)."""
    digits = value.strip()[:8]
    if not digits:
        return None
    try:
        return datetime.strptime(digits, "%Y%m%d").date()
    except ValueError:
        raise MessageError(f"{value!r} is not a date (YYYYMMDD).", code=102, location=location) from None


def parse_datetime(value: str, *, tz, location: tuple[str, int, int]) -> datetime | None:
    """An HL7 DTM, YYYYMMDD[HH[MM[SS[.S]]]][+/-ZZZZ]; without an offset, local time."""
    match = re.fullmatch(r"(\d{8})(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?([+-]\d{4})?", value.strip())
    if not match:
        if not value.strip():
            return None
        raise MessageError(f"{value!r} is not a date and time (YYYYMMDDHHMM).", code=102, location=location)
    day, hour, minute, second, offset = match.groups()
    try:
        naive = datetime.strptime(f"{day}{hour or '00'}{minute or '00'}{second or '00'}", "%Y%m%d%H%M%S")
    except ValueError:
        raise MessageError(f"{value!r} is not a date and time.", code=102, location=location) from None
    if offset:
        return datetime.strptime(f"{naive:%Y%m%d%H%M%S}{offset}", "%Y%m%d%H%M%S%z")
    return naive.replace(tzinfo=tz)


@dataclass(frozen=True)
class Header:
    """What MSH says about a message, as plain text."""

    message_type: str
    trigger_event: str
    control_id: str
    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    version: str
    processing_id: str
    accept_ack_type: str
    application_ack_type: str

    @property
    def enhanced(self) -> bool:
        """Enhanced acknowledgement mode: MSH-15 or MSH-16 present (HL7 v2.5.1 2.9.3)."""
        return bool(self.accept_ack_type or self.application_ack_type)

    def sent_by(self, application: str, facility: str = "") -> bool:
        """Is this a configured sender's message: its MSH-3, and its MSH-4 where the configuration names one?"""
        return self.sending_application == application and facility in ("", self.sending_facility)


def application_ack_mode(accept_ack_type: str, application_ack_type: str) -> str:
    """When to send an application ACK (HL7 table 0155: AL, ER, SU, NE); "" in original mode (MSH-15, -16 empty).

    An empty MSH-16 next to a MSH-15 (v2.3 feeds send `AL` and nothing after it) reads as `AL`: a sender that asked
    for acknowledgements must not miss an error because it left the field out.
    """
    if not (accept_ack_type or application_ack_type):
        return ""
    return application_ack_type or "AL"


def header(reader: Reader) -> Header:
    msh = reader.segment("MSH")
    return Header(
        message_type=reader.get(msh, 9, 1).upper(),
        trigger_event=reader.get(msh, 9, 2).upper(),
        control_id=reader.get(msh, 10),
        sending_application=reader.get(msh, 3),
        sending_facility=reader.get(msh, 4),
        receiving_application=reader.get(msh, 5),
        receiving_facility=reader.get(msh, 6),
        version=reader.get(msh, 12),
        processing_id=reader.get(msh, 11) or "P",
        accept_ack_type=reader.get(msh, 15).upper(),
        application_ack_type=reader.get(msh, 16).upper(),
    )


def header_from_bytes(data: bytes) -> Header:
    """The best reading of MSH a message that cannot be parsed allows (for its ACK and its log row)."""
    try:
        fields = [f.decode("utf-8", "replace") for f in _msh_fields(data)]
    except Rejected:
        fields = []
    components = "^"
    if len(fields) > 1 and fields[1]:
        components = fields[1][0]

    def field(n: int, component: int = 1) -> str:
        value = fields[n - 1] if len(fields) >= n else ""
        parts = value.split(components)
        return parts[component - 1].strip()[:199] if len(parts) >= component else ""

    return Header(
        message_type=field(9, 1)[:3].upper(),
        trigger_event=field(9, 2)[:3].upper(),
        control_id=field(10),
        sending_application=field(3),
        sending_facility=field(4),
        receiving_application=field(5),
        receiving_facility=field(6),
        version=field(12)[:16],
        processing_id=field(11) or "P",
        accept_ack_type=field(15)[:2].upper(),
        application_ack_type=field(16)[:2].upper(),
    )


def _ascii(text: str) -> str:
    """Text a receiver that knows only ASCII can show: accents dropped (é -> e), other characters as "?"."""
    out = []
    for char in text:
        if char.isascii():
            out.append(char)
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", char) if c.isascii())
            out.append(base or "?")
    return "".join(out)


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def acknowledgement(
    original: Header,
    code: str,
    *,
    control_id: str,
    timestamp: datetime,
    application: str,
    facility: str,
    error: MessageError | None = None,
    text: str = "",
    warnings: Sequence[MessageError] = (),
) -> str:
    """An ACK in the sender's version (HL7 2.14.1 of each): MSH, MSA and, for an error or a warning, ERR.

    v2.5 and later: one ERR per problem, ERR-2 location, ERR-3 code (table 0357), ERR-4 severity (E error,
    W warning), ERR-8 the reason; ERR-1 is deprecated and left empty. v2.3 to 2.4: ERR has one field only, ERR-1
    (ELD, segment^sequence^field^code), and no severity, so a warning is told in MSA-3 alone; MSH-9 is ACK^event
    in 2.3 (no structure component before 2.3.1); and their table 0211 has no UTF-8, so the ACK keeps to ASCII
    with MSH-18 empty (ASCII, the default), or says `UNICODE` (ISO 10646, which UTF-8 encodes) when an identifier
    echoed from the message is not ASCII. A version the RIS does not take is answered in 2.5.1.
    """
    enc = Encoding()
    trigger = escape(original.trigger_event)  # read from the message: it may hold delimiters, line breaks, NUL
    version = original.version if original.version in SUPPORTED_VERSIONS else ACK_FALLBACK_VERSION
    modern = _version_tuple(version) >= (2, 5)
    words = (lambda value: value) if modern else _ascii  # the RIS's own text
    # MSG-3 names the structure even when the trigger is unknown; v2.3's CM is type^event only.
    message_type = f"ACK^{trigger}^ACK" if _version_tuple(version) >= (2, 3, 1) else f"ACK^{trigger}"
    msh = [
        "MSH",
        "^~\\&",
        escape(application),
        escape(facility),
        escape(original.sending_application),
        escape(original.sending_facility),
        f"{timestamp:%Y%m%d%H%M%S%z}",
        "",
        message_type,
        control_id,
        escape(original.processing_id) or "P",
        version,
    ]
    message_text = (error.text if error else text or "; ".join(w.text for w in warnings))[:80]
    msa = ["MSA", code, escape(original.control_id), escape(words(message_text), enc)]
    segments = ["|".join(msa)]
    problems = ([error] if error is not None else []) + list(warnings)
    if modern:
        for problem in problems:
            location = ""
            if problem.location:
                segment, sequence, field = problem.location
                location = f"{segment}^{sequence}^{field}" if field else f"{segment}^{sequence}"
            condition = f"{problem.code}^{ERROR_CODES.get(problem.code, 'Application error')}^HL70357"
            segments.append(
                "|".join(["ERR", "", location, condition, problem.severity, "", "", "", escape(problem.text, enc)])
            )
    else:
        locations = []
        for problem in problems:
            if problem.severity != "E":
                continue  # no severity before v2.5: an ERR would read as an error; MSA-3 tells the warning
            segment, sequence, field = problem.location or ("", "", "")
            condition = f"{problem.code}&{ERROR_CODES.get(problem.code, 'Application error')}&HL70357"
            locations.append(f"{segment}^{sequence}^{field or ''}^{condition}")
        if locations:
            segments.append("ERR|" + "~".join(locations))  # one ERR segment (ACK allows one), ERR-1 repeating
    body = "\r".join(segments)
    # Table 0211 of v2.3 to 2.4 names no UTF-8: ASCII (the default, MSH-18 empty), else UNICODE (ISO 10646).
    ascii_only = ("|".join(msh) + body).isascii()
    charset = "UNICODE UTF-8" if modern else ("" if ascii_only else "UNICODE")
    if charset:
        msh += ["", "", "", "", "", charset]
    return "|".join(msh) + "\r" + body + "\r"
