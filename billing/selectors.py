"""Reads for billing: fees, the coverage that pays on a date, the billing provider, the pages' lists."""

from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Q, QuerySet

from billing import rules
from billing.models import Charge, Claim, ExportBatch, Fee
from ris.models import Coverage, Facility, Patient, Payer
from scheduling.models import Exam
from scheduling.workflow import REPORTED

# Exams whose charge may go on a claim: the report is final (or the exam was discontinued, and is never read).
CLAIMABLE_EXAM_STATUSES = frozenset({*REPORTED, Exam.Status.DISCONTINUED})


def fee_for(cpt_code: str, modifier: str, payer: Payer | None) -> Fee | None:
    """The payer's fee for the code (and 26/TC modifier), else the default schedule's."""
    fees = Fee.objects.filter(cpt_code=cpt_code, modifier=modifier)
    if payer is not None:
        own = fees.filter(schedule__payer=payer).first()
        if own is not None:
            return own
    return fees.filter(schedule__payer__isnull=True).first()


def price(patient: Patient, day: date, cpt_code: str, modifiers: list[str]) -> Decimal:
    """A service's fee for this patient on this day: their primary payer's schedule, else the default one; 0 when
    neither has the code (the claim is then held)."""
    coverage = coverage_on(patient, day)
    fee = fee_for(cpt_code, rules.fee_modifier(modifiers), coverage and coverage.payer)
    return fee.amount if fee is not None else Decimal("0")


def coverage_on(patient: Patient, day: date, priority: str = Coverage.Priority.PRIMARY) -> Coverage | None:
    """The patient's active coverage of that priority in force on `day`."""
    return (
        Coverage.objects.select_related("payer")
        .filter(patient=patient, priority=priority, active=True)
        .filter(Q(effective_from__isnull=True) | Q(effective_from__lte=day))
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=day))
        .first()
    )


def billing_provider() -> Facility | None:
    """The facility that bills (RIS_BILLING_FACILITY by code, else the first)."""
    facilities = Facility.objects.all()
    if settings.RIS_BILLING_FACILITY:
        facilities = facilities.filter(code=settings.RIS_BILLING_FACILITY)
    return facilities.order_by("id").first()


def charges_list(
    *, status: str = "", date_from: date | None = None, date_to: date | None = None, cpt_code: str = ""
) -> QuerySet[Charge]:
    charges = Charge.objects.select_related("patient", "exam__order", "rendering_provider", "claim")
    if status == "WAITING":
        charges = charges.filter(pk__in=charges_waiting_for_report().values("pk"))
    elif status:
        charges = charges.filter(status=status)
    if date_from:
        charges = charges.filter(date_of_service__gte=date_from)
    if date_to:
        charges = charges.filter(date_of_service__lte=date_to)
    if cpt_code:
        charges = charges.filter(cpt_code=cpt_code)
    return charges


def charges_waiting_for_report() -> QuerySet[Charge]:
    """Open charges of exams performed but not yet reported final: not on a claim until they are."""
    return Charge.objects.filter(status=Charge.Status.OPEN).exclude(exam__status__in=CLAIMABLE_EXAM_STATUSES)


def claims_list(
    *,
    status: str = "",
    payer: Payer | None = None,
    reason: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[Claim]:
    """Claims by status, payer, service dates and, for held ones, the reason they are held."""
    claims = Claim.objects.select_related("patient", "payer").order_by("status", "-date_of_service", "-id")
    if status:
        claims = claims.filter(status=status)
    if payer is not None:
        claims = claims.filter(payer=payer)
    if reason:
        claims = claims.filter(status=Claim.Status.DRAFT, errors__icontains=rules.HOLD_REASONS[reason][1])
    if date_from:
        claims = claims.filter(date_of_service__gte=date_from)
    if date_to:
        claims = claims.filter(date_of_service__lte=date_to)
    return claims


def claims_exportable(*, date_from: date, date_to: date, payer: Payer | None = None) -> QuerySet[Claim]:
    """READY claims of the period (and payer) not in a batch yet."""
    claims = Claim.objects.filter(
        status=Claim.Status.READY, batch__isnull=True, date_of_service__gte=date_from, date_of_service__lte=date_to
    )
    return claims.filter(payer=payer) if payer is not None else claims


def batches_recent() -> QuerySet[ExportBatch]:
    """Export batches, newest first."""
    return ExportBatch.objects.select_related("payer", "created_by").order_by("-created_at", "-id")


def batch_started_at(batch: ExportBatch) -> datetime:
    """When the export task took the batch (its first RUNNING history row); the queueing time if none."""
    running = batch.history.filter(status=ExportBatch.Status.RUNNING).order_by("history_date", "history_id")
    return running.values_list("history_date", flat=True).first() or batch.created_at
