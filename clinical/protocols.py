"""Protocoling: the radiologist's choice of how an exam is performed (a catalog protocol, its contrast, notes for
the technologist), and the exams still waiting for one (the radiologists' protocol worklist).

The protocol's contrast is what the safety rules read (clinical.safety.effective_contrast): protocoling a
non-contrast procedure with contrast raises the contrast findings, and the other way round.
"""

from dataclasses import dataclass, field

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Prefetch, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from clinical.models import ExamProtocol, Protocol, SafetyFlag
from clinical.safety import FlagState, exam_safety
from clinical.selectors import SafetySummary, safety_summaries
from ris.audit import Actor, attribute
from ris.exceptions import ApplicationError
from ris.models import ContrastClass, ProcedureType, Role
from ris.roles import user_roles
from scheduling.models import Exam
from scheduling.selectors import exams_with_context

S = Exam.Status
# A protocol is chosen before the exam starts: once it is in progress, the scanner has been set up.
PROTOCOL_STATUSES = (S.ORDERED, S.SCHEDULED, S.ARRIVED)
PROTOCOLERS = frozenset({Role.RADIOLOGIST, Role.ADMIN})


# --- writes ------------------------------------------------------------------------------------------------------


@transaction.atomic
def exam_protocol_set(
    *,
    exam: Exam,
    protocol: Protocol | None,
    contrast: str | None = None,
    contrast_agent: str | None = None,
    contrast_route: str | None = None,
    notes: str = "",
    acting_user: Actor,
) -> ExamProtocol:
    """Protocol an exam (or change its protocol) before it starts; radiologists and administrators only.

    A catalog protocol fills the contrast, agent and route; a value given here overrides it (None: the protocol's).
    Without a catalog protocol, notes alone are enough, and the contrast stays the procedure's unless given: notes
    never silently make a contrast exam non-contrast.
    """
    if not isinstance(acting_user, AbstractBaseUser) or not user_roles(acting_user) & PROTOCOLERS:
        raise ApplicationError("Only a radiologist can protocol an exam.")
    exam = Exam.objects.select_for_update().select_related("procedure_type__modality").get(pk=exam.pk)
    if exam.status not in PROTOCOL_STATUSES:
        raise ApplicationError(
            f"The exam is {exam.get_status_display().lower()}: a protocol is chosen before the exam starts."
        )
    notes = notes.strip()
    if protocol is not None:
        if protocol.modality_id != exam.procedure_type.modality_id:
            raise ApplicationError(
                f"Protocol {protocol.code} is for {protocol.modality.code}, not {exam.procedure_type.modality.code}.",
                field="protocol",
            )
        if not protocol.active:
            raise ApplicationError(f"Protocol {protocol.code} is no longer in use.", field="protocol")
        base = (protocol.contrast, protocol.contrast_agent, protocol.contrast_route)
    elif not notes:
        raise ApplicationError("Choose a protocol or write notes for the technologist.", field="protocol")
    else:
        base = (exam.procedure_type.contrast, "", "")
    if contrast is not None and contrast not in ContrastClass.values:
        raise ApplicationError(f"{contrast!r} is not a contrast class.", field="contrast")
    chosen = base[0] if contrast is None else contrast
    if contrast is not None and contrast != base[0]:  # another contrast: the protocol's agent and route do not apply
        base = (chosen, "", "")
    agent = base[1] if contrast_agent is None else contrast_agent.strip()
    route = base[2] if contrast_route is None else contrast_route.strip()
    if chosen == ContrastClass.NONE and (agent or route):
        raise ApplicationError("An agent or route is given without contrast: choose the contrast.", field="contrast")
    record = ExamProtocol.objects.filter(exam=exam).first() or ExamProtocol(exam=exam)
    changed = record.pk is not None
    record.protocol = protocol
    record.contrast, record.contrast_agent, record.contrast_route = chosen, agent[:64], route[:32]
    record.notes = notes
    record.protocoled_by, record.protocoled_at = acting_user, timezone.now()
    label = protocol.code if protocol is not None else "notes only"
    attribute(record, acting_user, f"{'protocol changed' if changed else 'protocoled'}: {label}")
    record.save()
    return record


# --- reads -------------------------------------------------------------------------------------------------------


def protocols_for(procedure: ProcedureType) -> QuerySet[Protocol]:
    """The catalog protocols offered for a procedure: those meant for it or for any procedure of its modality; when
    the catalog has none of those, every protocol of the modality."""
    active = Protocol.objects.filter(active=True, modality_id=procedure.modality_id)
    offered = active.filter(Q(procedure_types=procedure) | Q(procedure_types__isnull=True)).distinct()
    return offered if offered.exists() else active


def exams_awaiting_protocol() -> QuerySet[Exam]:
    """Ordered or booked exams (not started) whose procedure needs a protocol and that have none, oldest exam date
    first: the booked start, or for an exam not booked yet the date it was ordered."""
    return (
        exams_with_context()
        .filter(status__in=PROTOCOL_STATUSES, procedure_type__needs_protocol=True, protocol__isnull=True)
        .annotate(exam_date=Coalesce("scheduled_start", "order__created_at"))
        .prefetch_related(Prefetch("safety_flags", queryset=SafetyFlag.objects.select_related("decided_by")))
        .order_by("exam_date", "pk")
    )


def flags_started_open() -> QuerySet[SafetyFlag]:
    """Findings an exam was started with (by a modality) while they were open and still undecided, oldest first."""
    return (
        SafetyFlag.objects.filter(started_open_at__isnull=False, decision=SafetyFlag.Decision.OPEN)
        .select_related("exam__order__patient", "exam__procedure_type__modality", "exam__room")
        .order_by("started_open_at", "pk")
    )


@dataclass
class WorklistRow:
    exam: Exam
    summary: SafetySummary
    states: list[FlagState] = field(default_factory=list)

    @property
    def open_count(self) -> int:
        return sum(1 for state in self.states if state.open)


def protocol_worklist(exams) -> list[WorklistRow]:
    """One row per exam of `exams` (exams_awaiting_protocol, a page of it): the patient's safety summary and the
    exam's findings with what was decided, looked up for all rows at once."""
    exams = list(exams)
    summaries = safety_summaries([exam.order.patient for exam in exams])
    return [WorklistRow(exam, summaries[exam.order.patient_id], exam_safety(exam)) for exam in exams]
