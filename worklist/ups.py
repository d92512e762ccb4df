"""UPS workitems (PS3.4 Annex CC) <-> domain, as pure functions: no ORM calls, no network.

A workitem is an exam. Its attributes (PS3.4 Table CC.2.5-3) are built from the Modality Worklist item of the same
exam (worklist.translate.worklist_item), so both worklists say the same thing; a UPS search becomes the same
WorklistQuery the MWL C-FIND does (worklist.ups_search).
"""

import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, time
from typing import Any

from pydicom import Dataset
from pydicom.datadict import keyword_for_tag

from worklist.translate import (
    PATIENT_FACT_KEYS,
    InvalidQuery,
    Period,
    _to_dataset,
    lo,
    offset_zone,
    utc_offset,
)

UPS_PUSH = "1.2.840.10008.5.1.4.34.6.1"  # the SOP Class UID of every UPS instance (PS3.4 CC.3.1)

# Procedure Step State (0074,1000), PS3.4 Table CC.1.1-1.
SCHEDULED, IN_PROGRESS, COMPLETED, CANCELED = "SCHEDULED", "IN PROGRESS", "COMPLETED", "CANCELED"
STATES = (SCHEDULED, IN_PROGRESS, COMPLETED, CANCELED)
FINAL_STATES = (COMPLETED, CANCELED)

# The workitem's state is its exam's: one state machine (scheduling's), seen through UPS.
EXAM_STATUSES = {
    SCHEDULED: ("SCHEDULED", "ARRIVED"),
    IN_PROGRESS: ("IN_PROGRESS",),
    COMPLETED: ("COMPLETED", "PRELIMINARY", "FINAL", "AMENDED"),
    CANCELED: ("CANCELLED", "NO_SHOW", "DISCONTINUED"),
}
UPS_STATE = {status: state for state, statuses in EXAM_STATUSES.items() for status in statuses}

# Scheduled Procedure Step Priority (0074,1200) from the MWL Requested Procedure Priority (0040,1003).
UPS_PRIORITY = {"STAT": "HIGH", "HIGH": "HIGH", "ROUTINE": "MEDIUM"}
STATION_AE_SCHEME = "99RIS_AE"  # Scheduled Station Name Code Sequence: the station's AE title, in a local scheme

# Tags (DICOM JSON keys) the performer may set with Update Workitem (PS3.4 Table CC.2.5-3, "N-SET" column, of the
# Progress Information and Performed Procedure Information modules); the rest belongs to the RIS's scheduling.
PROGRESS_SEQUENCE = "00741002"  # Procedure Step Progress Information Sequence
PERFORMED_SEQUENCE = "00741216"  # Unified Procedure Step Performed Procedure Sequence
UPDATABLE = frozenset({PROGRESS_SEQUENCE, PERFORMED_SEQUENCE})
TRANSACTION_UID = "00081195"
STATE_TAG = "00741000"
CHARSET_TAG = "00080005"
START_DT, END_DT = "00404050", "00404051"  # Performed Procedure Step Start/End DateTime
REASON_FOR_CANCELLATION = "00741238"

# Attributes returned only when includefield (or a Retrieve) asks: each costs the clinical queries of
# worklist.selectors.worklist_matches.
EXAM_FACT_UPS_KEYS = frozenset({"CommentsOnTheScheduledProcedureStep"})
FACT_KEYS = frozenset((PATIENT_FACT_KEYS - {"PatientState"}) | EXAM_FACT_UPS_KEYS)


def workitem_uid(study_instance_uid: str, scheduled_procedure_step_id: str) -> str:
    """The exam's UPS SOP Instance UID: a UUID-derived UID (PS3.5 B.2) of its Study Instance UID and Scheduled
    Procedure Step ID, both unique and never reused: the same for the same exam, whoever asks first."""
    name = f"{study_instance_uid}/{scheduled_procedure_step_id}"
    return f"2.25.{uuid.uuid5(_NAMESPACE, name).int}"


_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:ris:ups-workitem")


def dicom_datetime(moment: datetime | None) -> str:
    """A DT value with its offset from UTC: 20261206093000+0100."""
    return f"{moment:%Y%m%d%H%M%S%z}" if moment else ""


def ups_values(
    mwl: Mapping[str, Any], *, uid: str, state: str, local_start: datetime | None, now: datetime
) -> dict[str, Any]:
    """A workitem's attributes by keyword (PS3.4 Table CC.2.5-3), from the exam's MWL item (worklist_item's dict):
    sequences as lists of dicts, as worklist.translate builds them."""
    sps = mwl["ScheduledProcedureStepSequence"][0]
    code = mwl["RequestedProcedureCodeSequence"]
    station = [
        {
            "CodeValue": sps["ScheduledStationAETitle"],
            "CodingSchemeDesignator": STATION_AE_SCHEME,
            "CodeMeaning": sps["ScheduledStationName"] or sps["ScheduledStationAETitle"],
        }
    ]
    modality = [{"CodeValue": sps["Modality"], "CodingSchemeDesignator": "DCM", "CodeMeaning": sps["Modality"]}]
    request = {
        "StudyInstanceUID": mwl["StudyInstanceUID"],
        "AccessionNumber": mwl["AccessionNumber"],
        "IssuerOfAccessionNumberSequence": [],
        "RequestedProcedureID": mwl["RequestedProcedureID"],
        "RequestedProcedureDescription": lo(mwl["RequestedProcedureDescription"]),
        "RequestedProcedureCodeSequence": code,
        "PlacerOrderNumberImagingServiceRequest": mwl["PlacerOrderNumberImagingServiceRequest"],
        "FillerOrderNumberImagingServiceRequest": mwl["FillerOrderNumberImagingServiceRequest"],
        "ReasonForTheRequestedProcedure": lo(mwl["ReasonForTheRequestedProcedure"]),
        "RequestingPhysician": mwl["RequestingPhysician"],
    }
    return {
        "SpecificCharacterSet": "ISO_IR 192",
        "SOPClassUID": UPS_PUSH,
        "SOPInstanceUID": uid,
        "TimezoneOffsetFromUTC": utc_offset(local_start or now),
        # Unified Procedure Step Scheduled Procedure Information Module (PS3.3 C.30.1)
        "ScheduledProcedureStepPriority": UPS_PRIORITY.get(mwl["RequestedProcedurePriority"], "MEDIUM"),
        "ProcedureStepLabel": lo(mwl["RequestedProcedureDescription"]),
        "WorklistLabel": lo(sps["ScheduledStationName"] or sps["ScheduledStationAETitle"]),
        "ScheduledProcessingParametersSequence": [],
        "ScheduledStationNameCodeSequence": station,
        "ScheduledStationClassCodeSequence": modality,
        "ScheduledStationGeographicLocationCodeSequence": [],
        "ScheduledHumanPerformersSequence": [],
        "ScheduledProcedureStepStartDateTime": dicom_datetime(local_start),
        "ScheduledWorkitemCodeSequence": code,
        "CommentsOnTheScheduledProcedureStep": sps["CommentsOnTheScheduledProcedureStep"],
        "InputReadinessState": "READY",
        "InputInformationSequence": [],
        "StudyInstanceUID": mwl["StudyInstanceUID"],
        # Unified Procedure Step Relationship Module (PS3.3 C.30.4), with the Patient Medical attributes
        "PatientName": mwl["PatientName"],
        "PatientID": mwl["PatientID"],
        "IssuerOfPatientID": mwl["IssuerOfPatientID"],
        "PatientBirthDate": mwl["PatientBirthDate"],
        "PatientSex": mwl["PatientSex"],
        "AdmissionID": mwl["AdmissionID"],
        "ReferencedRequestSequence": [request],
        "MedicalAlerts": mwl["MedicalAlerts"],
        "Allergies": mwl["Allergies"],
        "PregnancyStatus": mwl["PregnancyStatus"],
        "PatientWeight": mwl["PatientWeight"],
        "PatientSize": mwl["PatientSize"],
        "SpecialNeeds": mwl["SpecialNeeds"],
        # Unified Procedure Step Progress Information and Performed Procedure Information Modules (C.30.2, C.30.3):
        # empty until the performer sets them (Update Workitem), merged in by the caller.
        "ProcedureStepState": state,
        "ProcedureStepProgressInformationSequence": [],
        "UnifiedProcedureStepPerformedProcedureSequence": [],
    }


def ups_json(values: Mapping[str, Any], *, keys: Iterable[str] | None = None, stored: Mapping | None = None) -> dict:
    """DICOM JSON (PS3.18 F.2) of `values` (only `keys` of them, when given), with what the performer stored
    (by tag) over the empty defaults. Never a Transaction UID: it is the claim's lock (PS3.18 11.5.3)."""
    wanted = None if keys is None else frozenset(keys)
    chosen = values if wanted is None else {key: value for key, value in values.items() if key in wanted}
    answer = _to_dataset(chosen).to_json_dict()
    for tag, element in (stored or {}).items():
        if tag != TRANSACTION_UID:
            answer[tag] = element
    return dict(sorted(answer.items()))


# --- date-times (PS3.5 6.2 DT) ------------------------------------------------------------------------------

_DT = r"\d{4}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?)?)?)?(?:[+-]\d{4})?"


def datetime_range(text: str, tz) -> Period:
    """A DT matching value: one value or a range (PS3.4 C.2.2.2.5); a value without offset is the department's
    local time. The upper bound's unstated precision extends to its end (2026120610 -> 10:59:59.999999)."""
    text = text.strip()
    if re.fullmatch(_DT, text):
        return Period(_dt(text, tz, upper=False), _dt(text, tz, upper=True))
    match = re.fullmatch(rf"(?P<low>{_DT})?-(?P<high>{_DT})?", text)
    if not match or not (match["low"] or match["high"]):
        raise InvalidQuery(f"{text!r} is not a DICOM date-time or range (YYYYMMDDHHMMSS[+ZZZZ]-...)")
    low = _dt(match["low"], tz, upper=False) if match["low"] else None
    high = _dt(match["high"], tz, upper=True) if match["high"] else None
    return Period(low, high)


def _dt(text: str, tz, *, upper: bool) -> datetime:
    zone = tz
    if len(text) > 4 and text[-5] in "+-" and text[-4:].isdigit():
        zone = offset_zone(text[-5:])
        text = text[:-5]
    digits, _, fraction = text.partition(".")
    parts = [digits[i : i + n] for i, n in ((0, 4), (4, 2), (6, 2), (8, 2), (10, 2), (12, 2))]
    given = [int(part) for part in parts if part]
    lowest = [1, 1, 1, 0, 0, 0]
    highest = [9999, 12, None, 23, 59, 59]
    values = given + (highest if upper else lowest)[len(given) :]
    try:
        if upper and len(given) < 3:  # the last day of the month (or year)
            year, month = values[0], values[1]
            following = datetime(year + (month == 12), month % 12 + 1, 1)
            values[2] = (following - datetime(year, month, 1)).days
        micro = int(fraction.ljust(6, "0")) if fraction else (999_999 if upper else 0)
        moment = datetime(*values[:3], tzinfo=zone)
        return datetime.combine(moment.date(), time(*values[3:6], micro), tzinfo=zone)
    except ValueError:
        raise InvalidQuery(f"{text!r} is not a valid date-time") from None


# --- change state and update payloads (PS3.18 11.6.1.4, 11.7.1.4) ---------------------------------------------


class InvalidPayload(ValueError):
    """A request body that is not a DICOM JSON dataset this transaction takes (HTTP 400)."""


def payload_dataset(body: Any) -> dict:
    """The one dataset of a DICOM JSON payload (an array of one object, or the object), checked by pydicom."""
    if isinstance(body, list):
        if len(body) != 1:
            raise InvalidPayload("Send one dataset (a DICOM JSON array of one object).")
        body = body[0]
    if not isinstance(body, dict):
        raise InvalidPayload("Send a DICOM JSON dataset (application/dicom+json).")
    normalised = {}
    for tag, element in body.items():
        if not isinstance(tag, str) or not re.fullmatch(r"[0-9A-Fa-f]{8}", tag) or not isinstance(element, dict):
            raise InvalidPayload(f"{tag!r}: a DICOM JSON attribute is an 8-digit tag with an object.")
        normalised[tag.upper()] = element
    try:
        Dataset.from_json(normalised)
    except Exception as error:
        raise InvalidPayload(f"The dataset cannot be read as DICOM JSON ({type(error).__name__}).") from None
    return normalised


def single_text(dataset: Mapping, tag: str) -> str:
    """The first value of a text attribute of a DICOM JSON dataset, "" when absent or empty."""
    values = (dataset.get(tag) or {}).get("Value") or [""]
    value = values[0]
    return value.strip() if isinstance(value, str) else ""


def valid_uid(text: str) -> bool:
    """A UID as PS3.5 9.1 writes it: digits in components without leading zeros, at most 64 characters."""
    return len(text) <= 64 and bool(re.fullmatch(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+", text))


def keyword_of(tag: str) -> str:
    return keyword_for_tag(int(tag, 16)) or f"({tag[:4]},{tag[4:]})"


def performed_times(stored: Mapping) -> tuple[str, str]:
    """Performed Procedure Step Start and End DateTime of the performed procedure the performer set ("" if not)."""
    items = (stored.get(PERFORMED_SEQUENCE) or {}).get("Value") or [{}]
    item = items[0] if isinstance(items[0], dict) else {}
    return single_text(item, START_DT), single_text(item, END_DT)


def parse_dt(text: str, tz) -> datetime | None:
    """A DT value (the department's local time without an offset); None when absent or unreadable."""
    if not text or not re.fullmatch(_DT, text):
        return None
    try:
        return _dt(text, tz, upper=False)
    except InvalidQuery:
        return None


def cancellation_reason(stored: Mapping) -> str:
    items = (stored.get(PROGRESS_SEQUENCE) or {}).get("Value") or [{}]
    item = items[0] if isinstance(items[0], dict) else {}
    return single_text(item, REASON_FOR_CANCELLATION)
