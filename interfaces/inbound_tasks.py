"""Celery tasks of the inbound side: apply a stored message (enhanced mode, or left over by a crash)."""

from celery import shared_task

from interfaces import services


@shared_task(name="interfaces.apply_inbound", acks_late=True)
def apply_inbound(message_id: int) -> str | None:
    """Apply a stored message once; queue its application ACK where the sender asked for one (MSH-16)."""
    message = services.message_apply(message_id)
    if message is None:  # applied already, or gone
        return None
    if services.application_ack_wanted(message):
        services.application_ack_queue(message)
    return message.status


def apply_pending() -> int:
    """Apply what a stopped process left stored but not applied; the listener calls this when it starts."""
    pending = services.messages_pending()
    for message_id in pending:
        apply_inbound(message_id)
    return len(pending)
