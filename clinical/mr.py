"""MR safety: the patient's implants and devices (ASTM F2503 markings), the screening questionnaire of each MR exam,
and the rule that reads them before the exam starts (registered with clinical.safety.rule).

For an MR exam:
- no screening: MR_SCREENING_MISSING; a radiologist or MR safety officer may let an emergency proceed, or cancel;
- an active implant marked MR Unsafe: MR_UNSAFE; the only decision is to cancel, so nothing lets the exam start;
- a "yes" or "not known" answer, an MR Conditional implant or one whose marking is not known, or a weight above the
  table limit (RIS_MR_TABLE_LIMIT_KG): MR_CLEARANCE, cleared (proceed, proceed adjusted) or cancelled by a
  radiologist or MR safety officer. Its key is a digest of the evidence (the answers, weight and details, every
  active implant as marked, the weight used), so a changed screening or implant list needs a new clearance.
- Claustrophobia alone asks no clearance: it is no hazard of the magnet (the ACR Manual on MR Safety screens for
  projectiles, heating and device malfunction) but a matter of coaching, positioning or sedation ordered by the
  referring physician. It is a note for the technologist (`technologist_notes`), shown with the screening.
"""

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from clinical.models import Implant, MRSafety, MRScreening, Observation, SafetyFlag, Source
from clinical.safety import MR_DECIDERS, PROCEED_DECISIONS, Context, Finding, rule
from clinical.selectors import active_implants, latest_observation
from ris.audit import Actor, actor_label, attribute
from ris.exceptions import ApplicationError
from ris.models import Patient
from ris.services import validated_or_raise
from scheduling.models import Exam
from scheduling.selectors import exams_with_context, local_day_bounds

Kind = SafetyFlag.Kind
Decision = SafetyFlag.Decision
Answer = MRScreening.Answer
S = Exam.Status

MR_MODALITY = "MR"  # DICOM Modality (0008,0060) of magnetic resonance
EMERGENCY_DECISIONS = (Decision.PROCEED, Decision.CANCEL)  # no screening: an emergency may go ahead, or cancel
UNSAFE_DECISIONS = (Decision.CANCEL,)  # MR Unsafe: nothing lets the exam start
# Answers that ask for a clearance; claustrophobia is a note for the technologist instead.
CLEARANCE_QUESTIONS = tuple(question for question in MRScreening.QUESTIONS if question != "claustrophobia")
# The screening is what is known before the scan: it is written and changed until the exam starts.
SCREENABLE = frozenset({S.ORDERED, S.SCHEDULED, S.ARRIVED, S.NO_SHOW})
IMPLANT_FIELDS = ("device_type", "make_model", "mr_safety", "conditions")


def is_mr(exam: Exam) -> bool:
    return exam.procedure_type.modality.code == MR_MODALITY


def question_label(question: str) -> str:
    return str(MRScreening._meta.get_field(question).verbose_name)


def table_limit_kg() -> Decimal:
    return Decimal(str(settings.RIS_MR_TABLE_LIMIT_KG))


# --- The rule -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Weight:
    kg: Decimal
    source: str  # "screening" or "measured" (an Observation)
    observed_at: datetime | None = None


def weight_for(exam: Exam, screening: MRScreening | None, *, at: datetime | None = None) -> Weight | None:
    """The weight the table limit is checked against: the screening's, else the patient's latest measured one."""
    if screening is not None and screening.weight_kg is not None:
        return Weight(screening.weight_kg, "screening", screening.completed_at)
    measured = latest_observation(exam.order.patient, Observation.Kind.WEIGHT, before=at)
    if measured is None:
        return None
    return Weight(measured.value, "measured", measured.observed_at)


def _implant_words(implant: Implant) -> str:
    name = f"{implant.device_type}, {implant.make_model}" if implant.make_model else implant.device_type
    marking = "MR status not known" if implant.mr_safety == MRSafety.UNKNOWN else implant.get_mr_safety_display()
    return f"{name} ({marking})"


def clearance_reasons(screening: MRScreening | None, implants: Iterable[Implant], weight: Weight | None) -> list[str]:
    """Why the screening needs a clearance, in words (empty: it needs none)."""
    reasons = []
    if screening is not None:
        for question in CLEARANCE_QUESTIONS:
            answer = getattr(screening, question)
            if answer in (Answer.YES, Answer.UNKNOWN):
                reasons.append(f"{question_label(question)}: {Answer(answer).label.lower()}")
    for implant in implants:
        if implant.mr_safety in (MRSafety.CONDITIONAL, MRSafety.UNKNOWN):
            reasons.append(_implant_words(implant))
    if weight is not None and weight.kg > table_limit_kg():
        reasons.append(
            f"weight {weight.kg.normalize():f} kg, above the table limit of {table_limit_kg().normalize():f} kg"
        )
    return reasons


def _evidence_key(screening: MRScreening | None, implants: Iterable[Implant], weight: Weight | None) -> str:
    """The key of a clearance: the screening and a digest of all it rests on (a change needs a new clearance)."""
    parts = []
    if screening is not None:
        parts += [getattr(screening, question) for question in MRScreening.QUESTIONS]
        parts += [f"{screening.weight_kg}", screening.details.strip()]
    parts += [
        f"implant {implant.pk}: " + "|".join(getattr(implant, name) for name in IMPLANT_FIELDS) for implant in implants
    ]
    if weight is not None:
        parts.append(f"{weight.source} {weight.kg.normalize():f}")
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]
    return f"screening:{screening.pk if screening else 'none'};evidence:{digest}"


def _screening(exam: Exam) -> MRScreening | None:
    return MRScreening.objects.filter(exam=exam).first()


@rule
def mr_safety(exam: Exam, ctx: Context) -> list[Finding]:
    """The MR findings of an exam (none for other modalities); see the module's docstring."""
    if ctx.modality != MR_MODALITY:
        return []
    screening = _screening(exam)
    implants = list(active_implants(ctx.patient))
    found = []
    unsafe = [implant for implant in implants if implant.mr_safety == MRSafety.UNSAFE]
    if unsafe:
        found.append(
            Finding(
                Kind.MR_UNSAFE,
                "implant:" + ",".join(str(implant.pk) for implant in unsafe),
                "; ".join(_implant_words(implant) for implant in unsafe) + ": the exam cannot be done",
                decisions=UNSAFE_DECISIONS,
                deciders=MR_DECIDERS,
            )
        )
    if screening is None:
        found.append(
            Finding(
                Kind.MR_SCREENING_MISSING,
                "screening:none",
                "The MR safety screening questionnaire has not been completed",
                decisions=EMERGENCY_DECISIONS,
                deciders=MR_DECIDERS,
            )
        )
    weight = weight_for(exam, screening, at=ctx.at)
    reasons = clearance_reasons(screening, implants, weight)
    if reasons:
        found.append(
            Finding(
                Kind.MR_CLEARANCE,
                _evidence_key(screening, implants, weight),
                "; ".join(reasons),
                decisions=PROCEED_DECISIONS,
                deciders=MR_DECIDERS,
            )
        )
    return found


def technologist_notes(screening: MRScreening | None) -> list[str]:
    """What the technologist should know that asks no clearance: claustrophobia."""
    if screening is None or screening.claustrophobia == Answer.NO:
        return []
    if screening.claustrophobia == Answer.YES:
        return ["Claustrophobic: plan coaching, feet-first or wide-bore positioning; sedation only as ordered."]
    return ["Not known whether claustrophobic: ask before positioning."]


# --- Writes ---------------------------------------------------------------------------------------------------------


def _implant_checked(implant: Implant) -> None:
    for name in ("device_type", "make_model", "conditions"):
        setattr(implant, name, getattr(implant, name).strip())
    if not implant.device_type:
        raise ApplicationError("Name the implant or device (e.g. pacemaker, aneurysm clip).", field="device_type")
    validated_or_raise(implant)


@transaction.atomic
def implant_add(
    *,
    patient: Patient,
    device_type: str,
    mr_safety: str,
    acting_user: Actor,
    make_model: str = "",
    conditions: str = "",
    source: str = Source.STAFF,
) -> Implant:
    """Record an implant or device of the patient with its MR marking (ASTM F2503)."""
    implant = Implant(
        patient=patient,
        device_type=device_type,
        make_model=make_model,
        mr_safety=mr_safety,
        conditions=conditions,
        source=source,
    )
    _implant_checked(implant)
    attribute(implant, acting_user, f"implant recorded: {implant.get_mr_safety_display()}")
    implant.save()
    return implant


@transaction.atomic
def implant_update(*, implant: Implant, acting_user: Actor, **changes) -> Implant:
    """Correct an active implant's description, marking or conditions (a clearance given before no longer holds)."""
    unknown = set(changes) - set(IMPLANT_FIELDS)
    if unknown:
        raise ApplicationError(f"These cannot be changed on an implant: {', '.join(sorted(unknown))}.")
    implant = Implant.objects.select_for_update().get(pk=implant.pk)
    if not implant.active:
        raise ApplicationError("This implant was removed from the record: add it again instead.")
    before = {name: getattr(implant, name) for name in IMPLANT_FIELDS}
    for name, value in changes.items():
        setattr(implant, name, value)
    _implant_checked(implant)
    changed = [name for name in IMPLANT_FIELDS if getattr(implant, name) != before[name]]
    if not changed:
        return implant
    attribute(implant, acting_user, "implant changed: " + ", ".join(name.replace("_", " ") for name in changed))
    implant.save()
    return implant


class ImplantRemoval(models.TextChoices):
    """Why an implant leaves the patient's active list (the history row keeps it)."""

    REMOVED = "removed", "Removed from the patient"
    ERROR = "entered in error", "Entered in error"


@transaction.atomic
def implant_remove(*, implant: Implant, reason: str, acting_user: Actor, note: str = "") -> Implant:
    """Take an implant off the patient's active list: explanted ("removed") or never there ("entered in error")."""
    if reason not in ImplantRemoval.values:
        raise ApplicationError("Say whether the implant was removed or entered in error.", field="reason")
    implant = Implant.objects.select_for_update().get(pk=implant.pk)
    if not implant.active:
        raise ApplicationError("This implant is already off the patient's list.")
    implant.active = False
    note = note.strip()
    attribute(implant, acting_user, f"{reason}: {note}" if note else reason)
    implant.save()
    return implant


def _weight(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        weight = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ApplicationError("Give the weight in kilograms, e.g. 82.5.", field="weight_kg") from None
    if not weight.is_finite() or not Decimal(0) < weight < Decimal(1000):
        raise ApplicationError("Give the weight in kilograms, between 0 and 1000.", field="weight_kg")
    return weight.quantize(Decimal("0.1"))


@transaction.atomic
def mr_screening_save(
    *, exam: Exam, answers: Mapping[str, str], weight, details: str, acting_user: Actor
) -> MRScreening:
    """Complete, or change, the MR screening of an exam (one per exam, its history kept) before the exam starts.

    Each question is answered yes, no or not known; each "yes" needs its details. A change after a clearance
    makes new evidence, which needs a new clearance (the MR rule's key).
    """
    exam = Exam.objects.select_for_update().select_related("procedure_type__modality").get(pk=exam.pk)
    if not is_mr(exam):
        raise ApplicationError(f"An MR screening is for MR exams; this one is {exam.procedure_type.modality.code}.")
    if exam.status not in SCREENABLE:
        raise ApplicationError(
            f"The exam is {exam.get_status_display().lower()}: its MR screening can no longer be changed."
        )
    values = {}
    for question in MRScreening.QUESTIONS:
        answer = (answers.get(question) or "").strip().upper()
        if answer not in Answer.values:
            raise ApplicationError(f"Answer “{question_label(question)}”: yes, no or not known.", field=question)
        values[question] = answer
    details = details.strip()
    yes = [question_label(question) for question in MRScreening.QUESTIONS if values[question] == Answer.YES]
    if yes and not details:
        raise ApplicationError(f"Give the details of each “yes” ({', '.join(yes)}).", field="details")
    values["weight_kg"], values["details"] = _weight(weight), details
    screening = MRScreening.objects.select_for_update().filter(exam=exam).first()
    if screening is not None and all(getattr(screening, name) == value for name, value in values.items()):
        return screening  # nothing new: a clearance given stands
    reason = "MR screening changed" if screening is not None else "MR screening completed"
    screening = screening or MRScreening(exam=exam)
    for name, value in values.items():
        setattr(screening, name, value)
    screening.completed_by, screening.completed_at = actor_label(acting_user), timezone.now()
    validated_or_raise(screening)
    attribute(screening, acting_user, reason)
    screening.save()
    return screening


# --- Reads ----------------------------------------------------------------------------------------------------------


class MRState:
    """The MR safety officer's words for where an exam's screening stands."""

    UNSAFE = "unsafe"
    MISSING = "missing"
    NEEDS_CLEARANCE = "needs clearance"
    CLEARED = "cleared"
    CANCELLED = "cancelled"


@dataclass
class ExamMRStatus:
    exam: Exam
    screening: MRScreening | None
    status: str  # MRState
    detail: str
    notes: list[str]

    @property
    def badge(self) -> str:
        """The banner's badge class that colours the status."""
        return {
            MRState.UNSAFE: "mr-mr_unsafe",
            MRState.MISSING: "egfr-none",
            MRState.NEEDS_CLEARANCE: "mr-mr_conditional",
            MRState.CLEARED: "mr-mr_safe",
        }.get(self.status, "")


def mr_status(exam: Exam, *, at: datetime | None = None) -> ExamMRStatus:
    """Where the MR screening of one exam stands: MR Unsafe, missing, needs clearance, or cleared (nothing to
    clear, or cleared by a decision; a missing screening let proceed in an emergency counts as missing)."""
    ctx = Context(exam=exam, at=at or timezone.now())
    screening = _screening(exam)
    found = mr_safety(exam, ctx)
    flags = {(flag.kind, flag.key): flag for flag in SafetyFlag.objects.filter(exam=exam).select_related("decided_by")}
    by_kind = {finding.kind: (finding, flags.get((finding.kind, finding.key))) for finding in found}
    notes = technologist_notes(screening)

    def state(status: str, finding: Finding | None, flag: SafetyFlag | None = None) -> ExamMRStatus:
        detail = finding.detail if finding else ""
        if flag is not None and flag.decision:
            detail = f"{detail} — {flag.get_decision_display().lower()}: {flag.reason}"
        return ExamMRStatus(exam, screening, status, detail, notes)

    for kind, status in ((Kind.MR_UNSAFE, MRState.UNSAFE), (Kind.MR_SCREENING_MISSING, MRState.MISSING)):
        if kind in by_kind:
            return state(status, *by_kind[kind])
    if Kind.MR_CLEARANCE in by_kind:
        finding, flag = by_kind[Kind.MR_CLEARANCE]
        if flag is None or not flag.decision:
            return state(MRState.NEEDS_CLEARANCE, finding)
        return state(MRState.CANCELLED if flag.decision == Decision.CANCEL else MRState.CLEARED, finding, flag)
    return ExamMRStatus(exam, screening, MRState.CLEARED, "Screened: nothing to clear", notes)


MR_HOME_STATUSES = frozenset({S.ORDERED, S.SCHEDULED, S.ARRIVED, S.IN_PROGRESS})


def mr_exams_ahead(day: date, *, days: int = 7) -> list[Exam]:
    """The MR exams booked from `day` for `days` days, not cancelled or done, by start time."""
    start, _end = local_day_bounds(day)
    _start, end = local_day_bounds(day + timedelta(days=days - 1))
    return list(
        exams_with_context()
        .filter(
            procedure_type__modality__code=MR_MODALITY,
            status__in=MR_HOME_STATUSES,
            scheduled_start__gte=start,
            scheduled_start__lt=end,
        )
        .order_by("scheduled_start", "id")
    )
