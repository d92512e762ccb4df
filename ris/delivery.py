"""Reliable delivery to a peer, shared by the protocol apps (HL7 over MLLP, DICOM forwarding): what is to be sent is
stored first, then each destination's queue is sent in id order by one sender at a time.

The rules, the same for every protocol: items with one sequence key go one after the other (a later one never
overtakes an earlier one still waiting); an item whose retry is not due yet holds back its key; a failure the peer
answered holds back only that key, while a peer that cannot be reached ends the run (the rest waits for the retry);
each failure backs off exponentially (base * 2**attempts) until the maximum number of attempts, then the item is
FAILED until an administrator sends it again.
"""

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Min, Q, QuerySet
from django.utils import timezone

log = logging.getLogger(__name__)

BUSY_RETRY_SECONDS = 2  # another sender holds the destination: come back this much later


class DeliveryFailure(Exception):
    """One item was not accepted; `peer_down` when the peer could not be reached at all.

    `reason` is a short code safe for logs (connection, timeout, AE, 0110, ...); `text` may quote the peer.
    """

    def __init__(self, text: str, *, reason: str, peer_down: bool = False):
        super().__init__(text)
        self.text = text
        self.reason = reason
        self.peer_down = peer_down


@dataclass(frozen=True)
class DeliveryRun:
    sent: int = 0
    failed: int = 0  # attempts that failed in this run
    busy: bool = False  # another sender holds the destination
    retry_at: datetime | None = None  # when the earliest item still pending is due


_local_locks: dict[tuple[int, int], threading.Lock] = {}
_local_locks_guard = threading.Lock()


@contextlib.contextmanager
def destination_lock(namespace: int, destination_id: int) -> Iterator[bool]:
    """Hold a destination's sender lock without a transaction open during network waits; yield False if taken.

    PostgreSQL: a session advisory lock (namespace, id), shared by every worker process. Elsewhere (SQLite, one
    process in development): a lock per process.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [namespace, destination_id])
            acquired = cursor.fetchone()[0]
        try:
            yield acquired
        finally:
            if acquired:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [namespace, destination_id])
        return
    with _local_locks_guard:
        lock = _local_locks.setdefault((namespace, destination_id), threading.Lock())
    acquired = lock.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            lock.release()


def deliver_in_order(
    pending: QuerySet,
    *,
    key: Callable[[object], str],
    send: Callable[[object], None],
    failed: Callable[[object, DeliveryFailure, datetime], None],
    now: datetime | None = None,
    blocked: Iterable[str] = (),
) -> tuple[int, int]:
    """Send the due items of `pending` (one destination's queue) in id order; return (sent, failed attempts).

    `send` raises DeliveryFailure when the item was not accepted, and `failed` records it. Keys in `blocked` are held
    back from the start (an earlier item of theirs that is not in the queue, such as a FAILED one, must go first).
    """
    sent = failures = 0
    last_id = 0
    held = set(blocked)
    while True:
        # Again after each pass: items queued while this run was sending are sent by it too.
        batch = list(pending.filter(pk__gt=last_id).order_by("id")[:200])
        if not batch:
            return sent, failures
        for item in batch:
            last_id = item.pk
            sequence = key(item)
            if sequence and sequence in held:
                continue
            at = now or timezone.now()
            if item.next_attempt_at is not None and item.next_attempt_at > at:
                if sequence:
                    held.add(sequence)
                continue
            try:
                send(item)
            except DeliveryFailure as error:
                failed(item, error, at)
                failures += 1
                if sequence:
                    held.add(sequence)
                if error.peer_down:
                    return sent, failures
            else:
                sent += 1


def failure_count(item, error: DeliveryFailure, at: datetime, *, max_attempts: int, base_seconds: int) -> bool:
    """Count a failed attempt on `item` (attempts, last_error, next_attempt_at); True when it is now FAILED (the
    caller sets its status and saves)."""
    item.attempts += 1
    item.last_error = error.text[:2000]
    if item.attempts >= max_attempts:
        item.next_attempt_at = None
        return True
    item.next_attempt_at = at + timedelta(seconds=base_seconds * 2**item.attempts)
    return False


def destinations_with_due(pending: QuerySet, now: datetime | None = None) -> list[int]:
    """The destinations (ids) of `pending` items that are due now."""
    now = now or timezone.now()
    return list(
        pending.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by()
        .values_list("destination_id", flat=True)
        .distinct()
    )


def earliest_retry(pending: QuerySet) -> datetime | None:
    """When the first of `pending` (one destination's queue) falls due again."""
    return pending.aggregate(due=Min("next_attempt_at")).get("due")


def next_run_schedule(task, destination_id: int, run: DeliveryRun) -> None:
    """With a broker, a run that failed (or found another sender at work) schedules the next one for when its items
    fall due: one chain per destination. Without one (eager tasks), the periodic due-run retries."""
    if task.app.conf.task_always_eager:
        return
    if run.busy:
        task.apply_async((destination_id,), countdown=BUSY_RETRY_SECONDS)
    elif run.failed and run.retry_at is not None:
        task.apply_async((destination_id,), eta=run.retry_at)
