"""DICOM Modality Worklist <-> domain, as pure functions: no ORM calls, no network.

A C-FIND identifier becomes a `WorklistQuery` (matching keys as plain values and ranges); an exam's data becomes
the response identifier holding exactly the keys the query asked for (PS3.4 K.4.1.1.3.2), plus its Specific
Character Set and the Timezone Offset From UTC of its dates and times. The selector turns a
`WorklistQuery` into one database query.
"""

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from pydicom import DataElement, Dataset, config
from pydicom.charset import convert_encodings, custom_encoders
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag

from ris.text import NAME_PARTS, person_name
from worklist.request import Identifier

MWL_FIND = "1.2.840.10008.5.1.4.31"  # Modality Worklist Information Model - FIND
UTF8 = "ISO_IR 192"

# DICOM Scheduled Procedure Step Status (0040,0020) <-> exam status.
SPS_STATUS = {"SCHEDULED": "SCHEDULED", "ARRIVED": "ARRIVED", "STARTED": "IN_PROGRESS"}
EXAM_TO_SPS_STATUS = {exam: sps for sps, exam in SPS_STATUS.items()}
# Requested Procedure Priority (0040,1003) defined terms.
PRIORITY = {"STAT": "STAT", "URGENT": "HIGH", "ROUTINE": "ROUTINE"}

# Matching keys the SCP supports, by keyword: root level and inside the Scheduled Procedure Step item.
ROOT_STRING_KEYS = ("PatientID", "AccessionNumber", "RequestedProcedureID", "PatientSex", "AdmissionID")
SPS_STRING_KEYS = (
    "Modality",
    "ScheduledStationAETitle",
    "ScheduledProcedureStepID",
    "ScheduledStationName",
    "ScheduledProcedureStepLocation",
)


class InvalidQuery(ValueError):
    """The identifier does not fit the Modality Worklist SOP class (C-FIND status A900)."""


@dataclass(frozen=True)
class Period:
    """An inclusive period; None is open-ended."""

    start: datetime | None
    end: datetime | None


@dataclass
class WorklistQuery:
    """The matching keys of a worklist C-FIND, normalised. Universal (empty) keys are simply absent."""

    strings: dict[str, str] = field(default_factory=dict)  # keyword -> value, possibly with * and ?
    patient_name: str | None = None  # folded "family given ..." with * and ?
    referring_physician: tuple[str, ...] | None = None  # PN components, possibly with wildcards
    performing_physician: str | None = None
    study_instance_uids: tuple[str, ...] | None = None
    birth_dates: tuple[date | None, date | None] | None = None
    start: Period | None = None  # SPS start date and time, one continuous period
    start_time_only: tuple[time | None, time | None] | None = None  # a time range without a date range
    sps_statuses: tuple[str, ...] | None = None  # exam statuses
    whole_sps_item: bool = False  # an empty SPS sequence: return the whole item
    time_zone: timezone | None = None  # Timezone Offset From UTC of the query's dates and times; None: the department's


# --- values ----------------------------------------------------------------------------------------------------


def is_universal(value) -> bool:
    """Zero length, or only "*" (PS3.4 C.2.2.2.3, C.2.2.2.4)."""
    text = "" if value is None else str(value).strip()
    return text in ("", "*")


def has_wildcards(value: str) -> bool:
    return "*" in value or "?" in value


def wildcard_regex(value: str) -> str:
    """An anchored regular expression for a DICOM wildcard value: * any run of characters, ? any one."""
    return "^" + "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value) + "$"


def _parse_date(text: str) -> date:
    text = text.strip().replace(".", "")  # ACR-NEMA style 2026.11.28 is still sent by old modalities
    if not re.fullmatch(r"\d{8}", text):
        raise InvalidQuery(f"{text!r} is not a DICOM date (YYYYMMDD)")
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise InvalidQuery(f"{text!r} is not a DICOM date (YYYYMMDD)") from None


def _parse_time(text: str, *, upper: bool) -> time:
    """A TM value; as an upper bound, its unstated precision extends to the end (10 -> 10:59:59.999999)."""
    text = text.strip().replace(":", "")
    match = re.fullmatch(r"(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?", text)
    if not match:
        raise InvalidQuery(f"{text!r} is not a DICOM time (HHMMSS.FFFFFF)")
    hour, minute, second, fraction = match.groups()
    values = [int(hour), int(minute or 0), int(second or 0), int((fraction or "0").ljust(6, "0"))]
    if upper:
        if minute is None:
            values[1:] = [59, 59, 999_999]
        elif second is None:
            values[2:] = [59, 999_999]
        elif fraction is None:
            values[3] = 999_999
    try:
        return time(*values)
    except ValueError:
        raise InvalidQuery(f"{text!r} is not a valid time of day") from None


def _range(text: str) -> tuple[str | None, str | None]:
    """'a-b', '-b', 'a-' or a single value 'a' (meaning a-a)."""
    if "-" not in text:
        return text, text
    low, high = text.split("-", 1)
    if "-" in high:
        raise InvalidQuery(f"{text!r} has more than one range separator")
    return low.strip() or None, high.strip() or None


def date_range(text: str) -> tuple[date | None, date | None]:
    low, high = _range(text)
    return (_parse_date(low) if low else None, _parse_date(high) if high else None)


def time_range(text: str) -> tuple[time | None, time | None]:
    low, high = _range(text)
    return (_parse_time(low, upper=False) if low else None, _parse_time(high, upper=True) if high else None)


def _moment(day: date, clock: time, tz) -> datetime:
    """`day` at `clock` in `tz`, kept within what a datetime holds in UTC, where the database compares it
    (0001-01-01 00:00 east of UTC, or 9999-12-31 23:59 west of it, is not)."""
    moment = datetime.combine(day, clock, tzinfo=tz)
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return (datetime.min if day.year == 1 else datetime.max).replace(tzinfo=UTC)
    return moment


def combined_period(date_text: str, time_text: str, tz) -> Period:
    """SPS Start Date and Time as one continuous period (PS3.4 C.2.2.2.5.1): from d1 t1 to d2 t2."""
    first, last = date_range(date_text)
    t_low, t_high = time_range(time_text) if not is_universal(time_text) else (None, None)
    start = _moment(first, t_low or time.min, tz) if first else None
    end = _moment(last, t_high or time.max, tz) if last else None
    return Period(start, end)


# Timezone Offset From UTC (0008,0201), "&ZZXX" (PS3.3 C.12.1.1.8): offsets of PS3.5's DT range, -1200 to +1400.
_UTC_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")
UTC_OFFSET_MIN, UTC_OFFSET_MAX = timedelta(hours=-12), timedelta(hours=14)


def offset_zone(text: str) -> timezone:
    """The fixed time zone a Timezone Offset From UTC value names ("+0100", "-0500"; "+01:00" is read too).
    Raise InvalidQuery when it is not one."""
    match = _UTC_OFFSET.fullmatch(text.strip())
    if not match:
        raise InvalidQuery(f"{text!r} is not a Timezone Offset From UTC (+HHMM or -HHMM)")
    sign, hours, minutes = match.groups()
    offset = timedelta(hours=int(hours), minutes=int(minutes)) * (-1 if sign == "-" else 1)
    if int(minutes) > 59 or not UTC_OFFSET_MIN <= offset <= UTC_OFFSET_MAX:
        raise InvalidQuery(f"{text!r} is not a Timezone Offset From UTC (-1200 to +1400)")
    return timezone(offset)


def utc_offset(moment: datetime | None) -> str:
    """Timezone Offset From UTC (0008,0201) of an aware moment in its own zone: "+0100", "-0400", "+0000" for UTC
    (never "-0000"); "" without a moment."""
    offset = moment.utcoffset() if moment is not None else None
    if offset is None:
        return ""
    minutes = int(offset.total_seconds()) // 60
    hours, minutes = divmod(abs(minutes), 60)
    return f"{'-' if offset < timedelta(0) else '+'}{hours:02d}{minutes:02d}"


def fold_person_name(value: str, fold) -> str:
    """The alphabetic group of a PN, components joined by spaces and folded like Patient.search_name."""
    alphabetic = str(value).split("=")[0]
    components = [part.strip() for part in alphabetic.split("^")]
    while components and components[-1] == "":
        components.pop()
    return fold(" ".join(part for part in components if part))


# --- the query -------------------------------------------------------------------------------------------------


def _value(dataset: Dataset, keyword: str) -> Any:
    """The element's value, None when absent. pydicom converts a value when it is first read: one it cannot convert
    (a PN that breaks its ISO 2022 set, a broken sequence) makes the identifier invalid, whatever pydicom raised."""
    if keyword not in dataset:
        return None
    try:
        return dataset[keyword].value
    except Exception as error:
        raise InvalidQuery(f"{keyword} cannot be decoded ({type(error).__name__})") from None


def _text(dataset: Dataset, keyword: str) -> str:
    value = _value(dataset, keyword)
    if value is None:
        return ""
    if isinstance(value, Sequence):  # a text key sent with VR SQ (explicit VR bytes that pydicom believed)
        raise InvalidQuery(f"{keyword} is a sequence, not a value")
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    text = text.rstrip("\x00")  # padding, as some modalities send it
    if "\x00" in text:  # no text VR allows it (PS3.5 6.2), and PostgreSQL refuses it in a query
        raise InvalidQuery(f"{keyword} holds a NUL character")
    return text


def _decode_all(dataset: Dataset) -> None:
    """Convert every element from its bytes, items included. pydicom converts lazily, so a value whose bytes do not
    fit its VR (a length, a character set, an unknown VR) would otherwise raise wherever it is first read: here it
    is InvalidQuery before anything is read."""
    try:
        for element in dataset:
            if element.VR == "SQ":
                for item in element.value or ():
                    _decode_all(item)
    except InvalidQuery:
        raise
    except Exception as error:
        raise InvalidQuery(f"a value cannot be decoded ({type(error).__name__})") from error


def parse_query(identifier: Dataset | Identifier, *, tz, fold) -> WorklistQuery:
    """Read a worklist C-FIND identifier's matching keys. Raise InvalidQuery where it does not fit the SOP class.

    Dates and times are in `tz` (the department's zone), or in the zone a Timezone Offset From UTC (0008,0201) in
    the identifier names, midnight included (PS3.4 C.2.2.2.5): they become moments, compared as such.
    """
    if not isinstance(identifier, Dataset | Identifier):  # Identifier: read from the request's bytes (worklist.request)
        raise InvalidQuery("the identifier is not a dataset")
    _decode_all(identifier)
    query = WorklistQuery()
    offset = _text(identifier, "TimezoneOffsetFromUTC").strip()
    if offset:
        tz = query.time_zone = offset_zone(offset)
    if "QueryRetrieveLevel" in identifier and _text(identifier, "QueryRetrieveLevel").strip():
        raise InvalidQuery("a worklist query has no Query/Retrieve Level")
    for keyword in ROOT_STRING_KEYS:
        value = _text(identifier, keyword).strip()
        if not is_universal(value):
            query.strings[keyword] = value
    name = _text(identifier, "PatientName")
    if not is_universal(name):
        query.patient_name = fold_person_name(name, fold)
    referring = _text(identifier, "ReferringPhysicianName")
    if not is_universal(referring):
        query.referring_physician = tuple(p.strip() for p in referring.split("=")[0].split("^"))
    uids = _text(identifier, "StudyInstanceUID")
    if not is_universal(uids):
        query.study_instance_uids = tuple(uid.strip() for uid in uids.split("\\") if uid.strip())
    birth = _text(identifier, "PatientBirthDate")
    if not is_universal(birth):
        query.birth_dates = date_range(birth)

    if "ScheduledProcedureStepSequence" in identifier:
        items = _value(identifier, "ScheduledProcedureStepSequence") or []
        if len(items) > 1:
            raise InvalidQuery("the Scheduled Procedure Step Sequence may hold one item in a query")
        if not items or len(items[0]) == 0:  # no item, or an empty one: the whole item is asked for
            query.whole_sps_item = True
        else:
            _parse_sps_item(items[0], query, tz=tz, fold=fold)
    return query


def _parse_sps_item(item: Dataset, query: WorklistQuery, *, tz, fold) -> None:
    for keyword in SPS_STRING_KEYS:
        value = _text(item, keyword).strip()
        if not is_universal(value):
            query.strings[keyword] = value
    performing = _text(item, "ScheduledPerformingPhysicianName")
    if not is_universal(performing):
        query.performing_physician = fold_person_name(performing, fold)
    status = _text(item, "ScheduledProcedureStepStatus").strip()
    if not is_universal(status):
        query.sps_statuses = tuple(SPS_STATUS.get(s.strip().upper(), "-") for s in status.split("\\"))
    start_date = _text(item, "ScheduledProcedureStepStartDate")
    start_time = _text(item, "ScheduledProcedureStepStartTime")
    if not is_universal(start_date):
        query.start = combined_period(start_date, start_time, tz)
    elif not is_universal(start_time):
        query.start_time_only = time_range(start_time)


# --- the response ----------------------------------------------------------------------------------------------


def _dicom_date(value: datetime | date | None) -> str:
    return f"{value:%Y%m%d}" if value else ""


def _dicom_time(value: datetime | None) -> str:
    return f"{value:%H%M%S}" if value else ""


def _code_item(value: str, scheme: str, meaning: str) -> dict:
    return {"CodeValue": sh(value), "CodingSchemeDesignator": sh(scheme), "CodeMeaning": lo(meaning)}


# --- clinical facts (PS3.3 C.2.4 Patient Medical, C.4.10 Scheduled Procedure Step) ----------------------------------

LO_MAX = 64  # characters (PS3.5 6.2)
LT_MAX = 10240
MAX_VALUES = 100  # values of a multi-valued LO: 100 x 64 characters stay within the 16-bit length of explicit VR
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_LT_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1a\x1c-\x1f\x7f]")


SH_MAX = 16
PN_GROUP_MAX = 64  # characters of one PN component group (PS3.5 6.2)


def _clean(text: str) -> str:
    """One line of text: the backslash (the value delimiter) as "/", control characters as spaces, spaces collapsed."""
    return " ".join(_CONTROL.sub(" ", str(text).replace("\\", "/")).split())


def _words_within(text: str, limit: int) -> str:
    """The whole words of `text` that fit in `limit` characters; the start of a single word too long for it."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    if text[limit] != " " and " " in head:  # the cut falls inside a word: leave the word out
        head = head[: head.rindex(" ")]
    return head.rstrip(" ,.;:-/")


def lo(text: str) -> str:
    """A Long String value (PS3.5 6.2): no backslash or control characters, at most 64 characters; a longer text
    is cut after its last whole word that fits and ends with "..." so that the reader knows there is more."""
    text = _clean(text)
    return text if len(text) <= LO_MAX else _words_within(text, LO_MAX - 3) + "..."


def sh(text: str) -> str:
    """A Short String value (a code, a name of a station): cleaned as `lo`, at most 16 characters. The sources hold
    16 characters already (their fields are SH-sized and validated): this only keeps the promise."""
    return _clean(text)[:SH_MAX]


def pn(family: str, given: str = "", middle: str = "", prefix: str = "", suffix: str = "") -> str:
    """A PN value whose (alphabetic) component group fits 64 characters (PS3.5 6.2). The RIS keeps longer names
    (its fields are those of HL7 XPN): components that do not fit are left out whole, the least needed first:
    the prefix, then the middle name, then the suffix; a family and given name still too long keep the family
    name (its first 64 characters) and the whole words of the given name that fit."""
    parts = [_clean(part).replace("^", " ").replace("=", " ") for part in (family, given, middle, prefix, suffix)]
    for dropped in (3, 2, 4, None):  # the prefix, the middle name, the suffix
        if len(person_name(*parts)) <= PN_GROUP_MAX:
            return person_name(*parts)
        if dropped is not None:
            parts[dropped] = ""
    family = parts[0][:PN_GROUP_MAX]
    room = PN_GROUP_MAX - len(family) - 1  # after the family name and its "^"
    return person_name(family, _words_within(parts[1], room) if room > 0 else "")


def lt(texts) -> str:
    """A Long Text value: the texts one per line (CR LF), control characters other than CR and LF (PS3.5 6.2 also
    allows FF and ESC) as spaces, at most 10240 characters."""
    lines = (_LT_CONTROL.sub(" ", line).rstrip() for text in texts for line in str(text).splitlines())
    return "\r\n".join(lines).strip()[:LT_MAX]


def lo_values(texts) -> tuple[str, ...]:
    """A multi-valued LO (VM 1-n): each value as `lo`, empty ones dropped, at most MAX_VALUES."""
    values = (lo(text) for text in texts)
    return tuple(value for value in values if value)[:MAX_VALUES]


def ds(value: Decimal | None, places: str = "0.001") -> str | None:
    """A Decimal String (at most 16 characters), rounded to `places`; None (zero length) without a positive value."""
    if value is None or value <= 0:
        return None
    return format(value.quantize(Decimal(places)).normalize(), "f")


@dataclass(frozen=True)
class AllergyFact:
    text: str  # the allergen
    reaction: str = ""
    contrast: str = ""  # the contrast class in words ("Iodinated contrast"), "" for any other allergy


@dataclass(frozen=True)
class PatientFacts:
    """What the worklist tells the modality of a patient's safety, as plain values (worklist.selectors reads them)."""

    allergies: tuple[AllergyFact, ...] = ()  # active ones
    no_known_allergies: bool = False  # "no known allergies" recorded (not the same as never asked)
    alerts: tuple[str, ...] = ()
    special_needs: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    weight_kg: Decimal | None = None
    height_cm: Decimal | None = None
    pregnancy: int | None = None  # the Pregnancy Status value to send; None: zero length (does not apply)


@dataclass(frozen=True)
class ExamFacts:
    """What the worklist tells the modality of how one exam is to be done: its protocol and contrast."""

    protocol_code: str = ""  # a catalog protocol, "" when not protocoled or protocoled with notes only
    protocol_name: str = ""
    contrast: str = ""  # the contrast class the exam will be done with, in words; "" without contrast
    contrast_agent: str = ""  # the protocol's agent, e.g. "iohexol 350 mgI/mL"
    notes: tuple[str, ...] = ()  # for the technologist: the radiologist's and the catalog protocol's
    special_needs: tuple[str, ...] = ()  # found for this exam (the MR screening's claustrophobia)


NO_KNOWN_ALLERGIES = "No known allergies"


def allergy_text(allergy: AllergyFact) -> str:
    """ "Penicillin: hives"; a contrast allergy starts with its class: "Iodinated contrast (Iohexol): hives"."""
    text = allergy.text
    if allergy.contrast:
        named = allergy.contrast.split()[0].casefold() in text.casefold()  # "Iodinated contrast media"
        text = allergy.contrast if named or not text else f"{allergy.contrast} ({text})"
    return f"{text}: {allergy.reaction}" if allergy.reaction else text


def allergies_value(facts: PatientFacts) -> tuple[str, ...]:
    """Allergies (0010,2110): the active allergies, contrast ones first; "No known allergies" when that was the
    answer; zero length when nobody asked."""
    if facts.allergies:
        ordered = sorted(facts.allergies, key=lambda allergy: not allergy.contrast)  # stable: catalog order kept
        return lo_values(allergy_text(allergy) for allergy in ordered)
    return (NO_KNOWN_ALLERGIES,) if facts.no_known_allergies else ()


def contrast_agent_value(exam: ExamFacts) -> str:
    """Requested Contrast Agent (0032,1070): the protocol's agent, else the contrast class in words."""
    if not exam.contrast:
        return ""
    return lo(exam.contrast_agent or exam.contrast)


def worklist_item(
    row: Mapping[str, Any],
    *,
    local_start: datetime | None,
    coding_scheme: str,
    protocol_scheme: str = "",
    patient: PatientFacts | None = None,
    exam: ExamFacts | None = None,
) -> dict:
    """Every attribute the SCP can return for an exam (PS3.4 Table K.6-1), by keyword; sequences as lists,
    multi-valued text as tuples.

    `row` holds the exam's columns under the names of worklist.selectors.WORKLIST_ROW; `patient` and `exam` the
    clinical facts (read only when a query asks for them: without, those keys are zero length).
    """
    patient = patient or PatientFacts()
    exam = exam or ExamFacts()
    code = [_code_item(row["procedure_code"], coding_scheme, row["procedure_name"])]
    protocol = [_code_item(exam.protocol_code, protocol_scheme, exam.protocol_name)] if exam.protocol_code else code
    physician = pn(*(row[f"physician_{part}"] or "" for part in NAME_PARTS))
    sps = {
        "ScheduledStationAETitle": row["station_ae_title"] or "",
        "ScheduledStationName": sh(row["station_name"] or ""),
        "ScheduledProcedureStepLocation": sh(row["location_code"] or ""),
        "ScheduledProcedureStepStartDate": _dicom_date(local_start),
        "ScheduledProcedureStepStartTime": _dicom_time(local_start),
        "Modality": row["modality"],
        "ScheduledPerformingPhysicianName": "",
        "ScheduledProcedureStepDescription": lo(row["procedure_name"]),
        "ScheduledProtocolCodeSequence": protocol,
        "ScheduledProcedureStepID": row["scheduled_procedure_step_id"],
        "ScheduledProcedureStepStatus": EXAM_TO_SPS_STATUS.get(row["status"], ""),
        "PreMedication": "",
        "RequestedContrastAgent": contrast_agent_value(exam),
        "CommentsOnTheScheduledProcedureStep": lt(exam.notes),
    }
    return {
        "AccessionNumber": row["accession_number"],
        "ReferringPhysicianName": physician,
        "RequestingPhysician": physician,
        "ReferencedStudySequence": [],
        "ReferencedPatientSequence": [],
        "PatientName": pn(*(row[f"patient_{part}"] for part in NAME_PARTS)),
        "PatientID": row["mrn"],
        "IssuerOfPatientID": lo(row["mrn_issuer"]),
        "PatientBirthDate": _dicom_date(row["birth_date"]),
        "PatientSex": row["sex"],
        "PatientWeight": ds(patient.weight_kg),
        "PatientSize": ds(patient.height_cm / 100 if patient.height_cm is not None else None),
        "MedicalAlerts": lo_values(patient.alerts),
        "Allergies": allergies_value(patient),
        "PregnancyStatus": patient.pregnancy,
        "AdmissionID": lo(row["admission_id"]),
        "SpecialNeeds": lo("; ".join(dict.fromkeys(patient.special_needs + exam.special_needs))),
        "CurrentPatientLocation": "",
        "PatientState": lo("; ".join(patient.states)),
        "StudyInstanceUID": row["study_instance_uid"],
        "RequestedProcedureID": row["requested_procedure_id"],
        "RequestedProcedureDescription": lo(row["procedure_name"]),
        "RequestedProcedureCodeSequence": code,
        "RequestedProcedurePriority": PRIORITY.get(row["priority"], ""),
        "PatientTransportArrangements": "",
        "ReasonForTheRequestedProcedure": lo(row["reason"]),
        "PlacerOrderNumberImagingServiceRequest": lo(row["placer_order_number"]),
        "FillerOrderNumberImagingServiceRequest": lo(row["filler_order_number"]),
        "ImagingServiceRequestComments": "",
        "ScheduledProcedureStepSequence": [sps],
        # The offset of this item's dates and times: the department's zone at its start (DST included).
        "TimezoneOffsetFromUTC": utc_offset(local_start),
    }


def full_key_query(charset: str | None = UTF8, *, whole_item: bool = False) -> Dataset:
    """A query asking for every return key the SCP knows, each universal (zero length), as a modality that sends
    the Type 1 and 2 keys of PS3.4 Table K.6-1 does: the Scheduled Procedure Step item key by key (or, with
    `whole_item`, asked whole by an empty item); `charset` as its Specific Character Set (a "\\" list allowed)."""
    shape = worklist_item(defaultdict(str), local_start=None, coding_scheme="", protocol_scheme="")
    query = Dataset()
    if charset:
        query.SpecificCharacterSet = charset.split("\\")
    for keyword, value in shape.items():
        if keyword == "ScheduledProcedureStepSequence":
            item = Dataset()
            if not whole_item:
                for sps_keyword, sps_value in value[0].items():
                    setattr(item, sps_keyword, [] if isinstance(sps_value, list) else None)
            query.ScheduledProcedureStepSequence = [item]
        else:
            setattr(query, keyword, [] if isinstance(value, list) else None)
    return query


# Keys whose values come from the clinical records: a query that asks for none of them costs no clinical query.
PATIENT_FACT_KEYS = frozenset(
    {"Allergies", "MedicalAlerts", "PregnancyStatus", "PatientWeight", "PatientSize", "SpecialNeeds", "PatientState"}
)
EXAM_FACT_KEYS = frozenset(
    {"SpecialNeeds", "RequestedContrastAgent", "ScheduledProtocolCodeSequence", "CommentsOnTheScheduledProcedureStep"}
)


@cache
def _tag_and_vr(keyword: str) -> tuple[BaseTag, str]:
    tag = Tag(keyword)
    return tag, dictionary_VR(tag)


def _element(tag: BaseTag, vr: str, value) -> DataElement:
    # The values come from the database's validated fields: pydicom's per-value checks would only cost time.
    if isinstance(value, tuple):  # multi-valued text: one value as itself, several as pydicom's MultiValue
        value = value[0] if len(value) == 1 else list(value) or ""
    return DataElement(tag, vr, value, validation_mode=config.IGNORE)


def _to_dataset(values: dict) -> Dataset:
    dataset = Dataset()
    for keyword, value in values.items():
        tag, vr = _tag_and_vr(keyword)
        if isinstance(value, list):
            value = Sequence([_to_dataset(item) for item in value])
        dataset.add(_element(tag, vr, value))
    return dataset


@dataclass(frozen=True)
class _Key:
    """A key the query asked for. `item`: for a sequence, the keys asked inside it; () asks for the whole item."""

    tag: BaseTag
    vr: str
    keyword: str
    item: tuple["_Key", ...] | None = None


def _keys(query: Dataset | Identifier) -> tuple[_Key, ...]:
    keys = []
    for element in query:
        keyword = element.keyword
        if not keyword or element.tag.group == 0x0000 or keyword == "SpecificCharacterSet":
            continue
        tag, vr = _tag_and_vr(keyword)
        item = None
        if vr == "SQ":
            asked = element.value or []
            # an empty sequence or item asks for the whole item (as wlmscpfs)
            item = _keys(asked[0]) if asked and len(asked[0]) else ()
        keys.append(_Key(tag, vr, keyword, item))
    return tuple(keys)


def _answer(keys: tuple[_Key, ...], values: dict) -> tuple[Dataset, bool]:
    """The keys asked for, filled from `values`; True where a key was not one the SCP knows."""
    answer = Dataset()
    unsupported = False
    for key in keys:
        if key.keyword not in values:
            unsupported = True
            answer.add(_element(key.tag, key.vr, Sequence() if key.vr == "SQ" else None))
            continue
        value = values[key.keyword]
        if key.item is None:
            answer.add(_element(key.tag, key.vr, value))
            continue
        items = []
        for item in value:
            if key.item:
                sub_answer, sub_unsupported = _answer(key.item, item)
                unsupported |= sub_unsupported
            else:
                sub_answer = _to_dataset(item)
            items.append(sub_answer)
        answer.add(_element(key.tag, key.vr, Sequence(items)))
    return answer, unsupported


def _encodable(values: dict, codec: str) -> bool:
    try:
        if codec in custom_encoders:  # JIS X 0201 (ISO_IR 13): pydicom writes each value, each PN part, alone
            _encode_each(values, codec)
        else:
            _all_text(values).encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def _encode_each(values: dict, codec: str) -> None:
    for keyword, value in values.items():
        if isinstance(value, list):
            for item in value:
                _encode_each(item, codec)
        elif isinstance(value, str | tuple) and value:
            encoded_text(value, _tag_and_vr(keyword)[1], codec)


# Text VRs whose values pydicom splits at a backslash (the others hold it as a character).
_SPLIT_TEXT_VRS = frozenset({"SH", "LO", "PN", "UC"})


def encoded_text(value: str | tuple[str, ...], vr: str, codec: str) -> bytes:
    """A text value (SH, LO, ST, LT, UC, UT, PN) in one character set, as pydicom writes it: each value, and in a
    PN each component, on its own where pydicom's encoder for the set keeps state (JIS X 0201 for ISO_IR 13).
    Raises UnicodeEncodeError where pydicom would write replacement characters."""
    text = value if isinstance(value, str) else "\\".join(value)
    encoder = custom_encoders.get(codec)
    if encoder is None:
        return text.encode(codec)
    parts = text.split("\\") if vr in _SPLIT_TEXT_VRS or not isinstance(value, str) else [text]
    if vr == "PN":
        return b"\\".join(
            b"=".join(b"^".join(map(encoder, group.split("^"))) for group in part.split("=")) for part in parts
        )
    return b"\\".join(map(encoder, parts))


def _all_text(values: dict) -> str:
    parts = []
    for value in values.values():
        if isinstance(value, list):
            parts.extend(_all_text(item) for item in value)
        elif isinstance(value, tuple):
            parts.extend(value)
        elif isinstance(value, str):
            parts.append(value)
    return "\n".join(parts)


# Single-byte character sets (PS3.3 C.12.1.1.2) a response may be written in, when every value fits.
SINGLE_BYTE_SETS = frozenset(
    {
        "ISO_IR 100",
        "ISO_IR 101",
        "ISO_IR 109",
        "ISO_IR 110",
        "ISO_IR 144",
        "ISO_IR 127",
        "ISO_IR 126",
        "ISO_IR 138",
        "ISO_IR 148",
        "ISO_IR 203",
        "ISO_IR 166",
        "ISO_IR 13",
    }
)


def _asks(keys: tuple[_Key, ...], keywords: frozenset[str]) -> bool:
    for key in keys:
        if key.keyword in keywords or (key.item == () and key.keyword == "ScheduledProcedureStepSequence"):
            return True
        if key.item and _asks(key.item, keywords):
            return True
    return False


TIMEZONE_OFFSET = Tag("TimezoneOffsetFromUTC")


class ResponsePlan:
    """How to answer one query: the keys it asked for and its character set, worked out once for all matches."""

    def __init__(self, query: Dataset | Identifier):
        self.keys = _keys(query)
        asked = _text(query, "SpecificCharacterSet").split("\\")[0].strip()
        self.single_byte = asked if asked in SINGLE_BYTE_SETS else None
        self.codec = convert_encodings([asked])[0] if self.single_byte else None

    def asks(self, keywords: frozenset[str]) -> bool:
        """Whether the query asks for any of `keywords` (at the root or in the SPS item; a whole item asks for all)."""
        return _asks(self.keys, keywords)

    def charset(self, values: dict) -> str:
        """The query's single-byte Specific Character Set when every value fits it, else UTF-8 (ISO_IR 192).

        The default repertoire (no set, or ISO_IR 6) and the ISO 2022 sets are answered in UTF-8, a superset of
        ASCII.
        """
        if self.single_byte and _encodable(values, self.codec):
            return self.single_byte
        return UTF8

    def build(self, values: dict) -> tuple[Dataset, bool]:
        """The response identifier for one match, and whether a requested key was not supported (status FF01)."""
        answer, unsupported = _answer(self.keys, values)
        answer.add(_element(*_tag_and_vr("SpecificCharacterSet"), self.charset(values)))
        offset = values.get("TimezoneOffsetFromUTC")
        if offset and TIMEZONE_OFFSET not in answer:  # every response says in which zone its dates and times are
            answer.add(_element(TIMEZONE_OFFSET, "SH", offset))
        return answer, unsupported


def response_charset(query: Dataset, values: dict) -> str:
    return ResponsePlan(query).charset(values)


def build_response(query: Dataset, values: dict) -> tuple[Dataset, bool]:
    return ResponsePlan(query).build(values)


# --- MPPS ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dose:
    """The dose an MPPS reports (PS3.3 C.4.16 Radiation Dose), in the units the RIS stores: CTDIvol mGy, DLP
    mGy·cm, DAP Gy·cm², fluoroscopy seconds. None where the step says nothing (or nothing readable)."""

    ctdivol_mgy: Decimal | None = None
    dlp_mgycm: Decimal | None = None
    dap_gycm2: Decimal | None = None
    fluoroscopy_seconds: Decimal | None = None

    def __bool__(self) -> bool:
        return any(value is not None for value in vars(self).values())


@dataclass
class StepReport:
    """What an MPPS N-CREATE or N-SET says, as plain values (PS3.4 F.7.2, PS3.3 C.4.13-C.4.17)."""

    status: str = ""
    station_ae_title: str = ""
    station_name: str = ""
    step_id: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    patient_id: str = ""
    patient_name: str = ""
    issuer_of_patient_id: str = ""
    # (accession number, requested procedure ID, scheduled procedure step ID, study instance UID) per item: several
    # items when the modality grouped requested procedures into one step (PS3.4 F.7.2.1.2 note 2).
    scheduled: list[tuple[str, str, str, str]] = field(default_factory=list)
    # Performed Series Sequence items: series_instance_uid, protocol_name, instances, and `missing`: the item's
    # Type 1 final-state attributes (PS3.4 Table F.7.2-1) that it lacks or sends empty.
    series: list[dict] = field(default_factory=list)
    discontinuation_reason: str = ""
    dose: Dose = field(default_factory=Dose)
    # The top-level attributes the list holds (by keyword), and those of them sent zero length: what an N-SET may
    # not change and what the final state needs are decided on these.
    present: frozenset[str] = frozenset()
    empty: frozenset[str] = frozenset()


# "DLP=1234.5", "Total DLP: 456.7 mGy*cm", "DLP 12,5 mGycm", "Total DLP (mGy-cm): 890" as vendors write Comments on
# Radiation Dose (0040,0310); "Gy*cm" without the m is a thousand times more.
_DLP = re.compile(
    r"(?P<total>total\s*)?\bDLP\b\s*(?:\((?P<unit1>[^)]*)\))?\s*[:=]?\s*(?P<value>\d+(?:[.,]\d+)?)"
    r"\s*(?P<unit2>[mµu]?Gy\s*[-*·.x ]?\s*cm)?",
    re.IGNORECASE,
)
_DAP_DGY_TO_GY = Decimal("0.1")  # PS3.3 C.4.16: (0018,115E) is in dGy·cm²


def _decimal_of(dataset: Dataset, keyword: str) -> Decimal | None:
    """A DS/US/FD value as a Decimal; None when absent, unreadable, negative or not finite (never refuses the step)."""
    try:
        text = _text(dataset, keyword).strip()
    except InvalidQuery:
        return None
    if not text:
        return None
    try:
        number = Decimal(text.split("\\")[0].strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() and number >= 0 else None


def _dlp_in(comment: str) -> tuple[Decimal | None, bool]:
    """The DLP (mGy·cm) a comment names, and whether it says it is the total; (None, False) when none."""
    found = None
    for match in _DLP.finditer(comment):
        unit = (match["unit1"] or match["unit2"] or "mGy").strip().lower()
        try:
            value = Decimal(match["value"].replace(",", "."))
        except InvalidOperation:
            continue
        if unit.startswith("gy"):
            value *= 1000
        elif unit[:1] in ("µ", "u"):
            value /= 1000
        if match["total"]:
            return value, True
        found = found if found is not None else value
    return found, False


def _comments(dataset: Dataset) -> str:
    try:
        return _text(dataset, "CommentsOnRadiationDose")
    except InvalidQuery:
        return ""


def _items(dataset: Dataset, keyword: str) -> list:
    try:
        value = _value(dataset, keyword)
    except InvalidQuery:
        return []
    return list(value) if isinstance(value, Sequence) else []


def parse_dose(dataset: Dataset) -> Dose:
    """The dose of an MPPS attribute or modification list, read defensively: a value that cannot be read is
    skipped, never a reason to refuse the step.

    CTDIvol: the highest CTDIvol (0018,9345) of the CT Exposure Sequence (0018,9321) items, at the top level or in
    Exposure Dose Sequence (0040,030E) items. DLP: what Comments on Radiation Dose (0040,0310) says, a "Total DLP"
    first, else the step's own comment, else the sum over the Exposure Dose Sequence items' comments. DAP: Image
    and Fluoroscopy Area Dose Product (0018,115E), dGy·cm² converted to Gy·cm². Fluoroscopy: Total Time of
    Fluoroscopy (0040,0300), seconds.
    """
    exposures = _items(dataset, "ExposureDoseSequence")
    ct_items = _items(dataset, "CTExposureSequence")
    for exposure in exposures:
        ct_items += _items(exposure, "CTExposureSequence")
    ctdis = [value for item in ct_items if (value := _decimal_of(item, "CTDIvol")) is not None]
    dlp, total = _dlp_in(_comments(dataset))
    if not total:
        item_dlps = [value for exposure in exposures if (value := _dlp_in(_comments(exposure))[0]) is not None]
        if dlp is None and item_dlps:
            dlp = sum(item_dlps, Decimal(0))
    dap = _decimal_of(dataset, "ImageAndFluoroscopyAreaDoseProduct")
    return Dose(
        ctdivol_mgy=max(ctdis) if ctdis else None,
        dlp_mgycm=dlp,
        dap_gycm2=dap * _DAP_DGY_TO_GY if dap is not None else None,
        fluoroscopy_seconds=_decimal_of(dataset, "TotalTimeOfFluoroscopy"),
    )


def _date_time(dataset: Dataset, date_keyword: str, time_keyword: str, tz) -> datetime | None:
    day = _text(dataset, date_keyword).strip()
    if not day:
        return None
    clock = _text(dataset, time_keyword).strip()
    return datetime.combine(_parse_date(day), _parse_time(clock, upper=False) if clock else time.min, tzinfo=tz)


def step_zone(dataset: Dataset, default):
    """The zone of an MPPS's dates and times: its Timezone Offset From UTC (0008,0201) when it has one (a modality
    in another zone, or one that sends UTC), else `default`. Raise InvalidQuery on a malformed offset."""
    offset = _text(dataset, "TimezoneOffsetFromUTC").strip()
    return offset_zone(offset) if offset else default


def _attribute_keywords(dataset: Dataset) -> tuple[frozenset[str], frozenset[str]]:
    """The keywords of the top-level attributes, and of those with a zero-length value; read from the element
    lengths, without converting any value (a broken value is for the parser of that attribute to judge)."""
    present, empty = set(), set()
    for tag in dataset.keys():  # noqa: SIM118 (iterating the dataset would convert every element)
        keyword = keyword_for_tag(tag)
        if not keyword:  # private or unknown: neither forbidden to set nor part of the final state
            continue
        present.add(keyword)
        value = dataset.get_item(tag).value
        if value is None or (isinstance(value, str | bytes | list | Sequence) and len(value) == 0):
            empty.add(keyword)
    return frozenset(present), frozenset(empty)


# Type 1 in the final state inside each Performed Series Sequence item (PS3.4 Table F.7.2-1), and inside the items
# of its two reference sequences.
SERIES_FINAL_TYPE1 = ("SeriesInstanceUID", "ProtocolName")
REFERENCE_SEQUENCES = ("ReferencedImageSequence", "ReferencedNonImageCompositeSOPInstanceSequence")
REFERENCE_FINAL_TYPE1 = ("ReferencedSOPClassUID", "ReferencedSOPInstanceUID")


def _performed_series(item: Dataset) -> dict:
    references = [reference for keyword in REFERENCE_SEQUENCES for reference in item.get(keyword) or []]
    missing = [keyword for keyword in SERIES_FINAL_TYPE1 if not _text(item, keyword).strip()]
    missing += [
        keyword
        for keyword in REFERENCE_FINAL_TYPE1
        if any(not _text(reference, keyword).strip() for reference in references)
    ]
    return {
        "series_instance_uid": _text(item, "SeriesInstanceUID").strip(),
        "protocol_name": _text(item, "ProtocolName").strip()[:64],
        "instances": len(references),
        "missing": missing,
    }


def parse_step_report(dataset: Dataset, *, tz) -> StepReport:
    """Read an MPPS attribute list or modification list. Raise InvalidQuery on a malformed date, time or offset.

    PPS start and end are in the zone the list's Timezone Offset From UTC names, else in `tz`.
    """
    tz = step_zone(dataset, tz)
    report = StepReport(
        status=_text(dataset, "PerformedProcedureStepStatus").strip().upper(),
        station_ae_title=_text(dataset, "PerformedStationAETitle").strip(),
        station_name=_text(dataset, "PerformedStationName").strip(),
        step_id=_text(dataset, "PerformedProcedureStepID").strip(),
        started_at=_date_time(dataset, "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime", tz),
        ended_at=_date_time(dataset, "PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime", tz),
        patient_id=_text(dataset, "PatientID").strip(),
        patient_name=str(_text(dataset, "PatientName")).strip(),
        issuer_of_patient_id=_text(dataset, "IssuerOfPatientID").strip(),
    )
    report.present, report.empty = _attribute_keywords(dataset)
    for item in dataset.get("ScheduledStepAttributesSequence") or []:
        report.scheduled.append(
            tuple(
                _text(item, keyword).strip()
                for keyword in (
                    "AccessionNumber",
                    "RequestedProcedureID",
                    "ScheduledProcedureStepID",
                    "StudyInstanceUID",
                )
            )
        )
    report.series = [_performed_series(item) for item in dataset.get("PerformedSeriesSequence") or []]
    for reason in dataset.get("PerformedProcedureStepDiscontinuationReasonCodeSequence") or []:
        report.discontinuation_reason = _text(reason, "CodeMeaning").strip() or _text(reason, "CodeValue").strip()
    report.dose = parse_dose(dataset)
    return report
