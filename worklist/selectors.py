"""Reads for the worklist SCP: a WorklistQuery becomes one indexed database query."""

from collections.abc import Iterator
from datetime import time

from django.db.models import Q, QuerySet

from ris.text import NAME_PARTS
from scheduling.models import Exam
from worklist.models import PerformedProcedureStep
from worklist.translate import WorklistQuery, has_wildcards, wildcard_regex

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
    "ScheduledProcedureStepLocation": "room__location",
}


def _string(field: str, value: str, *, case_insensitive: bool = False) -> Q:
    """Single value or wildcard matching; a stored empty value never matches (the value here is never empty)."""
    if has_wildcards(value):  # "**" would match a zero-length value: an empty stored value never matches
        pattern = Q(**{f"{field}__{'iregex' if case_insensitive else 'regex'}": wildcard_regex(value)})
        return pattern & ~Q(**{field: ""})
    return Q(**{f"{field}__iexact" if case_insensitive else field: value})


def _time_of_day(low: time | None, high: time | None) -> Q:
    condition = Q()
    if low is not None:
        condition &= Q(scheduled_start__time__gte=low)
    if high is not None:
        condition &= Q(scheduled_start__time__lte=high)
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
    if query.start_time_only is not None:
        condition &= _time_of_day(*query.start_time_only)
    if station_ae_title is not None and "ScheduledStationAETitle" not in query.strings:
        condition &= Q(room__station_ae_title=station_ae_title)
    return Exam.objects.filter(condition).order_by("scheduled_start", "id")[:limit]


# What a worklist response needs (worklist.translate.worklist_item's row), by name, and where it lives. Rows of
# exactly these columns, not model instances: a query may answer thousands of matches, and six model instances per
# match (with every timestamp column parsed) cost more than the response built from them.
WORKLIST_ROW = {
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
    "modality": "procedure_type__modality__code",
    "station_ae_title": "room__station_ae_title",
    "station_name": "room__station_name",
    "location": "room__location",
}


def worklist_rows(exams: QuerySet[Exam]) -> Iterator[dict]:
    """The WORKLIST_ROW of each exam, in one query with the joins it needs, fetched at once.

    Not a server-side cursor: the matches are capped, and DECLARE / FETCH / CLOSE round trips would cost more than
    the rows.
    """
    names = list(WORKLIST_ROW)
    for values in exams.values_list(*WORKLIST_ROW.values()):
        yield dict(zip(names, values, strict=True))


def performed_steps_to_reconcile() -> QuerySet[PerformedProcedureStep]:
    """MPPS instances that matched no scheduled exam, newest first, for the front desk."""
    return PerformedProcedureStep.objects.filter(exam__isnull=True, reconciled=False).order_by("-created_at")
