"""ANSI X12 837P 005010X222A1 (professional claim) from plain data: no database access.

Non-ASCII text is never written (pyx12 reads files as ASCII): text is put into the X12 basic character set, upper-
cased, accents dropped, a few letters spelled out (Ø -> O, ß -> SS), separators and other characters made spaces;
names and addresses are cut to their element's length, identifiers never (too long raises ValueError).
"""

import itertools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TextIO


@dataclass(frozen=True)
class Organization:
    """The submitter or the billing provider (loops 1000A, 2010AA)."""

    name: str
    npi: str  # 10 digits; the submitter's NPI is not used (1000A NM109 is the sender id)
    tax_id: str  # EIN, 9 digits (REF*EI in 2010AA)
    street: str
    city: str
    state: str  # 2 letters
    postal_code: str  # 5 or 9 digits
    contact_name: str = ""
    contact_phone: str = ""  # digits only


@dataclass(frozen=True)
class Person:
    """A subscriber or a patient (2010BA, 2010CA)."""

    family_name: str
    given_name: str
    birth_date: date
    sex: str  # "M", "F" or "U"
    street: str
    city: str
    state: str
    postal_code: str


@dataclass(frozen=True)
class Provider:
    """A rendering (2310B) or referring (2310A) provider: a person with an NPI."""

    family_name: str
    given_name: str
    npi: str


@dataclass(frozen=True)
class ServiceLine:
    """One service line (2400): a CPT code with its modifiers, units and charge."""

    cpt_code: str
    modifiers: tuple[str, ...]
    units: int
    charge: Decimal  # the line's total (fee x units)
    date_of_service: date
    diagnosis_pointers: tuple[int, ...]  # 1-based positions in ClaimData.diagnosis_codes, at most 4
    control_number: str  # REF*6R line item control number, unique within the claim file


@dataclass(frozen=True)
class ClaimData:
    """One claim (2300) with its subscriber, patient (when not the subscriber), payer and lines."""

    claim_number: str  # CLM01, the RIS claim number
    total: Decimal  # CLM02: equals the sum of the lines' charges
    place_of_service: str  # 2 digits, CLM05-1
    diagnosis_codes: tuple[str, ...]  # ICD-10-CM, with or without the dot; HI*ABK for the first, ABF after
    subscriber: Person
    relationship: str  # SBR02/PAT01 individual relationship code: "18" self, "01" spouse, "19" child, "G8" other
    patient: Person  # the same person as the subscriber when relationship == "18"
    member_id: str  # NM109 of 2010BA
    group_number: str  # SBR03, may be empty
    payer_name: str
    payer_id: str  # NM109 of 2010BB
    payer_responsibility: str = "P"  # SBR01: P primary, S secondary, T tertiary
    rendering_provider: Provider | None = None
    referring_provider: Provider | None = None
    lines: tuple[ServiceLine, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Interchange:
    """The envelopes: ISA/IEA, GS/GE, ST/SE and the BHT, and who sends to whom."""

    sender_id: str  # ISA06 / GS02 (qualifier ZZ), up to 15 characters
    receiver_id: str  # ISA08 / GS03 (qualifier ZZ)
    receiver_name: str  # 1000B NM103
    control_number: int  # ISA13 / GS06 / ST02 (never repeats; 1..999999999)
    created_at: datetime
    submitter: Organization
    billing_provider: Organization
    usage: str = "P"  # ISA15: P production, T test


SEGMENT_TERMINATOR = "~\n"  # "~" ends a segment; the newline only helps people reading the file (readers skip it)
ELEMENT_SEPARATOR, COMPONENT_SEPARATOR, REPETITION_SEPARATOR = "*", ":", "^"
VERSION = "005010X222A1"
CLAIMS_PER_SET = 5000  # 005010X222A1 1.4.1: at most 5,000 claims (2300 loops) per transaction set
MAX_LINES, MAX_DIAGNOSES, MAX_POINTERS, MAX_MODIFIERS = 50, 12, 4, 4
SELF = "18"
PATIENT_RELATIONSHIPS = frozenset({"01", "19", "20", "21", "39", "40", "53", "G8"})  # PAT01 of loop 2000C

_BASIC = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!\"&'()+,-./;?= ")  # basic character set less separators
_LETTERS = str.maketrans({"Ø": "O", "Æ": "AE", "Œ": "OE", "Ł": "L", "Đ": "D", "Ð": "D", "Þ": "TH", "Ħ": "H", "ẞ": "SS"})
_ICD10CM = re.compile(r"[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}")
_PROCEDURE = re.compile(r"[0-9A-Z]{5}")  # CPT or HCPCS level II
_MODIFIER = re.compile(r"[0-9A-Z]{2}")
_CENT = Decimal("0.01")


def clean(value: str, max_len: int) -> str:
    """Upper-case `value` into the X12 basic character set: accents are dropped, letters without a decomposition
    are spelled in ASCII where that is plain (Ø, Æ, ß), and separators, control and other characters become spaces.
    """
    text = unicodedata.normalize("NFKD", value).upper().translate(_LETTERS)
    kept = "".join(c if c in _BASIC else " " for c in text if not unicodedata.combining(c))
    return " ".join(kept.split())[:max_len].rstrip()


def _text(value: str, what: str, max_len: int, min_len: int = 1) -> str:
    """A required name or address element: cleaned and cut to `max_len`, at least `min_len` characters long."""
    text = clean(value, max_len)
    if len(text) < min_len:
        raise ValueError(f"{what} {value!r} has fewer than {min_len} character(s) that X12 can carry")
    return text


def _id(value: str, what: str, max_len: int, min_len: int = 1) -> str:
    """A required identifier: cleaned like text but never cut, since a cut one would name something else."""
    if len(clean(value, max_len + 1)) > max_len:
        raise ValueError(f"{what} {value!r} is longer than {max_len} characters")
    return _text(value, what, max_len, min_len)


def _digits(value: str, what: str, lengths: tuple[int, ...]) -> str:
    """`value` itself when it is ASCII digits of one of the `lengths`."""
    if not (value.isascii() and value.isdigit() and len(value) in lengths):
        raise ValueError(f"{what} {value!r} must be {' or '.join(map(str, lengths))} digits")
    return value


def _npi(value: str, what: str) -> str:
    """An NPI: 10 digits whose last is the Luhn check digit over the prefix 80840 and the first nine."""
    _digits(value, what, (10,))
    total = 0
    for position, char in enumerate(reversed("80840" + value)):
        digit = int(char) * (2 if position % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    if total % 10:
        raise ValueError(f"{what} {value!r} has a wrong check digit")
    return value


def amount(value: Decimal) -> str:
    """An amount as an X12 R value: 150, 150.5, 150.25 (never more than two decimals, never negative)."""
    if not value.is_finite() or value < 0 or value != value.quantize(_CENT):
        raise ValueError(f"amount {value} must be zero or positive with at most two decimals")
    return f"{value:.2f}".rstrip("0").rstrip(".")


class _Segments:
    """Writes segments one at a time and counts those of the transaction set (ST to SE) for SE01."""

    def __init__(self, out: TextIO) -> None:
        self.out, self.count = out, 0

    def __call__(self, *elements: str) -> None:
        values = list(elements)
        while values and not values[-1]:  # trailing empty elements are left out
            values.pop()
        self.out.write(ELEMENT_SEPARATOR.join(values) + SEGMENT_TERMINATOR)
        self.count += 1


def _composite(*components: str) -> str:
    """Components joined by ":" without trailing empty ones."""
    return COMPONENT_SEPARATOR.join(components).rstrip(COMPONENT_SEPARATOR)


def _address(seg: _Segments, street: str, city: str, state: str, postal_code: str, what: str) -> None:
    """N3 and N4: street, city, state and ZIP code (US addresses only)."""
    if not re.fullmatch(r"[A-Z]{2}", state):
        raise ValueError(f"{what}: state {state!r} must be two upper-case letters")
    seg("N3", _text(street, f"{what} street", 55))
    seg("N4", _text(city, f"{what} city", 30, 2), state, _digits(postal_code, f"{what} ZIP code", (5, 9)))


def _person(seg: _Segments, qualifier: str, person: Person, member_id: str = "", is_patient: bool = True) -> None:
    """NM1 of the subscriber (2010BA, IL) or patient (2010CA, QC), then N3, N4 and DMG only for the patient: the
    guide says of 2010BA's "Required when the patient is the subscriber. If not required ..., do not send"."""
    what = "subscriber" if qualifier == "IL" else "patient"
    family = _text(person.family_name, f"{what} family name", 60)
    seg("NM1", qualifier, "1", family, clean(person.given_name, 35), "", "", "", "MI" if member_id else "", member_id)
    if is_patient:
        if person.sex not in ("M", "F", "U"):
            raise ValueError(f"{what} sex {person.sex!r} must be M, F or U")
        _address(seg, person.street, person.city, person.state, person.postal_code, what)
        seg("DMG", "D8", f"{person.birth_date:%Y%m%d}", person.sex)


def _provider(seg: _Segments, qualifier: str, provider: Provider, what: str) -> None:
    """NM1 of a person provider: 2310A referring (DN) or 2310B rendering (82)."""
    family = _text(provider.family_name, f"{what} family name", 60)
    npi = _npi(provider.npi, f"{what} NPI")
    seg("NM1", qualifier, "1", family, clean(provider.given_name, 35), "", "", "", "XX", npi)


def _envelope(seg: _Segments, ic: Interchange) -> tuple[str, str]:
    """ISA and GS; returns the sender and receiver ids as written."""
    if not 1 <= ic.control_number <= 999_999_999:
        raise ValueError(f"control number {ic.control_number} must be 1 to 999999999")
    if ic.usage not in ("P", "T"):
        raise ValueError(f"usage {ic.usage!r} must be P or T")
    sender, receiver = _id(ic.sender_id, "sender id", 15, 2), _id(ic.receiver_id, "receiver id", 15, 2)
    when, number = ic.created_at, ic.control_number
    seg("ISA", "00", " " * 10, "00", " " * 10, "ZZ", sender.ljust(15), "ZZ", receiver.ljust(15),
        f"{when:%y%m%d}", f"{when:%H%M}", REPETITION_SEPARATOR, "00501", f"{number:09d}", "0", ic.usage,
        COMPONENT_SEPARATOR)  # fmt: skip
    seg("GS", "HC", sender, receiver, f"{when:%Y%m%d}", f"{when:%H%M}", str(number), "X", VERSION)
    return sender, receiver


def _set_header(seg: _Segments, ic: Interchange, set_number: int, sender: str, receiver: str) -> None:
    """ST and BHT, then 1000A submitter, 1000B receiver and 2000A/2010AA billing provider."""
    when = ic.created_at
    seg.count = 0
    seg("ST", "837", f"{set_number:04d}", VERSION)
    seg("BHT", "0019", "00", f"{ic.control_number}-{set_number}", f"{when:%Y%m%d}", f"{when:%H%M}", "CH")
    submitter, provider = ic.submitter, ic.billing_provider
    seg("NM1", "41", "2", _text(submitter.name, "submitter name", 60), "", "", "", "", "46", sender)
    phone = re.sub(r"\D", "", submitter.contact_phone)
    if not phone:
        raise ValueError("the submitter needs a contact phone number (1000A PER04)")
    seg("PER", "IC", clean(submitter.contact_name, 60), "TE", phone[:256])
    seg("NM1", "40", "2", _text(ic.receiver_name, "receiver name", 60), "", "", "", "", "46", receiver)
    seg("HL", "1", "", "20", "1")
    name = _text(provider.name, "billing provider name", 60)
    seg("NM1", "85", "2", name, "", "", "", "", "XX", _npi(provider.npi, "billing provider NPI"))
    _address(seg, provider.street, provider.city, provider.state, provider.postal_code, "billing provider")
    seg("REF", "EI", _digits(provider.tax_id.replace("-", ""), "billing provider tax id", (9,)))


def _diagnoses(claim: ClaimData) -> list[str]:
    """HI composites: ABK for the principal diagnosis, ABF for the others; ICD-10-CM codes without the dot."""
    if not 1 <= len(claim.diagnosis_codes) <= MAX_DIAGNOSES:
        raise ValueError(f"claim {claim.claim_number}: needs 1 to {MAX_DIAGNOSES} diagnosis codes")
    composites = []
    for index, raw in enumerate(claim.diagnosis_codes):
        code = raw.replace(".", "").strip().upper()
        if not _ICD10CM.fullmatch(code):
            raise ValueError(f"claim {claim.claim_number}: {raw!r} is not an ICD-10-CM code")
        composites.append(_composite("ABF" if index else "ABK", code))
    return composites


def _line(seg: _Segments, claim: ClaimData, number: int, line: ServiceLine) -> None:
    """Loop 2400: LX, SV1 (procedure, charge, units, diagnosis pointers), DTP*472 and REF*6R."""
    where = f"claim {claim.claim_number} line {number}"
    if not _PROCEDURE.fullmatch(line.cpt_code):
        raise ValueError(f"{where}: {line.cpt_code!r} is not a CPT/HCPCS code")
    if len(line.modifiers) > MAX_MODIFIERS or not all(_MODIFIER.fullmatch(m) for m in line.modifiers):
        raise ValueError(f"{where}: modifiers {line.modifiers!r} must be at most {MAX_MODIFIERS} of 2 characters")
    pointers = line.diagnosis_pointers
    if not 1 <= len(pointers) <= MAX_POINTERS or len(set(pointers)) != len(pointers):
        raise ValueError(f"{where}: needs 1 to {MAX_POINTERS} distinct diagnosis pointers, not {pointers!r}")
    if not all(1 <= p <= len(claim.diagnosis_codes) for p in pointers):
        raise ValueError(f"{where}: diagnosis pointers {pointers!r} point outside the claim's diagnosis codes")
    if line.units < 1:
        raise ValueError(f"{where}: units {line.units} must be at least 1")
    seg("LX", str(number))
    procedure = _composite("HC", line.cpt_code, *line.modifiers)
    pointer = _composite(*map(str, pointers))
    seg("SV1", procedure, amount(line.charge), "UN", str(line.units), "", "", pointer)
    seg("DTP", "472", "D8", f"{line.date_of_service:%Y%m%d}")
    if clean(line.control_number, 50):
        seg("REF", "6R", _id(line.control_number, f"{where}: control number", 50))


def _claim(seg: _Segments, claim: ClaimData, hl: int) -> int:
    """Loops 2000B/2010BA/2010BB, 2000C/2010CA when the patient is not the subscriber, 2300, 2310A/B and 2400.
    Returns the next free HL number."""
    number = _id(claim.claim_number, "claim number", 38)
    where = f"claim {claim.claim_number}"
    is_self = claim.relationship == SELF
    if not is_self and claim.relationship not in PATIENT_RELATIONSHIPS:
        raise ValueError(f"{where}: relationship {claim.relationship!r} is not an X12 individual relationship code")
    if is_self and claim.patient != claim.subscriber:
        raise ValueError(f"{where}: relationship 18 (self) but the patient is not the subscriber")
    if claim.payer_responsibility not in ("P", "S", "T"):
        raise ValueError(f"{where}: payer responsibility {claim.payer_responsibility!r} must be P, S or T")
    if not 1 <= len(claim.lines) <= MAX_LINES:
        raise ValueError(f"{where}: has {len(claim.lines)} lines; a claim has 1 to {MAX_LINES}")
    if not re.fullmatch(r"[0-9]{2}", claim.place_of_service):
        raise ValueError(f"{where}: place of service {claim.place_of_service!r} must be two digits")
    total = amount(claim.total)
    diagnoses = _diagnoses(claim)
    if sum((line.charge for line in claim.lines), Decimal(0)) != claim.total:
        raise ValueError(f"{where}: total {claim.total} is not the sum of its lines' charges")
    subscriber_hl = hl
    seg("HL", str(subscriber_hl), "1", "22", "0" if is_self else "1")
    group = clean(claim.group_number, 50)
    seg("SBR", claim.payer_responsibility, SELF if is_self else "", group, "", "", "", "", "", "CI")
    member_id = _id(claim.member_id, f"{where}: member id", 80, 2)
    _person(seg, "IL", claim.subscriber, member_id, is_patient=is_self)
    payer_id = _id(claim.payer_id, f"{where}: payer id", 80, 2)
    seg("NM1", "PR", "2", _text(claim.payer_name, f"{where}: payer name", 60), "", "", "", "", "PI", payer_id)
    if not is_self:
        hl += 1
        seg("HL", str(hl), str(subscriber_hl), "23", "0")
        seg("PAT", claim.relationship)
        _person(seg, "QC", claim.patient)
    seg("CLM", number, total, "", "", _composite(claim.place_of_service, "B", "1"), "Y", "A", "Y", "Y")
    seg("HI", *diagnoses)
    if claim.referring_provider:
        _provider(seg, "DN", claim.referring_provider, f"{where}: referring provider")
    if claim.rendering_provider:
        _provider(seg, "82", claim.rendering_provider, f"{where}: rendering provider")
    for index, line in enumerate(claim.lines, start=1):
        _line(seg, claim, index, line)
    return hl + 1


def write_837p(
    out: TextIO, interchange: Interchange, claims: Iterable[ClaimData], *, claims_per_set: int = CLAIMS_PER_SET
) -> int:
    """Write one interchange of 837P transaction sets (a new one every `claims_per_set` claims, as the guide
    recommends at most 5,000 per set), segment by segment as the claims are read, and return how many claims were
    written. A ValueError names the first claim or field that X12 cannot carry; what was written before it is
    then incomplete, so write to a temporary file."""
    remaining = iter(claims)
    first = next(remaining, None)
    if first is None:
        raise ValueError("an 837P needs at least one claim")  # raised before anything is written
    seg = _Segments(out)
    sender, receiver = _envelope(seg, interchange)
    written, sets, hl = 0, 0, 2
    for claim in itertools.chain((first,), remaining):
        if written % claims_per_set == 0:
            if sets:
                seg("SE", str(seg.count + 1), f"{sets:04d}")
            sets, hl = sets + 1, 2
            _set_header(seg, interchange, sets, sender, receiver)
        hl = _claim(seg, claim, hl)
        written += 1
    number = interchange.control_number
    seg("SE", str(seg.count + 1), f"{sets:04d}")
    seg("GE", str(sets), str(number))
    seg("IEA", "1", f"{number:09d}")
    return written
