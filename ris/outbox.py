"""The outbox's doorbell: protocol apps subscribe here (in their AppConfig.ready) to hear of committed events.

Domain services call ris.services.outbox_add inside their transaction; once it commits, every subscriber is
called (interfaces/ queues its Celery task). The row itself is the record: a subscriber that missed the call still
finds it unprocessed.

An app downstream of the one that changed (billing, of scheduling and reporting) may instead `listen` to a kind:
its handler runs inside the transaction that records the event, so what it writes commits or rolls back with the
change itself (a charge is captured exactly when its exam completes), while the upstream app imports nothing of it.
"""

from collections import defaultdict
from collections.abc import Callable

_subscribers: list[Callable[[], None]] = []
_listeners: dict[str, list[Callable]] = defaultdict(list)


def listen(kind: str, handler: Callable) -> None:
    """Call `handler(payload, acting_user)` in the transaction of every event of `kind`, as it is recorded."""
    if handler not in _listeners[kind]:
        _listeners[kind].append(handler)


def hear(kind: str, payload: dict, acting_user) -> None:
    for handler in list(_listeners.get(kind, ())):
        handler(payload, acting_user)


def subscribe(callback: Callable[[], None]) -> None:
    if callback not in _subscribers:
        _subscribers.append(callback)


def ring() -> None:
    for callback in list(_subscribers):
        callback()
