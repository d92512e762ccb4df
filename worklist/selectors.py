"""Reads for the worklist SCP: a WorklistQuery becomes one indexed database query."""

from datetime import time

from django.db.models import Q, QuerySet

from scheduling.models import Exam
from worklist.models import PerformedProcedureStep
from worklist.translate import WorklistQuery, has_wildcards, wildcard_regex

# Where each string matching key lives.
STRING_FIELDS = {
    "PatientID": "order__patient__mrn",
    "AccessionNumber": "order__accession_number",
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
    """Exams matching a worklist query, in start order, at most `limit`, with what a response needs joined in."""
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
    exams = Exam.objects.filter(condition).select_related(
        "order",
        "order__patient",
        "order__referring_physician",
        "procedure_type",
        "procedure_type__modality",
        "room",
    )
    return exams.order_by("scheduled_start", "id")[:limit]


def performed_steps_to_reconcile() -> QuerySet[PerformedProcedureStep]:
    """MPPS instances that matched no scheduled exam, newest first, for the front desk."""
    return PerformedProcedureStep.objects.filter(exam__isnull=True, reconciled=False).order_by("-created_at")
