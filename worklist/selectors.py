"""Reads for the worklist SCP: a WorklistQuery becomes one indexed query for the matching exams' ids, their rows one
statement compiled once (ris.statements), or, for a query by patient ID or accession number, the rows in one
statement prepared once per shape; the clinical facts of the matches (allergies, alerts, measurements,
pregnancy, protocol) a constant number of statements more per batch of matches, sent together."""

from collections.abc import Iterable, Iterator
from datetime import datetime, time, timedelta
from itertools import islice

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.functions import TruncTime
from django.utils import timezone

from clinical.models import ClinicalStatus, ExamProtocol, MedicalAlert, MRScreening, PregnancyStatus, Protocol
from clinical.safety import contrast_of
from clinical.selectors import SafetySummary, safety_summaries
from ris.models import ContrastClass, Patient
from ris.statements import Slot, Statement, run_together
from ris.text import NAME_PARTS
from scheduling.models import Exam
from worklist.models import DicomDestination, MppsForward, PerformedProcedureStep
from worklist.translate import (
    AllergyFact,
    ExamFacts,
    PatientFacts,
    WorklistQuery,
    has_wildcards,
    wildcard_regex,
)

# Where each string matching key lives.
STRING_FIELDS = {
    "PatientID": "order__patient__mrn",
    "AccessionNumber": "accession_number",
    "RequestedProcedureID": "requested_procedure_id",
    "PatientSex": "order__patient__sex",
    "AdmissionID": "order__admission_id",
    "Modality": "procedure_type__modality__code",
    "ScheduledStationAETitle": "room__station_ae_title",
    "ScheduledProcedureStepID": "scheduled_procedure_step_id",
    "ScheduledStationName": "room__station_name",
    "ScheduledProcedureStepLocation": "room__location_code",  # SH: the room's code, not its location in words
}


def _string(field: str, value: str, *, case_insensitive: bool = False) -> Q:
    """Single value or wildcard matching; a stored empty value never matches (the value here is never empty)."""
    if has_wildcards(value):  # "**" would match a zero-length value: an empty stored value never matches
        pattern = Q(**{f"{field}__{'iregex' if case_insensitive else 'regex'}": wildcard_regex(value)})
        return pattern & ~Q(**{field: ""})
    return Q(**{f"{field}__iexact" if case_insensitive else field: value})


def _time_of_day(low: time | None, high: time | None, *, field: str = "scheduled_start__time") -> Q:
    condition = Q()
    if low is not None:
        condition &= Q(**{f"{field}__gte": low})
    if high is not None:
        condition &= Q(**{f"{field}__lte": high})
    return condition


def worklist_exams(
    query: WorklistQuery, *, statuses: list[str], limit: int, station_ae_title: str | None = None
) -> QuerySet[Exam]:
    """Exams matching a worklist query, in start order, at most `limit`."""
    condition = Q(status__in=list(query.sps_statuses) if query.sps_statuses else statuses)
    condition &= Q(room__isnull=False, scheduled_start__isnull=False)
    for keyword, value in query.strings.items():
        condition &= _string(STRING_FIELDS[keyword], value)
    if query.patient_name is not None:
        condition &= _string("order__patient__search_name", query.patient_name)
    if query.referring_physician is not None:
        parts = ("order__referring_physician__family_name", "order__referring_physician__given_name")
        for field, value in zip(parts, query.referring_physician, strict=False):
            if value and value != "*":
                condition &= _string(field, value, case_insensitive=True)
    if query.performing_physician is not None:
        condition &= Q(pk__in=[])  # no performing physician is scheduled: an empty value never matches
    if query.study_instance_uids is not None:
        condition &= Q(study_instance_uid__in=query.study_instance_uids)
    if query.birth_dates is not None:
        low, high = query.birth_dates
        if low:
            condition &= Q(order__patient__birth_date__gte=low)
        if high:
            condition &= Q(order__patient__birth_date__lte=high)
    if query.start is not None:
        if query.start.start:
            condition &= Q(scheduled_start__gte=query.start.start)
        if query.start.end:
            condition &= Q(scheduled_start__lte=query.start.end)
    exams = Exam.objects.all()
    if query.start_time_only is not None:
        if query.time_zone is None:  # the department's time of day
            condition &= _time_of_day(*query.start_time_only)
        else:  # the time of day in the zone the query's Timezone Offset From UTC names
            exams = exams.annotate(start_clock=TruncTime("scheduled_start", tzinfo=query.time_zone))
            condition &= _time_of_day(*query.start_time_only, field="start_clock")
    if station_ae_title is not None and "ScheduledStationAETitle" not in query.strings:
        condition &= Q(room__station_ae_title=station_ae_title)
    return exams.filter(condition).order_by("scheduled_start", "id")[:limit]


# What a worklist response needs (worklist.translate.worklist_item's row), by name, and where it lives. Rows of
# exactly these columns, not model instances: a query may answer thousands of matches, and six model instances per
# match (with every timestamp column parsed) cost more than the response built from them.
WORKLIST_ROW = {
    "id": "id",
    "patient_id": "order__patient_id",
    "status": "status",
    "scheduled_start": "scheduled_start",
    "requested_procedure_id": "requested_procedure_id",
    "scheduled_procedure_step_id": "scheduled_procedure_step_id",
    "study_instance_uid": "study_instance_uid",
    "accession_number": "accession_number",
    "placer_order_number": "order__placer_order_number",
    "filler_order_number": "order__filler_order_number",
    "priority": "order__priority",
    "reason": "order__reason",
    "admission_id": "order__admission_id",
    "mrn": "order__patient__mrn",
    "mrn_issuer": "order__patient__mrn_issuer",
    "birth_date": "order__patient__birth_date",
    "sex": "order__patient__sex",
    **{f"patient_{part}": f"order__patient__{part}" for part in NAME_PARTS},
    **{f"physician_{part}": f"order__referring_physician__{part}" for part in NAME_PARTS},
    "procedure_code": "procedure_type__code",
    "procedure_name": "procedure_type__name",
    "procedure_contrast": "procedure_type__contrast",
    "modality": "procedure_type__modality__code",
    "station_ae_title": "room__station_ae_title",
    "station_name": "room__station_name",
    "location_code": "room__location_code",
}


# The rows of given exams, compiled once (ris.statements): Django would otherwise build the SQL of 38 columns from
# six tables again for every C-FIND, several times the cost of running it.
EXAMS = Slot("exams")
_ROWS = Statement(lambda: Exam.objects.filter(id__any_of=EXAMS).values_list(*WORKLIST_ROW.values()))


def worklist_rows(exams: QuerySet[Exam]) -> Iterator[dict]:
    """The WORKLIST_ROW of each exam, in the queryset's order, fetched at once: the exams' ids (the query as the
    worklist asks it), then their rows (one statement compiled once).

    Not a server-side cursor: the matches are capped, and DECLARE / FETCH / CLOSE round trips would cost more than
    the rows.
    """
    ids = list(exams.values_list("id", flat=True))
    if not ids:
        return
    position = {pk: n for n, pk in enumerate(ids)}
    names = list(WORKLIST_ROW)
    for values in sorted(_ROWS.all(exams=ids), key=lambda values: position[values[0]]):
        yield dict(zip(names, values, strict=True))


# Keys that name one patient or one exam: a query by them, with only exact matching keys besides, is answered by one
# statement (the matching rows, prepared once per shape) instead of the ids and then the rows.
SELECTIVE_KEYS = frozenset({"PatientID", "AccessionNumber"})
_OTHER_CONDITIONS = (
    "patient_name",
    "referring_physician",
    "performing_physician",
    "study_instance_uids",
    "birth_dates",
    "start",
    "start_time_only",
)
_MATCHING_ROWS: dict[tuple, Statement] = {}  # by shape: a department's modalities ask a handful of them
_MATCHING_ROWS_MAX = 64


def _exact_shape(query: WorklistQuery) -> tuple[str, ...] | None:
    """The keywords of a query by patient ID or accession number whose every matching key is an exact value; None
    for any other query."""
    if not SELECTIVE_KEYS & query.strings.keys() or any(has_wildcards(value) for value in query.strings.values()):
        return None
    if any(getattr(query, condition) is not None for condition in _OTHER_CONDITIONS):
        return None
    return tuple(sorted(query.strings))


def worklist_rows_matching(
    query: WorklistQuery, *, statuses: list[str], limit: int, station_ae_title: str | None = None
) -> Iterator[dict]:
    """The WORKLIST_ROW of each exam matching a worklist query (worklist_exams), in start order, at most `limit`.

    A query by patient ID or accession number with only exact keys (what a modality sends to find one patient or
    one exam) is one statement: worklist_exams with slots for the values, compiled and prepared once per shape, its
    rows at once. Any other query reads the ids, then the rows (worklist_rows)."""
    keywords = _exact_shape(query)
    if keywords is None:
        exams = worklist_exams(query, statuses=statuses, limit=limit, station_ae_title=station_ae_title)
        yield from worklist_rows(exams)
        return
    statuses = tuple(query.sps_statuses or statuses)
    scoped = station_ae_title is not None
    shape = (keywords, statuses, limit, scoped)
    statement = _MATCHING_ROWS.get(shape)
    if statement is None:
        slots = WorklistQuery(strings={keyword: Slot(keyword) for keyword in keywords}, sps_statuses=statuses)
        station = Slot("station") if scoped else None

        def build() -> QuerySet:
            exams = worklist_exams(slots, statuses=list(statuses), limit=limit, station_ae_title=station)
            return exams.values_list(*WORKLIST_ROW.values())

        if len(_MATCHING_ROWS) >= _MATCHING_ROWS_MAX:
            _MATCHING_ROWS.clear()
        statement = _MATCHING_ROWS[shape] = Statement(build)
    values = {keyword: query.strings[keyword] for keyword in keywords}
    if scoped:
        values["station"] = station_ae_title
    names = list(WORKLIST_ROW)
    for row in statement.all(**values):
        yield dict(zip(names, row, strict=True))


# Matches whose clinical facts are read together: a constant number of queries per batch, and a batch's patient IDs
# stay well within what one query may bind.
FACTS_BATCH = 500

# Medical alerts that are also a Special Need (0038,0050) or a Patient State (0038,0500) for the modality.
SPECIAL_NEED_ALERTS = frozenset({MedicalAlert.Code.INTERPRETER, MedicalAlert.Code.FALL_RISK})
STATE_ALERTS = frozenset({MedicalAlert.Code.ISOLATION})


def worklist_matches(
    rows: Iterable[dict], *, patient_facts: bool, exam_facts: bool
) -> Iterator[tuple[dict, PatientFacts | None, ExamFacts | None]]:
    """Each row with its patient's and its exam's clinical facts, each kind read only when asked for, batch by
    batch (FACTS_BATCH rows): the queries do not grow with the number of matches in a batch."""
    rows = iter(rows)
    while batch := list(islice(rows, FACTS_BATCH)):
        patients = patient_facts_for(_patients_of(batch)) if patient_facts else {}
        exams = exam_facts_for(batch) if exam_facts else {}
        for row in batch:
            yield row, patients.get(row["patient_id"]), exams.get(row["id"])


def _patients_of(rows: Iterable[dict]) -> list[Patient]:
    """The patients of worklist rows, each once, as unsaved instances holding what the safety summary reads of a
    patient (its sex and birth date: who could be pregnant): the rows carry them, so no query reads the patients."""
    patients = {}
    for row in rows:
        if row["patient_id"] not in patients:
            patients[row["patient_id"]] = Patient(id=row["patient_id"], sex=row["sex"], birth_date=row["birth_date"])
    return list(patients.values())


def patient_facts_for(patients: Iterable[Patient], *, now: datetime | None = None) -> dict[int, PatientFacts]:
    """The worklist's facts of each patient (patient id -> them), from the safety summaries."""
    now = now or timezone.now()
    return {pk: _patient_facts(summary, now) for pk, summary in safety_summaries(patients).items()}


def _patient_facts(summary: SafetySummary, now: datetime) -> PatientFacts:
    allergies = tuple(
        AllergyFact(
            text=allergy.allergen_text,
            reaction=allergy.reaction,
            contrast=ContrastClass(allergy.contrast_class).label if allergy.contrast_class else "",
        )
        for allergy in summary.allergies
    )
    implants = tuple(
        f"Implant: {implant.device_type} ({implant.get_mr_safety_display()})" for implant in summary.implants
    )
    needs = [str(alert) for alert in summary.alerts if alert.code in SPECIAL_NEED_ALERTS]
    if any("latex" in f"{allergy.allergen_text} {allergy.allergen_code}".casefold() for allergy in summary.allergies):
        needs.append("Latex allergy")
    return PatientFacts(
        allergies=allergies,
        no_known_allergies=summary.allergy_status == ClinicalStatus.Allergies.NONE_KNOWN,
        alerts=tuple(str(alert) for alert in summary.alerts) + implants,
        special_needs=tuple(needs),
        states=tuple(str(alert) for alert in summary.alerts if alert.code in STATE_ALERTS),
        weight_kg=summary.weight.value if summary.weight else None,
        height_cm=summary.height.value if summary.height else None,
        pregnancy=_pregnancy(summary, now),
    )


def _pregnancy(summary: SafetySummary, now: datetime) -> int | None:
    """Pregnancy Status (0010,21C0) for a patient it applies to (female, of the configured ages): the newest record;
    4 (unknown) without one, or when the newest says "not pregnant" and is older than the rules accept
    (RIS_PREGNANCY_STATUS_MAX_AGE_HOURS). Zero length for anyone else: a type 2 return key may be."""
    if not summary.pregnancy_relevant:
        return None
    record = summary.pregnancy
    if record is None:
        return PregnancyStatus.UNKNOWN
    expired = record.recorded_at < now - timedelta(hours=settings.RIS_PREGNANCY_STATUS_MAX_AGE_HOURS)
    if record.status == PregnancyStatus.NOT_PREGNANT and expired:
        return PregnancyStatus.UNKNOWN
    return record.status


_EXAM_PROTOCOLS = Statement(lambda: ExamProtocol.objects.filter(exam_id__any_of=EXAMS))
_CATALOG_PROTOCOLS = Statement(lambda: Protocol.objects.filter(id__any_of=Slot("protocols")))
_CLAUSTROPHOBIC = Statement(
    lambda: MRScreening.objects.filter(exam_id__any_of=EXAMS, claustrophobia=MRScreening.Answer.YES).values_list(
        "exam_id", flat=True
    )
)


def exam_protocols(chosen: Iterable[ExamProtocol]) -> dict[int, ExamProtocol]:
    """The protocols chosen for exams (exam id -> it), each with its catalog protocol: a query only when a chosen
    protocol names one of the catalog's."""
    chosen = {row.exam_id: row for row in chosen}
    catalog_ids = sorted({row.protocol_id for row in chosen.values() if row.protocol_id is not None})
    if catalog_ids:
        catalog = {protocol.pk: protocol for protocol in _CATALOG_PROTOCOLS.all(protocols=catalog_ids)}
        for row in chosen.values():
            if row.protocol_id is not None:
                row.protocol = catalog[row.protocol_id]
    return chosen


def exam_facts_for(rows: Iterable[dict]) -> dict[int, ExamFacts]:
    """The worklist's facts of each exam (exam id -> them): its protocol and contrast, its MR screening's
    claustrophobia. Two statements in one round trip (and one more for the catalog's protocols they name), whatever
    the number of rows."""
    rows = list(rows)
    ids = {"exams": [row["id"] for row in rows]}
    chosen, claustrophobic = run_together([(_EXAM_PROTOCOLS, ids), (_CLAUSTROPHOBIC, ids)])  # one round trip
    protocols = exam_protocols(chosen)
    claustrophobic = set(claustrophobic)
    facts = {}
    for row in rows:
        chosen = protocols.get(row["id"])
        contrast = contrast_of(chosen, row["procedure_contrast"])
        catalog = chosen.protocol if chosen is not None else None
        notes = (chosen.notes if chosen else "", catalog.technologist_notes if catalog else "")
        agent = chosen.contrast_agent if chosen is not None and contrast else ""
        if contrast and not agent and catalog is not None and catalog.contrast == contrast:
            agent = catalog.contrast_agent  # the catalog's agent, when the exam's protocol names none of its own
        facts[row["id"]] = ExamFacts(
            protocol_code=catalog.code if catalog else "",
            protocol_name=catalog.name if catalog else "",
            contrast=ContrastClass(contrast).label if contrast else "",
            contrast_agent=agent,
            notes=tuple(note.strip() for note in notes if note.strip()),
            special_needs=("Claustrophobia (MR screening)",) if row["id"] in claustrophobic else (),
        )
    return facts


def performed_step_offset(sop_instance_uid: str) -> str:
    """The Timezone Offset From UTC (0008,0201) an MPPS's N-CREATE (or an N-SET since) carried, "" when none: the
    zone of the N-SETs that do not repeat it."""
    attributes = (
        PerformedProcedureStep.objects.filter(sop_instance_uid=sop_instance_uid)
        .values_list("attributes", flat=True)
        .first()
    )
    element = (attributes or {}).get("00080201") or {}
    values = element.get("Value") if isinstance(element, dict) else None
    return str(values[0]).strip() if isinstance(values, list) and values else ""


def performed_steps_to_reconcile() -> QuerySet[PerformedProcedureStep]:
    """MPPS instances that matched no scheduled exam, newest first, for the front desk."""
    return PerformedProcedureStep.objects.filter(exam__isnull=True, reconciled=False).order_by("-created_at")


def mpps_forwards(*, status: str = "", destination: DicomDestination | None = None) -> QuerySet:
    """MPPS forwards newest first, with their destination; narrowed by status and destination when given.

    `held` marks a pending forward that waits behind an earlier one of its step (pending or failed) to the same
    destination (worklist.forwarding)."""
    earlier = MppsForward.objects.filter(
        destination=OuterRef("destination"),
        sop_instance_uid=OuterRef("sop_instance_uid"),
        pk__lt=OuterRef("pk"),
        status__in=[MppsForward.Status.PENDING, MppsForward.Status.FAILED],
    )
    forwards = (
        MppsForward.objects.select_related("destination").annotate(held=Exists(earlier)).order_by("-created_at", "-id")
    )
    if status:
        forwards = forwards.filter(status=status)
    if destination is not None:
        forwards = forwards.filter(destination=destination)
    return forwards
