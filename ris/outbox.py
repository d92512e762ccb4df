"""The outbox's doorbell: protocol apps subscribe here (in their AppConfig.ready) to hear of committed events.

Domain services call ris.services.outbox_add inside their transaction; once it commits, every subscriber is
called (interfaces/ queues its Celery task). The row itself is the record: a subscriber that missed the call still
finds it unprocessed.
"""

from collections.abc import Callable

_subscribers: list[Callable[[], None]] = []


def subscribe(callback: Callable[[], None]) -> None:
    if callback not in _subscribers:
        _subscribers.append(callback)


def ring() -> None:
    for callback in list(_subscribers):
        callback()
