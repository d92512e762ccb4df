"""The patient-safety rules: which findings an exam has now, and whether it may start.

Findings are computed from the data at the moment they are asked for (no stored state can go stale: an eGFR
ages, a pregnancy status expires). A finding is open until a radiologist (for MR ones, a radiologist or an MR
safety officer) records a decision on it: a SafetyFlag with the finding's exam, kind and key. New evidence makes a
new key, and so needs a new decision.

Each rule is a function (exam, context) -> iterable of Finding, registered with `@rule`; the rules live in
clinical.rules (contrast, pregnancy) and clinical.mr (MR screening). Scheduling asks through its guard registry
(scheduling.guards), so every way an exam starts obeys them: pages, the API, HL7 and DICOM MPPS (which is accepted
anyway, the scanner having started, with the flag marked "started open" and listed for the radiologist).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property

from django.utils import timezone

from clinical.models import ExamProtocol, SafetyFlag
from ris.models import ContrastClass, Role
from scheduling import guards
from scheduling.models import Exam

Kind = SafetyFlag.Kind
Decision = SafetyFlag.Decision

CONTRAST_DECISIONS = (Decision.PROCEED, Decision.PROCEED_ADJUSTED, Decision.NON_CONTRAST, Decision.CANCEL)
PROCEED_DECISIONS = (Decision.PROCEED, Decision.PROCEED_ADJUSTED, Decision.CANCEL)
RADIOLOGIST = frozenset({Role.RADIOLOGIST})
MR_DECIDERS = frozenset({Role.RADIOLOGIST, Role.MR_SAFETY_OFFICER})


@dataclass(frozen=True)
class Finding:
    kind: str
    key: str  # the evidence: "egfr:<observation id>", "allergy:<id>,<id>", "screening:<id>" ...
    detail: str  # in words, for the banner, the worklist and the refusal
    decisions: tuple[str, ...] = PROCEED_DECISIONS  # what may be decided (empty: nothing lets the exam start)
    deciders: frozenset = RADIOLOGIST  # roles that may decide

    @property
    def label(self) -> str:
        return Kind(self.kind).label


@dataclass
class Context:
    """What the rules read of one exam, looked up once."""

    exam: Exam
    at: datetime
    _cache: dict = field(default_factory=dict)

    @property
    def patient(self):
        return self.exam.order.patient

    @cached_property
    def on(self) -> date:
        return timezone.localdate(self.at)

    @cached_property
    def age_years(self) -> int | None:
        born = self.patient.birth_date
        if born is None:
            return None
        return self.on.year - born.year - ((self.on.month, self.on.day) < (born.month, born.day))

    @cached_property
    def modality(self) -> str:
        return self.exam.procedure_type.modality.code

    @cached_property
    def protocol(self) -> ExamProtocol | None:
        return ExamProtocol.objects.filter(exam=self.exam).select_related("protocol").first()

    @cached_property
    def contrast(self) -> str:
        return effective_contrast(self.exam, protocol=self.protocol)


Rule = Callable[[Exam, Context], Iterable[Finding]]
_rules: list[Rule] = []


def rule(function: Rule) -> Rule:
    """Register a safety rule (once, whatever the import order)."""
    if function not in _rules:
        _rules.append(function)
    return function


def effective_contrast(exam: Exam, *, protocol: ExamProtocol | None = None) -> str:
    """The contrast the exam will be done with: its protocol's when protocoled, else its procedure's."""
    if protocol is None:
        protocol = ExamProtocol.objects.filter(exam=exam).first()
    return contrast_of(protocol, exam.procedure_type.contrast)


def contrast_of(protocol: ExamProtocol | None, procedure_contrast: str) -> str:
    """effective_contrast from what is already loaded (lists of exams read their protocols in one query)."""
    return protocol.contrast if protocol is not None else procedure_contrast


def uses_contrast(exam: Exam) -> bool:
    return effective_contrast(exam) in (ContrastClass.IODINATED, ContrastClass.GADOLINIUM)


def findings_for(exam: Exam, *, at: datetime | None = None) -> list[Finding]:
    """Every finding the rules raise on the exam now (decided or not)."""
    _load_rules()
    context = Context(exam=exam, at=at or timezone.now())
    return [finding for check in _rules for finding in check(exam, context)]


@dataclass(frozen=True)
class FlagState:
    finding: Finding
    flag: SafetyFlag | None  # the decision (or the "started open" mark) on record, if any

    @property
    def open(self) -> bool:
        return self.flag is None or not self.flag.decision


def exam_safety(exam: Exam, *, at: datetime | None = None) -> list[FlagState]:
    """Each current finding with what was decided on it."""
    found = findings_for(exam, at=at)
    if not found:
        return []
    rows = getattr(exam, "_prefetched_objects_cache", {}).get("safety_flags")  # a worklist prefetches them
    if rows is None:
        rows = SafetyFlag.objects.filter(exam=exam).select_related("decided_by")
    flags = {(flag.kind, flag.key): flag for flag in rows}
    return [FlagState(finding, flags.get((finding.kind, finding.key))) for finding in found]


def open_findings(exam: Exam, *, at: datetime | None = None) -> list[Finding]:
    return [state.finding for state in exam_safety(exam, at=at) if state.open]


def start_refusal(exam: Exam, action, *, at: datetime) -> str:
    from scheduling.services import Action

    if action != Action.START:
        return ""
    found = open_findings(exam, at=at)
    if not found:
        return ""
    listed = "; ".join(f"{finding.label}: {finding.detail}" for finding in found)
    return f"Open safety flags: {listed}. They need a decision before the exam starts."


def _started_despite(exam: Exam, action, *, at: datetime, acting_user, refusal: str) -> None:
    """A modality started the exam with findings open: mark each, so that the radiologist's list shows it."""
    from ris.audit import actor_label, attribute

    for finding in open_findings(exam, at=at):
        flag, _created = SafetyFlag.objects.get_or_create(
            exam=exam, kind=finding.kind, key=finding.key, defaults={"detail": finding.detail[:255]}
        )
        flag.started_open_at = at
        flag.started_open_by = actor_label(acting_user)
        attribute(flag, acting_user, "exam started with this flag open")
        flag.save()


def _load_rules() -> None:
    # The rule modules register themselves on import.
    from clinical import mr, rules  # noqa: F401


def connect() -> None:
    guards.register(guards.ActionGuard("patient safety", start_refusal, _started_despite))
