"""Rules of other apps that a floor action must obey, registered at start-up (scheduling imports none of them).

A guard answers why an action may not be taken on an exam now ("" when it may). When a modality reports that the
step already happened (MPPS), the step is recorded anyway and each refusing guard hears `performed_despite`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ActionGuard:
    name: str
    refusal: Callable[..., str]  # (exam, action, *, at) -> str
    performed_despite: Callable[..., None] | None = None  # (exam, action, *, at, acting_user, refusal) -> None


_guards: list[ActionGuard] = []


def register(guard: ActionGuard) -> None:
    if all(existing.name != guard.name for existing in _guards):
        _guards.append(guard)


def refusals(exam, action, *, at: datetime) -> list[tuple[ActionGuard, str]]:
    """Each guard that refuses the action, with its words."""
    found = []
    for guard in _guards:
        refusal = guard.refusal(exam, action, at=at)
        if refusal:
            found.append((guard, refusal))
    return found


def refusal(exam, action, *, at: datetime) -> str:
    return " ".join(words for _guard, words in refusals(exam, action, at=at))
