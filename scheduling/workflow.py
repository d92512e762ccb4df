"""The exam state machine and the order status derived from its exams. Pure: no database access."""

from collections.abc import Iterable

from ris.exceptions import IllegalTransition
from scheduling.models import Exam, Order

S = Exam.Status

# The one table of allowed exam transitions. A transition to the same state is listed where it is a real
# action: rebooking a scheduled exam, a second addendum to an amended report, a preliminary report revised.
EXAM_TRANSITIONS: dict[str, frozenset[str]] = {
    S.ORDERED: frozenset({S.SCHEDULED, S.CANCELLED}),  # a walk-in is booked on a room now, then checked in
    S.SCHEDULED: frozenset({S.SCHEDULED, S.ARRIVED, S.CANCELLED, S.NO_SHOW}),
    S.ARRIVED: frozenset({S.SCHEDULED, S.IN_PROGRESS, S.CANCELLED}),  # SCHEDULED: check-in undone or rebooked
    S.IN_PROGRESS: frozenset({S.COMPLETED, S.DISCONTINUED}),
    S.COMPLETED: frozenset({S.PRELIMINARY, S.FINAL}),
    S.PRELIMINARY: frozenset({S.PRELIMINARY, S.FINAL}),
    S.FINAL: frozenset({S.AMENDED}),
    S.AMENDED: frozenset({S.AMENDED}),
    S.NO_SHOW: frozenset({S.SCHEDULED, S.CANCELLED}),
    S.CANCELLED: frozenset(),
    S.DISCONTINUED: frozenset(),
}

_ACTION_NAMES = {
    S.SCHEDULED: "book",
    S.ARRIVED: "check in",
    S.IN_PROGRESS: "start",
    S.COMPLETED: "complete",
    S.PRELIMINARY: "save a preliminary report for",
    S.FINAL: "sign a final report for",
    S.AMENDED: "amend",
    S.CANCELLED: "cancel",
    S.NO_SHOW: "mark as no-show",
    S.DISCONTINUED: "discontinue",
}


def can_transition(current: str, target: str) -> bool:
    return target in EXAM_TRANSITIONS[S(current)]


def check_transition(current: str, target: str) -> None:
    """Raise IllegalTransition, with a message a user can act on, unless current -> target is allowed."""
    if can_transition(current, target):
        return
    allowed = sorted(S(s).label.lower() for s in EXAM_TRANSITIONS[S(current)])
    next_steps = f"From here it can only become: {', '.join(allowed)}." if allowed else "It is closed."
    raise IllegalTransition(
        f"Cannot {_ACTION_NAMES[S(target)]} an exam that is {S(current).label.lower()}. {next_steps}",
        field="status",
        extra={"from": str(current), "to": str(target)},
    )


ACTIVE_NOT_STARTED = {S.ORDERED, S.NO_SHOW}
BOOKED = {S.SCHEDULED}
UNDER_WAY = {S.ARRIVED, S.IN_PROGRESS}
PERFORMED = {S.COMPLETED, S.PRELIMINARY, S.FINAL, S.AMENDED}
REPORTED = {S.FINAL, S.AMENDED}  # a final report is on file (the exam follows its report's signature)


def order_status_for(exam_statuses: Iterable[str]) -> str:
    """The order's status as its exams stand (HL7 ORC-5 semantics): the least advanced live exam decides."""
    statuses = {S(s) for s in exam_statuses}
    live = statuses - {S.CANCELLED, S.DISCONTINUED}
    if not statuses:
        return Order.Status.NEW
    if not live:
        return Order.Status.CANCELLED if statuses == {S.CANCELLED} else Order.Status.DISCONTINUED
    if live <= PERFORMED:
        return Order.Status.COMPLETED
    if live & (UNDER_WAY | PERFORMED):
        return Order.Status.IN_PROGRESS
    if live & BOOKED:
        return Order.Status.SCHEDULED
    return Order.Status.NEW


# Exams that hold their room for their scheduled time (database exclusion constraint on PostgreSQL, migration 0003).
HOLDS_ROOM = frozenset({S.SCHEDULED, S.ARRIVED, S.IN_PROGRESS})
