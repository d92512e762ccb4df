"""FHIR search parameters turned into querysets, with a clear 400 for anything not understood.

Each resource type names its base queryset (what a user may see, with the relations its builder prints loaded in
a fixed number of queries), its search parameters and its order. A parameter repeated is AND, a comma inside a
value is OR (FHIR 3.1.1.3). Unknown parameters and modifiers are refused rather than ignored: a clinical system
that believes it filtered must not get everything back.

Value syntax: token `code`, `system|code`, `|code`, `system|`; reference `Patient/12`, `12` or an absolute URL;
date `[prefix]YYYY[-MM[-DD[Thh:mm[:ss[.fff]][Z|+hh:mm]]]]` with prefixes eq ne gt lt ge le sa eb; a value
without a time zone is in the department's (settings.TIME_ZONE), and its precision gives the range it stands for.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import reduce
from operator import or_
from urllib.parse import unquote

from django.db.models import Exists, F, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from clinical.models import Allergy, Observation, PregnancyRecord
from interfaces.fhir import clinical as c
from interfaces.fhir import resources as r
from reporting.models import Addendum, Report
from reporting.selectors import reports_visible_to
from ris.models import Patient
from ris.selectors import patient_name_matches
from ris.text import fold
from scheduling.models import Exam
from scheduling.selectors import exams_with_context

DEFAULT_COUNT = 50
MAX_COUNT = 200
# Parameters every search takes besides its own: paging, and the format ones the renderer reads.
RESULT_PARAMS = ("_count", "_offset", "_format", "_pretty")

NOTHING = Q(pk__in=[])


class SearchError(Exception):
    """A search the server does not understand: HTTP 400 with an OperationOutcome of issue type `code`."""

    def __init__(self, message: str, *, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.code = code


# --- Value parsing -------------------------------------------------------------------------------------------

_UNESCAPED_COMMA = re.compile(r"(?<!\\),")
_UNESCAPED_BAR = re.compile(r"(?<!\\)\|")


def _unescape(text: str) -> str:
    return re.sub(r"\\([\\,|$])", r"\1", text)


def alternatives(value: str) -> list[str]:
    """The OR-ed values of one parameter value: "a,b" -> ["a", "b"] (a backslash escapes a comma)."""
    return [_unescape(part) for part in _UNESCAPED_COMMA.split(value)]


def token(value: str) -> tuple[str | None, str]:
    """(system, code): None for "code" (any system), "" for "|code" (no system)."""
    parts = _UNESCAPED_BAR.split(value, maxsplit=1)
    if len(parts) == 1:
        return None, _unescape(value)
    return _unescape(parts[0]), _unescape(parts[1])


_ID = re.compile(r"[0-9]{1,18}")


def database_id(text: str) -> int | None:
    """A resource id as a primary key; None for an id that cannot be one of ours (it then matches nothing)."""
    return int(text) if _ID.fullmatch(text) else None


def reference(name: str, value: str, *, target: str) -> int | None:
    """The id in a reference to a `target` resource: "Patient/12", "12", ".../fhir/r4/Patient/12"."""
    parts = value.rstrip("/").split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) > 1 and parts[-2] != target:
        raise SearchError(f"{name} takes a reference to a {target} ({target}/<id> or <id>), not {value!r}.")
    return database_id(parts[-1])


_DATE = re.compile(
    r"(?P<prefix>eq|ne|gt|lt|ge|le|sa|eb|ap)?"
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?"
)
DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")


@dataclass(frozen=True)
class DateValue:
    prefix: str
    low: date | datetime  # the range the value stands for, by its precision: [low, high)
    high: date | datetime

    def condition(self, field: str) -> Q:
        low, high = {f"{field}__gte": self.low}, {f"{field}__lt": self.high}
        return {
            "eq": Q(**low, **high),
            "ne": ~Q(**low, **high) & Q(**{f"{field}__isnull": False}),
            "gt": Q(**{f"{field}__gte": self.high}),
            "sa": Q(**{f"{field}__gte": self.high}),
            "ge": Q(**low),
            "lt": Q(**{f"{field}__lt": self.low}),
            "eb": Q(**{f"{field}__lt": self.low}),
            "le": Q(**high),
        }[self.prefix]


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def parse_date(name: str, value: str, *, with_time: bool) -> DateValue:
    """A date search value as the range it stands for: dates for a date column, aware datetimes otherwise."""
    found = _DATE.fullmatch(value)
    example = f"{name}=ge2026-01-31" + ("T08:00:00Z" if with_time else "")
    if not found:
        raise SearchError(f"{name}={value!r} is not a FHIR date (e.g. {example}).")
    prefix = found["prefix"] or "eq"
    if prefix not in DATE_PREFIXES:
        raise SearchError(f"{name}: the prefix {prefix!r} is not supported; use one of {', '.join(DATE_PREFIXES)}.")
    if found["time"] and not with_time:
        raise SearchError(f"{name} is a date without a time: {name}={prefix}YYYY-MM-DD.")
    year, month, day = int(found["year"]), int(found["month"] or 1), int(found["day"] or 1)
    try:
        start = date(year, month, day)
        if found["day"]:
            low, high = start, start + timedelta(days=1)
        elif found["month"]:
            low, high = start, date(*_next_month(year, month), 1)
        else:
            low, high = start, date(year + 1, 1, 1)
        if found["time"]:
            moment = datetime.fromisoformat(f"{start.isoformat()}T{found['time']}{found['tz'] or ''}")
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
            if "." in found["time"]:
                precision = timedelta(microseconds=1)
            elif found["time"].count(":") == 2:
                precision = timedelta(seconds=1)
            else:
                precision = timedelta(minutes=1)
            return DateValue(prefix, moment, moment + precision)
    except (ValueError, OverflowError):
        raise SearchError(f"{name}={value!r} is not a valid date.") from None
    if not with_time:
        return DateValue(prefix, low, high)
    tz = timezone.get_current_timezone()
    return DateValue(
        prefix, datetime.combine(low, datetime.min.time(), tz), datetime.combine(high, datetime.min.time(), tz)
    )


# --- Parameters ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """A search parameter: `match` turns one value (one of a comma-separated OR) into a condition."""

    name: str
    type: str  # FHIR search parameter type: token, string, date, reference
    documentation: str
    match: Callable[[str], Q]


def id_param(prefix: str = "") -> Param:
    """_id; with a `prefix`, of a table whose ids are prefix + primary key (another value matches nothing)."""

    def match(value: str) -> Q:
        if prefix and not value.startswith(prefix):
            return NOTHING
        pk = database_id(value.removeprefix(prefix))
        return Q(pk=pk) if pk else NOTHING

    return Param("_id", "token", "The resource id.", match)


def date_param(name: str, field_name: str, documentation: str, *, with_time: bool = True) -> Param:
    return Param(
        name, "date", documentation, lambda value: parse_date(name, value, with_time=with_time).condition(field_name)
    )


def reference_param(name: str, target: str, field_name: str, documentation: str) -> Param:
    def match(value: str) -> Q:
        pk = reference(name, value, target=target)
        return Q(**{field_name: pk}) if pk is not None else NOTHING

    return Param(name, "reference", documentation, match)


def status_param(field_name: str, mapping: dict[str, str], codes: tuple[str, ...], documentation: str) -> Param:
    """`status` by the resource's codes, mapped back to the exam statuses that show as each."""

    def match(value: str) -> Q:
        _system, code = token(value)
        if code not in codes:
            raise SearchError(f"status={code!r} is not a status of this resource; use one of {', '.join(codes)}.")
        return Q(**{f"{field_name}__in": [ris for ris, fhir in mapping.items() if fhir == code]})

    return Param("status", "token", documentation, match)


def code_param(name: str, field_name: str, mapping: dict[str, str], system: str, documentation: str) -> Param:
    """A token over a fixed code list (gender, priority): unknown codes are refused."""

    def match(value: str) -> Q:
        given_system, code = token(value)
        if given_system not in (None, system):
            return NOTHING
        found = [ris for ris, fhir in mapping.items() if fhir == code]
        if not found:
            raise SearchError(f"{name}={code!r} is not known; use one of {', '.join(mapping.values())}.")
        return Q(**{f"{field_name}__in": found})

    return Param(name, "token", documentation, match)


def _identifier_match(
    systems: dict[str, Callable[[str], Q]],
    prefixed: dict[str, Callable[[str, str], Q]] | None = None,
    *,
    without_system: tuple[Callable[[str], Q], ...] = (),
) -> Callable[[str], Q]:
    """An identifier token. `systems` maps a system to the condition on a value (`system|` alone: any value of
    it), `prefixed` a system prefix to one on (the rest of the system, the value). A value without a system
    matches any of `systems` or `without_system`; a system this server does not issue matches nothing."""
    prefixed = prefixed or {}

    def match(value: str) -> Q:
        system, code = token(value)
        if system is None:
            return reduce(or_, (condition(code) for condition in (*systems.values(), *without_system)))
        if system in systems:
            return systems[system](code) if code else Q()
        for prefix, condition in prefixed.items():
            if system.startswith(prefix):
                return condition(unquote(system[len(prefix) :]), code)
        return NOTHING

    return match


def _equal(field_name: str) -> Callable[[str], Q]:
    return lambda code: Q(**{field_name: code})


# --- Patient ---------------------------------------------------------------------------------------------------


def patients(user) -> QuerySet[Patient]:
    merged = Patient.objects.only("id", "merged_into_id").order_by("id")
    return Patient.objects.prefetch_related(Prefetch("merged_records", queryset=merged))


def _name_words(value: str) -> Q:
    """Every word a fragment of the names, ignoring case and accents: the match of ris.selectors.patient_search
    (over the same folded key and its trigram index), as a queryset that can be counted and paged."""
    if not fold(value).split():
        raise SearchError("name needs a value.")
    return patient_name_matches(value)


def _mrn_of_issuer(issuer: str, code: str) -> Q:
    return Q(mrn_issuer=issuer, **({"mrn": code} if code else {}))


def _active(value: str) -> Q:
    _system, code = token(value)
    if code not in ("true", "false"):
        raise SearchError("active is true or false.")
    return Q(merged_into__isnull=code == "true")


PATIENT_PARAMS = (
    id_param(),
    Param(
        "identifier",
        "token",
        f"The MRN: a value (any issuer) or {r.MRN_SYSTEM_PREFIX}<issuer>|<MRN>.",
        _identifier_match({}, {r.MRN_SYSTEM_PREFIX: _mrn_of_issuer}, without_system=(_equal("mrn"),)),
    ),
    Param(
        "name",
        "string",
        "Fragments of the family, given or middle name, each word anywhere, ignoring case and accents "
        "(name=muller finds Müller).",
        _name_words,
    ),
    Param(
        "family",
        "string",
        "The start of the family name, ignoring case and accents.",
        lambda value: Q(search_name__startswith=fold(value)) if fold(value) else NOTHING,
    ),
    Param(
        "given",
        "string",
        "The start of a given or middle name, ignoring case and accents.",
        lambda value: Q(search_name__contains=f" {fold(value)}") if fold(value) else NOTHING,
    ),
    date_param("birthdate", "birth_date", "The birth date (eq by default; ge, le, gt, lt, ne too).", with_time=False),
    code_param(
        "gender", "sex", r.GENDER, "http://hl7.org/fhir/administrative-gender", "male | female | other | unknown."
    ),
    Param("active", "token", "false for records merged into another, true for the others.", _active),
)


# --- Exams: ServiceRequest, Appointment, ImagingStudy --------------------------------------------------------


def exams(user) -> QuerySet[Exam]:
    return exams_with_context().select_related("room__facility")


def appointments(user) -> QuerySet[Exam]:
    return exams(user).filter(scheduled_start__isnull=False)


def _placer(application: str, code: str) -> Q:
    return Q(order__placer_application=application, **({"order__placer_order_number": code} if code else {}))


def _study_uid(code: str) -> Q:
    return Q(study_instance_uid=code.removeprefix("urn:oid:"))


def _modality(value: str) -> Q:
    system, code = token(value)
    return Q(procedure_type__modality__code=code) if system in (None, r.DCM) else NOTHING


PATIENT_OF_EXAM = "order__patient_id"
ACCESSION = {r.ACCESSION_SYSTEM: _equal("accession_number")}

SERVICE_REQUEST_PARAMS = (
    id_param(),
    reference_param("patient", "Patient", PATIENT_OF_EXAM, "The patient: Patient/<id> or <id>."),
    reference_param("subject", "Patient", PATIENT_OF_EXAM, "The patient: Patient/<id> or <id>."),
    status_param("status", r.SERVICE_REQUEST_STATUS, r.SERVICE_REQUEST_CODES, "active | completed | revoked."),
    date_param("authored", "order__created_at", "When the order was placed (eq, ge, le, gt, lt, ne)."),
    Param(
        "identifier",
        "token",
        "The accession number, filler or placer order number or requested procedure ID, with or without system.",
        _identifier_match(
            {
                **ACCESSION,
                r.FILLER_ORDER_SYSTEM: _equal("order__filler_order_number"),
                r.REQUESTED_PROCEDURE_SYSTEM: _equal("requested_procedure_id"),
            },
            {r.PLACER_ORDER_SYSTEM_PREFIX: _placer},
            without_system=(_equal("order__placer_order_number"),),
        ),
    ),
    Param(
        "requisition",
        "token",
        "The order's filler order number: all the requests of one order.",
        _identifier_match({r.FILLER_ORDER_SYSTEM: _equal("order__filler_order_number")}),
    ),
    code_param(
        "priority", "order__priority", r.PRIORITY, "http://hl7.org/fhir/request-priority", "routine | urgent | stat."
    ),
)

APPOINTMENT_PARAMS = (
    id_param(),
    date_param("date", "scheduled_start", "The start (eq, ge, le, gt, lt, ne): date=ge2026-01-05&date=le2026-01-09."),
    reference_param("patient", "Patient", PATIENT_OF_EXAM, "The patient: Patient/<id> or <id>."),
    reference_param("actor", "Patient", PATIENT_OF_EXAM, "A participant; patients only: Patient/<id>."),
    status_param(
        "status", r.APPOINTMENT_STATUS, r.APPOINTMENT_CODES, "booked | arrived | fulfilled | cancelled | noshow."
    ),
    Param(
        "identifier",
        "token",
        "The accession number or scheduled procedure step ID.",
        _identifier_match({**ACCESSION, r.SCHEDULED_STEP_SYSTEM: _equal("scheduled_procedure_step_id")}),
    ),
    reference_param("based-on", "ServiceRequest", "pk", "The ServiceRequest: ServiceRequest/<id>."),
)

IMAGING_STUDY_PARAMS = (
    id_param(),
    reference_param("patient", "Patient", PATIENT_OF_EXAM, "The patient: Patient/<id> or <id>."),
    reference_param("subject", "Patient", PATIENT_OF_EXAM, "The patient: Patient/<id> or <id>."),
    status_param("status", r.IMAGING_STUDY_STATUS, r.IMAGING_STUDY_CODES, "registered | available | cancelled."),
    Param(
        "identifier",
        "token",
        f"The accession number, or the Study Instance UID ({r.DICOM_UID}|urn:oid:<uid>, or urn:oid:<uid> alone).",
        _identifier_match({**ACCESSION, r.DICOM_UID: _study_uid}),
    ),
    Param(
        "modality",
        "token",
        f"The DICOM modality code ({r.DCM}|CT, or CT).",
        _modality,
    ),
    date_param("started", "started_at", "When the exam started (eq, ge, le, gt, lt, ne)."),
    reference_param(
        "basedon", "ServiceRequest", "pk", "The ServiceRequest (R4 spells it basedon here): ServiceRequest/<id>."
    ),
)


# --- DiagnosticReport ------------------------------------------------------------------------------------------


def reports(user) -> QuerySet[Report]:
    """The FINAL reports `user` may read (reporting.selectors.reports_visible_to), each with its signed addenda
    (`signed_addenda`), `amended` (an addendum is signed) and `issued_at` (the latest signature)."""
    signed = Addendum.objects.filter(signed_at__isnull=False)
    latest = signed.filter(report=OuterRef("pk")).order_by("-signed_at").values("signed_at")[:1]
    return (
        reports_visible_to(user)
        .filter(status=Report.Status.FINAL)
        .select_related(
            "exam__order__patient",
            "exam__order__referring_physician",
            "exam__procedure_type__modality",
            "signed_by",
        )
        .prefetch_related(None)
        .prefetch_related(
            Prefetch(
                "addenda",
                queryset=signed.select_related("author", "signed_by").order_by("signed_at", "id"),
                to_attr="signed_addenda",
            )
        )
        .annotate(
            amended=Exists(signed.filter(report=OuterRef("pk"))),
            issued_at=Coalesce(Subquery(latest), F("signed_at")),
        )
    )


def _report_status(value: str) -> Q:
    _system, code = token(value)
    if code not in r.DIAGNOSTIC_REPORT_CODES:
        raise SearchError(f"status={code!r} is not a DiagnosticReport status; use final or amended.")
    return {"final": Q(amended=False), "amended": Q(amended=True)}.get(code, NOTHING)


def _report_category(value: str) -> Q:
    system, code = token(value)
    known = {(r.V2_0074, "RAD"), (r.LOINC, "LP29684-5")}
    return Q() if (system, code) in known or (system is None and code in {"RAD", "LP29684-5"}) else NOTHING


DIAGNOSTIC_REPORT_PARAMS = (
    id_param(),
    reference_param("patient", "Patient", "exam__order__patient_id", "The patient: Patient/<id> or <id>."),
    reference_param("subject", "Patient", "exam__order__patient_id", "The patient: Patient/<id> or <id>."),
    Param("status", "token", "final | amended (drafts and preliminary reports are never shown).", _report_status),
    Param(
        "category", "token", f"Radiology: {r.V2_0074}|RAD or {r.LOINC}|LP29684-5 (all reports are).", _report_category
    ),
    date_param("date", "exam__completed_at", "When the exam was performed (eq, ge, le, gt, lt, ne)."),
    date_param("issued", "issued_at", "When the report (or its latest addendum) was signed (eq, ge, le, gt, lt, ne)."),
    Param(
        "identifier",
        "token",
        "The accession number.",
        _identifier_match({r.ACCESSION_SYSTEM: _equal("exam__accession_number")}),
    ),
    reference_param("based-on", "ServiceRequest", "exam_id", "The ServiceRequest: ServiceRequest/<id>."),
)


# --- AllergyIntolerance ----------------------------------------------------------------------------------------


def allergies(user) -> QuerySet[Allergy]:
    return Allergy.objects.select_related("patient")


def _allergy_clinical_status(value: str) -> Q:
    system, code = token(value)
    if system not in (None, c.ALLERGY_CLINICAL):
        return NOTHING
    if code not in ("active", "inactive", "resolved"):
        raise SearchError(f"clinical-status={code!r} is not known; use active, inactive or resolved.")
    return Q(active=code == "active") if code != "resolved" else NOTHING


ALLERGY_PARAMS = (
    id_param(),
    reference_param("patient", "Patient", "patient_id", "The patient: Patient/<id> or <id>."),
    Param(
        "clinical-status",
        "token",
        "active | inactive (allergies no longer listed for the patient).",
        _allergy_clinical_status,
    ),
)


# --- Observation: clinical observations and pregnancy records -----------------------------------------------------


def observations(user) -> QuerySet[Observation]:
    return Observation.objects.select_related("patient")


def pregnancy_records(user) -> QuerySet[PregnancyRecord]:
    return PregnancyRecord.objects.select_related("patient")


def _observation_code(value: str) -> Q:
    """A code as observation_coding shows it: the LOINC code of a kind kept in one unit, 98979-8 for a computed
    (or uncoded) eGFR, else the code as received with its system."""
    system, code = token(value)
    found = NOTHING
    if system in (None, r.LOINC):
        found |= Q(kind__in=[kind for kind, (known, _name) in c.KIND_CODES.items() if known == code])
        if code == c.COMPUTED_EGFR:
            found |= Q(kind=Observation.Kind.EGFR) & (Q(computed=True) | Q(code=""))
    received = Q(kind__in=[Observation.Kind.EGFR, Observation.Kind.OTHER], code=code, computed=False)
    if system == "":
        return found | (received & Q(coding_system=""))
    if system is not None:
        received &= Q(coding_system__in=c.code_system_names(system))
    return found | received


def _pregnancy_code(value: str) -> Q:
    system, code = token(value)
    return Q() if system in (None, r.LOINC) and code == c.PREGNANCY_STATUS[0] else NOTHING


CATEGORIES = ("social-history", "vital-signs", "imaging", "laboratory", "procedure", "survey", "exam", "therapy")


def _category(value: str, *, pregnancy: bool) -> Q:
    system, code = token(value)
    if code not in CATEGORIES:
        raise SearchError(f"category={code!r} is not an observation category; use one of {', '.join(CATEGORIES)}.")
    if system not in (None, c.OBSERVATION_CATEGORY):
        return NOTHING
    if pregnancy:
        return Q() if code == "social-history" else NOTHING
    kinds = [kind for kind, known in c.KIND_CATEGORY.items() if known == code]
    return Q(kind__in=kinds) if kinds else NOTHING


OBSERVATION_CODE_DOC = (
    f"{r.LOINC}|<code> (or <code>): 29463-7 weight, 8302-2 height, 2160-0 creatinine, the eGFR's code as received "
    f"({c.COMPUTED_EGFR} when computed), {c.PREGNANCY_STATUS[0]} pregnancy status; other observations by their code "
    "as received."
)
OBSERVATION_PARAMS = (
    id_param(),
    reference_param("patient", "Patient", "patient_id", "The patient: Patient/<id> or <id>."),
    reference_param("subject", "Patient", "patient_id", "The patient: Patient/<id> or <id>."),
    Param("code", "token", OBSERVATION_CODE_DOC, _observation_code),
    Param(
        "category",
        "token",
        "laboratory (eGFR, creatinine) | vital-signs (weight, height) | social-history (pregnancy status).",
        lambda value: _category(value, pregnancy=False),
    ),
    date_param("date", "observed_at", "When observed (eq, ge, le, gt, lt, ne): date=ge2026-01-01&date=le2026-01-31."),
)
# The same parameters over the pregnancy records (ids "pregnancy-<id>").
PREGNANCY_PARAMS = (
    id_param(c.PREGNANCY_ID_PREFIX),
    reference_param("patient", "Patient", "patient_id", "The patient: Patient/<id> or <id>."),
    reference_param("subject", "Patient", "patient_id", "The patient: Patient/<id> or <id>."),
    Param("code", "token", OBSERVATION_CODE_DOC, _pregnancy_code),
    Param("category", "token", "social-history.", lambda value: _category(value, pregnancy=True)),
    date_param("date", "recorded_at", "When recorded."),
)


# --- The registry and the search itself ----------------------------------------------------------------------


def _itself(item):
    return item


def _patient_of(item):
    return item.patient


@dataclass(frozen=True)
class ResourceType:
    """A resource type served from one table, or from several (`parts`: the same parameter names over each,
    newest first by each one's `sort_field`; the first part's ids are plain, the others' carry an `id_prefix`)."""

    name: str
    queryset: Callable[[object], QuerySet]  # the user -> what they may see, relations loaded
    params: tuple[Param, ...]
    ordering: tuple[str, ...]
    shows: Callable = _itself  # the record the access log notes for an item (a patient, an exam, a report)
    sort_field: str = ""
    id_prefix: str = ""
    parts: tuple["ResourceType", ...] = ()
    by_name: dict[str, Param] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "by_name", {param.name: param for param in self.params})


RESOURCE_TYPES: dict[str, ResourceType] = {
    resource.name: resource
    for resource in (
        ResourceType("Patient", patients, PATIENT_PARAMS, ("family_name", "given_name", "id")),
        ResourceType("ServiceRequest", exams, SERVICE_REQUEST_PARAMS, ("-id",)),
        ResourceType("Appointment", appointments, APPOINTMENT_PARAMS, ("scheduled_start", "id")),
        ResourceType("ImagingStudy", exams, IMAGING_STUDY_PARAMS, ("-id",)),
        ResourceType("DiagnosticReport", reports, DIAGNOSTIC_REPORT_PARAMS, ("-signed_at", "-id")),
        ResourceType(
            "AllergyIntolerance", allergies, ALLERGY_PARAMS, ("-active", "allergen_text", "id"), shows=_patient_of
        ),
        ResourceType(
            "Observation",
            observations,
            OBSERVATION_PARAMS,
            ("-observed_at", "-id"),
            shows=_patient_of,
            sort_field="observed_at",
            parts=(
                ResourceType(
                    "Observation",
                    pregnancy_records,
                    PREGNANCY_PARAMS,
                    ("-recorded_at", "-id"),
                    sort_field="recorded_at",
                    id_prefix=c.PREGNANCY_ID_PREFIX,
                ),
            ),
        ),
    )
}


@dataclass(frozen=True)
class Page:
    items: list
    total: int
    offset: int
    count: int
    ignored: tuple[str, ...] = ()  # parameters left out under Prefer: handling=lenient

    @property
    def has_next(self) -> bool:
        return self.count > 0 and self.offset + len(self.items) < self.total


def _whole_number(name: str, values: list[str]) -> int:
    value = values[-1]
    if not re.fullmatch(r"[0-9]{1,9}", value):
        raise SearchError(f"{name} is a whole number, not {value!r}.")
    return int(value)


def search(resource: ResourceType, user, params, *, lenient: bool = False) -> Page:
    """One page of the resources `user` may see that match `params` (a QueryDict, or a dict of value lists).

    An unknown parameter or modifier is a SearchError, unless `lenient` (the client sent Prefer: handling=lenient,
    FHIR 3.1.1.4): it is then left out and named in the page's `ignored`. Bad values are refused either way.
    """
    count, offset, ignored = DEFAULT_COUNT, 0, []
    wanted: list[tuple[str, list[str]]] = []
    for name in params:
        values = params.getlist(name) if hasattr(params, "getlist") else list(params[name])
        if name == "_count":
            count = min(_whole_number(name, values), MAX_COUNT)
            continue
        if name == "_offset":
            offset = _whole_number(name, values)
            continue
        if name in RESULT_PARAMS:
            continue
        base, _colon, modifier = name.partition(":")
        param = resource.by_name.get(base)
        if param is None or modifier:
            if lenient:
                ignored.append(name)
                continue
            if param is None:
                supported = ", ".join([*resource.by_name, "_count", "_offset"])
                message = f"Unknown search parameter {base!r} for {resource.name}; supported: {supported}."
            else:
                message = f"The modifier :{modifier} of {base} is not supported."
            raise SearchError(message, code="not-supported")
        for value in values:
            options = [option.strip() for option in alternatives(value)]
            if not all(options):
                raise SearchError(f"{base} needs a value.")
            wanted.append((base, options))
    if resource.parts:
        return _search_parts(resource, user, wanted, offset, count, tuple(ignored))
    queryset = _filtered(resource, user, wanted)
    total = queryset.count()
    items = list(queryset.order_by(*resource.ordering)[offset : offset + count]) if count else []
    return Page(items=items, total=total, offset=offset, count=count, ignored=tuple(ignored))


def _filtered(resource: ResourceType, user, wanted: list[tuple[str, list[str]]]) -> QuerySet:
    queryset = resource.queryset(user)
    for name, options in wanted:
        param = resource.by_name[name]
        queryset = queryset.filter(reduce(or_, (param.match(option) for option in options)))
    return queryset


def _search_parts(resource: ResourceType, user, wanted, offset: int, count: int, ignored: tuple[str, ...]) -> Page:
    """A search over several tables: one UNION of (part, id, date) rows orders and pages them, then each part's
    rows of the page are loaded with their relations."""
    parts = (resource, *resource.parts)
    filtered = [_filtered(part, user, wanted) for part in parts]
    total = sum(queryset.count() for queryset in filtered)
    if not count:
        return Page(items=[], total=total, offset=offset, count=count, ignored=ignored)
    keys = [
        queryset.order_by()
        .annotate(_part=Value(number, output_field=IntegerField()), _key=F("pk"), _at=F(part.sort_field))
        .values_list("_part", "_key", "_at")
        for number, (part, queryset) in enumerate(zip(parts, filtered, strict=True))
    ]
    page = list(keys[0].union(*keys[1:], all=True).order_by("-_at", "-_part", "-_key")[offset : offset + count])
    loaded = {
        number: part.queryset(user).in_bulk([key for part_number, key, _at in page if part_number == number])
        for number, part in enumerate(parts)
    }
    items = [loaded[number][key] for number, key, _at in page]
    return Page(items=items, total=total, offset=offset, count=count, ignored=ignored)


def read(resource: ResourceType, user, resource_id: str):
    """The instance `resource_id` names among those `user` may see, or None."""
    for part in (resource, *resource.parts):
        if part.id_prefix and not resource_id.startswith(part.id_prefix):
            continue
        pk = database_id(resource_id.removeprefix(part.id_prefix))
        if pk is not None:
            return part.queryset(user).filter(pk=pk).first()
    return None


def capability_params() -> dict[str, list[tuple[str, str, str]]]:
    """Each resource type's search parameters, for the CapabilityStatement (the same table the searches use)."""
    paging = [
        ("_count", "number", f"Page size: {DEFAULT_COUNT} by default, at most {MAX_COUNT}."),
        ("_offset", "number", "How many matches to skip (the next link carries it)."),
    ]
    return {
        name: [(param.name, param.type, param.documentation) for param in resource.params] + paging
        for name, resource in RESOURCE_TYPES.items()
    }
