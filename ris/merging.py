"""What other apps move when two patient records are merged (ris.services.patient_merge).

The core knows patients and orders only; an app that keeps records of its own per patient (clinical: allergies,
observations ...) registers a step in its AppConfig.ready(). patient_merge calls every step in its transaction,
after the merged record is marked, with the same keyword arguments it was given.
"""

from collections.abc import Callable

from ris.audit import Actor
from ris.models import Patient

MergeStep = Callable[..., None]  # step(*, source: Patient, target: Patient, acting_user: Actor) -> None

_steps: dict[str, MergeStep] = {}


def merge_step_register(name: str, step: MergeStep) -> None:
    """Register (or, under the same name, replace: ready() may run twice) what an app moves on a merge."""
    _steps[name] = step


def merge_steps_run(*, source: Patient, target: Patient, acting_user: Actor) -> None:
    for step in list(_steps.values()):
        step(source=source, target=target, acting_user=acting_user)
