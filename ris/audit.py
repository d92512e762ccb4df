"""Who did it: every history row names the user or the interface (HL7:CIS, DICOM:CT1) that made the change."""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import models
from django.dispatch import receiver
from django.utils import timezone
from simple_history.manager import HistoryDescriptor
from simple_history.models import HistoricalRecords
from simple_history.signals import pre_create_historical_record
from simple_history.utils import get_change_reason_from_object

from ris.inserts import insert


@dataclass(frozen=True)
class Interface:
    """A machine actor: the protocol and the peer it spoke for, e.g. Interface("HL7", "CIS")."""

    protocol: str
    peer: str

    def __str__(self) -> str:
        return f"{self.protocol}:{self.peer}"


Actor = AbstractBaseUser | Interface
ACTOR_LABEL_MAX = 150  # history_actor's column (and every "recorded by" column that stores a label)


class AuditedHistoryModel(models.Model):
    """Abstract base of every historical model: adds the actor's name, user or interface."""

    history_actor = models.CharField(max_length=ACTOR_LABEL_MAX, blank=True, db_index=True)

    class Meta:
        abstract = True


def audited_history(**kwargs) -> HistoricalRecords:
    """The HistoricalRecords every audited model declares."""
    return HistoricalRecords(bases=[AuditedHistoryModel], **kwargs)


def actor_label(actor: Actor) -> str:
    """ "HL7:CIS", "DICOM:CT1" or the username; an interface named by a sender's overlong MSH-3 is cut to fit."""
    if isinstance(actor, Interface):
        return str(actor)[:ACTOR_LABEL_MAX]
    return actor.get_username()


def attribute(instance: models.Model, actor: Actor, reason: str = "") -> None:
    """Name the actor (and why) on the history row that the next save of `instance` writes."""
    instance._history_user = actor if isinstance(actor, AbstractBaseUser) else None
    instance._history_actor = actor_label(actor)
    if reason:
        instance._change_reason = reason[:100]


@receiver(pre_create_historical_record)
def _stamp_actor(sender, instance, history_instance, history_user, **kwargs) -> None:
    actor = getattr(instance, "_history_actor", "")
    if not actor and history_user is not None:  # the admin site, through HistoryRequestMiddleware
        actor = history_user.get_username()
    history_instance.history_actor = actor


def history_bulk_create(model: type[models.Model], instances: list[models.Model], actor: Actor) -> None:
    """The history rows of `instances` just created in bulk, in one statement, naming `actor` (and each one's
    change reason from `attribute`) as a save one by one would: the rows `_stamp_actor` fills in on that path."""
    if not instances or not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        return
    history = model.history.model
    default_user = actor if isinstance(actor, AbstractBaseUser) else None
    label = actor_label(actor)
    tracked = [field.attname for field in history.tracked_fields]
    rows = []
    for instance in instances:  # as simple-history's bulk_history_create builds them
        row = history(
            history_date=getattr(instance, "_history_date", None) or timezone.now(),
            history_user=getattr(instance, "_history_user", default_user or history.get_default_history_user(instance)),
            history_change_reason=get_change_reason_from_object(instance) or "",
            history_type="+",
            history_actor=label,
            **{name: getattr(instance, name) for name in tracked},
        )
        if hasattr(history, "history_relation"):
            row.history_relation_id = instance.pk
        rows.append(row)
    insert(rows, read_keys=False)  # one statement, compiled once per process; nothing waits for its answer


def _history_manager(descriptor: HistoryDescriptor, instance, owner):
    """`Model.history` / `instance.history` with its manager class built once per model, not on every access.

    django-simple-history 3.x builds `HistoryManager.from_queryset(HistoricalQuerySet)` anew on each access (an
    `inspect.getmembers` of the queryset class, ~0.3 ms): every save of an audited model reads it once for its
    history row. The class built is the same each time, so it is kept on the descriptor; the manager returned is
    still a new one bound to `instance`, as before.
    """
    manager_class = descriptor.__dict__.get("_ris_manager_class")
    if manager_class is None:
        manager_class = descriptor.manager_class.from_queryset(descriptor.queryset_class)
        descriptor._ris_manager_class = manager_class
    return manager_class(descriptor.model, instance)


HistoryDescriptor.__get__ = _history_manager
