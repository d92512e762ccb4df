"""Celery tasks of the interfaces: apply stored inbound messages (enhanced mode, or left over by a crash); turn
outbox events into messages and deliver each destination's queue.

Without a broker (CELERY_TASK_ALWAYS_EAGER) they run in-process at once; retries then wait for the next event or
the next run of `interfaces.drain_outbox` (schedule it every minute with celery beat as the safety net). With a
broker, a delivery run that failed schedules the next one for when its messages fall due.
"""

import logging

from celery import shared_task

from interfaces import outbox, sender, services
from interfaces.models import Destination
from ris.delivery import next_run_schedule

log = logging.getLogger(__name__)


@shared_task(name="interfaces.apply_inbound", acks_late=True)
def apply_inbound(message_id: int) -> str | None:
    """Apply a stored message once; queue its application ACK where the sender asked for one (MSH-16)."""
    message = services.message_apply(message_id)
    if message is None:  # applied already, or gone
        return None
    if services.application_ack_wanted(message):
        ack = services.application_ack_queue(message)
        if ack is not None:
            delivery_queue(ack.destination_id)
    return message.status


@shared_task(name="interfaces.apply_pending")
def apply_pending() -> int:
    """Apply what a stopped process left stored but not applied; the listener calls this when it starts and
    celery beat every few minutes (a worker that died mid-message)."""
    pending = services.messages_pending()
    for message_id in pending:
        apply_inbound(message_id)
    return len(pending)


@shared_task(name="interfaces.drain_outbox", acks_late=True)
def drain_outbox() -> int:
    """Turn pending outbox events into messages, then queue delivery to every destination with messages due."""
    processed = outbox.outbox_drain()
    for destination_id in sender.destinations_due():
        delivery_queue(destination_id)
    return processed


@shared_task(name="interfaces.deliver_destination", acks_late=True)
def deliver_destination(destination_id: int) -> dict | None:
    """Send a destination's due messages; with a broker, come back when the next retry falls due."""
    destination = Destination.objects.filter(pk=destination_id, enabled=True).first()
    if destination is None:  # gone or disabled: its messages wait
        return None
    run = sender.outbound_deliver(destination=destination)
    next_run_schedule(deliver_destination, destination_id, run)
    return {"sent": run.sent, "failed": run.failed, "busy": run.busy}


def delivery_queue(destination_id: int) -> None:
    deliver_destination.delay(destination_id)


def drain_soon() -> None:
    """The outbox's doorbell (subscribed in InterfacesConfig.ready): queue a drain once the change has committed.

    Never raises: the change is committed whatever happens here, and an event left unprocessed is found by the
    next drain.
    """
    try:
        drain_outbox.delay()
    except Exception:
        log.exception("Could not queue or run the outbox drain; the next drain will pick the events up")
