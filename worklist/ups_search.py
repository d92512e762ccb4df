"""A UPS-RS search (PS3.18 11.9, QIDO-style query parameters, PS3.18 8.3.4) and a UPS C-FIND identifier's matching
keys, read into the WorklistQuery the Modality Worklist uses (worklist.translate), with what to return and which
page. Pure functions: no ORM calls."""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydicom.datadict import keyword_for_tag, tag_for_keyword

from worklist.translate import InvalidQuery, WorklistQuery, date_range, fold_person_name, is_universal
from worklist.ups import EXAM_STATUSES, FACT_KEYS, IN_PROGRESS, STATES, datetime_range, valid_uid


class InvalidSearch(ValueError):
    """A search parameter the origin server cannot use (HTTP 400): the message says which and why."""


# --- search parameters (PS3.18 8.3.4, 11.9.1.2) ---------------------------------------------------------------


@dataclass
class UpsSearch:
    """A UPS-RS search, normalised: the worklist query, the UIDs asked for, what to return, which page."""

    query: WorklistQuery = field(default_factory=WorklistQuery)
    sop_instance_uids: tuple[str, ...] | None = None
    include: set[str] = field(default_factory=set)  # keywords asked for beyond the default return keys
    include_all: bool = False
    not_returned: list[str] = field(default_factory=list)  # includefield attributes this server does not return
    limit: int = 100
    offset: int = 0
    fuzzy_ignored: bool = False


# Matching keys, as attribute paths of keywords, and what each sets on the WorklistQuery.
STRING_KEYS = {
    "PatientID": "PatientID",
    "PatientSex": "PatientSex",
    "AdmissionID": "AdmissionID",
    "ReferencedRequestSequence.AccessionNumber": "AccessionNumber",
    "ReferencedRequestSequence.RequestedProcedureID": "RequestedProcedureID",
    "ScheduledStationNameCodeSequence.CodeValue": "ScheduledStationAETitle",
    "ScheduledStationClassCodeSequence.CodeValue": "Modality",
}
OTHER_KEYS = (
    "PatientName",
    "PatientBirthDate",
    "StudyInstanceUID",
    "ReferencedRequestSequence.StudyInstanceUID",
    "ScheduledProcedureStepStartDateTime",
    "ProcedureStepState",
    "SOPInstanceUID",
)
MATCHING_KEYS = (*STRING_KEYS, *OTHER_KEYS)
QUERY_PARAMETERS = frozenset({"includefield", "limit", "offset", "fuzzymatching"})


def attribute_path(name: str) -> str:
    """A QIDO attribute ID (PS3.18 8.3.4.1): keywords or 8-digit tags, sequence steps joined by dots, as keywords."""
    steps = []
    for step in name.strip().split("."):
        if re.fullmatch(r"[0-9A-Fa-f]{8}", step):
            keyword = keyword_for_tag(int(step, 16))
        else:
            keyword = step if tag_for_keyword(step) is not None else ""
        if not keyword:
            raise InvalidSearch(f"{name!r} is not a DICOM attribute (give a keyword or an 8-digit tag).")
        steps.append(keyword)
    return ".".join(steps)


def _number(name: str, text: str, *, low: int, high: int) -> int:
    if not re.fullmatch(r"\d{1,9}", text.strip()):
        raise InvalidSearch(f"{name}={text!r}: give a whole number.")
    value = int(text)
    if not low <= value <= high:
        raise InvalidSearch(f"{name}={value}: give a number from {low} to {high}.")
    return value


def parse_search(
    params: Iterable[tuple[str, str]], *, tz, fold, default_statuses: Iterable[str], max_limit: int
) -> UpsSearch:
    """Read the query parameters of Search Workitems. Raise InvalidSearch on one this server cannot use."""
    search = UpsSearch(limit=min(100, max_limit))
    query = search.query
    statuses: tuple[str, ...] | None = None
    for name, value in params:
        if name in QUERY_PARAMETERS:
            if name == "includefield":
                _include(search, value)
            elif name == "limit":
                search.limit = _number(name, value, low=1, high=max_limit)
            elif name == "offset":
                search.offset = _number(name, value, low=0, high=10**6)
            elif value.strip().lower() == "true":  # fuzzymatching: not supported, literal matching (PS3.18 8.3.4.5)
                search.fuzzy_ignored = True
            continue
        path = attribute_path(name)
        if path not in MATCHING_KEYS:
            keys = ", ".join(MATCHING_KEYS)
            raise InvalidSearch(f"{path} is not a matching key of this worklist; the matching keys are: {keys}.")
        if is_universal(value):
            continue
        value = value.strip()
        try:
            if path in STRING_KEYS:
                query.strings[STRING_KEYS[path]] = value
            elif path == "PatientName":
                query.patient_name = fold_person_name(value, fold)
            elif path == "PatientBirthDate":
                query.birth_dates = date_range(value)
            elif path in ("StudyInstanceUID", "ReferencedRequestSequence.StudyInstanceUID"):
                query.study_instance_uids = _uids(value)
            elif path == "SOPInstanceUID":
                search.sop_instance_uids = _uids(value)
            elif path == "ScheduledProcedureStepStartDateTime":
                query.start = datetime_range(value, tz)
            else:  # ProcedureStepState
                statuses = _statuses(value)
        except InvalidQuery as error:
            raise InvalidSearch(f"{path}: {error}.") from None
    query.sps_statuses = statuses or tuple(dict.fromkeys([*default_statuses, *EXAM_STATUSES[IN_PROGRESS]]))
    return search


def _include(search: UpsSearch, value: str) -> None:
    for name in value.split(","):
        if not name.strip():
            continue
        if name.strip().lower() == "all":
            search.include_all = True
            continue
        path = attribute_path(name)
        keyword = path.split(".")[0]
        if keyword in FACT_KEYS:
            search.include.add(keyword)
        elif keyword not in DEFAULT_KEYS:
            search.not_returned.append(path)


def _uids(value: str) -> tuple[str, ...]:
    uids = tuple(uid.strip() for uid in re.split(r"[,\\]", value) if uid.strip())
    for uid in uids:
        if not valid_uid(uid):
            raise InvalidQuery(f"{uid!r} is not a UID")
    return uids


def _statuses(value: str) -> tuple[str, ...]:
    statuses: list[str] = []
    for state in re.split(r"[,\\]", value):
        state = state.strip().upper()
        if state not in EXAM_STATUSES:
            raise InvalidQuery(f"{state!r} is not a Procedure Step State ({', '.join(STATES)})")
        statuses += EXAM_STATUSES[state]
    return tuple(statuses)


# The attributes a search returns unless includefield asks for more: PS3.18 11.9.3.2 (the return keys of type 1
# and 2 of Table CC.2.5-3), the clinical facts being asked for by name or with "all".
DEFAULT_KEYS = frozenset(
    {
        "SpecificCharacterSet",
        "SOPClassUID",
        "SOPInstanceUID",
        "TimezoneOffsetFromUTC",
        "ScheduledProcedureStepPriority",
        "ProcedureStepLabel",
        "WorklistLabel",
        "ScheduledProcessingParametersSequence",
        "ScheduledStationNameCodeSequence",
        "ScheduledStationClassCodeSequence",
        "ScheduledStationGeographicLocationCodeSequence",
        "ScheduledHumanPerformersSequence",
        "ScheduledProcedureStepStartDateTime",
        "ScheduledWorkitemCodeSequence",
        "InputReadinessState",
        "InputInformationSequence",
        "StudyInstanceUID",
        "PatientName",
        "PatientID",
        "IssuerOfPatientID",
        "PatientBirthDate",
        "PatientSex",
        "AdmissionID",
        "ReferencedRequestSequence",
        "ProcedureStepState",
        "ProcedureStepProgressInformationSequence",
        "UnifiedProcedureStepPerformedProcedureSequence",
    }
)


def returned_keys(search: UpsSearch) -> frozenset[str]:
    return DEFAULT_KEYS | FACT_KEYS if search.include_all else DEFAULT_KEYS | search.include
