"""Writes of billing: charge capture, claims, their validation and statuses, export batches.

A charge is captured in the transaction that completes (or discontinues) its exam, at most once (a unique
constraint holds it when MPPS and HL7 complete the same exam together). Claims group open charges per patient,
payer and date of service; validation holds a claim with errors back (DRAFT), the others are READY for export.
"""

from collections import defaultdict
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import rules, selectors, x12
from billing.models import Charge, Claim, ExportBatch
from ris.audit import Actor, attribute
from ris.exceptions import ApplicationError, IllegalTransition
from ris.models import Payer, User
from ris.services import identifier_next
from scheduling.models import Exam

S = Exam.Status
CHARGEABLE = {S.COMPLETED, S.PRELIMINARY, S.FINAL, S.AMENDED, S.DISCONTINUED}
# A charge goes on a claim once its exam's report is final (a discontinued exam is never read: billed as it is);
# the others wait, apart from claims held by real errors.
CLAIMABLE = selectors.CLAIMABLE_EXAM_STATUSES
# Claim statuses each status may move to (validation moves DRAFT <-> READY; export READY -> EXPORTED).
CLAIM_TRANSITIONS = {
    Claim.Status.DRAFT: {Claim.Status.READY},
    Claim.Status.READY: {Claim.Status.DRAFT, Claim.Status.EXPORTED},
    Claim.Status.EXPORTED: {Claim.Status.PAID, Claim.Status.DENIED},
    Claim.Status.PAID: set(),
    Claim.Status.DENIED: set(),
}


def _service_day(exam: Exam) -> date:
    moment = exam.completed_at or exam.started_at or exam.status_changed_at or timezone.now()
    return timezone.localdate(moment)


def charge_capture(*, exam: Exam, acting_user: Actor) -> Charge | None:
    """The exam's charge, captured now if it has none; None for an exam not (yet) performed or cancelled."""
    exam = Exam.objects.select_related("order__patient", "procedure_type").get(pk=exam.pk)
    if exam.status not in CHARGEABLE:
        return None
    existing = Charge.objects.filter(exam=exam).first()
    if existing is not None:
        return existing
    day = _service_day(exam)
    patient = exam.order.patient
    modifiers = rules.modifiers_for(
        settings.RIS_BILLING_MODE,
        discontinued=exam.status == S.DISCONTINUED,
        modifier_53=settings.RIS_BILLING_DISCONTINUED_MODIFIER_53,
    )
    code = exam.procedure_type.cpt_code
    amount = selectors.price(patient, day, code, modifiers)
    charge = Charge(
        exam=exam,
        patient=patient,
        cpt_code=code,
        modifiers=modifiers,
        units=1,
        diagnosis_codes=list(exam.order.diagnosis_codes),
        date_of_service=day,
        place_of_service=settings.RIS_BILLING_PLACE_OF_SERVICE,
        fee=amount,
        amount=amount,
    )
    attribute(charge, acting_user, "captured")
    try:
        with transaction.atomic():
            charge.save()
    except IntegrityError:  # captured meanwhile by the other completion of the same exam
        return Charge.objects.get(exam=exam)
    return charge


def charge_capture_on_event(payload: dict, acting_user: Actor) -> None:
    """ris.outbox listener: an exam reached COMPLETED or DISCONTINUED."""
    if payload.get("exam_id") and payload.get("status") in (S.COMPLETED, S.DISCONTINUED):
        charge_capture(exam=Exam(pk=payload["exam_id"]), acting_user=acting_user)


def charge_render_on_event(payload: dict, acting_user: Actor) -> None:
    """ris.outbox listener: a report was signed final; its signer renders the exam's charge (not yet exported)."""
    exam_id, signer_id = payload.get("exam_id"), payload.get("signed_by_id")
    charge = Charge.objects.select_for_update().filter(exam_id=exam_id).first() if exam_id and signer_id else None
    if charge is None or charge.rendering_provider_id == signer_id:
        return
    if charge.claim_id is not None and (
        charge.claim.status not in (Claim.Status.DRAFT, Claim.Status.READY) or charge.claim.batch_id is not None
    ):
        return  # billed (or being exported) under the provider known then
    charge.rendering_provider = User.objects.get(pk=signer_id)
    attribute(charge, acting_user, "rendering provider")
    charge.save(update_fields=["rendering_provider", "updated_at"])
    if charge.claim_id is not None:
        claim_validate(claim=charge.claim, acting_user=acting_user)


# --- claims ------------------------------------------------------------------------------------------------------


def _claim_facts(claim: Claim, charges: list[Charge], provider) -> rules.ClaimFacts:
    return rules.ClaimFacts(
        self_pay=claim.payer_id is None and claim.patient.self_pay,
        payer_id=claim.payer.payer_id if claim.payer_id else "",
        member_id=claim.coverage.member_id if claim.coverage_id else "",
        billing_npi=provider.npi if provider else "",
        billing_tax_id=provider.tax_id if provider else "",
        patient_birth_date_known=claim.patient.birth_date is not None,
        subscriber_known=claim.coverage_id is None
        or claim.coverage.relationship == claim.coverage.Relationship.SELF
        or bool(x12.clean(claim.coverage.subscriber_family_name, 60) and claim.coverage.subscriber_birth_date),
        total=claim.total,
        lines=tuple(
            rules.LineFacts(
                cpt_code=charge.cpt_code,
                diagnosis_codes=tuple(charge.diagnosis_codes),
                fee=charge.fee,
                units=charge.units,
                amount=charge.amount,
                rendering_npi=charge.rendering_provider.npi if charge.rendering_provider_id else "",
            )
            for charge in charges
        ),
    )


def _set_claim_status(claim: Claim, status: str, acting_user: Actor, reason: str) -> None:
    if status != claim.status and status not in CLAIM_TRANSITIONS[claim.status]:
        raise IllegalTransition(
            f"Claim {claim.number} is {claim.get_status_display().lower()}: it cannot become "
            f"{Claim.Status(status).label.lower()}.",
            field="status",
        )
    claim.status = status
    attribute(claim, acting_user, reason)


@transaction.atomic
def claim_validate(*, claim: Claim, acting_user: Actor) -> Claim:
    """Check the claim again: errors hold it (DRAFT), none make it READY. Claims exported, or taken into a batch
    being exported, are left as they are."""
    return _validate(claim, acting_user, selectors.billing_provider())


def _validate(claim: Claim, acting_user: Actor, provider) -> Claim:
    claim = (
        Claim.objects.select_for_update(of=("self",)).select_related("patient", "payer", "coverage").get(pk=claim.pk)
    )
    if claim.status not in (Claim.Status.DRAFT, Claim.Status.READY) or claim.batch_id is not None:
        return claim
    coverage = selectors.coverage_on(claim.patient, claim.date_of_service)  # entered, corrected or ended since
    payer_changed = (coverage.payer_id if coverage else None) != claim.payer_id
    claim.coverage, claim.payer = coverage, coverage.payer if coverage else None
    charges = list(claim.charges.select_related("rendering_provider").order_by("id"))
    if payer_changed:  # priced under the payer known at capture: price again under the one that pays now
        for charge in charges:
            _reprice(charge, claim.patient, acting_user, f"repriced for {claim.payer or 'self-pay'}")
    claim.total = sum((charge.amount for charge in charges), Decimal("0"))
    claim.errors = rules.claim_errors(_claim_facts(claim, charges, provider))
    _set_claim_status(claim, Claim.Status.DRAFT if claim.errors else Claim.Status.READY, acting_user, "validated")
    claim.save()
    return claim


@transaction.atomic
def claims_validate(*, claims: list[Claim], acting_user: Actor) -> list[Claim]:
    """Check many claims again at once (the held queue's "Validate selected"), each with its own history row."""
    provider = selectors.billing_provider()
    return [_validate(claim, acting_user, provider) for claim in sorted(claims, key=lambda claim: claim.pk)]


def claims_revalidate_on_coverage(payload: dict, acting_user: Actor) -> None:
    """ris.outbox listener: a patient's coverage was added, corrected or ended; their claims not yet exported are
    checked again (a claim held for "No coverage" becomes READY, one whose coverage ended is held)."""
    patient_id = payload.get("patient_id")
    if not patient_id:
        return
    claims = Claim.objects.filter(
        patient_id=patient_id, status__in=(Claim.Status.DRAFT, Claim.Status.READY), batch__isnull=True
    )
    claims_validate(claims=list(claims), acting_user=acting_user)


@transaction.atomic
def claims_build(*, acting_user: Actor, through: date | None = None) -> list[Claim]:
    """Group the open charges (up to `through`) into claims per patient, payer and date of service, validated.

    Only charges whose exam's report is final: the others wait for it (selectors.charges_waiting_for_report)."""
    charges = Charge.objects.select_for_update(of=("self",)).filter(
        status=Charge.Status.OPEN, exam__status__in=CLAIMABLE
    )
    if through is not None:
        charges = charges.filter(date_of_service__lte=through)
    groups: dict[tuple, list[Charge]] = defaultdict(list)
    coverages: dict[tuple, object] = {}
    for charge in charges.select_related("patient").order_by("id"):
        key = (charge.patient_id, charge.date_of_service)
        if key not in coverages:
            coverages[key] = selectors.coverage_on(charge.patient, charge.date_of_service)
        coverage = coverages[key]
        groups[(*key, coverage.payer_id if coverage else None)].append(charge)
    claims, provider = [], selectors.billing_provider()
    for (patient_id, day, payer_id), members in groups.items():
        coverage = coverages[(patient_id, day)]
        claim = Claim(
            number=identifier_next("claim", settings.RIS_CLAIM_PATTERN, max_length=20),
            patient_id=patient_id,
            payer_id=payer_id,
            coverage=coverage,
            date_of_service=day,
        )
        attribute(claim, acting_user, "built")
        claim.save()
        for charge in members:
            charge.claim, charge.status = claim, Charge.Status.BILLED
            attribute(charge, acting_user, f"on claim {claim.number}")
            charge.save(update_fields=["claim", "status", "updated_at"])
        claims.append(_validate(claim, acting_user, provider))
    return claims


@transaction.atomic
def claim_set_outcome(*, claim: Claim, status: str, acting_user: Actor, note: str = "") -> Claim:
    """Record the payer's answer to an exported claim: PAID or DENIED."""
    if status not in (Claim.Status.PAID, Claim.Status.DENIED):
        raise ApplicationError("A claim's outcome is paid or denied.", field="status")
    claim = Claim.objects.select_for_update().get(pk=claim.pk)
    _set_claim_status(claim, status, acting_user, note or status.lower())
    claim.save()
    return claim


# --- export batches ----------------------------------------------------------------------------------------------


@transaction.atomic
def batch_create(*, date_from: date, date_to: date, payer: Payer | None, acting_user) -> ExportBatch:
    """Queue an export of the READY claims of the period (and payer); the export runs as a Celery task."""
    if date_to < date_from:
        raise ApplicationError("The period ends before it starts.", field="date_to")
    count = selectors.claims_exportable(date_from=date_from, date_to=date_to, payer=payer).count()
    if count == 0:
        raise ApplicationError("No claims ready for export in that period.")
    batch = ExportBatch(
        number=identifier_next("batch", settings.RIS_BATCH_PATTERN, max_length=20),
        date_from=date_from,
        date_to=date_to,
        payer=payer,
        claims_total=count,
        created_by=acting_user,
    )
    attribute(batch, acting_user, "queued")
    batch.save()
    from billing.tasks import export_batch  # the task module imports this one

    transaction.on_commit(lambda: export_batch.delay(batch.pk))
    return batch


def _reprice(charge: Charge, patient, acting_user: Actor, reason: str) -> bool:
    """Price the charge again from the fee schedules; True when its fee changed."""
    fee = selectors.price(patient, charge.date_of_service, charge.cpt_code, charge.modifiers)
    if fee == charge.fee:
        return False
    charge.fee, charge.amount = fee, fee * charge.units
    attribute(charge, acting_user, reason)
    charge.save(update_fields=["fee", "amount", "updated_at"])
    return True


@transaction.atomic
def charges_reprice(*, acting_user: Actor) -> int:
    """Price again the open charges that found no fee when captured (the fee schedule has changed since)."""
    repriced = 0
    for charge in Charge.objects.select_for_update().filter(status=Charge.Status.OPEN, fee=0).select_related("patient"):
        repriced += _reprice(charge, charge.patient, acting_user, "repriced")
    return repriced
