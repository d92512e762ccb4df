"""DICOM Modality Worklist <-> domain, as pure functions: no ORM calls, no network.

A C-FIND identifier becomes a `WorklistQuery` (matching keys as plain values and ranges); an exam's data becomes
the response identifier holding exactly the keys the query asked for (PS3.4 K.4.1.1.3.2). The selector turns a
`WorklistQuery` into one database query.
"""

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time

from pydicom import Dataset
from pydicom.charset import convert_encodings
from pydicom.sequence import Sequence

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


def combined_period(date_text: str, time_text: str, tz) -> Period:
    """SPS Start Date and Time as one continuous period (PS3.4 C.2.2.2.5.1): from d1 t1 to d2 t2."""
    first, last = date_range(date_text)
    t_low, t_high = time_range(time_text) if not is_universal(time_text) else (None, None)
    start = datetime.combine(first, t_low or time.min, tzinfo=tz) if first else None
    end = datetime.combine(last, t_high or time.max, tzinfo=tz) if last else None
    return Period(start, end)


def fold_person_name(value: str, fold) -> str:
    """The alphabetic group of a PN, components joined by spaces and folded like Patient.search_name."""
    alphabetic = str(value).split("=")[0]
    components = [part.strip() for part in alphabetic.split("^")]
    while components and components[-1] == "":
        components.pop()
    return fold(" ".join(part for part in components if part))


# --- the query -------------------------------------------------------------------------------------------------


def _text(dataset: Dataset, keyword: str) -> str:
    if keyword not in dataset:
        return ""
    value = dataset[keyword].value
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


def parse_query(identifier: Dataset, *, tz, fold) -> WorklistQuery:
    """Read a worklist C-FIND identifier's matching keys. Raise InvalidQuery where it does not fit the SOP class."""
    if not isinstance(identifier, Dataset):
        raise InvalidQuery("the identifier is not a dataset")
    query = WorklistQuery()
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
        items = identifier.ScheduledProcedureStepSequence or []
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
    return {"CodeValue": value, "CodingSchemeDesignator": scheme, "CodeMeaning": meaning[:64]}


def worklist_item(exam, *, local_start: datetime | None, coding_scheme: str) -> dict:
    """Every attribute the SCP can return for an exam (PS3.4 Table K.6-1), by keyword; sequences as lists."""
    order, patient, procedure = exam.order, exam.order.patient, exam.procedure_type
    physician = order.referring_physician
    room = exam.room
    code = [_code_item(procedure.code, coding_scheme, procedure.name)]
    sps = {
        "ScheduledStationAETitle": room.station_ae_title if room else "",
        "ScheduledStationName": room.station_name if room else "",
        "ScheduledProcedureStepLocation": room.location if room else "",
        "ScheduledProcedureStepStartDate": _dicom_date(local_start),
        "ScheduledProcedureStepStartTime": _dicom_time(local_start),
        "Modality": procedure.modality.code,
        "ScheduledPerformingPhysicianName": "",
        "ScheduledProcedureStepDescription": procedure.name[:64],
        "ScheduledProtocolCodeSequence": code,
        "ScheduledProcedureStepID": exam.scheduled_procedure_step_id,
        "ScheduledProcedureStepStatus": EXAM_TO_SPS_STATUS.get(exam.status, ""),
        "PreMedication": "",
        "RequestedContrastAgent": "",
        "CommentsOnTheScheduledProcedureStep": "",
    }
    return {
        "AccessionNumber": order.accession_number,
        "ReferringPhysicianName": physician.dicom_pn if physician else "",
        "RequestingPhysician": physician.dicom_pn if physician else "",
        "ReferencedStudySequence": [],
        "ReferencedPatientSequence": [],
        "PatientName": patient.dicom_pn,
        "PatientID": patient.mrn,
        "IssuerOfPatientID": patient.mrn_issuer,
        "PatientBirthDate": _dicom_date(patient.birth_date),
        "PatientSex": patient.sex,
        "PatientWeight": None,
        "PatientSize": None,
        "MedicalAlerts": "",
        "Allergies": "",
        "PregnancyStatus": None,
        "AdmissionID": order.admission_id,
        "SpecialNeeds": "",
        "CurrentPatientLocation": "",
        "PatientState": "",
        "StudyInstanceUID": exam.study_instance_uid,
        "RequestedProcedureID": exam.requested_procedure_id,
        "RequestedProcedureDescription": procedure.name[:64],
        "RequestedProcedureCodeSequence": code,
        "RequestedProcedurePriority": PRIORITY.get(order.priority, ""),
        "PatientTransportArrangements": "",
        "ReasonForTheRequestedProcedure": order.reason[:64],
        "PlacerOrderNumberImagingServiceRequest": order.placer_order_number,
        "FillerOrderNumberImagingServiceRequest": order.filler_order_number,
        "ImagingServiceRequestComments": "",
        "ScheduledProcedureStepSequence": [sps],
    }


def _to_dataset(values: dict) -> Dataset:
    dataset = Dataset()
    for keyword, value in values.items():
        if isinstance(value, list):
            setattr(dataset, keyword, Sequence([_to_dataset(item) for item in value]))
        else:
            setattr(dataset, keyword, value)
    return dataset


def _answer(query: Dataset, values: dict) -> tuple[Dataset, bool]:
    """The keys of `query`, filled from `values`; True where a key was not one the SCP knows."""
    answer = Dataset()
    unsupported = False
    for element in query:
        keyword = element.keyword
        if not keyword or element.tag.group == 0x0000 or keyword == "SpecificCharacterSet":
            continue
        if keyword not in values:
            unsupported = True
            setattr(answer, keyword, Sequence() if element.VR == "SQ" else None)
            continue
        value = values[keyword]
        if element.VR != "SQ":
            setattr(answer, keyword, value)
            continue
        asked = element.value or []
        if not asked or len(asked[0]) == 0:  # an empty sequence or item asks for the whole item (as wlmscpfs)
            setattr(answer, keyword, Sequence([_to_dataset(item) for item in value]))
            continue
        items = []
        for item in value:
            sub_answer, sub_unsupported = _answer(asked[0], item)
            unsupported |= sub_unsupported
            items.append(sub_answer)
        setattr(answer, keyword, Sequence(items))
    return answer, unsupported


def _encodable(values: dict, charset: str) -> bool:
    codecs = convert_encodings([charset])
    text = _all_text(values)
    try:
        text.encode(codecs[0])
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _all_text(values: dict) -> str:
    parts = []
    for value in values.values():
        if isinstance(value, list):
            parts.extend(_all_text(item) for item in value)
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


def response_charset(query: Dataset, values: dict) -> str:
    """The query's single-byte Specific Character Set when every value fits it, else UTF-8 (ISO_IR 192).

    The default repertoire (no set, or ISO_IR 6) and the ISO 2022 sets are answered in UTF-8, a superset of ASCII.
    """
    asked = _text(query, "SpecificCharacterSet").split("\\")[0].strip()
    if asked in SINGLE_BYTE_SETS and _encodable(values, asked):
        return asked
    return UTF8


def build_response(query: Dataset, values: dict) -> tuple[Dataset, bool]:
    """The response identifier for one match, and whether a requested key was not supported (status FF01)."""
    answer, unsupported = _answer(query, values)
    answer.SpecificCharacterSet = response_charset(query, values)
    return answer, unsupported


# --- MPPS ------------------------------------------------------------------------------------------------------


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
    # (accession number, requested procedure ID, scheduled procedure step ID, study instance UID) per item.
    scheduled: list[tuple[str, str, str, str]] = field(default_factory=list)
    series: list[dict] = field(default_factory=list)
    discontinuation_reason: str = ""


def _date_time(dataset: Dataset, date_keyword: str, time_keyword: str, tz) -> datetime | None:
    day = _text(dataset, date_keyword).strip()
    if not day:
        return None
    clock = _text(dataset, time_keyword).strip()
    return datetime.combine(_parse_date(day), _parse_time(clock, upper=False) if clock else time.min, tzinfo=tz)


def parse_step_report(dataset: Dataset, *, tz) -> StepReport:
    """Read an MPPS attribute list or modification list. Raise InvalidQuery on a malformed date or time."""
    report = StepReport(
        status=_text(dataset, "PerformedProcedureStepStatus").strip().upper(),
        station_ae_title=_text(dataset, "PerformedStationAETitle").strip(),
        station_name=_text(dataset, "PerformedStationName").strip(),
        step_id=_text(dataset, "PerformedProcedureStepID").strip(),
        started_at=_date_time(dataset, "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime", tz),
        ended_at=_date_time(dataset, "PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime", tz),
        patient_id=_text(dataset, "PatientID").strip(),
        patient_name=str(_text(dataset, "PatientName")).strip(),
    )
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
    for series in dataset.get("PerformedSeriesSequence") or []:
        report.series.append(
            {
                "series_instance_uid": _text(series, "SeriesInstanceUID").strip(),
                "instances": len(series.get("ReferencedImageSequence") or [])
                + len(series.get("ReferencedNonImageCompositeSOPInstanceSequence") or []),
            }
        )
    for reason in dataset.get("PerformedProcedureStepDiscontinuationReasonCodeSequence") or []:
        report.discontinuation_reason = _text(reason, "CodeMeaning").strip() or _text(reason, "CodeValue").strip()
    return report
